//! The set-up of `rotate_cli.rs`: a kseal-controller behind the API server's service proxy
//! that served key A and then (after SIGUSR1) key B, a git repository sealed partly to each,
//! and the helpers its phases share (running `kseal`, reading documents, digests).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use rand_core::{OsRng, RngCore as _};

use crate::support::{
    self, NetnsController, TempDir, TestNamespace, copy_dir, git, http, kseal_cli, metrics,
    proxied_controller, wait_for,
};

/// Runs `kseal ARGS` in `dir`; returns (exit code, stdout, stderr). Stdout may hold secrets
/// (`unseal`, `backup`): callers never print it.
pub(crate) fn kseal(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>, String) {
    use std::io::Write as _;
    let mut child = Command::new(kseal_cli())
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kseal");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kseal` that must succeed; returns stdout as text (only for commands that print no secret).
pub(crate) fn kseal_ok(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let (code, out, err) = kseal(dir, args, stdin);
    assert_eq!(code, 0, "kseal {args:?} failed ({code}): {err}");
    String::from_utf8(out).unwrap()
}

/// A short digest of secret bytes, for messages.
pub(crate) fn digest(bytes: &[u8]) -> String {
    use std::hash::{DefaultHasher, Hash as _, Hasher as _};
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{} bytes, hash {:016x}", bytes.len(), h.finish())
}

/// The PID of a `cluster.sh run-as-sa --background NAME` process, from its PID file (the first
/// field, as `cluster.sh stop` reads it).
pub(crate) fn netns_pid(name: &str) -> u32 {
    let dir = std::env::var("KSEAL_CLUSTER_DIR").unwrap_or_else(|_| "/tmp/kseal-cluster".into());
    let text = std::fs::read_to_string(Path::new(&dir).join(format!("pids/proc-{name}.pid")))
        .expect("PID file of the netns controller");
    text.split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("PID in the PID file")
}

/// Splits a YAML stream into its documents (`---` lines), keeping their text.
pub(crate) fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else {
            docs.last_mut().unwrap().push_str(line);
        }
    }
    docs.retain(|d| !d.trim().is_empty());
    docs
}

pub(crate) fn ss_name(doc: &str) -> Option<String> {
    let v: serde_json::Value = serde_yaml::from_str(doc).ok()?;
    (v["kind"] == "SealedSecret").then(|| v["metadata"]["name"].as_str().unwrap().to_owned())
}

pub(crate) fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// Values sealed into the repository: SealedSecret name → item → bytes (never printed).
pub(crate) type Expected = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// What every phase works on: a kseal-controller behind the service proxy that served key A,
/// then (after SIGUSR1) key B, and a git repository sealed partly to each.
pub(crate) struct Fixture {
    pub(crate) client: kube::Client,
    pub(crate) _ctl: TestNamespace,
    pub(crate) app: TestNamespace,
    pub(crate) controller: NetnsController,
    /// `<address>:8081`: the controller's metrics (its API is on `:8080`).
    pub(crate) metrics_addr: String,
    pub(crate) pem_a: Vec<u8>,
    pub(crate) pem_b: Vec<u8>,
    pub(crate) fp_a: String,
    pub(crate) fp_b: String,
    /// Holds the repositories and, later, a key backup: removed when the test ends.
    pub(crate) root: TempDir,
    pub(crate) repo: PathBuf,
    pub(crate) offline_repo: PathBuf,
    pub(crate) new_pem: PathBuf,
    pub(crate) expected: Expected,
    pub(crate) a_yaml: String,
    pub(crate) b_yaml: String,
    pub(crate) c_yaml: String,
}

impl Fixture {
    pub(crate) fn ns(&self) -> &str {
        &self.app.name
    }

    /// `--controller-namespace <ctl>`, for the commands that reach the controller.
    pub(crate) fn ctl_flags(&self) -> [&str; 2] {
        ["--controller-namespace", self._ctl.name.as_str()]
    }

    /// `kseal ARGS --controller-namespace <ctl>` in `dir`.
    pub(crate) fn kseal_ctl(&self, dir: &Path, args: &[&str]) -> (i32, Vec<u8>, String) {
        kseal(dir, &[args, &self.ctl_flags()[..]].concat(), b"")
    }

    pub(crate) fn http_requests_429(&self, path: &str) -> f64 {
        let text = http(&self.metrics_addr, "GET", "/metrics", b"")
            .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        metrics::sum_where(
            &text,
            "sealed_secrets_controller_http_requests_total",
            &[("path", path), ("code", "429")],
        )
    }

