//! Command-line flags. Names and defaults are Bitnami's wherever the feature exists
//! (`docs/controller-compat.md` §10), so the image drops into Bitnami's Helm chart; every flag can also
//! be set through `SEALED_SECRETS_<FLAG_IN_UPPER_SNAKE_CASE>`, and the command line wins.
//!
//! This module holds only the clap structs and value parsers; [`crate::config`] validates them.

use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};

use crate::http::TrustedProxies;

/// How "newest key" is decided (`--key-order-priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum KeyOrderPriority {
    /// The certificate's NotBefore (Bitnami's default).
    #[default]
    #[value(name = "CertNotBefore")]
    CertNotBefore,
    /// The key Secret's creationTimestamp.
    #[value(name = "SecretCreationTimestamp")]
    SecretCreationTimestamp,
}

/// Log output format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Every flag of `kseal-controller`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kseal-controller",
    version,
    about = "Unseals Bitnami-compatible SealedSecrets into Secrets",
    // Go's flag package accepts `--flag value` and `--flag=value`; bool flags need `=false`.
    dont_collapse_args_in_usage = true
)]
pub struct Flags {
    /// Prefix of the key Secrets' generateName; a Secret named exactly this is the legacy key.
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_PREFIX",
        default_value = "sealed-secrets-key"
    )]
    pub key_prefix: String,

    /// RSA key size of generated keys, in bits.
    #[arg(long, env = "SEALED_SECRETS_KEY_SIZE", default_value_t = 4096)]
    pub key_size: usize,

    /// Validity of generated certificates (Go duration).
    #[arg(long, env = "SEALED_SECRETS_KEY_TTL", default_value = "87600h", value_parser = parse_go_duration)]
    pub key_ttl: Duration,

    /// Common name of generated certificates (empty: empty subject, as Bitnami).
    #[arg(long, env = "SEALED_SECRETS_MY_CN", default_value = "")]
    pub my_cn: String,

    /// Generate a new key this often (Go duration); 0 disables.
    #[arg(
        long,
        visible_alias = "rotate-period",
        env = "SEALED_SECRETS_KEY_RENEW_PERIOD",
        default_value = "720h",
        value_parser = parse_go_duration
    )]
    pub key_renew_period: Duration,

    /// Which time decides the newest key.
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_ORDER_PRIORITY",
        value_enum,
        default_value = "CertNotBefore"
    )]
    pub key_order_priority: KeyOrderPriority,

    /// RFC 1123Z time (`date -R`): at startup, generate a new key if the newest is older.
    #[arg(long, env = "SEALED_SECRETS_KEY_CUTOFF_TIME", default_value = "")]
    pub key_cutoff_time: String,

    /// Unseal the legacy `spec.data` format (read-only compatibility).
    #[arg(long, env = "SEALED_SECRETS_ACCEPT_DEPRECATED_V1_DATA", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = false)]
    pub accept_deprecated_v1_data: bool,

    /// Watch SealedSecrets in all namespaces; with false, only the controller's own namespace and
    /// `--additional-namespaces`.
    #[arg(long, env = "SEALED_SECRETS_ALL_NAMESPACES", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub all_namespaces: bool,

    /// Comma-separated namespaces to watch besides the controller's own; implies not all.
    #[arg(long, env = "SEALED_SECRETS_ADDITIONAL_NAMESPACES", default_value = "")]
    pub additional_namespaces: String,

    /// Only reconcile SealedSecrets matching this label selector.
    #[arg(long, env = "SEALED_SECRETS_LABEL_SELECTOR", default_value = "")]
    pub label_selector: String,

    /// Requests per second allowed to the crypto endpoints, per client.
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT", default_value_t = 2)]
    pub rate_limit: u32,

    /// Burst allowed to the crypto endpoints, per client.
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT_BURST", default_value_t = 2)]
    pub rate_limit_burst: u32,

    /// `k=v,...` annotations added to generated key Secrets.
    #[arg(
        long,
        env = "SEALED_SECRETS_PRIVATEKEY_ANNOTATIONS",
        default_value = ""
    )]
    pub privatekey_annotations: String,

    /// `k=v,...` labels added to generated key Secrets (the `active` label always wins).
    #[arg(long, env = "SEALED_SECRETS_PRIVATEKEY_LABELS", default_value = "")]
    pub privatekey_labels: String,

    /// Delete the Secret explicitly when its SealedSecret goes (instead of owner-reference GC).
    #[arg(long, env = "SEALED_SECRETS_OLD_GC_BEHAVIOR", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub old_gc_behavior: bool,

    /// Write `status` (the Synced condition).
    #[arg(long, env = "SEALED_SECRETS_UPDATE_STATUS", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub update_status: bool,

    /// Accepted for compatibility: kseal always watches key Secrets (add, change, delete).
    #[arg(long, env = "SEALED_SECRETS_WATCH_FOR_SECRETS", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub watch_for_secrets: bool,

    /// Do not recreate or restore produced Secrets that were deleted or changed.
    #[arg(long, env = "SEALED_SECRETS_SKIP_RECREATE", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub skip_recreate: bool,

    /// Fast retries of a failing SealedSecret before it drops to the slow requeue.
    #[arg(long, env = "SEALED_SECRETS_MAX_UNSEAL_RETRIES", default_value_t = 5)]
    pub max_unseal_retries: u32,

    /// Accepted for compatibility; kseal does not throttle its API client (it avoids writes instead).
    #[arg(long, env = "SEALED_SECRETS_KUBECLIENT_QPS", default_value_t = 5.0)]
    pub kubeclient_qps: f32,

    /// Accepted for compatibility; see `--kubeclient-qps`.
    #[arg(long, env = "SEALED_SECRETS_KUBECLIENT_BURST", default_value_t = 10)]
    pub kubeclient_burst: u32,

    /// Write info-level logs to stdout (errors and warnings always go to stderr).
    #[arg(long, env = "SEALED_SECRETS_LOG_INFO_STDOUT", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub log_info_stdout: bool,

    /// `INFO` or `ERROR` (kseal also accepts `DEBUG` and `WARN`).
    #[arg(long, env = "SEALED_SECRETS_LOG_LEVEL", default_value = "INFO")]
    pub log_level: String,

    /// `text` or `json`.
    #[arg(
        long,
        env = "SEALED_SECRETS_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Address of the HTTP API (`/healthz`, `/v1/cert.pem`, `/v1/verify`, `/v1/rotate`).
    #[arg(long, env = "SEALED_SECRETS_LISTEN_ADDR", default_value = ":8080")]
    pub listen_addr: String,

    /// Address of the Prometheus endpoint (`/metrics`).
    #[arg(
        long,
        env = "SEALED_SECRETS_LISTEN_METRICS_ADDR",
        default_value = ":8081"
    )]
    pub listen_metrics_addr: String,

    /// HTTP read timeout (Go duration).
    #[arg(long, env = "SEALED_SECRETS_READ_TIMEOUT", default_value = "2m", value_parser = parse_go_duration)]
    pub read_timeout: Duration,

    /// HTTP write timeout (Go duration).
    #[arg(long, env = "SEALED_SECRETS_WRITE_TIMEOUT", default_value = "2m", value_parser = parse_go_duration)]
    pub write_timeout: Duration,

    /// Comma-separated CIDR ranges (or addresses) of proxies whose `X-Forwarded-For` is
    /// believed: a request from one is rate-limited by the right-most entry instead of the peer
    /// address. Empty: nobody's. Typically the API server's addresses (the service proxy).
    #[arg(long, env = "SEALED_SECRETS_TRUSTED_PROXIES", default_value = "", value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,

    /// HTTP: longest wait for a request's headers, from the connection's start or their first
    /// byte (Go duration).
    #[arg(long, env = "SEALED_SECRETS_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub http_header_timeout: Duration,

    /// HTTP: longest wait for a request's body once its headers are in (`/v1/verify`,
    /// `/v1/rotate`); then `408` and the connection is closed (Go duration).
    #[arg(long, env = "SEALED_SECRETS_HTTP_BODY_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    pub http_body_timeout: Duration,

    /// HTTP: a kept-alive connection without a request is closed after this (Go duration).
    #[arg(long, env = "SEALED_SECRETS_HTTP_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_positive_duration)]
    pub http_idle_timeout: Duration,

    /// HTTP: a connection is closed after this age, once its current request is answered
    /// (Go duration).
    #[arg(long, env = "SEALED_SECRETS_HTTP_MAX_CONNECTION_AGE", default_value = "10m", value_parser = parse_positive_duration)]
    pub http_max_connection_age: Duration,

    /// HTTP: open connections per listener; more are closed at once.
    #[arg(long, env = "SEALED_SECRETS_HTTP_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_connections: u32,

    /// HTTP: open connections per listener from one peer address; more are closed at once.
    #[arg(long, env = "SEALED_SECRETS_HTTP_MAX_CONNECTIONS_PER_IP", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_connections_per_ip: u32,

    // ---- kseal additions -------------------------------------------------------------------
    /// Kubeconfig to use instead of the in-cluster ServiceAccount (`KUBECONFIG` works too).
    #[arg(long, env = "SEALED_SECRETS_KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Namespace of the key Secrets and the leader Lease (default: `POD_NAMESPACE`, then the
    /// ServiceAccount's namespace file, then `default`, as Bitnami).
    #[arg(long, env = "SEALED_SECRETS_CONTROLLER_NAMESPACE")]
    pub controller_namespace: Option<String>,

    /// Elect a leader on a coordination.k8s.io Lease; only the leader reconciles and makes keys.
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECT", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub leader_elect: bool,

    /// Name of the leader Lease.
    #[arg(
        long,
        env = "SEALED_SECRETS_LEADER_ELECTION_ID",
        default_value = "sealed-secrets-controller"
    )]
    pub leader_election_id: String,

    /// How long a leader's Lease is valid without renewal (failover time after a crash).
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_go_duration)]
    pub leader_election_lease_duration: Duration,

    /// How often candidates and the leader look at the Lease.
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECTION_RETRY_PERIOD", default_value = "2s", value_parser = parse_go_duration)]
    pub leader_election_retry_period: Duration,

    /// Identity in the Lease (default: `POD_NAME`, else host name and process id).
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECTION_IDENTITY")]
    pub leader_election_identity: Option<String>,

    /// SealedSecrets reconciled in parallel (RSA work runs on a blocking thread pool).
    #[arg(long, env = "SEALED_SECRETS_WORKERS", default_value_t = 8)]
    pub workers: u16,

    /// After `--max-unseal-retries` fast retries, a failing SealedSecret is retried this often.
    #[arg(long, env = "SEALED_SECRETS_FAILED_REQUEUE_PERIOD", default_value = "10m", value_parser = parse_go_duration)]
    pub failed_requeue_period: Duration,

    /// Follow Deployments, StatefulSets and DaemonSets annotated with
    /// `kseal.dev/restart-on-secret-change` (see the README). Off by default: it needs `patch`
    /// on workloads, which the default RBAC does not grant.
    #[arg(long, env = "SEALED_SECRETS_RESTART_ON_CHANGE", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub restart_on_change: bool,

    /// `NAMESPACE/NAME`: the leader keeps an Opaque Secret there holding every active key (data
    /// `keys.yaml`, a `v1 List` of the key Secrets), rewritten after every key change.
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_BACKUP_SECRET",
        value_name = "NAMESPACE/NAME"
    )]
    pub key_backup_secret: Option<String>,

    /// Directory (a mounted volume): the leader keeps `keys.yaml` there (mode 0600, written
    /// atomically), the same `v1 List` as `--key-backup-secret`.
    #[arg(long, env = "SEALED_SECRETS_KEY_BACKUP_DIR", value_name = "PATH")]
    pub key_backup_dir: Option<std::path::PathBuf>,
}

