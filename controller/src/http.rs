//! The HTTP API kubeseal uses through the API server's service proxy, with Bitnami's paths,
//! status codes and bodies (`docs/controller-compat.md` §8), and the metrics endpoint. The full
//! contract (codes, bodies, limits, rate limiting, trusted proxies, connections) is
//! `docs/http-api.md`; connections are served by [`crate::server`].
//!
//! | path | answer |
//! |---|---|
//! | `GET /healthz` | `200 ok\n` |
//! | `GET /v1/cert.pem` | `200`, `application/x-pem-file`, the newest certificate; `503` before the first key |
//! | `GET /v1/certs` | `200` JSON `{"certificates": [...]}`, every active certificate, newest first (kseal only) |
//! | `POST /v1/verify` | `200` if every item opens with our keys, `409` if not (both with an empty body), `413` body over [`MAX_BODY`], `500` not one SealedSecret |
//! | `POST /v1/rotate` | `200` JSON SealedSecret re-sealed to the newest key; `413`; `500` with a message about the structure |
//!
//! `/v1/verify` and `/v1/rotate` only decrypt ([`SealedSecret::open_items`]): they never render
//! `spec.template.data` and never parse a plaintext, so their answer cannot depend on what a
//! plaintext says (an attacker-supplied template would otherwise turn them into a plaintext
//! oracle). Both are rate-limited per client (`--rate-limit`, `--rate-limit-burst`), the client
//! being the connection's peer address, or the right-most `X-Forwarded-For` entry when the peer
//! is in `--trusted-proxies` ([`limit`]): Bitnami limits only `/v1/verify`, which leaves
//! `/v1/rotate` as an unlimited RSA oracle for any authenticated user (§14). Decoding and crypto
//! run on the blocking pool, at most [`ApiState::heavy`] at a time. `/v1/rotate` re-wraps the
//! items only and leaves `spec.template` untouched (§8.1).

pub mod limit;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, FromRequest as _, Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use kseal_core::sealed;
use kseal_crds::{
    KEY_FINGERPRINT_ANNOTATION, SealedSecret, UnsealError, UnsealOptions, reseal::reseal_item,
};
use serde::Deserialize as _;
use tokio::sync::Semaphore;

pub use self::limit::{RateLimiter, TrustedProxies};
use crate::{keys::KeyRegistry, metrics::Metrics};

/// The largest request body accepted (`413` above): a request carries one SealedSecret, and a
/// Secret holds at most 1 MiB of data, which base64 and sealing make about 1.4 MiB.
pub const MAX_BODY: usize = 2 << 20;

/// Shared state of the HTTP handlers.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The live keys.
    pub keys: Arc<KeyRegistry>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The crypto endpoints' limiter.
    pub limiter: Arc<RateLimiter>,
    /// `--trusted-proxies`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Permits for CPU-heavy work (decoding a body, RSA): requests beyond wait, so many large
    /// bodies at once cannot hold many decoded copies in memory.
    pub heavy: Arc<Semaphore>,
    /// How SealedSecrets unseal (`--accept-deprecated-v1-data`).
    pub options: UnsealOptions,
    /// Longest time for reading a request and writing its response (`--read-timeout` plus
    /// `--write-timeout`, as Go's server applies them in turn).
    pub timeout: Duration,
}

/// The API router (`--listen-addr`).
pub fn api_router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/cert.pem", get(cert))
        .route("/v1/certs", get(certs))
        .route("/v1/verify", post(verify))
        .route("/v1/rotate", post(rotate))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The metrics router (`--listen-metrics-addr`).
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    )
}

/// Records `http_requests_total` and `http_request_duration_seconds`.
async fn observe(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let path = match request.uri().path() {
        p @ ("/healthz" | "/v1/cert.pem" | "/v1/certs" | "/v1/verify" | "/v1/rotate") => {
            p.to_owned()
        }
        _ => "other".to_owned(),
    };
    let method = method_label(request.method()).to_owned();
    let start = Instant::now();
    let response = match tokio::time::timeout(state.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response(),
    };
    state
        .metrics
        .http_requests
        .get_or_create(&vec![
            ("path".into(), path.clone()),
            ("code".into(), response.status().as_u16().to_string()),
            ("method".into(), method.clone()),
        ])
        .inc();
    state
        .metrics
        .http_duration
        .get_or_create(&vec![("path".into(), path), ("method".into(), method)])
        .observe(start.elapsed().as_secs_f64());
    response
}

