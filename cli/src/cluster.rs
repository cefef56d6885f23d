//! The only module that talks to a cluster: the controller's HTTP API through the API server's
//! service proxy, as kubeseal does (`docs/controller-compat.md` §8.2), and the key Secrets for
//! `kseal backup`, with the user's kubeconfig (`KUBECONFIG`, `~/.kube/config`, or in-cluster
//! configuration).
//!
//! A command opens one [`Session`] (one runtime, one client, the Service read once) and sends
//! all its requests through it. `429 Too Many Requests` (the controller's per-client rate limit
//! on `/v1/verify` and `/v1/rotate`, or the API server's own) is retried with backoff, honouring
//! `Retry-After`, within a bounded total time per request.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use rand_core::RngCore as _;

use crate::exit::{Failure, Result};

/// Where the controller is: its Service, as kubeseal's `--controller-name/-namespace` say, and
/// how to reach its cluster.
#[derive(Debug, Clone)]
pub(crate) struct Controller {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) access: Access,
}

/// Which cluster: `--kubeconfig` and `--context`, else the user's default configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct Access {
    pub(crate) kubeconfig: Option<std::path::PathBuf>,
    pub(crate) context: Option<String>,
}

impl Controller {
    /// This controller in the cluster of `context` (kseal.yaml's `context:` for a file), unless
    /// `--context` chose one.
    pub(crate) fn in_context(mut self, context: Option<&str>) -> Self {
        if self.access.context.is_none() {
            self.access.context = context.map(str::to_owned);
        }
        self
    }

    /// GETs `path` (e.g. `/v1/cert.pem`) once, through a fresh [`Session`].
    pub(crate) fn get(&self, path: &str) -> Result<Vec<u8>> {
        self.connect()?.get(path)
    }

    /// The Secrets in the controller's namespace matching `selector`, in the API server's order.
    pub(crate) fn list_secrets(&self, selector: &str) -> Result<Vec<Secret>> {
        let namespace = &self.namespace;
        let runtime = runtime()?;
        runtime.block_on(async {
            let (client, server) = connect_client(&self.access).await?;
            let api: kube::Api<Secret> = kube::Api::namespaced(client, namespace);
            let list = api
                .list(&kube::api::ListParams::default().labels(selector))
                .await
                .map_err(|e| {
                    if unreachable(&e) {
                        return unreachable_server(&server, &e);
                    }
                    Failure::runtime(format!(
                        "cannot list Secrets in namespace {namespace} with label {selector} on {server}: {}",
                        short_kube_error(&e)
                    ))
                    .hint(format!(
                        "this needs `list` on secrets in namespace {namespace}; pass --controller-namespace if the controller runs elsewhere"
                    ))
                })?;
            Ok(list.items)
        })
    }

    /// Connects to the cluster and reads the controller's Service (its first port's name).
    pub(crate) fn connect(&self) -> Result<Session> {
        let runtime = runtime()?;
        let (client, server) = runtime.block_on(connect_client(&self.access))?;
        let port = runtime.block_on(async {
            let services: kube::Api<k8s_openapi::api::core::v1::Service> =
                kube::Api::namespaced(client.clone(), &self.namespace);
            let service = services.get(&self.name).await.map_err(|e| {
                let failure = Failure::runtime(format!(
                    "cannot read Service {}/{} on {server}: {}",
                    self.namespace, self.name, short_kube_error(&e)
                ));
                match &e {
                    kube::Error::Api(s) if s.code == 404 => failure.hint("is the controller installed? pass --controller-name/--controller-namespace if it is elsewhere"),
                    kube::Error::Api(s) if s.code == 401 || s.code == 403 => failure.hint(format!("your kubeconfig user needs `get` on services in namespace {}", self.namespace)),
                    _ if unreachable(&e) => unreachable_server(&server, &e),
                    _ => failure,
                }
            })?;
            Ok::<_, Failure>(
                service
                    .spec
                    .and_then(|s| s.ports)
                    .and_then(|p| p.into_iter().next())
                    .and_then(|p| p.name)
                    .unwrap_or_default(),
            )
        })?;
        Ok(Session {
            proxy: format!(
                "/api/v1/namespaces/{}/services/http:{}:{port}/proxy",
                self.namespace, self.name
            ),
            controller: self.clone(),
            server,
            runtime,
            client,
            retry: RetryPolicy::default(),
        })
    }
}

/// Whether the user has any cluster configuration at all: `KUBECONFIG`, `~/.kube/config`, or
/// an in-cluster environment. Without one, checks that can also run offline do so.
pub(crate) fn configured() -> bool {
    std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
        || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        || std::env::var_os("HOME")
            .is_some_and(|home| std::path::Path::new(&home).join(".kube/config").is_file())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the HTTP client: {e}")))
}

