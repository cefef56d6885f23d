//! Restart on change (opt-in): a Deployment, StatefulSet or DaemonSet annotated
//! `kseal.dev/restart-on-secret-change: "db-creds,api-key"` follows those Secrets. Whenever the
//! controller writes one of them, it sets the pod-template annotation
//! `kseal.dev/secrets-hash` to a SHA-256 over the followed Secrets (UID, key names, values), so
//! the workload rolls out new pods that see the new values.
//!
//! The hash mixes in each Secret's UID so equal values in different Secrets or clusters do not
//! give equal hashes; it is a digest, never a value, but a very weak value could still be
//! guessed offline by someone who can read the workload (documented in `controller/README.md`).

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt as _;

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    core::v1::{PodTemplateSpec, Secret},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{PartialObjectMeta, Patch, PatchParams},
    runtime::{
        WatchStreamExt as _,
        watcher::{self, Event, watcher},
    },
};
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::{
    events::{EventType, RESTARTED, Recorder},
    metrics::Metrics,
};

/// On a workload: comma-separated names of Secrets (same namespace) to follow.
pub const RESTART_ANNOTATION: &str = "kseal.dev/restart-on-secret-change";

/// On the workload's pod template: the digest of the followed Secrets, written by the controller.
pub const HASH_ANNOTATION: &str = "kseal.dev/secrets-hash";

/// Tells the restart task that a Secret was written.
#[derive(Debug, Clone)]
pub struct RestartNotifier(mpsc::UnboundedSender<(String, String)>);

impl RestartNotifier {
    /// A notifier and the receiver [`run`] consumes.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<(String, String)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }

    /// Secret `namespace/name` was created or updated.
    pub fn secret_changed(&self, namespace: &str, name: &str) {
        let _ = self.0.send((namespace.into(), name.into()));
    }
}

