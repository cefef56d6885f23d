//! Controller-specific helpers of the controller's end-to-end tests against the real control
//! plane (`tests/cluster/`): controller processes (local, or in a network namespace behind the
//! API server's service proxy), sealing, status and events. The generic harness (the cluster
//! policy, CRD, namespaces, ports, temp dirs, waiting, metrics, watchdog, reports) lives in
//! `tests/support/` (crate `kseal-test-support`) and is re-exported here, so a test file keeps
//! writing `mod support; use support::{…};`. Each test gets its own namespaces and its own
//! controller processes, scoped to those namespaces, so tests run in parallel without touching
//! each other; everything is deleted or killed on drop.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod bitnami;
pub mod tools;

use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kseal_core::{Certificate, Scope};
use kseal_crds::{SealedSecret, SealedSecretSpec};
pub use kseal_test_support::{
    CANARY, Phases, TempDir, TestNamespace, assert_no_canary, bins::target_bin, cluster_required,
    cluster_sh, connect, copy_dir, create_namespace, ensure_crd, free_port, git, go_tools,
    hold_for, kubeconfig, metrics, report, require_cluster, skip_or_fail, wait_for, watchdog,
};
use kube::{Api, Client, api::PostParams};
use rand_core::{OsRng, RngCore as _};

/// The old name of [`require_cluster`], kept so tests written against it keep compiling: the
/// control plane, or `None` after the one `skipped:` line (a failure in CI).
pub async fn cluster() -> Option<Client> {
    require_cluster().await
}

/// A running `kseal-controller` process, killed when dropped.
pub struct Controller {
    child: Child,
    /// `http://127.0.0.1:<port>` of the HTTP API.
    pub api: String,
    /// `http://127.0.0.1:<port>` of the metrics endpoint.
    pub metrics: String,
    pub log: PathBuf,
}

impl Controller {
    /// Starts the controller with `kubeconfig`, keys and Lease in `controller_ns`, 2048-bit keys
    /// (fast), plus `extra` flags.
    pub fn start(kubeconfig: &Path, controller_ns: &str, extra: &[&str]) -> Self {
        Self::start_with_key_size(kubeconfig, controller_ns, 2048, extra)
    }

    /// [`Controller::start`] generating `key_size`-bit keys.
    pub fn start_with_key_size(
        kubeconfig: &Path,
        controller_ns: &str,
        key_size: u32,
        extra: &[&str],
    ) -> Self {
        let (api_port, metrics_port) = (free_port(), free_port());
        let dir = std::env::temp_dir().join("kseal-controller-e2e");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{controller_ns}-{api_port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kseal-controller"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "--controller-namespace",
                controller_ns,
                "--listen-addr",
                &format!("127.0.0.1:{api_port}"),
                "--listen-metrics-addr",
                &format!("127.0.0.1:{metrics_port}"),
                &format!("--key-size={key_size}"),
            ])
            .args(extra)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start kseal-controller");
        Self {
            child,
            api: format!("127.0.0.1:{api_port}"),
            metrics: format!("127.0.0.1:{metrics_port}"),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`USR1`, `KILL`) with kill(1), which needs no unsafe code.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The metrics text.
    pub fn metrics_text(&self) -> String {
        http(&self.metrics, "GET", "/metrics", b"").map_or_else(
            |_| String::new(),
            |(_, b)| String::from_utf8_lossy(&b).into_owned(),
        )
    }

    /// The value of a metric line `name` (exact name and labels), ignoring comments.
    pub fn metric(&self, name: &str) -> Option<f64> {
        metrics::value(&self.metrics_text(), name)
    }

    /// A [`watchdog::Watchdog`] on this process: `/healthz` within 1 s, RSS under the chart's
    /// limit, for as long as it lives.
    pub fn watchdog(&self) -> watchdog::Watchdog {
        watchdog::Watchdog::start(self.pid(), &self.api)
    }

    /// Whether this process holds the leader Lease.
    pub fn is_leader(&self) -> bool {
        self.metric("sealed_secrets_controller_leader") == Some(1.0)
    }

