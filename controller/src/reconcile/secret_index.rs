//! What the metadata-only Secret watch knows: which SealedSecrets' Secrets exist, at which
//! resourceVersion. A hint that saves GETs, never the last word.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::{api::PartialObjectMeta, runtime::watcher};
use tracing::warn;

use super::lock;
use crate::decide;

/// What the metadata-only Secret watch says about one Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The watch has not listed this namespace yet.
    Unknown,
    /// No Secret of a SealedSecret by that name (an unrelated Secret may still exist).
    Absent,
    /// A SealedSecret's Secret with this resourceVersion.
    Present(String),
}

/// An index of the Secrets that belong (or may belong) to SealedSecrets, fed by the
/// metadata-only Secret watch that also triggers reconciles. It holds names and
/// resourceVersions only, and only for Secrets with a SealedSecret owner, a
/// `sealedsecrets.bitnami.com/` annotation or kseal's recorded SealedSecret UID, so unrelated Secrets cost no memory. It saves the
/// Secret GET of a reconcile that changes nothing (our own write echoing back) and the GET that
/// would 404 for a new SealedSecret; it is a hint only: a create that finds the Secret falls
/// back to a GET.
#[derive(Debug)]
pub struct SecretIndex {
    inner: Mutex<IndexInner>,
    /// Whether a Secret watch feeds the index (not with `--skip-recreate`).
    watched: AtomicBool,
    /// Bumped when a scope's list completes.
    listed: tokio::sync::watch::Sender<u64>,
}

impl Default for SecretIndex {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            watched: AtomicBool::new(false),
            listed: tokio::sync::watch::channel(0).0,
        }
    }
}

#[derive(Debug, Default)]
struct IndexInner {
    entries: HashMap<(String, String), String>,
    /// Scopes whose list is complete: a namespace, or "" for all namespaces.
    ready: HashSet<String>,
    /// Entries of a (re-)list in progress, per scope.
    listing: HashMap<String, HashMap<(String, String), String>>,
}