/// The `method` label: one of a fixed set, so that made-up methods cannot add series.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn cert(State(state): State<ApiState>) -> Response {
    match state.keys.snapshot().latest() {
        Some(c) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            )],
            c.to_pem(),
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no key yet\n").into_response(),
    }
}

/// One entry of `GET /v1/certs`: public data only.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct CertInfo {
    fingerprint: String,
    secret_name: String,
    /// The key Secret's creationTimestamp (RFC 3339), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    not_before: String,
    not_after: String,
    /// Whether this is the certificate `/v1/cert.pem` serves.
    latest: bool,
    pem: String,
}

/// Every active certificate, newest (the one new secrets are sealed to) first, so clients can
/// tell which keys are still in use and which could be retired.
async fn certs(State(state): State<ApiState>) -> Response {
    let snapshot = state.keys.snapshot();
    // Not simply the first: a key not valid yet may be first by date but is never served.
    let served = snapshot.latest().map(|c| c.fingerprint().clone());
    let certificates: Vec<CertInfo> = snapshot
        .certificates
        .iter()
        .map(|c| CertInfo {
            fingerprint: c.certificate.fingerprint().to_string(),
            secret_name: c.secret_name.clone(),
            created: c.created.map(kseal_core::keys::rfc3339),
            not_before: kseal_core::keys::rfc3339(c.certificate.not_before()),
            not_after: kseal_core::keys::rfc3339(c.certificate.not_after()),
            latest: served.as_ref() == Some(c.certificate.fingerprint()),
            pem: c.certificate.to_pem(),
        })
        .collect();
    let body = serde_json::json!({ "certificates": certificates }).to_string();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

impl ApiState {
    /// Applies the rate limit for `path` to the request's client, then reads its body
    /// (at most [`MAX_BODY`]). `Err` is the answer to send instead.
    async fn admit(
        &self,
        path: &str,
        peer: SocketAddr,
        request: Request,
    ) -> Result<Bytes, Response> {
        let client = self.trusted_proxies.client(peer, request.headers());
        if !self
            .limiter
            .allow(&format!("{path}|{client}"), Instant::now())
        {
            return Err((StatusCode::TOO_MANY_REQUESTS, "limit exceeded\n").into_response());
        }
        // A declared length over the limit is refused before waiting for a byte of it.
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is larger than 2 MiB\n",
            )
                .into_response());
        }
        Bytes::from_request(request, &())
            .await
            .map_err(IntoResponse::into_response)
    }

    /// Runs `work` on the blocking pool once a [`ApiState::heavy`] permit is free. The permit
    /// travels with the work, so a request that times out still holds it until its work ends.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Response> {
        let internal = || (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
        let permit = self
            .heavy
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| internal())?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| internal())
    }
}

/// Decodes one SealedSecret from JSON or YAML; several YAML documents are refused.
///
/// Bounded by construction: `serde_json` and `serde_yaml` stop at 128 levels of nesting,
/// `serde_yaml` refuses alias expansion beyond a fixed budget (billion laughs), and the body is
/// at most [`MAX_BODY`]. Messages describe the body's shape, never its content.
pub fn decode(body: &[u8]) -> Result<SealedSecret, String> {
    let json_like = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    match serde_json::from_slice::<SealedSecret>(body) {
        Ok(ss) => return Ok(ss),
        // Flow-style YAML also starts with `{`: only a syntax error sends it on to YAML.
        Err(e)
            if json_like
                && (e.classify() != serde_json::error::Category::Syntax
                    || limit(&e.to_string()).is_some()) =>
        {
            return Err(json_error(&e));
        }
        Err(_) => {}
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )
    })?;
    if flow_depth(text) > MAX_FLOW_DEPTH {
        // libyaml's scanner takes time quadratic in flow nesting (100,000 `[` took 40 s).
        return Err(format!(
            "body is not a SealedSecret: YAML nested deeper than {MAX_FLOW_DEPTH} levels"
        ));
    }
    let not_ss = || "body is not a SealedSecret in JSON or YAML".to_owned();
    let several = || "expected exactly one SealedSecret, found several documents".to_owned();
    let mut found = None;
    // Each document must be consumed before the next one is read.
    for doc in serde_yaml::Deserializer::from_str(text) {
        match Option::<SealedSecret>::deserialize(doc) {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) if found.is_some() => return Err(several()),
            Ok(Some(ss)) => found = Some(ss),
            Err(e) => {
                return Err(limit(&e.to_string())
                    .map_or_else(not_ss, |l| format!("body is not a SealedSecret: YAML {l}")));
            }
        }
    }
    found.ok_or_else(not_ss)
}

