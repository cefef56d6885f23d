//! The HTTP API kubeseal uses through the API server's service proxy, with Bitnami's paths,
//! status codes and bodies (`controller-compat.md` §8), and the metrics endpoint.
//!
//! | path | answer |
//! |---|---|
//! | `GET /healthz` | `200 ok\n` |
//! | `GET /v1/cert.pem` | `200`, `application/x-pem-file`, the newest certificate; `503` before the first key |
//! | `GET /v1/certs` | `200` JSON `{"certificates": [...]}`, every active certificate, newest first (kseal only) |
//! | `POST /v1/verify` | `200` if the SealedSecret unseals, `409` if not, `400` unreadable body, `500` not a SealedSecret |
//! | `POST /v1/rotate` | `200` JSON SealedSecret re-sealed to the newest key; `500` on error |
//!
//! Both crypto endpoints are rate-limited per client (`--rate-limit`, `--rate-limit-burst`,
//! keyed by path and `X-Forwarded-For`): Bitnami limits only `/v1/verify`, which leaves
//! `/v1/rotate` as an unlimited RSA oracle for any authenticated user (§14). `/v1/rotate`
//! re-wraps the items only and leaves `spec.template` untouched (§8.1).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use kseal_core::{Fingerprint, sealed};
use kseal_crds::{EncryptedValue, KEY_FINGERPRINT_ANNOTATION, SealedSecret};
use serde::Deserialize as _;

use crate::{
    decide::{self, UnsealOptions},
    keys::KeyRegistry,
    metrics::Metrics,
};

/// A GCRA rate limiter (the algorithm Bitnami's `throttled` uses), keyed by client.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    tat: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// `rate` requests per second with bursts of `burst`; a rate of 0 disables limiting.
    pub fn new(rate: u32, burst: u32) -> Self {
        let interval = if rate == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(1.0 / f64::from(rate))
        };
        Self {
            interval,
            tolerance: interval * burst.max(1),
            tat: Mutex::default(),
        }
    }

    /// Whether a request from `key` at `now` may pass.
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        if self.interval.is_zero() {
            return true;
        }
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        if tat.len() > 10_000 {
            // Forget idle clients so the map cannot grow without bound.
            tat.retain(|_, t| *t > now);
        }
        let current = tat.get(key).copied().unwrap_or(now).max(now);
        let next = current + self.interval;
        if next.duration_since(now) > self.tolerance {
            return false;
        }
        tat.insert(key.to_owned(), next);
        true
    }
}

