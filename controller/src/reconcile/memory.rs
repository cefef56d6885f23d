//! What past reconciles left behind: failure counts (for backoff and the retries on a key
//! change) and what the last complete reconcile verified (to skip the RSA work when our own
//! writes echo back).

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::Mutex,
};

use kseal_crds::{
    CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, SealedSecret,
};
use kube::runtime::reflector::ObjectRef;

use super::lock;

/// What one successful reconcile verified, to skip the RSA work when a trigger (our own Secret
/// write, a status write) changed nothing that matters.
#[derive(Debug, Clone)]
pub(super) struct Verified {
    pub(super) spec_hash: u64,
    pub(super) secret_resource_version: Option<String>,
    /// The SealedSecret's resourceVersion after that reconcile's own status write, if it wrote
    /// one: until the cache holds it, a status that looks behind is only the cache lagging.
    pub(super) status_resource_version: Option<String>,
}

impl Verified {
    /// Whether this spec was last verified against this very Secret (same resourceVersion).
    pub(super) fn covers(&self, spec_hash: u64, secret_resource_version: &str) -> bool {
        self.spec_hash == spec_hash
            && self.secret_resource_version.as_deref() == Some(secret_resource_version)
    }
}

/// What decides whether a SealedSecret must be unsealed again: its identity, generation (spec)
/// and the annotations that change decryption. Bitnami ignores annotation edits; kseal does not
/// (`docs/controller-compat.md` §14).
pub(super) fn spec_hash(ss: &SealedSecret) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ss.metadata.uid.hash(&mut h);
    ss.metadata.generation.hash(&mut h);
    let a = ss.metadata.annotations.as_ref();
    for key in [
        CLUSTER_WIDE_ANNOTATION,
        NAMESPACE_WIDE_ANNOTATION,
        KEY_FINGERPRINT_ANNOTATION,
    ] {
        a.and_then(|a| a.get(key)).hash(&mut h);
    }
    h.finish()
}

type Key = ObjectRef<SealedSecret>;

/// Failure counts and verified states, per SealedSecret.
#[derive(Debug, Default)]
pub(super) struct Memory {
    failures: Mutex<HashMap<Key, u32>>,
    verified: Mutex<HashMap<Key, Verified>>,
}

impl Memory {
    /// The SealedSecrets whose last reconcile failed.
    pub(super) fn failing(&self) -> Vec<Key> {
        lock(&self.failures).keys().cloned().collect()
    }

    /// Counts one more failure; the count so far.
    pub(super) fn count_failure(&self, key: Key) -> u32 {
        let mut failures = lock(&self.failures);
        let n = failures.entry(key).or_insert(0);
        *n += 1;
        *n
    }

    /// Forgets the failures (a success, or a failure that retrying cannot help).
    pub(super) fn forget_failures(&self, key: &Key) {
        lock(&self.failures).remove(key);
    }

    /// What the last complete reconcile verified.
    pub(super) fn verified(&self, key: &Key) -> Option<Verified> {
        lock(&self.verified).get(key).cloned()
    }

    /// Records a complete success: no failures, this state verified.
    pub(super) fn succeeded(&self, key: Key, verified: Verified) {
        lock(&self.failures).remove(&key);
        lock(&self.verified).insert(key, verified);
    }

    /// Forgets the verified state: the next reconcile does the whole work.
    pub(super) fn forget_verified(&self, key: &Key) {
        lock(&self.verified).remove(key);
    }

    /// Drops the mark of our own last status write, so a status still behind next time is
    /// written rather than waited for again.
    pub(super) fn drop_status_mark(&self, key: &Key) {
        if let Some(v) = lock(&self.verified).get_mut(key) {
            v.status_resource_version = None;
        }
    }

    /// Forgets everything about a SealedSecret that is gone.
    pub(super) fn forget(&self, key: &Key) {
        self.forget_failures(key);
        self.forget_verified(key);
    }
}