    pub(crate) async fn new(client: kube::Client) -> Self {
        let ctl = TestNamespace::new(&client, "kseal-rctl").await;
        let app = TestNamespace::new(&client, "kseal-rapp").await;
        // A strict rate limit, so the CLI's 429 handling is exercised.
        let controller = proxied_controller(
            &client,
            &ctl.name,
            &app.name,
            &["--key-size=2048", "--rate-limit=1", "--rate-limit-burst=1"],
        )
        .await;
        let api = controller.api.clone();
        let metrics_addr = api.replace(":8080", ":8081");
        let pem_a = wait_for("controller serving key A", Duration::from_secs(60), || {
            served(api.clone())
        })
        .await;
        let fp_a = kseal_core::Certificate::from_pem(&pem_a)
            .unwrap()
            .fingerprint()
            .to_string();

        let ctl_flags = ["--controller-namespace", ctl.name.as_str()];
        let root = TempDir::new("rotate-cli");
        let repo = root.join("repo");
        std::fs::create_dir_all(repo.join("k8s")).unwrap();
        std::fs::create_dir_all(repo.join("certs")).unwrap();
        let ns = app.name.as_str();
        std::fs::write(
            repo.join("kseal.yaml"),
            format!(
                "defaults:\n  namespace: {ns}\n  cert: certs/cluster.pem\nsecrets:\n  - input: .env.a\n    name: a1\n    output: k8s/a.yaml\n  - input: .env.b\n    name: b1\n    output: k8s/b.yaml\n  - input: .env.c\n    name: c1\n    output: k8s/c.yaml\n"
            ),
        )
        .unwrap();
        // `kseal cert` through the service proxy writes the committed cert (key A).
        kseal_ok(
            &repo,
            &[&["cert", "-w", "certs/cluster.pem"][..], &ctl_flags].concat(),
            b"",
        );
        assert_eq!(
            std::fs::read(repo.join("certs/cluster.pem")).unwrap(),
            pem_a
        );

        // Values: random, never printed.
        let mut expected = Expected::new();
        let mut seal = |name: &str, cert: &Path| -> String {
            let mut items = BTreeMap::new();
            let mut env = String::new();
            for key in ["DB_PASSWORD", "API_TOKEN"] {
                let value = format!("{}-{key}-{:016x}", support::CANARY, OsRng.next_u64());
                env.push_str(&format!("{key}={value}\n"));
                items.insert(key.to_owned(), value.into_bytes());
            }
            expected.insert(name.to_owned(), items);
            let cert = cert.display().to_string();
            kseal_ok(
                &repo,
                &[
                    "seal",
                    "--no-config",
                    "--cert",
                    &cert,
                    "--name",
                    name,
                    "-n",
                    ns,
                ],
                env.as_bytes(),
            )
        };
        let cm = |name: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  LOG_LEVEL: info\n"
            )
        };
        let cert_a = repo.join("certs/cluster.pem");
        let a1 = seal("a1", &cert_a);
        let b1 = seal("b1", &cert_a);
        let b2 = seal("b2", &cert_a);

        // Key renewal: SIGUSR1 to the netns controller.
        let pid = netns_pid(&controller.name);
        let status = Command::new("kill")
            .args(["-USR1", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -USR1 {pid}");
        let pem_b = wait_for("controller serving key B", Duration::from_secs(60), || {
            let api = api.clone();
            let pem_a = pem_a.clone();
            async move { served(api).await.filter(|b| *b != pem_a) }
        })
        .await;
        let fp_b = kseal_core::Certificate::from_pem(&pem_b)
            .unwrap()
            .fingerprint()
            .to_string();
        assert_ne!(fp_a, fp_b);
        let new_pem = root.join("new.pem");
        std::fs::write(&new_pem, &pem_b).unwrap();
        let a2 = seal("a2", &new_pem);
        let c1 = seal("c1", &new_pem);

        let a_yaml = format!("# app secrets\n{a1}---\n{}---\n{a2}", cm("settings"));
        let b_yaml = format!("{b1}---\n{}---\n{b2}", cm("more"));
        let c_yaml = c1.clone();
        std::fs::write(repo.join("k8s/a.yaml"), &a_yaml).unwrap();
        std::fs::write(repo.join("k8s/b.yaml"), &b_yaml).unwrap();
        std::fs::write(repo.join("k8s/c.yaml"), &c_yaml).unwrap();
        git(&repo, &["init", "-q"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-qm", "sealed"]);
        // The same repository, for the offline path later.
        let offline_repo = root.join("offline");
        copy_dir(&repo, &offline_repo);
        Self {
            client,
            _ctl: ctl,
            app,
            controller,
            metrics_addr,
            pem_a,
            pem_b,
            fp_a,
            fp_b,
            root,
            repo,
            offline_repo,
            new_pem,
            expected,
            a_yaml,
            b_yaml,
            c_yaml,
        }
    }
}

/// `GET /v1/cert.pem` at `api`: the body when it answered 200.
pub(crate) async fn served(api: String) -> Option<Vec<u8>> {
    let (status, body) = http(&api, "GET", "/v1/cert.pem", b"").ok()?;
    (status == 200).then_some(body)
}

/// The row of `keys --cluster` output for fingerprint `fp`.
pub(crate) fn row(keys: &str, fp: &str) -> String {
    keys.lines()
        .find(|l| l.starts_with(fp))
        .unwrap_or_else(|| panic!("no row for {fp} in:\n{keys}"))
        .to_owned()
}

/// Between `before` and `after`, only the documents named in `stale` changed, and in them only
/// the two item lines and the key-fingerprint annotation (now `fp_b`).
pub(crate) fn check_only_items_changed(before: &str, after: &str, stale: &[&str], fp_b: &str) {
    let (old, new) = (documents(before), documents(after));
    assert_eq!(old.len(), new.len());
    assert_eq!(
        before.matches("\n---\n").count(),
        after.matches("\n---\n").count()
    );
    for (o, n) in old.iter().zip(&new) {
        let name = ss_name(o);
        if !name.as_deref().is_some_and(|n| stale.contains(&n)) {
            assert_eq!(o, n, "document {name:?} changed");
            continue;
        }
        let (ol, nl): (Vec<_>, Vec<_>) = (o.lines().collect(), n.lines().collect());
        assert_eq!(ol.len(), nl.len(), "{name:?}: line count changed");
        let mut differing = 0;
        for (a, b) in ol.iter().zip(&nl) {
            if a == b {
                continue;
            }
            differing += 1;
            let item = ["    DB_PASSWORD: ", "    API_TOKEN: "]
                .iter()
                .any(|p| a.starts_with(p) && b.starts_with(p));
            let annotation = a.contains("kseal.dev/key-fingerprint: ") && b.contains(fp_b);
            assert!(item || annotation, "{name:?}: an unexpected line changed");
        }
        assert_eq!(differing, 3, "{name:?}: two items and the annotation");
    }
}
