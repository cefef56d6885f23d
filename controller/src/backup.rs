//! Key backups that never go stale (`--key-backup-secret`, `--key-backup-dir`).
//!
//! The leader keeps one backup of every active key, refreshed at leader start and after every
//! key change (generation, renewal, SIGUSR1, a key Secret added, relabelled or deleted), after a
//! short debounce, and re-checked every few minutes. The backup is a `v1 List` of the key
//! Secrets in Bitnami's shape, without server fields, newest first: what `kubectl get secret -l
//! sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` would give, so it works as is with
//! `kseal unseal --key`, `kseal rotate --key`, `kubeseal --recovery-unseal
//! --recovery-private-key` and `kubectl apply -f` (restore).
//!
//! - **Secret** `NAMESPACE/NAME`: an Opaque Secret with data `keys.yaml`, labelled
//!   `kseal.dev/key-backup: "true"` and never with the key label, so no controller (kseal or
//!   Bitnami) ever loads it as a key. An existing Secret without that label is not overwritten.
//! - **Directory**: `PATH/keys.yaml`, written atomically (a `0600` temp file, fsync, rename,
//!   fsync of the directory).
//!
//! Failures are logged (target and error, never key material), counted in
//! `sealed_secrets_controller_key_backup_failures_total{target}` and retried with backoff; they
//! never stop unsealing. A key set with no key is never written over a backup.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use base64::Engine as _;
use k8s_openapi::{
    ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kseal_core::SecretBytes;
use kseal_crds::SEALED_SECRETS_KEY_LABEL;
use kube::{Api, Client, api::PostParams};
use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::{
    keys::{ACTIVE, KeyRegistry},
    metrics::{BackupTarget, Metrics},
};

/// The label that marks the backup Secret (value `"true"`).
pub const BACKUP_LABEL: &str = "kseal.dev/key-backup";

/// The data key of the backup Secret, and the file name in the backup directory.
pub const BACKUP_KEY: &str = "keys.yaml";

/// Quiet time after a key change before the backup is written (several changes, one write).
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// How often an up-to-date backup is checked again (someone may have deleted or edited it).
pub const RESYNC: Duration = Duration::from_secs(300);

/// Where backups go.
#[derive(Debug, Clone, Default)]
pub struct BackupConfig {
    /// `--key-backup-secret`: (namespace, name).
    pub secret: Option<(String, String)>,
    /// `--key-backup-dir`.
    pub dir: Option<PathBuf>,
    /// The controller namespace: the key Secrets' namespace in the List.
    pub namespace: String,
}

impl BackupConfig {
    /// Whether any backup target is configured.
    pub fn enabled(&self) -> bool {
        self.secret.is_some() || self.dir.is_some()
    }
}

/// One key as the backup lists it.
#[derive(Debug)]
pub struct BackupKey<'a> {
    /// The key Secret's name.
    pub secret_name: &'a str,
    /// `tls.crt` (PEM).
    pub certificate_pem: &'a str,
    /// `tls.key` as found (PEM, PKCS#1 or PKCS#8).
    pub key_pem: &'a [u8],
    /// `xwing.key` as found (PEM PKCS#8 X-Wing), for keys that have a post-quantum part.
    pub pq_pem: Option<&'a [u8]>,
}

