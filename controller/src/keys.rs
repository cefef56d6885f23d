//! The key registry: key Secrets in the controller namespace, parsed, ordered newest first, and
//! replaced live as Secrets are added, relabelled, changed or deleted (`docs/controller-compat.md`
//! §3, §14). Also the pure parts of key generation and renewal; the clock is always a parameter.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use k8s_openapi::{
    ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kseal_core::{
    Certificate, Fingerprint, KeySet, PqPrivateKey, PrivateKey, SecretBytes,
    pq::encoding::KEY_SECRET_FIELD as PQ_KEY_FIELD,
};
use kseal_crds::SEALED_SECRETS_KEY_LABEL;
use tokio::sync::watch;

use crate::{args::KeyOrderPriority, error::KeySecretError};

/// The label value that makes a key Secret load.
pub const ACTIVE: &str = "active";

/// A parsed key Secret.
pub struct KeyEntry {
    /// The Secret's name.
    pub secret_name: String,
    /// `metadata.creationTimestamp`.
    pub created: Option<SystemTime>,
    /// The first certificate of `tls.crt`.
    pub certificate: Certificate,
    /// `tls.key` as found, kept to build [`KeySet`]s (a `PrivateKey` cannot be cloned).
    key_pem: SecretBytes,
    /// `xwing.key` as found, if the Secret has one (`docs/pq-format.md` §5.2).
    pq_pem: Option<SecretBytes>,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("secret_name", &self.secret_name)
            .field("fingerprint", self.certificate.fingerprint())
            .finish_non_exhaustive()
    }
}

impl KeyEntry {
    /// The private key again, with its post-quantum part; `None` only if the PEM that parsed
    /// when the entry was made no longer does (it cannot change).
    fn private_key(&self) -> Option<PrivateKey> {
        let key = PrivateKey::from_pem(self.key_pem.expose()).ok()?;
        match &self.pq_pem {
            Some(pem) => Some(key.with_pq(PqPrivateKey::from_pkcs8_pem(pem.expose()).ok()?)),
            None => Some(key),
        }
    }

    /// The time that orders keys under `priority`; the newest key is the greatest.
    pub fn order_time(&self, priority: KeyOrderPriority) -> SystemTime {
        match priority {
            KeyOrderPriority::CertNotBefore => self.certificate.not_before(),
            KeyOrderPriority::SecretCreationTimestamp => {
                self.created.unwrap_or(SystemTime::UNIX_EPOCH)
            }
        }
    }
}

/// Whether a Secret in the controller namespace is a key Secret to load: it carries the label
/// with value `active`, or it is the legacy Secret named exactly `prefix`.
pub fn is_active_key_secret(meta: &ObjectMeta, prefix: &str) -> bool {
    let labelled = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(SEALED_SECRETS_KEY_LABEL))
        .is_some_and(|v| v == ACTIVE);
    labelled || meta.name.as_deref() == Some(prefix)
}

/// Parses a key Secret: `tls.crt` (first certificate) and `tls.key` (PKCS#1 or PKCS#8 PEM),
/// which must hold the same key, and `xwing.key` when present (PKCS#8 X-Wing: the post-quantum
/// part, whose public key must be the one the certificate carries, if it carries one). Key
/// Secrets without `xwing.key` (Bitnami's, older kseal's) load as RSA-only keys.
pub fn parse_key_secret(secret: &Secret) -> Result<(KeyEntry, PrivateKey), KeySecretError> {
    let data = secret.data.as_ref();
    let field = |name: &'static str| {
        data.and_then(|d| d.get(name))
            .map(|b| b.0.as_slice())
            .ok_or(KeySecretError::Missing(name))
    };
    let certificate =
        Certificate::from_pem(field("tls.crt")?).map_err(KeySecretError::Certificate)?;
    let key_pem = SecretBytes::copy_from(field("tls.key")?);
    let mut key = PrivateKey::from_pem(key_pem.expose()).map_err(KeySecretError::PrivateKey)?;
    if key.fingerprint() != certificate.fingerprint() {
        return Err(KeySecretError::Mismatch);
    }
    let pq_pem = data
        .and_then(|d| d.get(PQ_KEY_FIELD))
        .map(|b| SecretBytes::copy_from(&b.0));
    if let Some(pem) = &pq_pem {
        let pq = PqPrivateKey::from_pkcs8_pem(pem.expose()).map_err(KeySecretError::PqKey)?;
        if certificate
            .pq_public_key()
            .is_some_and(|public| public != pq.public_key())
        {
            return Err(KeySecretError::PqMismatch);
        }
        key = key.with_pq(pq);
    }
    let entry = KeyEntry {
        secret_name: secret.metadata.name.clone().unwrap_or_default(),
        created: secret
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| SystemTime::from(t.0)),
        certificate,
        key_pem,
        pq_pem,
    };
    Ok((entry, key))
}

