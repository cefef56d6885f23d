//! The tools against one control plane (the shared test cluster, or the private one of the
//! kustomize-base test), Pods, and the digest of the env a Pod sees.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::support::{
    harness_bin, kseal_cli,
    tools::{run_env_in, try_run_env},
    wait_for,
};

/// The test app image (tests/cluster/images.sh).
pub(crate) const APP_IMAGE: &str = "kseal.test/env-app:1";

/// The tools (kubectl, helm, kubeseal, kseal) pointed at one control plane by `KUBECONFIG`.
pub(crate) struct Kube {
    pub(crate) kubeconfig: PathBuf,
}

impl Kube {
    /// The shared test cluster (`KUBECONFIG` of this process).
    pub(crate) fn shared() -> Self {
        Self {
            kubeconfig: crate::support::kubeconfig(),
        }
    }

    /// Runs `tool args…` in `cwd` (when given): (success, stdout, stderr).
    pub(crate) fn try_run(
        &self,
        tool: &Path,
        args: &[&str],
        cwd: Option<&Path>,
    ) -> (bool, String, String) {
        let env = [("KUBECONFIG", self.kubeconfig.as_os_str())];
        try_run_env(tool, args, b"", cwd, &env)
    }

    /// [`Kube::try_run`], returning stdout; panics with the command and its stderr on failure.
    pub(crate) fn run(&self, tool: &Path, args: &[&str], cwd: Option<&Path>) -> String {
        let env = [("KUBECONFIG", self.kubeconfig.as_os_str())];
        run_env_in(tool, args, b"", cwd, &env)
    }

    pub(crate) fn kubectl(&self, args: &[&str]) -> String {
        self.run(&harness_bin().join("kubectl"), args, None)
    }

    pub(crate) fn helm(&self, args: &[&str], cwd: Option<&Path>) -> String {
        self.run(&harness_bin().join("helm"), args, cwd)
    }

    pub(crate) fn kseal(&self, args: &[&str], cwd: Option<&Path>) -> String {
        self.run(&kseal_cli(), args, cwd)
    }

