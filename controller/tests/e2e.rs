//! End-to-end tests of `kseal-controller` against the real control plane (`tests/cluster/`):
//! real kube-apiserver, etcd and kube-controller-manager (garbage collection, Deployments).
//!
//! Each test has its own controller namespace (keys, Lease) and app namespaces, and starts its
//! own controller processes scoped to them (`--all-namespaces=false
//! --additional-namespaces=…`), so the tests run in parallel. A canary value is sealed in every
//! case and checked to appear in no log, event, status or metric. Test failure messages never
//! print Secret data.

/// Workload restarts, RBAC, and kubeseal through the service proxy.
#[path = "e2e/access.rs"]
mod access;
/// Keys: renewal, failover, backups.
#[path = "e2e/keys.rs"]
mod keys;
/// The produced Secret: lifecycle, ownership, wrong and malformed input, immutability.
#[path = "e2e/secrets.rs"]
mod secrets;
mod support;

use std::{collections::BTreeMap, path::Path, time::Duration};

use k8s_openapi::{NamespaceResourceScope, api::core::v1::Secret};
use kseal_crds::{MANAGED_ANNOTATION, PATCH_ANNOTATION, SealedSecret};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use support::*;

/// One test's world: a client, a controller namespace (keys, Lease) and an app namespace, both
/// deleted when it is dropped.
struct Env {
    client: Client,
    ctl: TestNamespace,
    app: TestNamespace,
}

impl Env {
    /// `None`, with the reason printed, when no control plane is configured (see [`require_cluster`]).
    async fn new() -> Option<Self> {
        let client = require_cluster().await?;
        let ctl = TestNamespace::new(&client, "kseal-ctl").await;
        let app = TestNamespace::new(&client, "kseal-app").await;
        Some(Self { client, ctl, app })
    }

    /// `Api<K>` in the app namespace.
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.app.name)
    }

    /// No canary in `controller`'s logs and metrics, the app namespace's Events, or the
    /// SealedSecrets (status included) there.
    async fn assert_no_canary(&self, controller: &Controller) {
        let sealed = self.api::<SealedSecret>().list(&Default::default()).await;
        assert_no_canary(&[
            ("controller logs", &controller.logs()),
            (
                "events",
                &all_events_json(&self.client, &self.app.name).await,
            ),
            (
                "SealedSecrets",
                &serde_json::to_string(&sealed.unwrap().items).unwrap(),
            ),
            ("metrics", &controller.metrics_text()),
        ]);
    }

    /// The flags that scope a controller to the app namespace.
    fn scope(&self) -> [String; 2] {
        [
            "--all-namespaces=false".into(),
            format!("--additional-namespaces={}", self.app.name),
        ]
    }

    /// A controller with the admin kubeconfig, scoped to the app namespace, plus `extra` flags.
    fn controller(&self, extra: &[&str]) -> Controller {
        self.controller_as(&kubeconfig(), extra)
    }

    /// [`Env::controller`] with another kubeconfig.
    fn controller_as(&self, kubeconfig: &Path, extra: &[&str]) -> Controller {
        let scope = self.scope();
        let args: Vec<&str> = scope
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
            .collect();
        Controller::start(kubeconfig, &self.ctl.name, &args)
    }
}

async fn secret_gone(api: &Api<Secret>, name: &str) {
    wait_for(
        &format!("Secret {name} deleted"),
        Duration::from_secs(45),
        || async { api.get_opt(name).await.ok()?.is_none().then_some(()) },
    )
    .await;
}

async fn secret_with(api: &Api<Secret>, name: &str, want: &BTreeMap<String, Vec<u8>>) -> Secret {
    wait_for(
        &format!("Secret {name} with the expected data"),
        Duration::from_secs(45),
        || async {
            let s = api.get_opt(name).await.ok()??;
            (secret_data(&s) == *want).then_some(s)
        },
    )
    .await
}

fn expect(items: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect()
}
