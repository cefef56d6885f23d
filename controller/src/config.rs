//! The config stage: [`Flags`] and the process environment become a typed [`Config`] before
//! anything starts. Every flag is validated here, and identities are resolved here (controller
//! namespace, leader identity, watched namespaces), so `main` only wires. Errors name the flag.

use std::{collections::BTreeMap, collections::HashSet, path::PathBuf, time::SystemTime};

use kseal_core::KeySize;
use tracing::Level;

use crate::{
    args::{Flags, KeyOrderPriority, LogFormat},
    backup::BackupConfig,
    http::TrustedProxies,
    keywatch::KeyGenConfig,
    leader::LeaderConfig,
    protected::TrustedSecrets,
    reconcile::ReconcileOptions,
    server::ConnectionLimits,
};

/// Where the ServiceAccount's namespace is mounted in a pod.
pub const SA_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// A flag that does not hold a usable value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--log-level` is not a level.
    #[error("unknown --log-level {0:?} (INFO or ERROR)")]
    LogLevel(String),
    /// `--key-size` is not a supported RSA size.
    #[error("--key-size: {0}")]
    KeySize(kseal_core::KeyError),
    /// `--key-cutoff-time` is not RFC 1123Z.
    #[error("--key-cutoff-time {text:?} is not RFC1123Z (date -R): {reason}")]
    Cutoff {
        /// The value given.
        text: String,
        /// What the parser said.
        reason: time::error::Parse,
    },
    /// An entry of `--privatekey-labels` or `--privatekey-annotations` has no `=`.
    #[error("{flag}: {pair:?} is not key=value")]
    KeyValue {
        /// The flag.
        flag: &'static str,
        /// The entry.
        pair: String,
    },
    /// `--key-prefix` cannot prefix a Secret name.
    #[error("--key-prefix must be 1-245 characters of [a-z0-9-]")]
    KeyPrefix,
    /// `--key-backup-secret` is not `NAMESPACE/NAME`.
    #[error("--key-backup-secret {0:?}: expected NAMESPACE/NAME")]
    BackupSecretShape(String),
    /// A part of `--key-backup-secret` is not a DNS-1123 name.
    #[error("--key-backup-secret {text:?}: {part} {value:?} is not a valid Kubernetes name")]
    BackupSecretName {
        /// The value given.
        text: String,
        /// `namespace` or `name`.
        part: &'static str,
        /// The part.
        value: String,
    },
    /// `--key-backup-secret` names the legacy key Secret.
    #[error(
        "--key-backup-secret {0:?}: a Secret named like --key-prefix in the controller \
         namespace is the legacy key Secret; choose another name"
    )]
    BackupSecretIsLegacyKey(String),
    /// `--key-backup-dir` is not a directory.
    #[error("--key-backup-dir {}: not a directory (mount a volume there)", .0.display())]
    BackupDir(PathBuf),
}

/// What the process environment says about where the controller runs.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `POD_NAMESPACE`.
    pub pod_namespace: Option<String>,
    /// The content of [`SA_NAMESPACE_FILE`].
    pub service_account_namespace: Option<String>,
    /// `POD_NAME`.
    pub pod_name: Option<String>,
    /// The host name.
    pub hostname: String,
    /// This process's id.
    pub pid: u32,
}

impl Environment {
    /// Reads this process's environment.
    pub fn of_process() -> Self {
        Self {
            pod_namespace: std::env::var("POD_NAMESPACE").ok(),
            service_account_namespace: std::fs::read_to_string(SA_NAMESPACE_FILE).ok(),
            pod_name: std::env::var("POD_NAME").ok(),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default(),
            pid: std::process::id(),
        }
    }
}

/// Logging (`--log-format`, `--log-level`, `--log-info-stdout`).
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    /// Text or JSON.
    pub format: LogFormat,
    /// The most verbose level written.
    pub level: Level,
    /// Info and below to stdout (else stderr).
    pub info_stdout: bool,
}