/// Builds a key Secret in Bitnami's shape (`docs/controller-compat.md` §3.1): type
/// `kubernetes.io/tls`, `generateName: <prefix>`, the `active` label (extra labels cannot
/// override it), PKCS#1 `tls.key`; plus `xwing.key` when the key has a post-quantum part
/// (`docs/pq-format.md` §5.2), which Bitnami's controller ignores.
pub fn key_secret(
    prefix: &str,
    namespace: &str,
    key: &PrivateKey,
    certificate: &Certificate,
    extra_labels: &BTreeMap<String, String>,
    extra_annotations: &BTreeMap<String, String>,
) -> Secret {
    let mut labels = extra_labels.clone();
    labels.insert(SEALED_SECRETS_KEY_LABEL.into(), ACTIVE.into());
    let mut data = BTreeMap::from([
        (
            "tls.crt".into(),
            ByteString(certificate.to_pem().into_bytes()),
        ),
        (
            "tls.key".into(),
            ByteString(key.to_pkcs1_pem().expose().as_bytes().to_vec()),
        ),
    ]);
    if let Some(pq) = key.pq() {
        data.insert(
            PQ_KEY_FIELD.into(),
            ByteString(pq.to_pkcs8_pem().expose().as_bytes().to_vec()),
        );
    }
    Secret {
        metadata: ObjectMeta {
            generate_name: Some(prefix.into()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            annotations: (!extra_annotations.is_empty()).then(|| extra_annotations.clone()),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data),
        ..Secret::default()
    }
}

/// When the next key must be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Now: there is no key, the newest is older than the cutoff, or the period has passed.
    Now,
    /// After this long.
    After(Duration),
    /// Never (period 0 and a key exists).
    Never,
}

/// Decides when to generate the next key (`docs/controller-compat.md` §3.4): immediately if there is
/// no key or the newest predates `cutoff`; otherwise `period` after the newest key; never when
/// `period` is zero.
pub fn renewal(
    newest: Option<SystemTime>,
    period: Duration,
    cutoff: Option<SystemTime>,
    now: SystemTime,
) -> Renewal {
    let Some(newest) = newest else {
        return Renewal::Now;
    };
    if cutoff.is_some_and(|c| newest < c) {
        return Renewal::Now;
    }
    if period.is_zero() {
        return Renewal::Never;
    }
    match (newest + period).duration_since(now) {
        Ok(wait) if !wait.is_zero() => Renewal::After(wait),
        _ => Renewal::Now,
    }
}

/// How far in the future a certificate's `NotBefore` may lie and still count as valid: clock
/// skew between replicas and nodes, and the one-second steps of keys generated in a burst.
pub const NOT_BEFORE_SKEW: Duration = Duration::from_secs(60);

/// Whether `certificate` may be served as the newest (sealing) certificate at `now`: its
/// `NotBefore` is not in the future beyond [`NOT_BEFORE_SKEW`]. A key that is not valid yet
/// still decrypts, but nothing new is sealed to it until then, so a key Secret with a date set
/// far ahead (by mistake, or planted) cannot take over `/v1/cert.pem`.
pub fn servable(certificate: &Certificate, now: SystemTime) -> bool {
    certificate.not_before() <= now + NOT_BEFORE_SKEW
}

/// One consistent view of the keys: try order, certificates, the latest certificate.
#[derive(Debug, Default)]
pub struct KeySnapshot {
    /// Private keys in try order, newest first (keys not valid yet included: they decrypt).
    pub keys: KeySet,
    /// Certificates in the same order, with the Secret each came from.
    pub certificates: Vec<ActiveCert>,
    /// Bumped on every change, so waiters can tell snapshots apart.
    pub generation: u64,
}