/// A flag value that is not a Go duration. Durations are not secret; the text is quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing given.
    #[error("empty duration")]
    Empty,
    /// A leading `-`.
    #[error("negative duration {0:?}")]
    Negative(String),
    /// A number without a unit.
    #[error("duration {0:?} is missing a unit (h, m, s, ms)")]
    MissingUnit(String),
    /// A number that does not parse.
    #[error("invalid number in duration {0:?}")]
    Number(String),
    /// A unit Go does not know.
    #[error("unknown unit {unit:?} in duration {text:?}")]
    Unit {
        /// The unit as written.
        unit: String,
        /// The whole duration.
        text: String,
    },
    /// Too long to represent.
    #[error("duration {0:?} is out of range")]
    OutOfRange(String),
    /// Zero where only a positive duration makes sense.
    #[error("must be longer than 0")]
    Zero,
}

/// Parses a Go `time.Duration` string: `720h`, `1h30m`, `2.5s`, `500ms`, `0`.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative(text.to_owned()));
    }
    let mut total = 0f64;
    let mut rest = text.trim_start_matches('+');
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| DurationError::MissingUnit(text.to_owned()))?;
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number
            .parse()
            .map_err(|_| DurationError::Number(text.to_owned()))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            other => {
                return Err(DurationError::Unit {
                    unit: other.to_owned(),
                    text: text.to_owned(),
                });
            }
        };
        total += value * seconds;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| DurationError::OutOfRange(text.to_owned()))
}