/// The HTTP listeners.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `--listen-addr`.
    pub listen_addr: String,
    /// `--listen-metrics-addr`.
    pub listen_metrics_addr: String,
    /// Connection limits of both listeners.
    pub limits: ConnectionLimits,
    /// `--rate-limit`.
    pub rate_limit: u32,
    /// `--rate-limit-burst`.
    pub rate_limit_burst: u32,
    /// `--trusted-proxies`.
    pub trusted_proxies: TrustedProxies,
    /// Longest time for one request (`--read-timeout` plus `--write-timeout`).
    pub timeout: std::time::Duration,
    /// `--http-body-timeout`.
    pub body_timeout: std::time::Duration,
}

/// Everything the controller needs to start, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Logging.
    pub log: LogConfig,
    /// `--kubeconfig` (none: in-cluster or `KUBECONFIG`).
    pub kubeconfig: Option<PathBuf>,
    /// The controller namespace: key Secrets, the Lease.
    pub namespace: String,
    /// This replica's identity (Lease holder, event reporting instance).
    pub identity: String,
    /// `--key-prefix`.
    pub key_prefix: String,
    /// `--key-order-priority`.
    pub key_order_priority: KeyOrderPriority,
    /// Key generation.
    pub keygen: KeyGenConfig,
    /// Key backups.
    pub backup: BackupConfig,
    /// The reconcilers.
    pub reconcile: ReconcileOptions,
    /// The namespaces a scoped controller watches; empty: all namespaces.
    pub namespaces: Vec<String>,
    /// `--restart-on-change`.
    pub restart_on_change: bool,
    /// Leader election (`None`: `--leader-elect=false`, this replica always leads).
    pub leader: Option<LeaderConfig>,
    /// The HTTP listeners.
    pub http: HttpConfig,
}

impl Config {
    /// Validates `flags` and resolves identities from `env`.
    pub fn new(flags: Flags, env: &Environment) -> Result<Self, ConfigError> {
        let log = LogConfig {
            format: flags.log_format,
            level: log_level(&flags.log_level)?,
            info_stdout: flags.log_info_stdout,
        };
        let key_size = KeySize::from_bits(flags.key_size).map_err(ConfigError::KeySize)?;
        let cutoff = cutoff(&flags.key_cutoff_time)?;
        let labels = key_values("--privatekey-labels", &flags.privatekey_labels)?;
        let annotations = key_values("--privatekey-annotations", &flags.privatekey_annotations)?;
        key_prefix(&flags.key_prefix)?;

        let namespace = flags
            .controller_namespace
            .clone()
            .or_else(|| env.pod_namespace.clone().filter(|s| !s.is_empty()))
            .or_else(|| {
                env.service_account_namespace
                    .as_deref()
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "default".into());
        let identity = flags
            .leader_election_identity
            .clone()
            .or_else(|| env.pod_name.clone().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| format!("{}_{}", env.hostname.trim(), env.pid));

        let backup = BackupConfig {
            secret: flags
                .key_backup_secret
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| backup_secret(s, &namespace, &flags.key_prefix))
                .transpose()?,
            dir: flags
                .key_backup_dir
                .clone()
                .filter(|p| !p.as_os_str().is_empty()),
            namespace: namespace.clone(),
        };
        if let Some(dir) = &backup.dir
            && !dir.is_dir()
        {
            return Err(ConfigError::BackupDir(dir.clone()));
        }

        let scoped = !flags.all_namespaces || !flags.additional_namespaces.trim().is_empty();
        let namespaces = if scoped {
            watched_namespaces(&namespace, &flags.additional_namespaces)
        } else {
            Vec::new()
        };
        let timeout = flags.read_timeout + flags.write_timeout;
        Ok(Self {
            log,
            kubeconfig: flags.kubeconfig,
            keygen: KeyGenConfig {
                prefix: flags.key_prefix.clone(),
                namespace: namespace.clone(),
                key_size,
                ttl: flags.key_ttl,
                common_name: flags.my_cn,
                renew_period: flags.key_renew_period,
                cutoff,
                labels,
                annotations,
            },
            reconcile: ReconcileOptions {
                update_status: flags.update_status,
                accept_v1_data: flags.accept_deprecated_v1_data,
                max_retries: flags.max_unseal_retries,
                failed_requeue: flags.failed_requeue_period,
                skip_recreate: flags.skip_recreate,
                old_gc: flags.old_gc_behavior,
                label_selector: flags.label_selector,
                workers: flags.workers,
                trusted: TrustedSecrets {
                    namespace: namespace.clone(),
                    key_prefix: flags.key_prefix.clone(),
                    backup: backup.secret.clone(),
                },
            },
            leader: flags.leader_elect.then(|| LeaderConfig {
                name: flags.leader_election_id,
                identity: identity.clone(),
                lease_duration: flags.leader_election_lease_duration,
                retry_period: flags.leader_election_retry_period,
            }),
            http: HttpConfig {
                listen_addr: flags.listen_addr,
                listen_metrics_addr: flags.listen_metrics_addr,
                limits: ConnectionLimits {
                    header_timeout: flags.http_header_timeout,
                    idle_timeout: flags.http_idle_timeout,
                    max_age: flags.http_max_connection_age,
                    drain: timeout,
                    max_connections: flags.http_max_connections as usize,
                    max_per_ip: flags.http_max_connections_per_ip as usize,
                },
                rate_limit: flags.rate_limit,
                rate_limit_burst: flags.rate_limit_burst,
                trusted_proxies: flags.trusted_proxies,
                timeout,
                body_timeout: flags.http_body_timeout,
            },
            key_prefix: flags.key_prefix,
            key_order_priority: flags.key_order_priority,
            restart_on_change: flags.restart_on_change,
            namespace,
            identity,
            backup,
            namespaces,
        })
    }
}

