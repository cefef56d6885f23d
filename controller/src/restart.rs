//! Restart on change (opt-in): a Deployment, StatefulSet or DaemonSet annotated
//! `kseal.dev/restart-on-secret-change: "db-creds,api-key"` follows those Secrets. Whenever the
//! controller writes one of them, it sets the pod-template annotation
//! `kseal.dev/secrets-hash` to a SHA-256 over the followed Secrets (UID, key names, values), so
//! the workload rolls out new pods that see the new values.
//!
//! The hash mixes in each Secret's UID so equal values in different Secrets or clusters do not
//! give equal hashes; it is a digest, never a value, but a very weak value could still be
//! guessed offline by someone who can read the workload (documented in the README).

use std::collections::BTreeMap;

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    core::v1::{PodTemplateSpec, Secret},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams},
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

/// Consumes Secret-change notifications and re-annotates the workloads that follow them.
pub async fn run(
    client: Client,
    mut rx: mpsc::UnboundedReceiver<(String, String)>,
    metrics: std::sync::Arc<Metrics>,
    recorder: Recorder,
) {
    while let Some((namespace, secret)) = rx.recv().await {
        let c = &client;
        let (m, r) = (&metrics, &recorder);
        follow::<Deployment>(c, &namespace, &secret, m, r, |d| {
            d.spec.as_ref().map(|s| &s.template)
        })
        .await;
        follow::<StatefulSet>(c, &namespace, &secret, m, r, |d| {
            d.spec.as_ref().map(|s| &s.template)
        })
        .await;
        follow::<DaemonSet>(c, &namespace, &secret, m, r, |d| {
            d.spec.as_ref().map(|s| &s.template)
        })
        .await;
    }
}

async fn follow<K>(
    client: &Client,
    namespace: &str,
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
    let list = match api.list_metadata(&ListParams::default()).await {
        Ok(l) => l,
        Err(error) => {
            warn!(%namespace, kind = %K::kind(&()), %error, "restart-on-change: cannot list workloads");
            return;
        }
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for meta in list.items {
        let names = followed(meta.annotations());
        if !names.iter().any(|n| n == secret) {
            continue;
        }
        let workload = meta.name_any();
        let mut found = Vec::new();
        for name in &names {
            found.push((name.clone(), secrets.get_opt(name).await.ok().flatten()));
        }
        let hash = secrets_hash(&found);
        let Ok(object) = api.get(&workload).await else {
            continue;
        };
        let current = template(&object)
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(HASH_ANNOTATION));
        if current == Some(&hash) {
            continue;
        }
        let patch = serde_json::json!({
            "spec": {"template": {"metadata": {"annotations": {HASH_ANNOTATION: hash}}}}
        });
        match api
            .patch(&workload, &PatchParams::default(), &Patch::Merge(&patch))
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