    /// Waits until the API serves a certificate and returns it.
    pub async fn certificate(&self) -> Certificate {
        let api = self.api.clone();
        wait_for("certificate served", Duration::from_secs(60), || {
            let api = api.clone();
            async move {
                let (status, body) = http(&api, "GET", "/v1/cert.pem", b"").ok()?;
                (status == 200)
                    .then(|| Certificate::from_pem(&body).ok())
                    .flatten()
            }
        })
        .await
    }
}

impl Controller {
    /// Renews the key as an operator would: waits until this process leads (only the leader
    /// makes keys), sends SIGUSR1, and returns the new certificate once it is served instead
    /// of `old`.
    pub async fn renew_key(&self, old: &Certificate) -> Certificate {
        wait_for("leader", Duration::from_secs(30), || async {
            self.is_leader().then_some(())
        })
        .await;
        self.signal("USR1");
        let api = self.api.clone();
        wait_for(
            "a new certificate after SIGUSR1",
            Duration::from_secs(60),
            || {
                let api = api.clone();
                let old = old.fingerprint().clone();
                async move {
                    let (_, body) = http(&api, "GET", "/v1/cert.pem", b"").ok()?;
                    let c = Certificate::from_pem(&body).ok()?;
                    (c.fingerprint() != &old).then_some(c)
                }
            },
        )
        .await
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// [`http`], sent again while the controller answers `429` (its per-client rate limit,
/// `--rate-limit` per second): for tests whose subject is the answer, not the limit.
pub async fn http_past_rate_limit(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    wait_for(
        &format!("{method} {path} past the rate limit"),
        Duration::from_secs(30),
        || async {
            let (status, answer) = http(addr, method, path, body).ok()?;
            (status != 429).then_some((status, answer))
        },
    )
    .await
}

/// [`run_tool`] for a kubeseal command that calls the controller's rate-limited `/v1/verify` or
/// `/v1/rotate` (`--validate`, `--re-encrypt`), run again while it fails with the limit's `429`
/// (client-go words it "too many requests"), so that a test's failure is never the limit's.
pub async fn kubeseal_past_rate_limit(
    kubeseal: &Path,
    args: &[&str],
    stdin: &[u8],
) -> (bool, Vec<u8>, String) {
    wait_for(
        &format!("kubeseal {} past the rate limit", args.join(" ")),
        Duration::from_secs(30),
        || async {
            let (ok, out, err) = run_tool(kubeseal, args, stdin);
            let limited = err.to_ascii_lowercase();
            let limited = !ok
                && (limited.contains("too many requests")
                    || limited.contains("429")
                    || limited.contains("limit exceeded"));
            (!limited).then_some((ok, out, err))
        },
    )
    .await
}

/// A minimal HTTP/1.0 client: (status, body).
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    Ok((status, response[split + 4..].to_vec()))
}

/// Seals `items` for `cert` into a strict-scope SealedSecret `ns/name`, as `kseal seal` would.
pub fn seal(cert: &Certificate, ns: &str, name: &str, items: &[(&str, &[u8])]) -> SealedSecret {
    let mut ss = SealedSecret::new(name, SealedSecretSpec::default());
    ss.metadata.namespace = Some(ns.into());
    let scope = ss.scope().unwrap();
    seal_items(&mut ss, cert, &scope, items);
    ss.metadata.annotations = Some(BTreeMap::from([(
        kseal_crds::KEY_FINGERPRINT_ANNOTATION.to_owned(),
        cert.fingerprint().to_string(),
    )]));
    ss
}

pub fn seal_items(
    ss: &mut SealedSecret,
    cert: &Certificate,
    scope: &Scope,
    items: &[(&str, &[u8])],
) {
    for (k, v) in items {
        ss.spec
            .encrypted_data
            .insert(*k, kseal_core::seal_base64(cert, scope, v));
    }
}

/// The data of a Secret as byte vectors (the one copy: `kseal_crds::fixtures::data`).
pub use kseal_crds::fixtures::data as secret_data;

pub fn bytes(v: &[u8]) -> ByteString {
    ByteString(v.to_vec())
}

/// The Synced condition as (status, message).
pub fn synced(ss: &SealedSecret) -> Option<(String, Option<String>)> {
    let c = ss.status.as_ref()?.synced()?;
    Some((c.status.clone(), c.message.clone()))
}

/// Waits for a SealedSecret's Synced condition to reach `status` for its current generation.
pub async fn wait_synced(api: &Api<SealedSecret>, name: &str, status: &str) -> SealedSecret {
    wait_for(
        &format!("{name} Synced={status}"),
        Duration::from_secs(45),
        || async {
            let ss = api.get(name).await.ok()?;
            let st = ss.status.as_ref()?;
            let gen_ok = st.observed_generation.unwrap_or(0) == ss.metadata.generation.unwrap_or(0);
            (gen_ok && st.synced()?.status == status).then_some(ss)
        },
    )
    .await
}

/// Event (reason, message) pairs about objects named `name` in `ns`.
pub async fn events(client: &Client, ns: &str, name: &str) -> Vec<(String, String)> {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|e| e.involved_object.name.as_deref() == Some(name))
                .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every event in `ns`, serialized, for canary checks.
pub async fn all_events_json(client: &Client, ns: &str) -> String {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .map(|l| serde_json::to_string(&l.items).unwrap())
        .unwrap_or_default()
}

/// Applies plain-YAML manifests (the kinds in `controller/deploy/`) after substituting each
/// `(from, to)` pair in the text.
pub async fn apply_manifests(client: &Client, path: &str, substitutions: &[(&str, &str)]) {
    use k8s_openapi::api::{
        core::v1::ServiceAccount,
        rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    };
    let mut text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    for (from, to) in substitutions {
        text = text.replace(from, to);
    }
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        let ns = value["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let pp = PostParams::default();
        let result = match kind.as_str() {
            "ServiceAccount" => Api::<ServiceAccount>::namespaced(client.clone(), &ns)
                .create(&pp, &serde_json::from_value(value).unwrap())
                .await
                .map(drop),
            "Role" => Api::<Role>::namespaced(client.clone(), &ns)
                .create(&pp, &serde_json::from_value(value).unwrap())
                .await
                .map(drop),
            "RoleBinding" => Api::<RoleBinding>::namespaced(client.clone(), &ns)
                .create(&pp, &serde_json::from_value(value).unwrap())
                .await
                .map(drop),
            "ClusterRole" => Api::<ClusterRole>::all(client.clone())
                .create(&pp, &serde_json::from_value(value).unwrap())
                .await
                .map(drop),
            "ClusterRoleBinding" => Api::<ClusterRoleBinding>::all(client.clone())
                .create(&pp, &serde_json::from_value(value).unwrap())
                .await
                .map(drop),
            other => panic!("apply_manifests: unexpected kind {other}"),
        };
        result.unwrap_or_else(|e| panic!("apply {kind} from {path}: {e}"));
    }
}

/// Writes a kubeconfig that authenticates as ServiceAccount `ns/name` with a fresh token
/// (TokenRequest, as `kubectl create token` does), for the same API server as `KUBECONFIG`.
pub async fn service_account_kubeconfig(client: &Client, ns: &str, name: &str) -> PathBuf {
    use k8s_openapi::api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        core::v1::ServiceAccount,
    };
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let token = api
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .expect("TokenRequest")
        .status
        .expect("token")
        .token;
    let admin = kube::config::Kubeconfig::read().expect("read KUBECONFIG");
    let cluster = admin.clusters[0].cluster.clone().expect("cluster");
    let mut ca = String::new();
    if let Some(path) = &cluster.certificate_authority {
        ca = format!("    certificate-authority: {path}\n");
    } else if let Some(data) = &cluster.certificate_authority_data {
        ca = format!("    certificate-authority-data: {data}\n");
    }
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n{ca}users:\n- name: sa\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context: {{cluster: c, user: sa}}\ncurrent-context: c\n",
        cluster.server.expect("server")
    );
    let path = std::env::temp_dir()
        .join("kseal-controller-e2e")
        .join(format!("{ns}-{name}.kubeconfig"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// The directory of the harness binaries (kubectl, kubeseal, …), as
/// `tests/cluster/build.sh --print-bindir` prints it.
pub fn harness_bin() -> PathBuf {
    kseal_test_support::go_bindir().unwrap_or_else(|e| panic!("{e}"))
}

/// A controller started by `cluster.sh run-as-sa` inside its own network namespace, reachable by
/// the API server's service proxy; stopped and its namespace deleted on drop.
pub struct NetnsController {
    pub name: String,
    /// `<address>:8080`.
    pub api: String,
}

impl NetnsController {
    pub fn start(ctl_ns: &str, service_account: &str, args: &[&str]) -> Self {
        let name = format!("kt{:06x}", OsRng.next_u32() & 0xff_ffff);
        let addr = cluster_sh(&["netns", "add", &name]).trim().to_owned();
        let mut cmd = vec![
            "run-as-sa",
            ctl_ns,
            service_account,
            "--netns",
            &name,
            "--background",
            &name,
            "--",
            env!("CARGO_BIN_EXE_kseal-controller"),
        ];
        cmd.extend_from_slice(args);
        cluster_sh(&cmd);
        Self {
            api: format!("{addr}:8080"),
            name,
        }
    }

    /// The controller's log (`cluster.sh` writes it under its state directory).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(
            kseal_test_support::cluster::cluster_dir()
                .join("logs")
                .join(format!("{}.log", self.name)),
        )
        .unwrap_or_default()
    }
}