/// A Go duration that is not zero (a zero timeout would close every connection at once).
pub fn parse_positive_duration(text: &str) -> Result<Duration, DurationError> {
    parse_go_duration(text).and_then(|d| {
        if d.is_zero() {
            Err(DurationError::Zero)
        } else {
            Ok(d)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("720h"),
            Ok(Duration::from_secs(720 * 3600))
        );
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("5d").is_err());
        assert!(parse_go_duration("-1h").is_err());
    }

    #[test]
    fn bitnami_flags_parse() {
        let f = Flags::try_parse_from([
            "kseal-controller",
            "--update-status=false",
            "--all-namespaces=false",
            "--additional-namespaces",
            "a,b",
            "--key-order-priority=SecretCreationTimestamp",
            "--rotate-period",
            "24h",
        ])
        .unwrap();
        assert_eq!(f.key_renew_period, Duration::from_secs(24 * 3600));
        assert!(!f.update_status && !f.all_namespaces);
        assert_eq!(f.additional_namespaces, "a,b");
        assert_eq!(
            f.key_order_priority,
            KeyOrderPriority::SecretCreationTimestamp
        );
        let d = Flags::try_parse_from(["kseal-controller"]).unwrap();
        assert_eq!(d.key_prefix, "sealed-secrets-key");
        assert_eq!(d.key_size, 4096);
        assert!(d.accept_deprecated_v1_data && d.update_status && d.all_namespaces);
        assert_eq!(d.listen_addr, ":8080");
        assert_eq!(d.trusted_proxies, TrustedProxies::default());
        assert_eq!(d.http_header_timeout, Duration::from_secs(10));
        assert_eq!(d.http_body_timeout, Duration::from_secs(30));
        assert_eq!(d.http_max_connections_per_ip, 64);
    }

    #[test]
    fn http_flags_are_checked_at_start() {
        let f = Flags::try_parse_from([
            "kseal-controller",
            "--trusted-proxies=10.96.0.0/12, 172.18.0.2",
        ])
        .unwrap();
        assert!(f.trusted_proxies.contains("172.18.0.2".parse().unwrap()));
        for bad in [
            "--trusted-proxies=10.96.0.1/12",
            "--trusted-proxies=kube-apiserver",
            "--http-header-timeout=0",
            "--http-body-timeout=0",
            "--http-max-connections=0",
        ] {
            let e = Flags::try_parse_from(["kseal-controller", bad]).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad}: {e}"
            );
        }
        let e = Flags::try_parse_from(["kseal-controller", "--trusted-proxies=10.0.0.1/8"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has host bits set; the range is 10.0.0.0/8"),
            "{e}"
        );
    }
}
