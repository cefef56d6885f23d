//! The real Bitnami sealed-secrets controller (v0.36.0, built by `tests/cluster/build.sh`) for the
//! interop tests, run the way a cluster runs it: as its ServiceAccount (in-cluster config, the
//! only configuration it supports) inside its own network namespace, scoped to the test's
//! namespaces. Also a `kseal-controller` with a chosen key size and the harness CLIs.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::{
    core::v1::ServiceAccount,
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use kseal_core::Certificate;
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams},
};
use rand_core::{OsRng, RngCore as _};

use super::{cluster_sh, harness_bin, http, wait_for};

/// The ServiceAccount both controllers run as (Bitnami's name).
pub const SERVICE_ACCOUNT: &str = "sealed-secrets-controller";

/// The RBAC of Bitnami's `controller.yaml`, narrowed to the test's namespaces: a Role for
/// SealedSecrets, Secrets and events in the controller namespace and in every watched one, plus
/// a ClusterRole for `get namespaces` (it looks up each `--additional-namespaces` entry and exits
/// if it may not). The cluster-scoped objects are deleted on drop; the namespaced ones go with
/// their namespaces.
pub struct BitnamiRbac {
    client: Client,
    cluster_name: String,
}

impl BitnamiRbac {
    pub async fn install(client: &Client, ctl_ns: &str, watched: &[&str]) -> Self {
        let pp = PostParams::default();
        let sa: ServiceAccount = serde_json::from_value(serde_json::json!({
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": ctl_ns}
        }))
        .unwrap();
        match Api::<ServiceAccount>::namespaced(client.clone(), ctl_ns)
            .create(&pp, &sa)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("create ServiceAccount in {ctl_ns}: {e}"),
        }
        let subject = serde_json::json!([
            {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ctl_ns}
        ]);
        let mut namespaces = vec![ctl_ns];
        namespaces.extend(watched.iter().filter(|ns| **ns != ctl_ns));
        for ns in namespaces {
            let role: Role = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "kseal-interop-bitnami", "namespace": ns},
                "rules": [
                    {"apiGroups": ["bitnami.com"], "resources": ["sealedsecrets"],
                     "verbs": ["get", "list", "watch"]},
                    {"apiGroups": ["bitnami.com"], "resources": ["sealedsecrets/status"],
                     "verbs": ["update"]},
                    {"apiGroups": [""], "resources": ["secrets"],
                     "verbs": ["get", "list", "create", "update", "delete", "watch"]},
                    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}
                ]
            }))
            .unwrap();
            let binding: RoleBinding = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("kseal-interop-bitnami-{ctl_ns}"), "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": "kseal-interop-bitnami"},
                "subjects": subject
            }))
            .unwrap();
            ignore_exists(
                Api::<Role>::namespaced(client.clone(), ns)
                    .create(&pp, &role)
                    .await
                    .map(drop),
                "Role",
            );
            ignore_exists(
                Api::<RoleBinding>::namespaced(client.clone(), ns)
                    .create(&pp, &binding)
                    .await
                    .map(drop),
                "RoleBinding",
            );
        }
        let cluster_name = format!("kseal-interop-bitnami-{ctl_ns}");
        let role: ClusterRole = serde_json::from_value(serde_json::json!({
            "metadata": {"name": cluster_name},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]
        }))
        .unwrap();
        let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": cluster_name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": cluster_name},
            "subjects": subject
        }))
        .unwrap();
        ignore_exists(
            Api::<ClusterRole>::all(client.clone())
                .create(&pp, &role)
                .await
                .map(drop),
            "ClusterRole",
        );
        ignore_exists(
            Api::<ClusterRoleBinding>::all(client.clone())
                .create(&pp, &binding)
                .await
                .map(drop),
            "ClusterRoleBinding",
        );
        Self {
            client: client.clone(),
            cluster_name,
        }
    }
}

fn ignore_exists(result: Result<(), kube::Error>, what: &str) {
    match result {
        Ok(()) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("create {what}: {e}"),
    }
}

impl Drop for BitnamiRbac {
    fn drop(&mut self) {
        let client = self.client.clone();
        let name = self.cluster_name.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let dp = DeleteParams::default();
                let _ = Api::<ClusterRoleBinding>::all(client.clone())
                    .delete(&name, &dp)
                    .await;
                let _ = Api::<ClusterRole>::all(client).delete(&name, &dp).await;
            });
        });
    }
}

