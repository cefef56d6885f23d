//! Prometheus metrics under Bitnami's names (`docs/controller-compat.md` §9), so existing alerts
//! (`SealedSecretsUnsealErrorHigh`) and dashboards keep working, plus a few kseal additions.

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// A label set; a `Vec` of pairs avoids a derive per label combination.
pub type Labels = Vec<(String, String)>;

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 16,
    ))
}

/// The `reason` label of `sealed_secrets_controller_unseal_errors_total` (Bitnami's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsealErrorReason {
    /// The SealedSecret does not unseal.
    Unseal,
    /// The target Secret could not be read.
    Fetch,
    /// The target Secret could not be written.
    Update,
    /// The target Secret belongs to someone else (or is one the controller trusts).
    Unmanaged,
    /// The status could not be written.
    Status,
}

impl UnsealErrorReason {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unseal => "unseal",
            Self::Fetch => "fetch",
            Self::Update => "update",
            Self::Unmanaged => "unmanaged",
            Self::Status => "status",
        }
    }
}

/// The `operation` label of `sealed_secrets_controller_secret_writes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretWrite {
    /// A Secret was created.
    Create,
    /// A Secret was replaced.
    Update,
}

impl SecretWrite {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
        }
    }
}

/// The `target` label of the key backup metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupTarget {
    /// `--key-backup-secret`.
    Secret,
    /// `--key-backup-dir`.
    Dir,
}

impl BackupTarget {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Dir => "dir",
        }
    }
}

/// The `reason` label of `http_connections_rejected_total`: the cap a connection was over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionCap {
    /// `--http-max-connections`.
    MaxConnections,
    /// `--http-max-connections-per-ip`.
    MaxConnectionsPerIp,
}

impl ConnectionCap {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::MaxConnections => "max_connections",
            Self::MaxConnectionsPerIp => "max_connections_per_ip",
        }
    }
}

/// The `path` label of the HTTP metrics: the API's paths, everything else `other`, so made-up
/// paths cannot add series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpPath {
    /// `/healthz`.
    Healthz,
    /// `/v1/cert.pem`.
    CertPem,
    /// `/v1/certs`.
    Certs,
    /// `/v1/verify`.
    Verify,
    /// `/v1/rotate`.
    Rotate,
    /// Any other path.
    Other,
}

impl HttpPath {
    /// The label for a request's path.
    pub fn of(path: &str) -> Self {
        match path {
            "/healthz" => Self::Healthz,
            "/v1/cert.pem" => Self::CertPem,
            "/v1/certs" => Self::Certs,
            "/v1/verify" => Self::Verify,
            "/v1/rotate" => Self::Rotate,
            _ => Self::Other,
        }
    }

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Healthz => "/healthz",
            Self::CertPem => "/v1/cert.pem",
            Self::Certs => "/v1/certs",
            Self::Verify => "/v1/verify",
            Self::Rotate => "/v1/rotate",
            Self::Other => "other",
        }
    }
}

/// The `method` label of the HTTP metrics: one of a fixed set, so that made-up methods cannot
/// add series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `HEAD`.
    Head,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// `PATCH`.
    Patch,
    /// `OPTIONS`.
    Options,
    /// Any other method.
    Other,
}

impl HttpMethod {
    /// The label for a request's method.
    pub fn of(method: &axum::http::Method) -> Self {
        use axum::http::Method;
        match *method {
            Method::GET => Self::Get,
            Method::POST => Self::Post,
            Method::HEAD => Self::Head,
            Method::PUT => Self::Put,
            Method::DELETE => Self::Delete,
            Method::PATCH => Self::Patch,
            Method::OPTIONS => Self::Options,
            _ => Self::Other,
        }
    }

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Head => "HEAD",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Patch => "PATCH",
            Self::Options => "OPTIONS",
            Self::Other => "other",
        }
    }
}

/// The one label set of `condition_info` (Bitnami's order; the condition is always `Synced`).
fn condition_labels(namespace: &str, name: &str, instance: &str) -> Labels {
    vec![
        ("namespace".into(), namespace.into()),
        ("name".into(), name.into()),
        ("condition".into(), "Synced".into()),
        ("ss_app_kubernetes_io_instance".into(), instance.into()),
    ]
}

