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
//! | `POST /v1/verify` | `200` if every item opens with our keys, `409` if not (both with an empty body), `413` body over [`MAX_BODY`], `408` body not in within `--http-body-timeout`, `500` not one SealedSecret |
//! | `POST /v1/rotate` | `200` JSON SealedSecret re-sealed to the newest key (each item in its format, or all in `?encryption=rsa\|pq-hybrid`, kseal only); `400` another `encryption`; `413`; `408`; `500` with a message about the structure |
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
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use kseal_core::{
    Encryption,
    documents::{self, Limits, OneError, Problem, ReadError, Syntax},
    sealed,
};
use kseal_crds::{
    KEY_FINGERPRINT_ANNOTATION, SealedSecret, UnsealError, UnsealOptions, reseal::reseal_item,
};
use tokio::sync::Semaphore;

pub use self::limit::{RateLimiter, TrustedProxies};
use crate::{
    keys::KeyRegistry,
    metrics::{HttpMethod, HttpPath, Metrics},
};

/// The largest request body accepted (`413` above): a request carries one SealedSecret, and a
/// Secret holds at most 1 MiB of data, which base64 and sealing make about 1.4 MiB
/// ([`Limits::REQUEST`], the reader's bound).
pub const MAX_BODY: usize = Limits::REQUEST.max_bytes;

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
    /// Longest wait for a request's body once its headers are in (`--http-body-timeout`): a
    /// client that trickles its body holds a connection slot this long, not the whole
    /// [`ApiState::timeout`].
    pub body_timeout: Duration,
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
    let path = HttpPath::of(request.uri().path());
    let method = HttpMethod::of(request.method());
    let start = Instant::now();
    let response = match tokio::time::timeout(state.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response(),
    };
    state
        .metrics
        .http_request(path, method, response.status(), start.elapsed());
    response
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
        match tokio::time::timeout(self.body_timeout, Bytes::from_request(request, &())).await {
            Ok(body) => body.map_err(IntoResponse::into_response),
            // The rest of the body may still come: the connection cannot be reused.
            Err(_) => Err((
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, "close")],
                format!(
                    "request body not received within {} s\n",
                    self.body_timeout.as_secs_f64()
                ),
            )
                .into_response()),
        }
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

/// Decodes one SealedSecret from JSON or YAML with the one multi-document reader
/// (`kseal_core::documents::read_one`); several documents are refused.
///
/// Bounded by construction ([`Limits::REQUEST`] and the parsers' own limits): at most
/// [`MAX_BODY`] (the router's limit), YAML flow nesting at most 1,000 levels (libyaml's scanner is quadratic in it),
/// 128 levels of any nesting, and serde_yaml's alias budget (billion laughs). Messages describe
/// the body's shape, never its content.
pub fn decode(body: &[u8]) -> Result<SealedSecret, DecodeError> {
    // The router has refused a body over MAX_BODY before this runs (`DefaultBodyLimit`), so the
    // size is not checked twice.
    let limits = Limits {
        max_bytes: usize::MAX,
        ..Limits::REQUEST
    };
    documents::read_one::<SealedSecret>(body, &limits).map_err(|e| match e {
        OneError::Read(ReadError::NotUtf8 { offset }) => DecodeError::NotUtf8 { offset },
        OneError::Read(_) | OneError::Several => DecodeError::Several,
        OneError::Document(d) if d.syntax == Syntax::Json => DecodeError::Json {
            what: match d.problem {
                Problem::RecursionLimit => "recursion limit exceeded",
                Problem::RepetitionLimit => "repetition limit exceeded",
                Problem::EndsEarly => "JSON ends too early",
                Problem::Syntax(_) => "invalid JSON",
                _ => "JSON that does not match the SealedSecret schema",
            },
            line: d.line.unwrap_or(0),
            column: d.column.unwrap_or(0),
        },
        OneError::Document(d) => match d.problem {
            limit @ (Problem::TooDeep { .. }
            | Problem::RecursionLimit
            | Problem::RepetitionLimit) => DecodeError::YamlLimit(limit),
            _ => DecodeError::NotSealedSecret,
        },
        _ => DecodeError::NotSealedSecret,
    })
}

/// Why a request body is not one SealedSecret (the `500` body of `/v1/verify` and `/v1/rotate`).
/// Describes the body's shape and place only: parser messages may quote a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not UTF-8.
    #[error("body is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// More than one non-empty document.
    #[error("expected exactly one SealedSecret, found several documents")]
    Several,
    /// JSON that does not parse as a SealedSecret.
    #[error("body is not a SealedSecret: {what} at line {line} column {column}")]
    Json {
        /// What is wrong, by kind.
        what: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// YAML over one of the reader's limits.
    #[error("body is not a SealedSecret: YAML {0}")]
    YamlLimit(Problem),
    /// Anything else.
    #[error("body is not a SealedSecret in JSON or YAML")]
    NotSealedSecret,
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
    let to = match rotate_encryption(request.uri().query()) {
        Ok(to) => to,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let body = match state.admit("/v1/rotate", peer, request).await {
        Ok(body) => body,
        Err(r) => return r,
    };
    let snapshot = state.keys.snapshot();
    let options = state.options;
    let result = state
        .blocking(move || -> Result<Vec<u8>, RotateError> {
            let ss = reseal(decode(&body)?, &snapshot, options, to)?;
            serde_json::to_vec(&ss).map_err(RotateError::Encode)
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

/// `/v1/rotate?encryption=rsa|pq-hybrid` (kseal only; Bitnami ignores the query): the format
/// every item is re-sealed in. Without it each item keeps its own. Other parameters are ignored,
/// as Bitnami ignores them all; a value other than the two is `400`.
pub fn rotate_encryption(query: Option<&str>) -> Result<Option<Encryption>, BadEncryption> {
    let Some(value) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.strip_prefix("encryption="))
        .next_back()
    else {
        return Ok(None);
    };
    Encryption::parse(value).map(Some).ok_or(BadEncryption)
}

/// `/v1/rotate?encryption=` names neither format (`400`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("encryption must be rsa or pq-hybrid")]
pub struct BadEncryption;

/// Re-wraps every item (and a legacy `spec.data` blob) for the newest certificate, keeping
/// item names, order, scope and template, and each item's format unless `to` names one (a
/// legacy blob has no item key and stays RSA). A kseal fingerprint hint is updated to the new
/// key.
///
/// Decrypts once ([`SealedSecret::open_items`]); an error names items or the object's
/// structure, never a plaintext.
pub fn reseal(
    mut ss: SealedSecret,
    snapshot: &crate::keys::KeySnapshot,
    options: UnsealOptions,
    to: Option<Encryption>,
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
            to,
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

/// Why `/v1/rotate` answers `500` (the body).
#[derive(Debug, thiserror::Error)]
enum RotateError {
    /// The body is not one SealedSecret.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// It does not re-seal.
    #[error(transparent)]
    Reseal(#[from] ResealError),
    /// The answer cannot be written as JSON.
    #[error("cannot encode the answer")]
    Encode(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests;