/// Shared state of the HTTP handlers.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The live keys.
    pub keys: Arc<KeyRegistry>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The crypto endpoints' limiter.
    pub limiter: Arc<RateLimiter>,
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
    let method = request.method().as_str().to_owned();
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
    let certificates: Vec<CertInfo> = snapshot
        .certificates
        .iter()
        .enumerate()
        .map(|(i, c)| CertInfo {
            fingerprint: c.certificate.fingerprint().to_string(),
            secret_name: c.secret_name.clone(),
            created: c.created.map(kseal_core::keys::rfc3339),
            not_before: kseal_core::keys::rfc3339(c.certificate.not_before()),
            not_after: kseal_core::keys::rfc3339(c.certificate.not_after()),
            latest: i == 0,
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

fn limited(state: &ApiState, path: &str, headers: &HeaderMap) -> Option<Response> {
    let client = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    (!state
        .limiter
        .allow(&format!("{path}|{client}"), Instant::now()))
    .then(|| (StatusCode::TOO_MANY_REQUESTS, "limit exceeded\n").into_response())
}

/// Decodes one SealedSecret from JSON or YAML; several YAML documents are refused.
fn decode(body: &[u8]) -> Result<SealedSecret, String> {
    if let Ok(ss) = serde_json::from_slice::<SealedSecret>(body) {
        return Ok(ss);
    }
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let not_ss = || "body is not a SealedSecret in JSON or YAML".to_owned();
    let mut docs = Vec::new();
    // Each document must be consumed before the next one is read.
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(doc).map_err(|_| not_ss())?;
        if !value.is_null() {
            docs.push(value);
        }
        if docs.len() > 1 {
            return Err("expected exactly one SealedSecret, found several documents".into());
        }
    }
    let value = docs.pop().ok_or_else(not_ss)?;
    serde_yaml::from_value::<SealedSecret>(value).map_err(|_| not_ss())
}

async fn verify(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = limited(&state, "/v1/verify", &headers) {
        return r;
    }
    let ss = match decode(&body) {
        Ok(ss) => ss,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    };
    let snapshot = state.keys.snapshot();
    let options = state.options;
    let ok = tokio::task::spawn_blocking(move || {
        decide::unseal(
            &ss,
            &snapshot.keys,
            options,
            crate::template::Sandbox::shared(),
        )
        .is_ok()
    })
    .await
    .unwrap_or(false);
    if ok {
        StatusCode::OK.into_response()
    } else {
        StatusCode::CONFLICT.into_response()
    }
}

async fn rotate(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = limited(&state, "/v1/rotate", &headers) {
        return r;
    }
    let ss = match decode(&body) {
        Ok(ss) => ss,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    };
    let snapshot = state.keys.snapshot();
    let result = tokio::task::spawn_blocking(move || reseal(ss, &snapshot))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    match result.and_then(|ss| serde_json::to_vec(&ss).map_err(|e| e.to_string())) {
        Ok(json) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Re-wraps every item (and a legacy `spec.data` blob) for the newest certificate, keeping
/// item names, order, scope and template. A kseal fingerprint hint is updated to the new key.
pub fn reseal(
    mut ss: SealedSecret,
    snapshot: &crate::keys::KeySnapshot,
) -> Result<SealedSecret, String> {
    let latest = snapshot.latest().ok_or("no key yet")?;
    // Fails with the same coarse error as the controller if anything does not open.
    decide::unseal(
        &ss,
        &snapshot.keys,
        UnsealOptions::default(),
        crate::template::Sandbox::shared(),
    )
    .map_err(|e| e.to_string())?;
    let scope = ss.scope().map_err(|e| e.to_string())?;
    let hint = ss.key_fingerprint_hint().and_then(Fingerprint::parse);
    let mut fresh = ss.spec.encrypted_data.clone();
    for (name, value) in ss.spec.encrypted_data.iter() {
        let EncryptedValue::Sealed(text) = value else {
            continue;
        };
        let opened = kseal_core::open_base64(&snapshot.keys, &scope, text, hint.as_ref())
            .map_err(|e| format!("{e} ({name})"))?;
        fresh.insert(
            name,
            kseal_core::seal_base64(latest, &scope, opened.plaintext.expose()),
        );
    }
    ss.spec.encrypted_data = fresh;
    if let Some(blob) = ss.spec.data.as_deref().filter(|d| !d.is_empty()) {
        let opened = kseal_core::open_base64(&snapshot.keys, &scope, blob, hint.as_ref())
            .map_err(|e| e.to_string())?;
        ss.spec.data = Some(sealed::encode_base64(&kseal_core::seal(
            latest,
            &scope,
            opened.plaintext.expose(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_burst_then_rate() {
        let l = RateLimiter::new(2, 2);
        let t0 = Instant::now();
        assert!(l.allow("a", t0));
        assert!(l.allow("a", t0));
        assert!(!l.allow("a", t0), "burst of 2 used up");
        assert!(l.allow("b", t0), "other clients are independent");
        assert!(l.allow("a", t0 + Duration::from_millis(600)));
        assert!(RateLimiter::new(0, 0).allow("a", t0));
    }

    #[test]
    fn decode_refuses_several_documents() {
        let one = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: a, namespace: b}\nspec: {encryptedData: {}}\n";
        assert!(decode(one.as_bytes()).is_ok());
        let two = format!("{one}---\n{one}");
        assert!(decode(two.as_bytes()).is_err());
        assert!(decode(b"{not json").is_err());
    }
}
