//! The test control plane (`tests/cluster/`): connecting, the CRD, namespaces, free ports and
//! `cluster.sh`. The `try_` functions return errors (for the benchmark programs); the others
//! panic with the same message (for tests).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use rand_core::{OsRng, RngCore as _};

use crate::HarnessError;

/// A client for the kubeconfig at `path` (the AWS-LC TLS provider installed first).
pub async fn connect(path: &Path) -> Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("read the kubeconfig {}: {e}", path.display()));
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", path.display()));
    Client::try_from(config).expect("a client for the control plane")
}

/// The kubeconfig path from `KUBECONFIG`.
pub fn kubeconfig() -> PathBuf {
    PathBuf::from(std::env::var_os("KUBECONFIG").expect("KUBECONFIG"))
}

/// Installs the SealedSecret CRD if it is missing and waits (30 s at most) until it is
/// established.
pub async fn try_ensure_crd(client: &Client) -> Result<(), HarnessError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds
        .create(&PostParams::default(), &kseal_crds::crd())
        .await
    {
        // Already there (409), or created.
        Ok(_) | Err(kube::Error::Api(_)) => {}
        Err(e) => return Err(HarnessError::CreateCrd(e)),
    }
    let established = || async {
        let crd = crds.get("sealedsecrets.bitnami.com").await.ok()?;
        crd.status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
            .then_some(())
    };
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if established().await.is_some() {
            return Ok(());
        }
        tokio::time::sleep(crate::wait::POLL).await;
    }
    Err(HarnessError::CrdNotEstablished)
}

/// [`try_ensure_crd`], panicking on failure.
pub async fn ensure_crd(client: &Client) {
    try_ensure_crd(client)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Creates namespace `name` with `labels`.
pub async fn try_create_namespace(
    client: &Client,
    name: &str,
    labels: &[(&str, &str)],
) -> Result<(), HarnessError> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map(drop)
        .map_err(|error| HarnessError::CreateNamespace {
            name: name.to_owned(),
            error,
        })
}

/// [`try_create_namespace`] labelled `kseal-e2e=true`, panicking on failure. Most tests want a
/// [`TestNamespace`] (unique name, deleted on drop) instead.
pub async fn create_namespace(client: &Client, name: &str) {
    try_create_namespace(client, name, &[("kseal-e2e", "true")])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A namespace `<prefix>-<8 random hex digits>` (unique, so tests run in parallel), labelled
/// `kseal-e2e=true`, deleted when dropped.
pub struct TestNamespace {
    pub name: String,
    client: Client,
}

impl TestNamespace {
    pub async fn new(client: &Client, prefix: &str) -> Self {
        let name = format!("{prefix}-{:08x}", OsRng.next_u32());
        create_namespace(client, &name).await;
        Self {
            name,
            client: client.clone(),
        }
    }
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let name = self.name.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let _ = api.delete(&name, &DeleteParams::default()).await;
            });
        });
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Runs `tests/cluster/cluster.sh ARGS` with `env` added: stdout, or the last 15 lines of
/// stderr. `KUBECONFIG` is removed from its environment so a process it starts with
/// `run-as-sa` uses the in-cluster ServiceAccount configuration, not the test's admin
/// kubeconfig.
pub fn try_cluster_sh(args: &[&str], env: &[(&str, &str)]) -> Result<String, HarnessError> {
    let out = crate::bins::run_script("tests/cluster/cluster.sh", |c| {
        c.args(args)
            .envs(env.iter().copied())
            .env_remove("KUBECONFIG")
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        Err(HarnessError::ClusterSh(
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        ))
    }
}

/// [`try_cluster_sh`] on the control plane of this environment; panics on failure.
pub fn cluster_sh(args: &[&str]) -> String {
    try_cluster_sh(args, &[]).unwrap_or_else(|e| panic!("cluster.sh {args:?} failed: {e}"))
}

/// The state directory of the control plane (`KSEAL_CLUSTER_DIR`, as `cluster.sh` picks it).
pub fn cluster_dir() -> PathBuf {
    std::env::var_os("KSEAL_CLUSTER_DIR")
        .map_or_else(|| PathBuf::from("/tmp/kseal-cluster"), PathBuf::from)
}
