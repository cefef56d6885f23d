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
//! Secret values are never printed: comparisons use lengths and digests in messages.

mod support;

use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

use k8s_openapi::api::core::v1::Secret;
use kseal_crds::SealedSecret;
use kube::{Api, api::PostParams};
use rand_core::{OsRng, RngCore as _};
use support::{
    TestNamespace, cluster, harness_bin, http, kseal_cli, proxied_controller, run_tool,
    secret_data, wait_for,
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

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Removes the test's directory (it holds a key backup) also when the test fails.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// A metric line's value from the controller's metrics text, matched by all of `parts`.
fn metric_sum(text: &str, parts: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_through_the_controller() {
    let Some(client) = cluster().await else {
        return;
    };
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
    let served = |api: String| async move {
        let (status, body) = http(&api, "GET", "/v1/cert.pem", b"").ok()?;
        (status == 200).then_some(body)
    };
    let pem_a = wait_for("controller serving key A", Duration::from_secs(60), || {
        served(api.clone())
    })
    .await;
    let fp_a = kseal_core::Certificate::from_pem(&pem_a)
        .unwrap()
        .fingerprint()
        .to_string();

    let ctl_flags = ["--controller-namespace", ctl.name.as_str()];
    let root = std::env::temp_dir().join(format!("kseal-rotate-cli-{:08x}", OsRng.next_u32()));
    let _cleanup = RemoveOnDrop(root.clone());
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
    let mut expected: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
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

    // --check fails (exit 5), names the stale documents and the stale cert file, writes nothing.
    let (code, out, err) = kseal(
        &repo,
        &[&["rotate", "--check"][..], &ctl_flags].concat(),
        b"",
    );
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 5, "rotate --check: {out}{err}");
    let stale: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("stale ") && l.contains("k8s/"))
        .collect();
    assert_eq!(stale.len(), 3, "{out}");
    assert!(out.lines().any(|l| l.starts_with("stale cert ")), "{out}");
    assert!(git(&repo, &["status", "--porcelain"]).is_empty());

    // keys --cluster: A is in use, B is the newest.
    let keys = kseal_ok(
        &repo,
        &[&["keys", "--cluster"][..], &ctl_flags].concat(),
        b"",
    );
    let row = |keys: &str, fp: &str| {
        keys.lines()
            .find(|l| l.starts_with(fp))
            .unwrap_or_else(|| panic!("no row for {fp} in:\n{keys}"))
            .to_owned()
    };
    assert!(row(&keys, &fp_a).contains(" in use"), "{keys}");
    assert!(row(&keys, &fp_a).contains(" 3 "), "{keys}");
    assert!(row(&keys, &fp_b).contains(" yes "), "{keys}");

    // --dry-run lists the same, writes nothing.
    let (code, out, err) = kseal(
        &repo,
        &[&["rotate", "--dry-run"][..], &ctl_flags].concat(),
        b"",
    );
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
    assert!(git(&repo, &["status", "--porcelain"]).is_empty());

    // rotate: exactly the stale documents, through /v1/rotate.
    let (code, out, err) = kseal(&repo, &[&["rotate"][..], &ctl_flags].concat(), b"");
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "rotate: {out}{err}");
    // Names and fingerprints only: shown for the record.
    eprintln!("kseal rotate:\n{out}{err}");
    assert!(err.contains("2 up to date"), "{err}");
    assert!(err.contains("3 re-sealed"), "{err}");
    assert!(err.contains("wrote 2 file(s)"), "{err}");
    assert!(err.contains("refreshed 1 cert file(s)"), "{err}");
    let changed = git(&repo, &["diff", "--name-only"]);
    assert_eq!(
        changed.lines().collect::<Vec<_>>(),
        ["certs/cluster.pem", "k8s/a.yaml", "k8s/b.yaml"],
        "git diff --stat:\n{}",
        git(&repo, &["diff", "--stat"])
    );
    assert_eq!(
        std::fs::read(repo.join("certs/cluster.pem")).unwrap(),
        pem_b
    );
    assert_eq!(read(&repo, "k8s/c.yaml"), c_yaml);
    let check_only_items_changed = |before: &str, after: &str, stale: &[&str]| {
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
                let annotation =
                    a.contains("kseal.dev/key-fingerprint: ") && b.contains(fp_b.as_str());
                assert!(item || annotation, "{name:?}: an unexpected line changed");
            }
            assert_eq!(differing, 3, "{name:?}: two items and the annotation");
        }
    };
    check_only_items_changed(&a_yaml, &read(&repo, "k8s/a.yaml"), &["a1"]);
    check_only_items_changed(&b_yaml, &read(&repo, "k8s/b.yaml"), &["b1", "b2"]);
    assert!(read(&repo, "k8s/a.yaml").starts_with("# app secrets\n"));

    // A second run changes nothing.
    let (code, _, err) = kseal(&repo, &[&["rotate"][..], &ctl_flags].concat(), b"");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("0 re-sealed") && err.contains("wrote 0 file(s)"),
        "{err}"
    );
    assert_eq!(
        git(&repo, &["diff", "--name-only"]).lines().count(),
        3,
        "second run"
    );
    let (code, _, err) = kseal(
        &repo,
        &[&["rotate", "--check"][..], &ctl_flags].concat(),
        b"",
    );
    assert_eq!(code, 0, "{err}");

    // keys --cluster: A is now safe to retire.
    let keys = kseal_ok(
        &repo,
        &[&["keys", "--cluster"][..], &ctl_flags].concat(),
        b"",
    );
    eprintln!("kseal keys --cluster after rotating:\n{keys}");
    assert!(row(&keys, &fp_a).contains("safe to retire"), "{keys}");
    assert!(row(&keys, &fp_b).contains(" 5 "), "{keys}");

    // verify --cluster: everything unseals (through the rate limit: 429s are retried).
    let before_429 = metric_sum(
        &http(&metrics_addr, "GET", "/metrics", b"")
            .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default(),
        &["path=\"/v1/verify\"", "code=\"429\""],
    );
    let (code, _, err) = kseal(
        &repo,
        &[&["verify", "--cluster"][..], &ctl_flags].concat(),
        b"",
    );
    assert_eq!(code, 0, "verify --cluster: {err}");
    assert!(err.contains("5 of 5 unseal"), "{err}");
    let after_429 = metric_sum(
        &http(&metrics_addr, "GET", "/metrics", b"")
            .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default(),
        &["path=\"/v1/verify\"", "code=\"429\""],
    );
    eprintln!(
        "verify --cluster: the controller answered 429 {} time(s); the CLI retried",
        after_429 - before_429
    );
    assert!(
        after_429 > before_429,
        "no 429 seen: the retry path was not exercised"
    );
    // A tampered value (one base64 character changed) fails with exit 4.
    let tampered = {
        let text = read(&repo, "k8s/c.yaml");
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
    std::fs::write(root.join("tampered.yaml"), &tampered).unwrap();
    let tampered_path = root.join("tampered.yaml").display().to_string();
    let (code, _, err) = kseal(
        &repo,
        &[&["verify", "--cluster", &tampered_path][..], &ctl_flags].concat(),
        b"",
    );
    assert_eq!(code, 4, "verify --cluster of a tampered file: {err}");
    assert!(
        err.contains("does not unseal with the cluster's keys"),
        "{err}"
    );

    // Apply every SealedSecret; the controller unseals each to the right bytes.
    let ssapi: Api<SealedSecret> = Api::namespaced(client.clone(), ns);
    for file in ["k8s/a.yaml", "k8s/b.yaml", "k8s/c.yaml"] {
        for doc in documents(&read(&repo, file)) {
            if ss_name(&doc).is_some() {
                let ss: SealedSecret = serde_yaml::from_str(&doc).unwrap();
                ssapi.create(&PostParams::default(), &ss).await.unwrap();
            }
        }
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for (name, items) in &expected {
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

    // Offline: kseal backup → rotate --key backup.yaml --cert new.pem on the copy.
    let (code, _, err) = kseal(
        &root,
        &[&["backup", "-o", "backup.yaml"][..], &ctl_flags[..]].concat(),
        b"",
    );
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
    let new_pem_s = new_pem.display().to_string();
    let (code, out, err) = kseal(
        &offline_repo,
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
        git(&offline_repo, &["diff", "--name-only"])
            .lines()
            .collect::<Vec<_>>(),
        ["k8s/a.yaml", "k8s/b.yaml"]
    );
    check_only_items_changed(&a_yaml, &read(&offline_repo, "k8s/a.yaml"), &["a1"]);
    check_only_items_changed(&b_yaml, &read(&offline_repo, "k8s/b.yaml"), &["b1", "b2"]);
    assert_eq!(read(&offline_repo, "k8s/c.yaml"), c_yaml);
    // Both repositories unseal (with the backup) to the same Secrets.
    let unseal = |dir: &Path| {
        let (code, out, err) = kseal(dir, &["unseal", "--key", &backup, "k8s/"], b"");
        assert_eq!(code, 0, "unseal: {err}");
        out
    };
    let (online, offline) = (unseal(&repo), unseal(&offline_repo));
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
        read(&repo, "k8s/c.yaml").as_bytes(),
    );
    assert!(ok, "kubeseal --recovery-unseal: {err}");
    let secret: Secret = serde_json::from_slice(&out).expect("kubeseal prints a Secret");
    let data = secret_data(&secret);
    for (key, value) in &expected["c1"] {
        let got = data.get(key).map(Vec::as_slice).unwrap_or_default();
        assert!(
            got == value.as_slice(),
            "kubeseal recovery of c1/{key}: {}",
            digest(got)
        );
    }

    // Several clusters in kseal.yaml: only this cluster's file is re-sealed, the other one is
    // skipped, and only this cluster's cert file is refreshed.
    let multi = root.join("multi");
    std::fs::create_dir_all(multi.join("certs")).unwrap();
    kseal_ok(
        &multi,
        &["keygen", "--out", "there", "--key-size", "2048"],
        b"",
    );
    std::fs::copy(multi.join("there/tls.crt"), multi.join("certs/there.pem")).unwrap();
    std::fs::write(multi.join("certs/here.pem"), &pem_a).unwrap();
    std::fs::write(
        multi.join("kseal.yaml"),
        format!(
            "secrets:\n  - input: .env\n    name: m1\n    namespace: {ns}\n    clusters:\n      - {{name: here, cert: certs/here.pem, output: here.yaml}}\n      - {{name: there, cert: certs/there.pem, output: there.yaml}}\n"
        ),
    )
    .unwrap();
    let env = b"M=value\n";
    let sealed_here = kseal_ok(
        &multi,
        &[
            "seal",
            "--no-config",
            "--cert",
            "certs/here.pem",
            "--name",
            "m1",
            "-n",
            ns,
        ],
        env,
    );
    let sealed_there = kseal_ok(
        &multi,
        &[
            "seal",
            "--no-config",
            "--cert",
            "certs/there.pem",
            "--name",
            "m1",
            "-n",
            ns,
        ],
        env,
    );
    std::fs::write(multi.join("here.yaml"), &sealed_here).unwrap();
    std::fs::write(multi.join("there.yaml"), &sealed_there).unwrap();
    let there_pem = std::fs::read(multi.join("certs/there.pem")).unwrap();
    let (code, out, err) = kseal(&multi, &[&["rotate"][..], &ctl_flags].concat(), b"");
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
    assert_eq!(std::fs::read(multi.join("certs/here.pem")).unwrap(), pem_b);
    assert_eq!(
        std::fs::read(multi.join("certs/there.pem")).unwrap(),
        there_pem
    );
    // A file kseal.yaml does not assign to a cluster: an error, not a guess.
    std::fs::write(multi.join("loose.yaml"), &sealed_here).unwrap();
    let (code, _, err) = kseal(
        &multi,
        &[&["rotate", "loose.yaml"][..], &ctl_flags].concat(),
        b"",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot tell which cluster loose.yaml belongs to"),
        "{err}"
    );

    let logs = controller.logs();
    support::assert_no_canary(&[("controller log", logs.as_str())]);
}