/// Parses `--log-level`: Bitnami's `INFO` and `ERROR`, plus `DEBUG`, `WARN` and `TRACE`.
fn log_level(text: &str) -> Result<Level, ConfigError> {
    match text.to_ascii_uppercase().as_str() {
        "TRACE" => Ok(Level::TRACE),
        "DEBUG" => Ok(Level::DEBUG),
        "INFO" => Ok(Level::INFO),
        "WARN" | "WARNING" => Ok(Level::WARN),
        "ERROR" => Ok(Level::ERROR),
        other => Err(ConfigError::LogLevel(other.to_owned())),
    }
}

/// Parses `--key-cutoff-time` (RFC 1123Z, as `date -R` prints it; empty: none).
fn cutoff(text: &str) -> Result<Option<SystemTime>, ConfigError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc2822)
        .map(|t| Some(SystemTime::from(t)))
        .map_err(|reason| ConfigError::Cutoff {
            text: text.to_owned(),
            reason,
        })
}

/// Parses `k=v,k2=v2` (`--privatekey-labels`, `--privatekey-annotations`).
fn key_values(flag: &'static str, text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| ConfigError::KeyValue {
                    flag,
                    pair: pair.to_owned(),
                })
        })
        .collect()
}

/// `--key-prefix` becomes the start of generated Secret names.
fn key_prefix(prefix: &str) -> Result<(), ConfigError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 245
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::KeyPrefix)
    }
}

/// Parses `--key-backup-secret NAMESPACE/NAME` (both DNS-1123 names). `prefix` and
/// `controller_namespace` reject the one name that would be loaded as the legacy key Secret.
fn backup_secret(
    text: &str,
    controller_namespace: &str,
    prefix: &str,
) -> Result<(String, String), ConfigError> {
    let Some((namespace, name)) = text.trim().split_once('/') else {
        return Err(ConfigError::BackupSecretShape(text.to_owned()));
    };
    for (part, value, max) in [("namespace", namespace, 63), ("name", name, 253)] {
        let ok = !value.is_empty()
            && value.len() <= max
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && value
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && value
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(ConfigError::BackupSecretName {
                text: text.to_owned(),
                part,
                value: value.to_owned(),
            });
        }
    }
    if namespace == controller_namespace && name == prefix {
        return Err(ConfigError::BackupSecretIsLegacyKey(text.to_owned()));
    }
    Ok((namespace.to_owned(), name.to_owned()))
}

/// Namespaces a scoped controller watches: its own plus `--additional-namespaces`, deduplicated,
/// in order.
pub fn watched_namespaces(own: &str, additional: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    std::iter::once(own)
        .chain(additional.split(','))
        .map(str::trim)
        .filter(|ns| !ns.is_empty())
        .filter(|ns| seen.insert(ns.to_string()))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