/// An active key's public half, as `/v1/certs` lists it.
#[derive(Debug, Clone)]
pub struct ActiveCert {
    /// The key Secret's name.
    pub secret_name: String,
    /// The key Secret's `metadata.creationTimestamp`.
    pub created: Option<SystemTime>,
    /// The first certificate of the Secret's `tls.crt`.
    pub certificate: Certificate,
    /// The time that orders this key under `--key-order-priority`.
    pub order_time: SystemTime,
}

impl KeySnapshot {
    /// The certificate new SealedSecrets should be sealed to (`/v1/cert.pem`, `/v1/rotate`):
    /// the newest that is [`servable`] now.
    pub fn latest(&self) -> Option<&Certificate> {
        self.latest_at(SystemTime::now())
    }

    /// The newest key [`servable`] at `now`.
    pub fn latest_at(&self, now: SystemTime) -> Option<&Certificate> {
        self.newest_servable(now).map(|c| &c.certificate)
    }

    /// Ordering time of the newest key [`servable`] at `now` (what renewal counts from).
    pub fn newest_at(&self, now: SystemTime) -> Option<SystemTime> {
        self.newest_servable(now).map(|c| c.order_time)
    }

    /// Keys whose certificate is not valid yet at `now`: they decrypt but are not served.
    pub fn not_yet_valid(&self, now: SystemTime) -> impl Iterator<Item = &ActiveCert> {
        self.certificates
            .iter()
            .filter(move |c| !servable(&c.certificate, now))
    }

    /// How long until the first key that is not valid yet at `now` becomes [`servable`] (and
    /// maybe the newest): when renewal must look again.
    pub fn next_validity_change(&self, now: SystemTime) -> Option<Duration> {
        self.not_yet_valid(now)
            .filter_map(|c| {
                (c.certificate.not_before() - NOT_BEFORE_SKEW)
                    .duration_since(now)
                    .ok()
            })
            .min()
    }

    fn newest_servable(&self, now: SystemTime) -> Option<&ActiveCert> {
        self.certificates
            .iter()
            .find(|c| servable(&c.certificate, now))
    }
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<String, KeyEntry>,
    invalid: BTreeMap<String, String>,
    snapshot: Arc<KeySnapshot>,
}

/// The live key registry shared by the reconciler, the HTTP API and the key maintainer.
pub struct KeyRegistry {
    prefix: String,
    priority: KeyOrderPriority,
    inner: RwLock<Inner>,
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for KeyRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRegistry")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// What happened when a key Secret was applied to the registry.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyChange {
    /// A key was added or replaced.
    Loaded(Fingerprint),
    /// A Secret that held a key no longer qualifies (relabelled) and was removed.
    Removed,
    /// Nothing changed.
    Unchanged,
    /// The Secret is not usable; it is skipped.
    Invalid(KeySecretError),
}

impl KeyRegistry {
    /// An empty registry for key Secrets with this prefix, ordered by `priority`.
    pub fn new(prefix: &str, priority: KeyOrderPriority) -> Self {
        Self {
            prefix: prefix.into(),
            priority,
            inner: RwLock::default(),
            changed: watch::channel(0).0,
        }
    }

    /// The current snapshot; cheap (an `Arc` clone).
    pub fn snapshot(&self) -> Arc<KeySnapshot> {
        self.read().snapshot.clone()
    }

    /// A receiver that sees the snapshot generation change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The `NotBefore` of the key loaded from Secret `name`, if one is.
    pub fn not_before(&self, name: &str) -> Option<SystemTime> {
        self.read()
            .entries
            .get(name)
            .map(|e| e.certificate.not_before())
    }

    /// Key Secrets that were skipped, with the reason.
    pub fn invalid(&self) -> BTreeMap<String, String> {
        self.read().invalid.clone()
    }