/// A kube client for `access` and the API server's address, or an error that names the
/// kubeconfig, the context and the cause, and says how to give another.
async fn connect_client(access: &Access) -> Result<(kube::Client, String)> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let options = KubeConfigOptions {
        context: access.context.clone(),
        ..KubeConfigOptions::default()
    };
    let flags_hint =
        "pass --kubeconfig FILE and/or --context NAME (`kubectl config get-contexts` lists them)";
    let config = match &access.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|e| {
                Failure::runtime(format!(
                    "cannot read kubeconfig {}: {}",
                    path.display(),
                    error_chain(&e)
                ))
            })?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| {
                    Failure::runtime(format!("kubeconfig {}: {}", path.display(), error_chain(&e)))
                        .hint(flags_hint)
                })?
        }
        None if access.context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| Failure::runtime(format!("kubeconfig: {}", error_chain(&e))).hint(flags_hint))?,
        None => kube::Config::infer().await.map_err(|e| {
            Failure::runtime(format!("no cluster configured: {}", no_config_reason(&e))).hint(
                "set KUBECONFIG (or ~/.kube/config) to the cluster the controller runs in, or pass --kubeconfig FILE",
            )
        })?,
    };
    let server = config.cluster_url.to_string();
    let server = server.trim_end_matches('/').to_owned();
    let client = kube::Client::try_from(config).map_err(|e| {
        Failure::runtime(format!(
            "cannot set up a client for the API server {server}: {}",
            error_chain(&e)
        ))
    })?;
    Ok((client, server))
}

/// Whether the request never got an answer: no connection, TLS or transport failure.
fn unreachable(e: &kube::Error) -> bool {
    matches!(
        e,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::RustlsTls(_)
    )
}

/// An API server that did not answer (refused, unknown host, TLS, timeout): its address and the
/// cause, and a hint about the cluster rather than the controller.
fn unreachable_server(server: &str, e: &kube::Error) -> Failure {
    Failure::runtime(format!(
        "cannot reach the API server {server}: {}",
        error_chain(e)
    ))
    .hint("is the cluster running, and is it the one you meant? pass --context NAME or --kubeconfig FILE to choose another")
}

/// Why no configuration was found, in the user's terms when it is a missing file.
fn no_config_reason(e: &kube::config::InferConfigError) -> String {
    match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(value) => {
            let missing: Vec<String> = std::env::split_paths(&value)
                .filter(|p| !p.exists())
                .map(|p| p.display().to_string())
                .collect();
            if missing.is_empty() {
                error_chain(e)
            } else {
                format!("KUBECONFIG names {}, which does not exist", missing.join(", "))
            }
        }
        None if !configured() => {
            "KUBECONFIG is not set, ~/.kube/config does not exist and this is not a pod in a cluster"
                .to_owned()
        }
        None => error_chain(e),
    }
}

/// An error and its causes, `outer: inner: innermost`, each said once.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let mut text = err.to_string();
        // "… (os error 111)" says nothing more than the text before it.
        while let Some(i) = text.find(" (os error ") {
            let end = text[i..].find(')').map_or(text.len(), |j| i + j + 1);
            text.replace_range(i..end, "");
        }
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// The kube error without the Status object's noise: its message, else the error and its causes.
fn short_kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => {
            format!("{} ({})", status.message, status.code)
        }
        other => error_chain(other),
    }
}

/// How long to keep retrying one request answered with 429.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Total time spent waiting for one request, after which the 429 is an error.
    pub(crate) budget: Duration,
    /// First wait without `Retry-After`; doubled each time up to [`Self::max_delay`].
    pub(crate) first_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(60),
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0 for the first retry), or `None` when waiting
    /// would exceed the budget. `Retry-After` (seconds) wins over the backoff when given, capped
    /// at the budget; `jitter` (0..1) spreads clients that were limited together.
    pub(crate) fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        waited: Duration,
        jitter: f64,
    ) -> Option<Duration> {
        let delay = retry_after.unwrap_or_else(|| {
            let backoff = self
                .first_delay
                .saturating_mul(1u32 << attempt.min(16))
                .min(self.max_delay);
            backoff.mul_f64(1.0 + jitter.clamp(0.0, 1.0) / 2.0)
        });
        (waited + delay <= self.budget).then_some(delay)
    }
}

/// A `Retry-After` header: delay-seconds (the HTTP-date form is not used by these servers).
fn parse_retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    let secs: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

/// An answer from the controller.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// One connection to the cluster for the whole command.
pub(crate) struct Session {
    controller: Controller,
    /// The API server's address, for messages.
    server: String,
    /// `/api/v1/namespaces/NS/services/http:NAME:PORT/proxy`.
    proxy: String,
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    pub(crate) retry: RetryPolicy,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// `Service NS/NAME`, for messages.
    pub(crate) fn service(&self) -> String {
        format!(
            "Service {}/{}",
            self.controller.namespace, self.controller.name
        )
    }

    /// GETs `path`; anything but 200 is an error naming the Service and path.
    pub(crate) fn get(&self, path: &str) -> Result<Vec<u8>> {
        let reply = self.request(http::Method::GET, path, None)?;
        if reply.status != 200 {
            return Err(self.unexpected("GET", path, &reply));
        }
        Ok(reply.body)
    }