/// The unmodified Bitnami `controller` binary, run by `cluster.sh run-as-sa` as ServiceAccount
/// `<ctl_ns>/sealed-secrets-controller` inside its own network namespace (so its fixed `:8080`
/// and `:8081` do not collide with other controllers); stopped on drop.
pub struct BitnamiController {
    /// The `cluster.sh` process and network-namespace name.
    pub name: String,
    /// `<address>:8080`, the HTTP API.
    pub api: String,
    /// `<address>:8081`, the metrics.
    pub metrics: String,
    running: bool,
}

impl BitnamiController {
    /// Starts it with keys in `ctl_ns` (the ServiceAccount's namespace, which Bitnami takes as its
    /// own), watching `ctl_ns` and `watched` only, generating `key_size`-bit keys, never renewing.
    pub fn start(ctl_ns: &str, watched: &[&str], key_size: u32) -> Self {
        let name = format!("kb{:06x}", OsRng.next_u32() & 0xff_ffff);
        let addr = cluster_sh(&["netns", "add", &name]).trim().to_owned();
        let controller = harness_bin().join("controller");
        let additional = format!("--additional-namespaces={}", watched.join(","));
        let key_size = format!("--key-size={key_size}");
        cluster_sh(&[
            "run-as-sa",
            ctl_ns,
            SERVICE_ACCOUNT,
            "--netns",
            &name,
            "--background",
            &name,
            "--",
            controller.to_str().unwrap(),
            "--all-namespaces=false",
            &additional,
            &key_size,
            "--key-renew-period=0",
        ]);
        Self {
            name,
            api: format!("{addr}:8080"),
            metrics: format!("{addr}:8081"),
            running: true,
        }
    }

    /// Waits until it serves a certificate (it creates or loads its keys first) and returns it.
    pub async fn certificate(&self) -> Certificate {
        served_certificate(&self.api, &self.name, || self.logs()).await
    }

    /// A metric's value (exact name and labels), ignoring comments.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = http(&self.metrics, "GET", "/metrics", b"").ok()?;
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Its log (stdout and stderr, written by `cluster.sh` under the state directory).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(state_dir().join("logs").join(format!("{}.log", self.name)))
            .unwrap_or_default()
    }

    /// Stops it (SIGTERM, then SIGKILL after 10 s) and deletes its network namespace.
    pub fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            stop_background(&self.name);
        }
    }
}

impl Drop for BitnamiController {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `cluster.sh stop NAME` and `netns del NAME`, ignoring failures (used on drop too).
pub fn stop_background(name: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cluster/cluster.sh");
    for args in [vec!["stop", name], vec!["netns", "del", name]] {
        let _ = Command::new(&script)
            .args(&args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output();
    }
}

/// The PID of a `cluster.sh run-as-sa --background NAME` process (first word of its PID file).
pub fn background_pid(name: &str) -> u32 {
    let text = std::fs::read_to_string(state_dir().join("pids").join(format!("proc-{name}.pid")))
        .unwrap_or_else(|e| panic!("PID file of {name}: {e}"));
    text.split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("PID file of {name} holds no PID"))
}

/// The control plane's state directory (`cluster.sh`'s `KSEAL_CLUSTER_DIR`).
pub fn state_dir() -> PathBuf {
    kseal_test_support::cluster::cluster_dir()
}

/// Polls `GET /v1/cert.pem` at `api` for up to 120 s (4096-bit key generation on a busy
/// machine), printing the tail of the controller's log if it never comes.
pub async fn served_certificate(api: &str, what: &str, logs: impl Fn() -> String) -> Certificate {
    let start = std::time::Instant::now();
    loop {
        if let Ok((200, body)) = http(api, "GET", "/v1/cert.pem", b"")
            && let Ok(cert) = Certificate::from_pem(&body)
        {
            return cert;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let logs = logs();
            let tail: Vec<&str> = logs.lines().rev().take(20).collect();
            panic!(
                "{what} served no certificate within 120 s; log tail:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits for `check` like [`wait_for`], with the longer timeout interop steps need.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for(what, Duration::from_secs(90), check).await
}