/// Renders the `v1 List` of key Secrets (YAML). Deterministic: the same keys give the same bytes.
/// The text is built in one zeroizing buffer reserved up front, so no copy of a key is left
/// behind in freed memory.
pub fn render(namespace: &str, keys: &[BackupKey<'_>]) -> SecretBytes {
    let b64 = base64::engine::general_purpose::STANDARD;
    let capacity = 64
        + keys
            .iter()
            .map(|k| {
                400 + k.secret_name.len()
                    + namespace.len()
                    + (k.certificate_pem.len() + k.key_pem.len() + k.pq_pem.map_or(0, <[u8]>::len))
                        * 4
                        / 3
                    + 32
            })
            .sum::<usize>();
    let mut out = Zeroizing::new(String::with_capacity(capacity));
    out.push_str("apiVersion: v1\nkind: List\nmetadata: {}\nitems:\n");
    for key in keys {
        // Names are DNS-1123 (Kubernetes validated them): safe as plain YAML scalars.
        out.push_str("- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: ");
        out.push_str(key.secret_name);
        out.push_str("\n    namespace: ");
        out.push_str(namespace);
        out.push_str("\n    labels:\n      ");
        out.push_str(SEALED_SECRETS_KEY_LABEL);
        out.push_str(": ");
        out.push_str(ACTIVE);
        out.push_str("\n  type: kubernetes.io/tls\n  data:\n    tls.crt: ");
        b64.encode_string(key.certificate_pem.as_bytes(), &mut out);
        out.push_str("\n    tls.key: ");
        b64.encode_string(key.key_pem, &mut out);
        if let Some(pq) = key.pq_pem {
            out.push_str("\n    ");
            out.push_str(kseal_core::pq::encoding::KEY_SECRET_FIELD);
            out.push_str(": ");
            b64.encode_string(pq, &mut out);
        }
        out.push('\n');
    }
    let text = std::mem::take(&mut *out);
    SecretBytes::from(text)
}

/// The backup Secret as the controller writes it.
pub fn backup_secret(namespace: &str, name: &str, body: &SecretBytes) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(BTreeMap::from([
                (BACKUP_LABEL.into(), "true".into()),
                (
                    "app.kubernetes.io/managed-by".into(),
                    "kseal-controller".into(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            BACKUP_KEY.into(),
            ByteString(body.expose().to_vec()),
        )])),
        ..Secret::default()
    }
}

/// Why a backup was not written. Messages name the target, never key material.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The API server refused or failed.
    #[error("Secret {namespace}/{name}: {source}")]
    Api {
        /// The backup Secret's namespace.
        namespace: String,
        /// The backup Secret's name.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// A Secret with the name exists but is not a backup this controller wrote.
    #[error(
        "Secret {namespace}/{name} exists and is not a kseal key backup (no label {BACKUP_LABEL}=true); \
         not overwriting it: delete it or choose another --key-backup-secret"
    )]
    Foreign {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// The file could not be written.
    #[error("{path}: {source}")]
    File {
        /// The file (or temp file) that failed.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Writes (creates or replaces) the backup Secret unless it already holds `body`; returns
/// whether anything was written.
pub async fn write_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    body: &SecretBytes,
) -> Result<bool, BackupError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let err = |source| BackupError::Api {
        namespace: namespace.into(),
        name: name.into(),
        source,
    };
    let mut desired = backup_secret(namespace, name, body);
    match api.get_opt(name).await.map_err(err)? {
        None => {
            api.create(&PostParams::default(), &desired)
                .await
                .map_err(err)?;
            Ok(true)
        }
        Some(existing) => {
            let labels = existing.metadata.labels.clone().unwrap_or_default();
            if labels.get(BACKUP_LABEL).map(String::as_str) != Some("true") {
                return Err(BackupError::Foreign {
                    namespace: namespace.into(),
                    name: name.into(),
                });
            }
            if existing.data == desired.data
                && existing.type_ == desired.type_
                && desired
                    .metadata
                    .labels
                    .iter()
                    .flatten()
                    .all(|(k, v)| labels.get(k) == Some(v))
            {
                return Ok(false);
            }
            // Keep labels and annotations others added; ours win.
            let mut merged = labels;
            merged.extend(desired.metadata.labels.take().unwrap_or_default());
            desired.metadata.labels = Some(merged);
            desired.metadata.annotations = existing.metadata.annotations.clone();
            desired.metadata.resource_version = existing.metadata.resource_version.clone();
            api.replace(name, &PostParams::default(), &desired)
                .await
                .map_err(err)?;
            Ok(true)
        }
    }
}