/// Deepest flow nesting (`[`, `{`) allowed before YAML parsing. serde_yaml refuses data nested
/// deeper than 128 levels anyway; this bound only keeps libyaml from reaching it slowly.
const MAX_FLOW_DEPTH: usize = 1000;

/// The deepest nesting of `[`/`{` in `text`, counting every bracket (quoted or not: a larger
/// count only errs towards refusing, and a SealedSecret has no long runs of open brackets).
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The parsers' own limits, named without quoting the input.
fn limit(error: &str) -> Option<&'static str> {
    ["recursion limit exceeded", "repetition limit exceeded"]
        .into_iter()
        .find(|limit| error.contains(limit))
}

/// A JSON error by kind and place only: serde's own text may quote a value.
fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = limit(&e.to_string()).unwrap_or(match e.classify() {
        Category::Syntax => "invalid JSON",
        Category::Eof => "JSON ends too early",
        Category::Data | Category::Io => "JSON that does not match the SealedSecret schema",
    });
    format!(
        "body is not a SealedSecret: {what} at line {} column {}",
        e.line(),
        e.column()
    )
}

async fn verify(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let body = match state.admit("/v1/verify", peer, request).await {
        Ok(body) => body,
        Err(r) => return r,
    };
    let snapshot = state.keys.snapshot();
    let options = state.options;
    let opens = state
        .blocking(move || decode(&body).map(|ss| ss.open_items(&snapshot.keys, options).is_ok()))
        .await;
    match opens {
        Ok(Ok(true)) => StatusCode::OK.into_response(),
        Ok(Ok(false)) => StatusCode::CONFLICT.into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(r) => r,
    }
}

async fn rotate(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let body = match state.admit("/v1/rotate", peer, request).await {
        Ok(body) => body,
        Err(r) => return r,
    };
    let snapshot = state.keys.snapshot();
    let options = state.options;
    let result = state
        .blocking(move || {
            let ss = reseal(decode(&body)?, &snapshot, options).map_err(|e| e.to_string())?;
            serde_json::to_vec(&ss).map_err(|e| e.to_string())
        })
        .await;
    match result {
        Ok(Ok(json)) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(r) => r,
    }
}

/// Re-wraps every item (and a legacy `spec.data` blob) for the newest certificate, keeping
/// item names, order, scope and template. A kseal fingerprint hint is updated to the new key.
///
/// Decrypts once ([`SealedSecret::open_items`]); an error names items or the object's
/// structure, never a plaintext.
pub fn reseal(
    mut ss: SealedSecret,
    snapshot: &crate::keys::KeySnapshot,
    options: UnsealOptions,
) -> Result<SealedSecret, ResealError> {
    let latest = snapshot.latest().ok_or(ResealError::NoKey)?;
    let opened = ss.open_items(&snapshot.keys, options)?;
    // open_items has checked the scope already.
    let scope = ss
        .scope()
        .map_err(|e| ResealError::Open(UnsealError::Scope(e)))?;
    for (name, plaintext) in &opened.items {
        let previous = ss.spec.encrypted_data.get(name).and_then(|v| v.as_sealed());
        let sealed = reseal_item(
            latest,
            &scope,
            name,
            previous.unwrap_or(""),
            plaintext.expose(),
            None,
        )?;
        ss.spec.encrypted_data.insert(name.as_str(), sealed);
    }
    if let Some(blob) = &opened.legacy {
        ss.spec.data = Some(sealed::encode_base64(&kseal_core::seal(
            latest,
            &scope,
            blob.expose(),
        )));
    }
    if let Some(a) = ss.metadata.annotations.as_mut()
        && a.contains_key(KEY_FINGERPRINT_ANNOTATION)
    {
        a.insert(
            KEY_FINGERPRINT_ANNOTATION.into(),
            latest.fingerprint().to_string(),
        );
    }
    Ok(ss)
}

/// Why `/v1/rotate` cannot re-seal a SealedSecret (the `500` body).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResealError {
    /// The controller has no key yet.
    #[error("no key yet")]
    NoKey,
    /// The SealedSecret does not open ([`SealedSecret::open_items`]).
    #[error(transparent)]
    Open(#[from] UnsealError),
    /// A `pq-hybrid` item, and the newest certificate has no X-Wing key.
    #[error(transparent)]
    NoPqKey(#[from] kseal_crds::reseal::NoPqKeyFor),
}

#[cfg(test)]
mod tests;