    /// GETs `path` and returns the answer, whatever its status.
    pub(crate) fn request_get(&self, path: &str) -> Result<Reply> {
        self.request(http::Method::GET, path, None)
    }

    /// POSTs a JSON `body` to `path` and returns the answer, whatever its status (the caller
    /// knows what 409 means); 429 is retried first.
    pub(crate) fn post_json(&self, path: &str, body: &[u8]) -> Result<Reply> {
        self.request(http::Method::POST, path, Some(body))
    }

    /// An error for an answer the caller did not expect: status, the start of the body (the
    /// controller's messages name items and keys, never values), Service and path.
    pub(crate) fn unexpected(&self, method: &str, path: &str, reply: &Reply) -> Failure {
        let text = String::from_utf8_lossy(&reply.body);
        let mut text: String = text.trim().chars().take(300).collect();
        if text.is_empty() {
            text = "no message".into();
        }
        let failure = Failure::runtime(format!(
            "{method} {path} on {}: HTTP {}: {text}",
            self.service(),
            reply.status
        ));
        match reply.status {
            401 | 403 => failure.hint(format!(
                "your kubeconfig user needs `get` on services/proxy in namespace {} (the chart's service-proxier Role)",
                self.controller.namespace
            )),
            404 if text.contains("services") => failure.hint(
                "is the controller installed? pass --controller-name/--controller-namespace if it is elsewhere",
            ),
            503 => failure.hint("is the controller running and ready?"),
            _ => failure,
        }
    }

    fn request(&self, method: http::Method, path: &str, body: Option<&[u8]>) -> Result<Reply> {
        self.runtime.block_on(async {
            let start = Instant::now();
            let mut waited = Duration::ZERO;
            let mut attempt = 0;
            loop {
                let mut builder = http::Request::builder()
                    .method(method.clone())
                    .uri(format!("{}{path}", self.proxy));
                builder = match body {
                    Some(_) => builder
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .header(http::header::ACCEPT, "application/json"),
                    None => builder.header(http::header::ACCEPT, "*/*"),
                };
                let request = builder
                    .body(kube::client::Body::from(body.unwrap_or_default().to_vec()))
                    .map_err(|e| Failure::runtime(format!("cannot build request: {e}")))?;
                let response = self.client.send(request).await.map_err(|e| {
                    if unreachable(&e) {
                        unreachable_server(&self.server, &e)
                    } else {
                        Failure::runtime(format!(
                            "{method} {path} on {}: {}",
                            self.service(),
                            short_kube_error(&e)
                        ))
                    }
                })?;
                let status = response.status().as_u16();
                let retry_after = parse_retry_after(response.headers().get(http::header::RETRY_AFTER));
                let bytes = response.into_body().collect_bytes().await.map_err(|e| {
                    Failure::runtime(format!(
                        "{method} {path} on {}: reading the answer: {e}",
                        self.service()
                    ))
                })?;
                if status != 429 {
                    return Ok(Reply {
                        status,
                        body: bytes.to_vec(),
                    });
                }
                let jitter = f64::from(rand_core::OsRng.next_u32() % 1000) / 1000.0;
                let Some(delay) = self.retry.delay(attempt, retry_after, waited, jitter) else {
                    return Err(Failure::runtime(format!(
                        "{method} {path} on {}: still rate-limited (HTTP 429) after {} attempts in {:.0?}",
                        self.service(),
                        attempt + 1,
                        start.elapsed()
                    ))
                    .hint("the controller limits /v1/verify and /v1/rotate per client (--rate-limit); try again later or raise the limit"));
                };
                tokio::time::sleep(delay).await;
                waited += delay;
                attempt += 1;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_at_the_budget() {
        let p = RetryPolicy {
            budget: Duration::from_secs(10),
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
        };
        let d = |attempt, waited| p.delay(attempt, None, Duration::from_millis(waited), 0.0);
        assert_eq!(d(0, 0), Some(Duration::from_millis(250)));
        assert_eq!(d(1, 250), Some(Duration::from_millis(500)));
        assert_eq!(d(3, 1000), Some(Duration::from_secs(2)));
        assert_eq!(d(30, 1000), Some(Duration::from_secs(2)));
        assert_eq!(d(5, 8500), None);
        // Jitter adds at most half the backoff.
        assert_eq!(
            p.delay(0, None, Duration::ZERO, 1.0),
            Some(Duration::from_millis(375))
        );
    }

    #[test]
    fn retry_after_wins_within_the_budget() {
        let p = RetryPolicy::default();
        let ra = Some(Duration::from_secs(3));
        assert_eq!(p.delay(0, ra, Duration::ZERO, 0.9), ra);
        assert_eq!(p.delay(0, ra, Duration::from_secs(58), 0.0), None);
        let header = http::HeaderValue::from_static(" 7 ");
        assert_eq!(
            parse_retry_after(Some(&header)),
            Some(Duration::from_secs(7))
        );
        let date = http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(Some(&date)), None);
    }
}