/// Every metric the controller exports. Labels carry names and namespaces, never values.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `sealed_secrets_controller_unseal_requests_total`.
    pub unseal_requests: Counter,
    /// `sealed_secrets_controller_unseal_errors_total{reason, namespace}`: [`Self::unseal_error`].
    unseal_errors: Family<Labels, Counter>,
    /// `sealed_secrets_controller_condition_info{namespace, name, condition,
    /// ss_app_kubernetes_io_instance}`: −1 False, 0 Unknown, 1 True. [`Self::condition`],
    /// [`Self::forget_condition`].
    condition_info: Family<Labels, Gauge>,
    /// `sealed_secrets_controller_http_requests_total{path, code, method}`:
    /// [`Self::http_request`].
    http_requests: Family<Labels, Counter>,
    /// `sealed_secrets_controller_http_request_duration_seconds{path, method}`:
    /// [`Self::http_request`].
    http_duration: HistogramFamily,
    /// kseal: `sealed_secrets_controller_http_connections_rejected_total{reason}`: connections
    /// closed at once because a cap was reached ([`ConnectionCap`]).
    http_connections_rejected: Family<Labels, Counter>,
    /// kseal: `sealed_secrets_controller_keys`: keys loaded.
    pub keys: Gauge,
    /// kseal: `sealed_secrets_controller_invalid_key_secrets`: key Secrets skipped because
    /// they do not parse.
    pub invalid_key_secrets: Gauge,
    /// kseal: `sealed_secrets_controller_keys_not_yet_valid`: loaded keys whose certificate's
    /// NotBefore lies in the future (as of the last key change); they decrypt but are not served.
    pub keys_not_yet_valid: Gauge,
    /// kseal: `sealed_secrets_controller_leader`: 1 on the replica that holds the Lease.
    pub leader: Gauge,
    /// kseal: `sealed_secrets_controller_rsa_operations_total`: private-key operations spent
    /// unsealing (1 per item when the newest key or the fingerprint hint is right).
    pub rsa_operations: Counter,
    /// kseal: `sealed_secrets_controller_pq_operations_total`: X-Wing decapsulations spent
    /// unsealing `pq-hybrid` items (`docs/pq-format.md`; 1 per item when the hint is right).
    pub pq_operations: Counter,
    /// kseal: `sealed_secrets_controller_secret_writes_total{operation}`: creates and updates of
    /// produced Secrets (an unchanged SealedSecret causes none). [`Self::secret_written`].
    secret_writes: Family<Labels, Counter>,
    /// kseal: `sealed_secrets_controller_restarts_total`: workload pod templates re-annotated by
    /// restart-on-change.
    pub restarts: Counter,
    /// kseal: `sealed_secrets_controller_key_backup_failures_total{target}`: failed writes of
    /// the key backup ([`BackupTarget`]); each is retried.
    key_backup_failures: Family<Labels, Counter>,
    /// kseal: `sealed_secrets_controller_key_backup_last_success_timestamp_seconds{target}`:
    /// when the backup was last written or found up to date.
    key_backup_last_success: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers everything.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sealed_secrets_controller");
        let build_info = Family::<Labels, Gauge>::default();
        build_info
            .get_or_create(&vec![(
                "revision".into(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )])
            .set(1);
        registry.register("build_info", "Build information.", build_info);
        let m = Self {
            unseal_requests: Counter::default(),
            unseal_errors: Family::default(),
            condition_info: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            http_connections_rejected: Family::default(),
            keys: Gauge::default(),
            invalid_key_secrets: Gauge::default(),
            keys_not_yet_valid: Gauge::default(),
            leader: Gauge::default(),
            rsa_operations: Counter::default(),
            pq_operations: Counter::default(),
            secret_writes: Family::default(),
            restarts: Counter::default(),
            key_backup_failures: Family::default(),
            key_backup_last_success: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "unseal_requests",
            "Total number of sealed secret unseal requests",
            m.unseal_requests.clone(),
        );
        registry.register(
            "unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            m.unseal_errors.clone(),
        );
        registry.register(
            "condition_info",
            "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)",
            m.condition_info.clone(),
        );
        registry.register(
            "http_requests",
            "Total number of HTTP requests by path, status code and method",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by path and method",
            m.http_duration.clone(),
        );
        registry.register(
            "http_connections_rejected",
            "HTTP connections closed at once because a connection cap was reached, by cap",
            m.http_connections_rejected.clone(),
        );
        registry.register("keys", "Number of sealing keys loaded", m.keys.clone());
        registry.register(
            "invalid_key_secrets",
            "Number of key Secrets skipped because they do not parse",
            m.invalid_key_secrets.clone(),
        );
        registry.register(
            "keys_not_yet_valid",
            "Number of loaded keys whose certificate is not valid yet (never served as newest)",
            m.keys_not_yet_valid.clone(),
        );
        registry.register(
            "leader",
            "Whether this replica holds the leader Lease: 1 yes, 0 no",
            m.leader.clone(),
        );
        registry.register(
            "rsa_operations",
            "RSA private-key operations spent unsealing",
            m.rsa_operations.clone(),
        );
        registry.register(
            "pq_operations",
            "X-Wing decapsulations spent unsealing pq-hybrid items",
            m.pq_operations.clone(),
        );
        registry.register(
            "secret_writes",
            "Creates and updates of produced Secrets",
            m.secret_writes.clone(),
        );
        registry.register(
            "restarts",
            "Workloads restarted because a followed Secret changed",
            m.restarts.clone(),
        );
        registry.register(
            "key_backup_failures",
            "Failed writes of the key backup by target (secret, dir)",
            m.key_backup_failures.clone(),
        );
        registry.register(
            "key_backup_last_success_timestamp_seconds",
            "Unix time the key backup was last written or found up to date, by target",
            m.key_backup_last_success.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts a failed key backup write.
    pub fn key_backup_failure(&self, target: BackupTarget) {
        self.key_backup_failures
            .get_or_create(&vec![("target".into(), target.label().into())])
            .inc();
    }

    /// Records a key backup written or found up to date now.
    pub fn key_backup_success(&self, target: BackupTarget) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.key_backup_last_success
            .get_or_create(&vec![("target".into(), target.label().into())])
            .set(now);
    }

    /// Counts a connection refused by a cap.
    pub fn connection_rejected(&self, cap: ConnectionCap) {
        self.http_connections_rejected
            .get_or_create(&vec![("reason".into(), cap.label().into())])
            .inc();
    }

    /// Counts an answered HTTP request and records how long it took.
    pub fn http_request(
        &self,
        path: HttpPath,
        method: HttpMethod,
        code: axum::http::StatusCode,
        elapsed: std::time::Duration,
    ) {
        self.http_requests
            .get_or_create(&vec![
                ("path".into(), path.label().into()),
                ("code".into(), code.as_u16().to_string()),
                ("method".into(), method.label().into()),
            ])
            .inc();
        self.http_duration
            .get_or_create(&vec![
                ("path".into(), path.label().into()),
                ("method".into(), method.label().into()),
            ])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a failed reconcile.
    pub fn unseal_error(&self, reason: UnsealErrorReason, namespace: &str) {
        self.unseal_errors
            .get_or_create(&vec![
                ("reason".into(), reason.label().into()),
                ("namespace".into(), namespace.into()),
            ])
            .inc();
    }

    /// Sets `condition_info` for one SealedSecret.
    pub fn condition(&self, namespace: &str, name: &str, instance: &str, value: i64) {
        self.condition_info
            .get_or_create(&condition_labels(namespace, name, instance))
            .set(value);
    }

    /// Drops the `condition_info` series of a SealedSecret that is gone.
    pub fn forget_condition(&self, namespace: &str, name: &str, instance: &str) {
        self.condition_info
            .remove(&condition_labels(namespace, name, instance));
    }

    /// Counts a create or update of a produced Secret.
    pub fn secret_written(&self, operation: SecretWrite) {
        self.secret_writes
            .get_or_create(&vec![("operation".into(), operation.label().into())])
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitnami_names() {
        let m = Metrics::new();
        m.unseal_requests.inc();
        m.unseal_error(UnsealErrorReason::Unseal, "ns");
        m.condition("ns", "app", "", -1);
        let text = m.render();
        for name in [
            "sealed_secrets_controller_build_info{revision=",
            "sealed_secrets_controller_unseal_requests_total 1",
            "sealed_secrets_controller_unseal_errors_total{reason=\"unseal\",namespace=\"ns\"} 1",
            "sealed_secrets_controller_condition_info{namespace=\"ns\",name=\"app\",condition=\"Synced\",ss_app_kubernetes_io_instance=\"\"} -1",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