impl SecretIndex {
    fn relevant(meta: &ObjectMeta) -> bool {
        meta.owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "SealedSecret")
            || meta.annotations.iter().flatten().any(|(k, _)| {
                k.starts_with("sealedsecrets.bitnami.com/")
                    || k == decide::SEALED_SECRET_UID_ANNOTATION
            })
    }

    fn key(meta: &ObjectMeta) -> (String, String) {
        (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    }

    /// Feeds one event of the Secret watch over `scope` (a namespace, or "" for all).
    pub fn observe(&self, scope: &str, event: &watcher::Event<PartialObjectMeta<Secret>>) {
        let mut inner = lock(&self.inner);
        match event {
            watcher::Event::Init => {
                inner.listing.insert(scope.to_owned(), HashMap::new());
            }
            watcher::Event::InitApply(s) => {
                if Self::relevant(&s.metadata)
                    && let Some(rv) = s.metadata.resource_version.clone()
                    && let Some(listing) = inner.listing.get_mut(scope)
                {
                    listing.insert(Self::key(&s.metadata), rv);
                }
            }
            watcher::Event::InitDone => {
                let listed = inner.listing.remove(scope).unwrap_or_default();
                inner
                    .entries
                    .retain(|(ns, _), _| !(scope.is_empty() || ns == scope));
                inner.entries.extend(listed);
                inner.ready.insert(scope.to_owned());
                self.listed.send_modify(|n| *n += 1);
            }
            watcher::Event::Apply(s) => {
                let key = Self::key(&s.metadata);
                match s.metadata.resource_version.clone() {
                    Some(rv) if Self::relevant(&s.metadata) => {
                        inner.entries.insert(key, rv);
                    }
                    _ => {
                        inner.entries.remove(&key);
                    }
                }
            }
            watcher::Event::Delete(s) => {
                inner.entries.remove(&Self::key(&s.metadata));
            }
        }
    }

    /// Marks the index as fed by a Secret watch (so [`Self::lookup_when_listed`] waits for it).
    pub fn watch_started(&self) {
        self.watched.store(true, Ordering::Relaxed);
    }

    /// Like [`Self::lookup`], but right after start-up waits (up to `timeout`) for the watch to
    /// finish listing, so the first reconciles do not GET Secrets the list would show absent.
    pub async fn lookup_when_listed(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> Lookup {
        let mut listed = self.listed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let lookup = self.lookup(namespace, name);
            if lookup != Lookup::Unknown || !self.watched.load(Ordering::Relaxed) {
                return lookup;
            }
            match tokio::time::timeout_at(deadline, listed.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    // The watch is failing (see its log); stop waiting for it, GET instead.
                    if self.watched.swap(false, Ordering::Relaxed) {
                        warn!("the Secret watch has not listed yet; reading Secrets directly");
                    }
                    return self.lookup(namespace, name);
                }
            }
        }
    }

    /// What the watch says about Secret `namespace/name`.
    pub fn lookup(&self, namespace: &str, name: &str) -> Lookup {
        let inner = lock(&self.inner);
        if !(inner.ready.contains("") || inner.ready.contains(namespace)) {
            return Lookup::Unknown;
        }
        inner
            .entries
            .get(&(namespace.to_owned(), name.to_owned()))
            .map_or(Lookup::Absent, |rv| Lookup::Present(rv.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_secret(ns: &str, name: &str, rv: &str, owned: bool) -> PartialObjectMeta<Secret> {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
        let mut m = PartialObjectMeta::<Secret>::default();
        m.metadata.namespace = Some(ns.into());
        m.metadata.name = Some(name.into());
        m.metadata.resource_version = Some(rv.into());
        if owned {
            m.metadata.owner_references = Some(vec![OwnerReference {
                kind: "SealedSecret".into(),
                name: name.into(),
                ..OwnerReference::default()
            }]);
        }
        m
    }

    /// The index knows only SealedSecrets' Secrets, says Unknown until its scope is listed,
    /// follows changes and deletions, and a re-list replaces only its own scope.
    #[test]
    fn secret_index() {
        use watcher::Event;
        let index = SecretIndex::default();
        assert_eq!(index.lookup("a", "db"), Lookup::Unknown);
        index.observe("a", &Event::Init);
        index.observe("a", &Event::InitApply(meta_secret("a", "db", "1", true)));
        index.observe(
            "a",
            &Event::InitApply(meta_secret("a", "noise", "2", false)),
        );
        assert_eq!(index.lookup("a", "db"), Lookup::Unknown);
        index.observe("a", &Event::InitDone);
        assert_eq!(index.lookup("a", "db"), Lookup::Present("1".into()));
        assert_eq!(index.lookup("a", "noise"), Lookup::Absent);
        assert_eq!(index.lookup("b", "db"), Lookup::Unknown);
        index.observe("a", &Event::Apply(meta_secret("a", "db", "3", true)));
        assert_eq!(index.lookup("a", "db"), Lookup::Present("3".into()));
        // Ownership removed: no longer ours.
        index.observe("a", &Event::Apply(meta_secret("a", "db", "4", false)));
        assert_eq!(index.lookup("a", "db"), Lookup::Absent);
        index.observe("a", &Event::Apply(meta_secret("a", "db", "5", true)));
        index.observe("a", &Event::Delete(meta_secret("a", "db", "5", true)));
        assert_eq!(index.lookup("a", "db"), Lookup::Absent);
        // Another scope's list leaves scope a alone.
        index.observe("a", &Event::Apply(meta_secret("a", "x", "6", true)));
        index.observe("b", &Event::Init);
        index.observe("b", &Event::InitApply(meta_secret("b", "y", "7", true)));
        index.observe("b", &Event::InitDone);
        assert_eq!(index.lookup("a", "x"), Lookup::Present("6".into()));
        assert_eq!(index.lookup("b", "y"), Lookup::Present("7".into()));
        // A re-list of a drops what vanished meanwhile.
        index.observe("a", &Event::Init);
        index.observe("a", &Event::InitDone);
        assert_eq!(index.lookup("a", "x"), Lookup::Absent);
        assert_eq!(index.lookup("b", "y"), Lookup::Present("7".into()));
    }

    #[tokio::test]
    async fn lookup_waits_for_the_list_only_when_watched() {
        let index = std::sync::Arc::new(SecretIndex::default());
        // No watch (--skip-recreate): no waiting.
        let t = std::time::Instant::now();
        assert_eq!(
            index
                .lookup_when_listed("a", "db", Duration::from_secs(5))
                .await,
            Lookup::Unknown
        );
        assert!(t.elapsed() < Duration::from_secs(1));
        index.watch_started();
        let feeder = index.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            feeder.observe("", &watcher::Event::Init);
            feeder.observe("", &watcher::Event::InitDone);
        });
        assert_eq!(
            index
                .lookup_when_listed("a", "db", Duration::from_secs(5))
                .await,
            Lookup::Absent
        );
    }
}