impl Drop for NetnsController {
    fn drop(&mut self) {
        let name = self.name.as_str();
        for args in [&["stop", name][..], &["netns", "del", name][..]] {
            let _ = kseal_test_support::cluster::try_cluster_sh(args, &[]);
        }
    }
}

/// Runs a harness binary (e.g. kubeseal) with `stdin`, returning (success, stdout, stderr).
pub fn run_tool(tool: &Path, args: &[&str], stdin: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", tool.display()));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `kseal` CLI binary (another package, so no `CARGO_BIN_EXE_kseal` here): `KSEAL_CLI`,
/// else [`target_bin`], which names the `cargo build` to run when it is missing.
pub fn kseal_cli() -> PathBuf {
    std::env::var_os("KSEAL_CLI").map_or_else(|| target_bin("kseal", "kseal"), PathBuf::from)
}

/// kseal-controller as a cluster runs it, reachable through the API server's service proxy
/// (for kubeseal and the `kseal` CLI): applies the namespaced RBAC of `controller/deploy/`
/// (ServiceAccount `sealed-secrets-controller` and its Role in `ctl_ns`, the unsealer Role in
/// `ctl_ns` and `app_ns`), starts the controller as that ServiceAccount in its own network
/// namespace watching `app_ns`, with `extra` flags, and exposes it as Service
/// `ctl_ns/sealed-secrets-controller` port `http`.
pub async fn proxied_controller(
    client: &Client,
    ctl_ns: &str,
    app_ns: &str,
    extra: &[&str],
) -> NetnsController {
    for (manifest, target) in [
        ("deploy/kustomize/base/service-account.yaml", ctl_ns),
        (
            "deploy/kustomize/namespaced/controller-namespace.yaml",
            ctl_ns,
        ),
        ("deploy/kustomize/namespaced/rbac.yaml", ctl_ns),
        ("deploy/kustomize/namespaced/rbac.yaml", app_ns),
    ] {
        let sub = [("kube-system", ctl_ns), ("APP_NAMESPACE", target)];
        apply_manifests(client, manifest, &sub).await;
    }
    let additional = format!("--additional-namespaces={app_ns}");
    let mut args = vec!["--all-namespaces=false", additional.as_str()];
    args.extend_from_slice(extra);
    let controller = NetnsController::start(ctl_ns, "sealed-secrets-controller", &args);
    cluster_sh(&[
        "expose",
        ctl_ns,
        "sealed-secrets-controller",
        &controller.name,
        "8080",
        "http",
    ]);
    controller
}