    pub(crate) fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl(&a)).expect("kubectl -o json")
    }

    /// Pods of `ns` matching `selector` that are Running and Ready, not terminating.
    pub(crate) fn ready_pods(&self, ns: &str, selector: &str) -> Vec<serde_json::Value> {
        let list = self.json(&["get", "pods", "-n", ns, "-l", selector]);
        list["items"]
            .as_array()
            .expect("a Pod list")
            .iter()
            .filter(|p| {
                p["metadata"]["deletionTimestamp"].is_null()
                    && p["status"]["phase"] == "Running"
                    && p["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
            .cloned()
            .collect()
    }

    /// The `env-digest` the app printed at start in `container` (the first one when `None`).
    pub(crate) fn app_digest(
        &self,
        ns: &str,
        pod: &str,
        container: Option<&str>,
    ) -> Option<String> {
        let mut args = vec!["logs", "-n", ns, pod];
        if let Some(c) = container {
            args.extend(["-c", c]);
        }
        let (ok, logs, _) = self.try_run(&harness_bin().join("kubectl"), &args, None);
        ok.then_some(())?;
        logs.lines()
            .find_map(|l| l.strip_prefix("env-digest "))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    }

    /// Waits until exactly `n` Pods match `selector` in `ns` (none terminating or starting: a
    /// rollout has finished), all Ready, and `container` of each printed `digest`; returns the
    /// seconds waited and the Pods' names.
    pub(crate) async fn wait_digest(
        &self,
        ns: &str,
        selector: &str,
        container: Option<&str>,
        n: usize,
        digest: &str,
    ) -> (f64, Vec<String>) {
        let start = Instant::now();
        let pods = wait_for(
            &format!("{n} Pods {ns}/{selector} Ready and seeing the sealed values"),
            Duration::from_secs(240),
            || async {
                let all = self.json(&["get", "pods", "-n", ns, "-l", selector]);
                let pods: Vec<String> = self.ready_pods(ns, selector).iter().map(name).collect();
                (all["items"].as_array().map_or(0, Vec::len) == n
                    && pods.len() == n
                    && pods
                        .iter()
                        .all(|p| self.app_digest(ns, p, container).as_deref() == Some(digest)))
                .then_some(pods)
            },
        )
        .await;
        (start.elapsed().as_secs_f64(), pods)
    }
}

pub(crate) fn name(pod: &serde_json::Value) -> String {
    pod["metadata"]["name"]
        .as_str()
        .expect("metadata.name")
        .to_owned()
}

/// The values of a `.env` file, read by kseal's one `.env` reader (`kseal_core::dotenv`).
#[derive(Clone)]
pub(crate) struct EnvFile {
    values: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl EnvFile {
    pub(crate) fn read(path: &Path) -> Self {
        let text = Zeroizing::new(std::fs::read(path).expect("read the .env file"));
        let parsed = kseal_core::dotenv::parse(&text, &Default::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let values = parsed
            .entries
            .into_iter()
            .map(|e| {
                let key = e.key.as_str().to_owned();
                // The app's digest is over lines: a newline in a value would split one.
                assert!(
                    !e.value.expose().contains(&b'\n'),
                    "{}: the value of {key} has a newline, which the app's digest cannot frame",
                    path.display()
                );
                (key, Zeroizing::new(e.value.expose().to_vec()))
            })
            .collect();
        Self { values }
    }

    pub(crate) fn keys(&self) -> Vec<&str> {
        self.values.keys().map(String::as_str).collect()
    }

    /// A copy holding only `keys` (what a container reading those keys by `secretKeyRef` sees).
    pub(crate) fn only(&self, keys: &[&str]) -> Self {
        let mut out = self.clone();
        out.values.retain(|k, _| keys.contains(&k.as_str()));
        out
    }

    /// What the app prints as `env-digest` with `KSEAL_DIGEST_KEYS` = `keys` when its env holds
    /// exactly these values for the keys that are in this file (others unset, i.e. empty): the
    /// sha256 (hex) of the sorted `KEY=VALUE\n` lines.
    pub(crate) fn digest_over(&self, keys: &[&str]) -> String {
        let mut lines: Vec<Zeroizing<Vec<u8>>> = keys
            .iter()
            .map(|k| {
                let mut line = Zeroizing::new(Vec::new());
                line.extend_from_slice(k.as_bytes());
                line.push(b'=');
                if let Some(v) = self.values.get(*k) {
                    line.extend_from_slice(v);
                }
                line.push(b'\n');
                line
            })
            .collect();
        lines.sort_by(|a, b| a.as_slice().cmp(b.as_slice()));
        let mut h = Sha256::new();
        for l in &lines {
            h.update(l.as_slice());
        }
        hex(&h.finalize())
    }

    /// [`EnvFile::digest_over`] this file's own keys.
    pub(crate) fn digest(&self) -> String {
        self.digest_over(&self.keys())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A Helm post-renderer in `dir` (an executable `post-render.sh`): `kubectl kustomize` of the
/// rendered chart with `patches` (a kustomization `patches:` list in YAML), the way a user
/// patches a chart they do not own. Returns the script's path for `--post-renderer`.
pub(crate) fn post_renderer(dir: &Path, patches: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
             resources: [rendered.yaml]\npatches:\n{patches}"
        ),
    )
    .unwrap();
    let script = dir.join("post-render.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\ncat >'{d}/rendered.yaml'\nexec '{kubectl}' kustomize '{d}'\n",
            d = dir.display(),
            kubectl = harness_bin().join("kubectl").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// A kustomize JSON patch (one `patches:` entry) adding `KSEAL_DIGEST_KEYS` = `keys` to the
/// env of `containers` (e.g. `containers/0`, `initContainers/0`) of Deployment `deployment`.
pub(crate) fn digest_keys_patch(deployment: &str, containers: &[&str], keys: &[&str]) -> String {
    let ops: String = containers
        .iter()
        .map(|c| {
            format!(
                "      - {{op: add, path: /spec/template/spec/{c}/env/-, value: {{name: KSEAL_DIGEST_KEYS, value: \"{}\"}}}}\n",
                keys.join(",")
            )
        })
        .collect();
    format!("  - target: {{kind: Deployment, name: {deployment}}}\n    patch: |-\n{ops}")
}
