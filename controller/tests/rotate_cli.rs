//! `kseal rotate` / `verify --cluster` / `keys --cluster` / `backup` against a kseal-controller
//! reached through the API server's service proxy, on the real control plane.
//!
//! A temp git repository with kseal.yaml and multi-document sealed files (documents sealed to
//! key A and to key B, ConfigMaps in between): after a key renewal (SIGUSR1), `rotate --check`
//! fails, `rotate` re-seals exactly the stale documents (other bytes and files unchanged), the
//! controller unseals every document to the right bytes, a second run writes nothing, and
//! `keys --cluster` turns key A from "in use" into "safe to retire". Offline, `kseal backup`
//! plus `rotate --key backup.yaml --cert new.pem` gives the same files' outcome, and the backup
//! opens the files with `kseal unseal` and `kubeseal --recovery-unseal`.
//!
//! The test runs in phases (`support::Phases`): after the shared set-up, a failing phase is
//! reported and the others still run, so one regression does not hide the rest.
//!
//! Secret values are never printed: comparisons use lengths and digests in messages.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use k8s_openapi::api::core::v1::Secret;
use kseal_crds::SealedSecret;
use kube::{Api, api::PostParams};
use rand_core::{OsRng, RngCore as _};
use support::{
    NetnsController, Phases, TempDir, TestNamespace, copy_dir, git, harness_bin, http, kseal_cli,
    metrics, proxied_controller, require_cluster, run_tool, secret_data, wait_for,
};