    /// Applies a created or changed Secret from the watch. Does not rebuild the snapshot when
    /// `rebuild` is false (during the initial list), see [`Self::rebuild`].
    pub fn apply(&self, secret: &Secret, rebuild: bool) -> KeyChange {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let change = if !is_active_key_secret(&secret.metadata, &self.prefix) {
            let mut inner = self.write();
            inner.invalid.remove(&name);
            if inner.entries.remove(&name).is_some() {
                KeyChange::Removed
            } else {
                KeyChange::Unchanged
            }
        } else {
            match parse_key_secret(secret) {
                Ok((entry, key)) => {
                    let mut inner = self.write();
                    inner.invalid.remove(&name);
                    let fingerprint = key.fingerprint().clone();
                    let same = inner.entries.get(&name).is_some_and(|old| {
                        old.certificate.fingerprint() == &fingerprint
                            && old.created == entry.created
                    });
                    inner.entries.insert(name, entry);
                    if same {
                        KeyChange::Unchanged
                    } else {
                        KeyChange::Loaded(fingerprint)
                    }
                }
                Err(e) => {
                    let mut inner = self.write();
                    inner.invalid.insert(name.clone(), e.to_string());
                    inner.entries.remove(&name);
                    KeyChange::Invalid(e)
                }
            }
        };
        if rebuild && change != KeyChange::Unchanged {
            self.rebuild();
        }
        change
    }

    /// Removes a deleted Secret.
    pub fn remove(&self, name: &str, rebuild: bool) -> bool {
        let removed = {
            let mut inner = self.write();
            inner.invalid.remove(name);
            inner.entries.remove(name).is_some()
        };
        if removed && rebuild {
            self.rebuild();
        }
        removed
    }

    /// Forgets every entry (a watch restart); follow with `apply` calls and [`Self::rebuild`].
    pub fn clear(&self) {
        let mut inner = self.write();
        inner.entries.clear();
        inner.invalid.clear();
    }

    /// Recomputes the snapshot from the entries and notifies subscribers.
    pub fn rebuild(&self) {
        let mut inner = self.write();
        let mut ordered: Vec<&KeyEntry> = inner.entries.values().collect();
        // Newest first; the Secret name breaks ties so the order is deterministic.
        ordered.sort_by(|a, b| {
            b.order_time(self.priority)
                .cmp(&a.order_time(self.priority))
                .then_with(|| b.secret_name.cmp(&a.secret_name))
        });
        let mut keys = KeySet::new();
        let mut certificates = Vec::new();
        for entry in &ordered {
            // The PEM parsed when the entry was made, so this cannot fail; skip defensively.
            if let Some(key) = entry.private_key()
                && keys.push(key)
            {
                certificates.push(ActiveCert {
                    secret_name: entry.secret_name.clone(),
                    created: entry.created,
                    certificate: entry.certificate.clone(),
                    order_time: entry.order_time(self.priority),
                });
            }
        }
        let generation = inner.snapshot.generation + 1;
        inner.snapshot = Arc::new(KeySnapshot {
            keys,
            certificates,
            generation,
        });
        drop(inner);
        self.changed.send_replace(generation);
    }

    /// The key backup (`crate::backup`): every active key as a `v1 List` of key Secrets in
    /// `namespace`, newest first, and the Secret names; `None` when there is no key.
    pub fn backup(&self, namespace: &str) -> Option<(SecretBytes, Vec<String>)> {
        let inner = self.read();
        let snapshot = inner.snapshot.clone();
        let mut pems = Vec::new();
        let mut keys = Vec::new();
        for cert in &snapshot.certificates {
            if let Some(entry) = inner.entries.get(&cert.secret_name) {
                pems.push(entry.certificate.to_pem());
                keys.push(entry);
            }
        }
        if keys.is_empty() {
            return None;
        }
        let listed: Vec<crate::backup::BackupKey<'_>> = keys
            .iter()
            .zip(&pems)
            .map(|(entry, pem)| crate::backup::BackupKey {
                secret_name: &entry.secret_name,
                certificate_pem: pem,
                key_pem: entry.key_pem.expose(),
                pq_pem: entry.pq_pem.as_ref().map(SecretBytes::expose),
            })
            .collect();
        let body = crate::backup::render(namespace, &listed);
        Some((body, keys.iter().map(|e| e.secret_name.clone()).collect()))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A poisoned lock means a panic while holding it; the data is still consistent
        // enough to serve (every write is a single insert/remove or a whole swap).
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod pq_tests;
#[cfg(test)]
mod tests;