/// Writes `dir/keys.yaml` atomically with mode 0600 unless it already holds `body`; returns
/// whether anything was written. Blocking: call from a blocking thread.
pub fn write_file(dir: &Path, body: &SecretBytes) -> Result<bool, BackupError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(BACKUP_KEY);
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| BackupError::File { path: p, source }
    };
    match std::fs::read(&path) {
        Ok(existing) => {
            let existing = Zeroizing::new(existing);
            if existing.as_slice() == body.expose() {
                return Ok(false);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&path)(e)),
    }
    let tmp = dir.join(format!(".{BACKUP_KEY}.tmp-{}", std::process::id()));
    // A temp file left by a crash may have other permissions: start afresh.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(body.expose())?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(&path)(e)
    })?;
    // The rename is durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(true)
}

/// One backup target and its state.
struct Target {
    kind: BackupTarget,
    description: String,
    /// Generation of the key snapshot last written or verified.
    done: Option<u64>,
    failures: u32,
}

/// Keeps the configured backups equal to the registry while this replica leads (the caller
/// drops the future when leadership is lost).
pub async fn run(
    client: Client,
    config: BackupConfig,
    registry: Arc<KeyRegistry>,
    metrics: Arc<Metrics>,
) {
    if !config.enabled() {
        return futures::future::pending().await;
    }
    let mut changes = registry.subscribe();
    let mut targets = Vec::new();
    if let Some((ns, name)) = &config.secret {
        targets.push(Target {
            kind: BackupTarget::Secret,
            description: format!("Secret {ns}/{name}"),
            done: None,
            failures: 0,
        });
    }
    if let Some(dir) = &config.dir {
        targets.push(Target {
            kind: BackupTarget::Dir,
            description: dir.join(BACKUP_KEY).display().to_string(),
            done: None,
            failures: 0,
        });
    }
    let mut last_check = tokio::time::Instant::now();
    loop {
        // Debounce: several key changes in a row give one write.
        while tokio::time::timeout(DEBOUNCE, changes.changed())
            .await
            .is_ok_and(|r| r.is_ok())
        {}
        changes.borrow_and_update();
        let snapshot = registry.snapshot();
        let resync = last_check.elapsed() >= RESYNC;
        if resync {
            last_check = tokio::time::Instant::now();
        }
        let mut retry: Option<Duration> = None;
        if snapshot.generation == 0 {
            // The initial list has not arrived yet.
        } else if snapshot.certificates.is_empty() {
            if targets.iter().any(|t| t.done != Some(snapshot.generation)) {
                info!("no active key (yet): the key backup is left as it is");
                for t in &mut targets {
                    t.done = Some(snapshot.generation);
                }
            }
        } else {
            for target in &mut targets {
                if target.done == Some(snapshot.generation) && !resync {
                    continue;
                }
                let Some((body, names)) = registry.backup(&config.namespace) else {
                    continue;
                };
                let result = match target.kind {
                    BackupTarget::Secret => {
                        let (ns, name) = config.secret.as_ref().expect("secret target");
                        write_secret(&client, ns, name, &body).await
                    }
                    BackupTarget::Dir => {
                        let dir = config.dir.clone().expect("dir target");
                        tokio::task::spawn_blocking(move || write_file(&dir, &body))
                            .await
                            .unwrap_or_else(|e| {
                                Err(BackupError::File {
                                    path: "(task)".into(),
                                    source: std::io::Error::other(e.to_string()),
                                })
                            })
                    }
                };
                match result {
                    Ok(written) => {
                        target.done = Some(snapshot.generation);
                        target.failures = 0;
                        metrics.key_backup_success(target.kind);
                        if written {
                            info!(target = %target.description, keys = names.len(), secrets = ?names, "key backup written");
                        }
                    }
                    Err(e) => {
                        target.failures += 1;
                        metrics.key_backup_failure(target.kind);
                        let wait = Duration::from_secs(
                            (1u64 << target.failures.min(9)).min(RESYNC.as_secs()),
                        );
                        warn!(target = %target.description, error = %e, retry_in = ?wait, "key backup failed; unsealing is not affected");
                        retry = Some(retry.map_or(wait, |r| r.min(wait)));
                    }
                }
            }
        }
        let wait = retry.unwrap_or_else(|| RESYNC.saturating_sub(last_check.elapsed()));
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The List is what the recovery tools read: kseal-core's key-file parser finds every key,
    /// and each item is a key Secret the registry loads (Bitnami shape, no server fields).
    #[test]
    fn render_is_a_list_of_key_secrets() {
        let pems = crate::fixtures::key_pems();
        let names: Vec<String> = (0..pems.len())
            .map(|i| format!("sealed-secrets-key{i}"))
            .collect();
        let keys: Vec<BackupKey<'_>> = pems
            .iter()
            .zip(&names)
            .map(|((cert, key), name)| BackupKey {
                secret_name: name,
                certificate_pem: cert,
                key_pem: key.as_bytes(),
                pq_pem: None,
            })
            .collect();
        let body = render("kube-system", &keys);
        assert_eq!(body.expose(), render("kube-system", &keys).expose());
        let parsed = kseal_core::manifest::parse_private_keys(body.expose()).unwrap();
        let fingerprints: Vec<_> = parsed.iter().map(|k| k.fingerprint().clone()).collect();
        let expected: Vec<_> = (0..pems.len())
            .map(|i| crate::fixtures::cert(i).fingerprint().clone())
            .collect();
        assert_eq!(fingerprints, expected);

        let list: serde_json::Value = serde_yaml::from_slice(body.expose()).unwrap();
        assert_eq!(list["apiVersion"], "v1");
        assert_eq!(list["kind"], "List");
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        let registry = KeyRegistry::new("sealed-secrets-key", Default::default());
        for (item, name) in items.iter().zip(&names) {
            let secret: Secret = serde_json::from_value(item.clone()).unwrap();
            assert_eq!(secret.metadata.name.as_deref(), Some(name.as_str()));
            assert_eq!(secret.metadata.namespace.as_deref(), Some("kube-system"));
            assert!(secret.metadata.uid.is_none() && secret.metadata.resource_version.is_none());
            assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
            assert!(matches!(
                registry.apply(&secret, true),
                crate::keys::KeyChange::Loaded(_)
            ));
        }
        // The registry renders the same List back, newest first.
        let (again, listed) = registry.backup("kube-system").unwrap();
        assert_eq!(
            listed,
            [
                "sealed-secrets-key2",
                "sealed-secrets-key1",
                "sealed-secrets-key0"
            ]
        );
        let reparsed = kseal_core::manifest::parse_private_keys(again.expose()).unwrap();
        assert_eq!(reparsed.len(), 3);
        assert_eq!(
            reparsed[0].fingerprint(),
            crate::fixtures::cert(2).fingerprint()
        );

        // The backup Secret is never taken for a key Secret.
        let secret = backup_secret("kube-system", "sealed-secrets-key-backup", &body);
        assert!(!crate::keys::is_active_key_secret(
            &secret.metadata,
            "sealed-secrets-key"
        ));
        assert!(
            !secret
                .metadata
                .labels
                .as_ref()
                .unwrap()
                .contains_key(SEALED_SECRETS_KEY_LABEL)
        );
        assert_eq!(format!("{body:?}").find("PRIVATE"), None);
    }

    #[test]
    fn file_is_atomic_private_and_skipped_when_equal() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("kseal-backup-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = SecretBytes::copy_from(b"apiVersion: v1\nkind: List\nitems: []\n");
        assert!(write_file(&dir, &body).unwrap());
        let path = dir.join(BACKUP_KEY);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!write_file(&dir, &body).unwrap(), "equal content rewritten");
        let other = SecretBytes::copy_from(b"other");
        assert!(write_file(&dir, &other).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"other");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from(BACKUP_KEY)]);
        let missing = dir.join("missing");
        let err = write_file(&missing, &body).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