/// Runs `kseal ARGS` in `dir`; returns (exit code, stdout, stderr). Stdout may hold secrets
/// (`unseal`, `backup`): callers never print it.
fn kseal(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>, String) {
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
fn kseal_ok(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let (code, out, err) = kseal(dir, args, stdin);
    assert_eq!(code, 0, "kseal {args:?} failed ({code}): {err}");
    String::from_utf8(out).unwrap()
}

/// A short digest of secret bytes, for messages.
fn digest(bytes: &[u8]) -> String {
    use std::hash::{DefaultHasher, Hash as _, Hasher as _};
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{} bytes, hash {:016x}", bytes.len(), h.finish())
}

/// The PID of a `cluster.sh run-as-sa --background NAME` process, from its PID file (the first
/// field, as `cluster.sh stop` reads it).
fn netns_pid(name: &str) -> u32 {
    let dir = std::env::var("KSEAL_CLUSTER_DIR").unwrap_or_else(|_| "/tmp/kseal-cluster".into());
    let text = std::fs::read_to_string(Path::new(&dir).join(format!("pids/proc-{name}.pid")))
        .expect("PID file of the netns controller");
    text.split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("PID in the PID file")
}

/// Splits a YAML stream into its documents (`---` lines), keeping their text.
fn documents(text: &str) -> Vec<String> {
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

fn ss_name(doc: &str) -> Option<String> {
    let v: serde_json::Value = serde_yaml::from_str(doc).ok()?;
    (v["kind"] == "SealedSecret").then(|| v["metadata"]["name"].as_str().unwrap().to_owned())
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// Values sealed into the repository: SealedSecret name → item → bytes (never printed).
type Expected = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// What every phase works on: a kseal-controller behind the service proxy that served key A,
/// then (after SIGUSR1) key B, and a git repository sealed partly to each.
struct Fixture {
    client: kube::Client,
    _ctl: TestNamespace,
    app: TestNamespace,
    controller: NetnsController,
    /// `<address>:8081`: the controller's metrics (its API is on `:8080`).
    metrics_addr: String,
    pem_a: Vec<u8>,
    pem_b: Vec<u8>,
    fp_a: String,
    fp_b: String,
    /// Holds the repositories and, later, a key backup: removed when the test ends.
    root: TempDir,
    repo: PathBuf,
    offline_repo: PathBuf,
    new_pem: PathBuf,
    expected: Expected,
    a_yaml: String,
    b_yaml: String,
    c_yaml: String,
}

impl Fixture {
    fn ns(&self) -> &str {
        &self.app.name
    }

    /// `--controller-namespace <ctl>`, for the commands that reach the controller.
    fn ctl_flags(&self) -> [&str; 2] {
        ["--controller-namespace", self._ctl.name.as_str()]
    }

    /// `kseal ARGS --controller-namespace <ctl>` in `dir`.
    fn kseal_ctl(&self, dir: &Path, args: &[&str]) -> (i32, Vec<u8>, String) {
        kseal(dir, &[args, &self.ctl_flags()[..]].concat(), b"")
    }

    fn http_requests_429(&self, path: &str) -> f64 {
        let text = http(&self.metrics_addr, "GET", "/metrics", b"")
            .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        metrics::sum_where(
            &text,
            "sealed_secrets_controller_http_requests_total",
            &[("path", path), ("code", "429")],
        )
    }

    async fn new(client: kube::Client) -> Self {
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
async fn served(api: String) -> Option<Vec<u8>> {
    let (status, body) = http(&api, "GET", "/v1/cert.pem", b"").ok()?;
    (status == 200).then_some(body)
}

/// The row of `keys --cluster` output for fingerprint `fp`.
fn row(keys: &str, fp: &str) -> String {
    keys.lines()
        .find(|l| l.starts_with(fp))
        .unwrap_or_else(|| panic!("no row for {fp} in:\n{keys}"))
        .to_owned()
}

/// Between `before` and `after`, only the documents named in `stale` changed, and in them only
/// the two item lines and the key-fingerprint annotation (now `fp_b`).
fn check_only_items_changed(before: &str, after: &str, stale: &[&str], fp_b: &str) {
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

/// Before rotating: `--check` fails (exit 5), names the stale documents and the stale cert
/// file, writes nothing; `keys --cluster` shows A in use and B newest; `--dry-run` lists the
/// same and writes nothing.
fn phase_stale_before_rotate(fx: &Fixture) {
    let repo = &fx.repo;
    let (code, out, err) = fx.kseal_ctl(repo, &["rotate", "--check"]);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 5, "rotate --check: {out}{err}");
    let stale: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("stale ") && l.contains("k8s/"))
        .collect();
    assert_eq!(stale.len(), 3, "{out}");
    assert!(out.lines().any(|l| l.starts_with("stale cert ")), "{out}");
    assert!(git(repo, &["status", "--porcelain"]).is_empty());

    // keys --cluster: A is in use, B is the newest.
    let (code, keys, err) = fx.kseal_ctl(repo, &["keys", "--cluster"]);
    assert_eq!(code, 0, "keys --cluster failed ({code}): {err}");
    let keys = String::from_utf8(keys).unwrap();
    assert!(row(&keys, &fx.fp_a).contains(" in use"), "{keys}");
    assert!(row(&keys, &fx.fp_a).contains(" 3 "), "{keys}");
    assert!(row(&keys, &fx.fp_b).contains(" yes "), "{keys}");

    // --dry-run lists the same, writes nothing.
    let (code, out, err) = fx.kseal_ctl(repo, &["rotate", "--dry-run"]);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "rotate --dry-run: {out}{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("would re-seal"))
            .count(),
        3,
        "{out}"
    );
    assert!(err.contains("3 would be re-sealed"), "{err}");
    assert!(git(repo, &["status", "--porcelain"]).is_empty());
}

/// `rotate` re-seals exactly the stale documents through /v1/rotate; a second run changes
/// nothing; `keys --cluster` then says A is safe to retire.
fn phase_rotate(fx: &Fixture) {
    let repo = &fx.repo;
    let (code, out, err) = fx.kseal_ctl(repo, &["rotate"]);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "rotate: {out}{err}");
    // Names and fingerprints only: shown for the record.
    eprintln!("kseal rotate:\n{out}{err}");
    assert!(err.contains("2 up to date"), "{err}");
    assert!(err.contains("3 re-sealed"), "{err}");
    assert!(err.contains("wrote 2 file(s)"), "{err}");
    assert!(err.contains("refreshed 1 cert file(s)"), "{err}");
    let changed = git(repo, &["diff", "--name-only"]);
    assert_eq!(
        changed.lines().collect::<Vec<_>>(),
        ["certs/cluster.pem", "k8s/a.yaml", "k8s/b.yaml"],
        "git diff --stat:\n{}",
        git(repo, &["diff", "--stat"])
    );
    assert_eq!(
        std::fs::read(repo.join("certs/cluster.pem")).unwrap(),
        fx.pem_b
    );
    assert_eq!(read(repo, "k8s/c.yaml"), fx.c_yaml);
    check_only_items_changed(&fx.a_yaml, &read(repo, "k8s/a.yaml"), &["a1"], &fx.fp_b);
    check_only_items_changed(
        &fx.b_yaml,
        &read(repo, "k8s/b.yaml"),
        &["b1", "b2"],
        &fx.fp_b,
    );
    assert!(read(repo, "k8s/a.yaml").starts_with("# app secrets\n"));

    // A second run changes nothing.
    let (code, _, err) = fx.kseal_ctl(repo, &["rotate"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("0 re-sealed") && err.contains("wrote 0 file(s)"),
        "{err}"
    );
    assert_eq!(
        git(repo, &["diff", "--name-only"]).lines().count(),
        3,
        "second run"
    );
    let (code, _, err) = fx.kseal_ctl(repo, &["rotate", "--check"]);
    assert_eq!(code, 0, "{err}");

    // keys --cluster: A is now safe to retire.
    let (code, keys, err) = fx.kseal_ctl(repo, &["keys", "--cluster"]);
    assert_eq!(code, 0, "keys --cluster failed ({code}): {err}");
    let keys = String::from_utf8(keys).unwrap();
    eprintln!("kseal keys --cluster after rotating:\n{keys}");
    assert!(row(&keys, &fx.fp_a).contains("safe to retire"), "{keys}");
    assert!(row(&keys, &fx.fp_b).contains(" 5 "), "{keys}");
}

/// `verify --cluster`: everything unseals, through the rate limit (429s are retried); a
/// tampered value (one base64 character changed) fails with exit 4.
fn phase_verify_cluster(fx: &Fixture) {
    let repo = &fx.repo;
    let before_429 = fx.http_requests_429("/v1/verify");
    let (code, _, err) = fx.kseal_ctl(repo, &["verify", "--cluster"]);
    assert_eq!(code, 0, "verify --cluster: {err}");
    assert!(err.contains("5 of 5 unseal"), "{err}");
    let after_429 = fx.http_requests_429("/v1/verify");
    eprintln!(
        "verify --cluster: the controller answered 429 {} time(s); the CLI retried",
        after_429 - before_429
    );
    assert!(
        after_429 > before_429,
        "no 429 seen: the retry path was not exercised"
    );
    let tampered = {
        let text = read(repo, "k8s/c.yaml");
        let line = text
            .lines()
            .find(|l| l.starts_with("    DB_PASSWORD: "))
            .unwrap();
        let value = line.trim_start_matches("    DB_PASSWORD: ");
        let mid = value.len() / 2;
        let old = value.as_bytes()[mid];
        let new = if old == b'A' { 'B' } else { 'A' };
        let changed = format!("{}{new}{}", &value[..mid], &value[mid + 1..]);
        text.replace(value, &changed)
    };
    let tampered_path = fx.root.write("tampered.yaml", &tampered);
    let tampered_path = tampered_path.display().to_string();
    let (code, _, err) = fx.kseal_ctl(repo, &["verify", "--cluster", &tampered_path]);
    assert_eq!(code, 4, "verify --cluster of a tampered file: {err}");
    assert!(
        err.contains("does not unseal with the cluster's keys"),
        "{err}"
    );
}

/// Every SealedSecret of the repository applied: the controller unseals each to the right bytes.
async fn phase_controller_unseals(fx: &Fixture) {
    let ssapi: Api<SealedSecret> = Api::namespaced(fx.client.clone(), fx.ns());
    for file in ["k8s/a.yaml", "k8s/b.yaml", "k8s/c.yaml"] {
        for doc in documents(&read(&fx.repo, file)) {
            if ss_name(&doc).is_some() {
                let ss: SealedSecret = serde_yaml::from_str(&doc).unwrap();
                ssapi.create(&PostParams::default(), &ss).await.unwrap();
            }
        }
    }
    let secrets: Api<Secret> = Api::namespaced(fx.client.clone(), fx.ns());
    for (name, items) in &fx.expected {
        let secrets = secrets.clone();
        let got = wait_for(&format!("Secret {name}"), Duration::from_secs(60), || {
            let secrets = secrets.clone();
            let name = name.clone();
            async move { secrets.get_opt(&name).await.ok().flatten() }
        })
        .await;
        let data = secret_data(&got);
        for (key, value) in items {
            let got = data.get(key).map(Vec::as_slice).unwrap_or_default();
            assert!(
                got == value.as_slice(),
                "Secret {name} item {key}: got {}, want {}",
                digest(got),
                digest(value)
            );
        }
        assert_eq!(data.len(), items.len(), "Secret {name}: item count");
    }
}

/// Offline: `kseal backup` → `rotate --key backup.yaml --cert new.pem` on the copy gives the
/// same files' outcome; the backup opens both repositories with `kseal unseal` to the same
/// Secrets, and `kubeseal --recovery-unseal` reads it too.
fn phase_offline_backup(fx: &Fixture) {
    let root = fx.root.path();
    let (code, _, err) = fx.kseal_ctl(root, &["backup", "-o", "backup.yaml"]);
    assert_eq!(code, 0, "backup: {err}");
    assert!(
        err.contains("warning: this backup holds private keys"),
        "{err}"
    );
    assert!(err.contains("2 key(s)"), "{err}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(root.join("backup.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "backup file mode");
    }
    let backup = root.join("backup.yaml").display().to_string();
    let new_pem_s = fx.new_pem.display().to_string();
    let offline_repo = &fx.offline_repo;
    let (code, out, err) = kseal(
        offline_repo,
        &["rotate", "--key", &backup, "--cert", &new_pem_s],
        b"",
    );
    assert_eq!(
        code,
        0,
        "offline rotate: {}{err}",
        String::from_utf8_lossy(&out)
    );
    assert!(
        err.contains("3 re-sealed") && err.contains("wrote 2 file(s)"),
        "{err}"
    );
    assert_eq!(
        git(offline_repo, &["diff", "--name-only"])
            .lines()
            .collect::<Vec<_>>(),
        ["k8s/a.yaml", "k8s/b.yaml"]
    );
    check_only_items_changed(
        &fx.a_yaml,
        &read(offline_repo, "k8s/a.yaml"),
        &["a1"],
        &fx.fp_b,
    );
    check_only_items_changed(
        &fx.b_yaml,
        &read(offline_repo, "k8s/b.yaml"),
        &["b1", "b2"],
        &fx.fp_b,
    );
    assert_eq!(read(offline_repo, "k8s/c.yaml"), fx.c_yaml);
    // Both repositories unseal (with the backup) to the same Secrets.
    let unseal = |dir: &Path| {
        let (code, out, err) = kseal(dir, &["unseal", "--key", &backup, "k8s/"], b"");
        assert_eq!(code, 0, "unseal: {err}");
        out
    };
    let (online, offline) = (unseal(&fx.repo), unseal(offline_repo));
    assert!(
        online == offline,
        "unsealed Secrets differ: {} vs {}",
        digest(&online),
        digest(&offline)
    );
    // kubeseal --recovery-unseal reads the same backup.
    let kubeseal = harness_bin().join("kubeseal");
    let (ok, out, err) = run_tool(
        &kubeseal,
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            &backup,
            "-o",
            "json",
        ],
        read(&fx.repo, "k8s/c.yaml").as_bytes(),
    );
    assert!(ok, "kubeseal --recovery-unseal: {err}");
    let secret: Secret = serde_json::from_slice(&out).expect("kubeseal prints a Secret");
    let data = secret_data(&secret);
    for (key, value) in &fx.expected["c1"] {
        let got = data.get(key).map(Vec::as_slice).unwrap_or_default();
        assert!(
            got == value.as_slice(),
            "kubeseal recovery of c1/{key}: {}",
            digest(got)
        );
    }
}

/// Several clusters in kseal.yaml: only this cluster's file is re-sealed, the other one is
/// skipped, and only this cluster's cert file is refreshed; a file kseal.yaml does not assign
/// to a cluster is an error, not a guess.
fn phase_multi_cluster(fx: &Fixture) {
    let ns = fx.ns();
    let multi = fx.root.join("multi");
    std::fs::create_dir_all(multi.join("certs")).unwrap();
    kseal_ok(
        &multi,
        &["keygen", "--out", "there", "--key-size", "2048"],
        b"",
    );
    std::fs::copy(multi.join("there/tls.crt"), multi.join("certs/there.pem")).unwrap();
    std::fs::write(multi.join("certs/here.pem"), &fx.pem_a).unwrap();
    std::fs::write(
        multi.join("kseal.yaml"),
        format!(
            "secrets:\n  - input: .env\n    name: m1\n    namespace: {ns}\n    clusters:\n      - {{name: here, cert: certs/here.pem, output: here.yaml}}\n      - {{name: there, cert: certs/there.pem, output: there.yaml}}\n"
        ),
    )
    .unwrap();
    let env = b"M=value\n";
    let seal_with = |cert: &str| {
        kseal_ok(
            &multi,
            &[
                "seal",
                "--no-config",
                "--cert",
                cert,
                "--name",
                "m1",
                "-n",
                ns,
            ],
            env,
        )
    };
    let sealed_here = seal_with("certs/here.pem");
    let sealed_there = seal_with("certs/there.pem");
    std::fs::write(multi.join("here.yaml"), &sealed_here).unwrap();
    std::fs::write(multi.join("there.yaml"), &sealed_there).unwrap();
    let there_pem = std::fs::read(multi.join("certs/there.pem")).unwrap();
    let (code, out, err) = fx.kseal_ctl(&multi, &["rotate"]);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "multi-cluster rotate: {out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("skipped") && l.contains("there.yaml")),
        "{out}"
    );
    assert!(
        err.contains("1 re-sealed") && err.contains("refreshed 1 cert file(s)"),
        "{err}"
    );
    assert_ne!(read(&multi, "here.yaml"), sealed_here);
    assert_eq!(read(&multi, "there.yaml"), sealed_there);
    assert_eq!(
        std::fs::read(multi.join("certs/here.pem")).unwrap(),
        fx.pem_b
    );
    assert_eq!(
        std::fs::read(multi.join("certs/there.pem")).unwrap(),
        there_pem
    );
    std::fs::write(multi.join("loose.yaml"), &sealed_here).unwrap();
    let (code, _, err) = fx.kseal_ctl(&multi, &["rotate", "loose.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot tell which cluster loose.yaml belongs to"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_through_the_controller() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let mut phases = Phases::new("rotate_through_the_controller");
    let Some(fx) = phases.run("set-up", Fixture::new(client)).await else {
        for phase in [
            "stale-before-rotate",
            "rotate",
            "verify-cluster",
            "controller-unseals",
            "offline-backup",
            "multi-cluster",
            "no-canary",
        ] {
            phases.not_run(phase, "set-up");
        }
        return phases.finish();
    };
    phases
        .run("stale-before-rotate", async {
            phase_stale_before_rotate(&fx)
        })
        .await;
    phases.run("rotate", async { phase_rotate(&fx) }).await;
    phases
        .run("verify-cluster", async { phase_verify_cluster(&fx) })
        .await;
    phases
        .run("controller-unseals", phase_controller_unseals(&fx))
        .await;
    phases
        .run("offline-backup", async { phase_offline_backup(&fx) })
        .await;
    phases
        .run("multi-cluster", async { phase_multi_cluster(&fx) })
        .await;
    phases
        .run("no-canary", async {
            let logs = fx.controller.logs();
            support::assert_no_canary(&[("controller log", logs.as_str())]);
        })
        .await;
    drop(fx);
    phases.finish();
}