/// The Secret names a workload follows.
pub fn followed(annotations: &BTreeMap<String, String>) -> Vec<String> {
    annotations
        .get(RESTART_ANNOTATION)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The digest of the followed Secrets, in the order given; a missing Secret counts as empty.
pub fn secrets_hash(secrets: &[(String, Option<Secret>)]) -> String {
    let mut h = Sha256::new();
    for (name, secret) in secrets {
        h.update((name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
        let Some(secret) = secret else {
            h.update([0]);
            continue;
        };
        h.update([1]);
        let uid = secret.metadata.uid.as_deref().unwrap_or_default();
        h.update((uid.len() as u64).to_be_bytes());
        h.update(uid.as_bytes());
        for (k, v) in secret.data.iter().flatten() {
            h.update((k.len() as u64).to_be_bytes());
            h.update(k.as_bytes());
            h.update((v.0.len() as u64).to_be_bytes());
            h.update(&v.0);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A workload kind restart-on-change follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// (namespace, kind, name) of a workload.
type WorkloadKey = (String, Kind, String);

/// Workloads that opted in, from metadata-only watches: (namespace, kind, name) → followed
/// Secret names. Only annotated workloads are kept.
#[derive(Debug, Default)]
struct Followers {
    entries: BTreeMap<WorkloadKey, Vec<String>>,
    /// (kind, scope) pairs whose list is complete.
    ready: std::collections::HashSet<(Kind, String)>,
    listing: std::collections::HashMap<(Kind, String), BTreeMap<WorkloadKey, Vec<String>>>,
}

impl Followers {
    fn observe<K: Resource>(
        &mut self,
        kind: Kind,
        scope: &str,
        event: Event<PartialObjectMeta<K>>,
    ) {
        let key =
            |m: &PartialObjectMeta<K>| (m.namespace().unwrap_or_default(), kind, m.name_any());
        match event {
            Event::Init => {
                self.listing
                    .insert((kind, scope.to_owned()), BTreeMap::new());
            }
            Event::InitApply(m) => {
                let names = followed(m.annotations());
                if !names.is_empty()
                    && let Some(l) = self.listing.get_mut(&(kind, scope.to_owned()))
                {
                    l.insert(key(&m), names);
                }
            }
            Event::InitDone => {
                let listed = self
                    .listing
                    .remove(&(kind, scope.to_owned()))
                    .unwrap_or_default();
                self.entries
                    .retain(|(ns, k, _), _| !(*k == kind && (scope.is_empty() || ns == scope)));
                self.entries.extend(listed);
                self.ready.insert((kind, scope.to_owned()));
            }
            Event::Apply(m) => {
                let names = followed(m.annotations());
                if names.is_empty() {
                    self.entries.remove(&key(&m));
                } else {
                    self.entries.insert(key(&m), names);
                }
            }
            Event::Delete(m) => {
                self.entries.remove(&key(&m));
            }
        }
    }
}

fn lock(f: &std::sync::Mutex<Followers>) -> std::sync::MutexGuard<'_, Followers> {
    // Every update is a single insert, remove or swap: still consistent after a panic.
    f.lock().unwrap_or_else(|e| e.into_inner())
}

/// A workload watch's progress: (kind, scope, the error if the watch failed).
type FollowerEvent = (Kind, String, Option<watcher::Error>);

/// Consumes Secret-change notifications and re-annotates the workloads that follow them.
///
/// Workloads are known from metadata-only watches of Deployments, StatefulSets and DaemonSets
/// in `namespaces` (empty: all), started at the first notification (a replica that never writes
/// a Secret never watches). Notifications that arrive together are handled as one batch.
pub async fn run(
    client: Client,
    namespaces: Vec<String>,
    mut rx: mpsc::UnboundedReceiver<(String, String)>,
    metrics: std::sync::Arc<Metrics>,
    recorder: Recorder,
) {
    let Some(first) = rx.recv().await else {
        return;
    };
    let scopes: Vec<String> = if namespaces.is_empty() {
        vec![String::new()]
    } else {
        namespaces
    };
    let followers = std::sync::Arc::new(std::sync::Mutex::new(Followers::default()));
    let mut watches = Vec::new();
    for scope in &scopes {
        watches.push(watch_kind::<Deployment>(
            &client,
            scope,
            Kind::Deployment,
            followers.clone(),
        ));
        watches.push(watch_kind::<StatefulSet>(
            &client,
            scope,
            Kind::StatefulSet,
            followers.clone(),
        ));
        watches.push(watch_kind::<DaemonSet>(
            &client,
            scope,
            Kind::DaemonSet,
            followers.clone(),
        ));
    }
    let expected = watches.len();
    let mut watches = futures::stream::select_all(watches);
    let mut pending: BTreeSet<(String, String)> = BTreeSet::from([first]);
    loop {
        let ready = lock(&followers).ready.len() >= expected;
        if ready && !pending.is_empty() {
            // Everything queued meanwhile joins this batch.
            while let Ok(n) = rx.try_recv() {
                pending.insert(n);
            }
            let batch = std::mem::take(&mut pending);
            let due: BTreeMap<WorkloadKey, Vec<String>> = {
                lock(&followers)
                    .entries
                    .iter()
                    .filter(|((ns, _, _), names)| {
                        names
                            .iter()
                            .any(|n| batch.contains(&(ns.clone(), n.clone())))
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            for ((namespace, kind, workload), names) in due {
                let secret = names
                    .iter()
                    .find(|n| batch.contains(&(namespace.clone(), (*n).clone())))
                    .cloned()
                    .unwrap_or_default();
                let (c, m, r) = (&client, &metrics, &recorder);
                match kind {
                    Kind::Deployment => {
                        restart::<Deployment>(
                            c,
                            &namespace,
                            &workload,
                            &names,
                            &secret,
                            m,
                            r,
                            |d| d.spec.as_ref().map(|s| &s.template),
                        )
                        .await
                    }
                    Kind::StatefulSet => {
                        restart::<StatefulSet>(
                            c,
                            &namespace,
                            &workload,
                            &names,
                            &secret,
                            m,
                            r,
                            |d| d.spec.as_ref().map(|s| &s.template),
                        )
                        .await
                    }
                    Kind::DaemonSet => {
                        restart::<DaemonSet>(c, &namespace, &workload, &names, &secret, m, r, |d| {
                            d.spec.as_ref().map(|s| &s.template)
                        })
                        .await
                    }
                }
            }
            continue;
        }
        tokio::select! {
            n = rx.recv() => match n {
                Some(n) => { pending.insert(n); }
                None => return,
            },
            e = watches.next() => {
                if let Some((kind, scope, Some(error))) = e {
                    warn!(kind = ?kind, %scope, %error, "restart-on-change: workload watch failed; retrying");
                }
            }
        }
    }
}

/// A metadata-only watch of one workload kind in `scope` ("" for all namespaces) feeding
/// `followers`; yields errors only.
fn watch_kind<K>(
    client: &Client,
    scope: &str,
    kind: Kind,
    followers: std::sync::Arc<std::sync::Mutex<Followers>>,
) -> futures::stream::BoxStream<'static, FollowerEvent>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<PartialObjectMeta<K>> = if scope.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), scope)
    };
    let scope = scope.to_owned();
    watcher(api, watcher::Config::default())
        .default_backoff()
        .map(move |ev| {
            let error = match ev {
                Ok(ev) => {
                    lock(&followers).observe(kind, &scope, ev);
                    None
                }
                Err(e) => Some(e),
            };
            (kind, scope.clone(), error)
        })
        .boxed()
}

#[allow(clippy::too_many_arguments)]
async fn restart<K>(
    client: &Client,
    namespace: &str,
    workload: &str,
    names: &[String],
    secret: &str,
    metrics: &Metrics,
    recorder: &Recorder,
    template: impl Fn(&K) -> Option<&PodTemplateSpec>,
) where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut found = Vec::new();
    for name in names {
        found.push((name.clone(), secrets.get_opt(name).await.ok().flatten()));
    }
    let hash = secrets_hash(&found);
    let Ok(object) = api.get(workload).await else {
        return;
    };
    if !followed(object.annotations()).iter().any(|n| n == secret) {
        return;
    }
    let current = template(&object)
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(HASH_ANNOTATION));
    if current == Some(&hash) {
        return;
    }
    let patch = serde_json::json!({
        "spec": {"template": {"metadata": {"annotations": {HASH_ANNOTATION: hash}}}}
    });
    match api
        .patch(workload, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            metrics.restarts.inc();
            info!(%namespace, kind = %K::kind(&()), %workload, %secret, "restarting workload: followed Secret changed");
            recorder
                .publish(
                    &object,
                    EventType::Normal,
                    RESTARTED,
                    &format!("Secret {secret:?} changed; rolling out new pods"),
                )
                .await;
        }
        Err(error) => {
            warn!(%namespace, %workload, %error, "restart-on-change: cannot patch workload");
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn secret(uid: &str, value: &[u8]) -> Secret {
        let mut s = Secret::default();
        s.metadata.uid = Some(uid.into());
        s.data = Some(BTreeMap::from([("k".into(), ByteString(value.to_vec()))]));
        s
    }

    #[test]
    fn hash_follows_data() {
        let a = secrets_hash(&[("s".into(), Some(secret("u1", b"v1")))]);
        let b = secrets_hash(&[("s".into(), Some(secret("u1", b"v2")))]);
        let c = secrets_hash(&[("s".into(), Some(secret("u2", b"v1")))]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, secrets_hash(&[("s".into(), Some(secret("u1", b"v1")))]));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("v1"));
    }

    #[test]
    fn followed_names() {
        let a = BTreeMap::from([(RESTART_ANNOTATION.to_owned(), " a, b,,c ".to_owned())]);
        assert_eq!(followed(&a), ["a", "b", "c"]);
        assert!(followed(&BTreeMap::new()).is_empty());
    }
}
