//! `kseal rotate` / `verify --cluster` / `keys --cluster` / `backup` against a kseal-controller
//! reached through the API server's service proxy, on the real control plane.
//!
//! A temp git repository with kseal.yaml and multi-document sealed files (documents sealed to
//! key A and to key B, ConfigMaps in between): after a key renewal (SIGUSR1), `rotate --check`
//! fails, `rotate` re-seals exactly the stale documents (other bytes and files unchanged), the
//! controller unseals every document to the right bytes, a second run writes nothing, and
//! `keys --cluster` turns key A from "in use" into "safe to retire". Offline, `kseal backup`
//! plus `rotate --key backup.yaml --cert new.pem` gives the same files' outcome, and the backup
//! opens the files with `kseal unseal` and `kubeseal --recovery-unseal`. Last, `rotate
//! --encryption pq-hybrid` migrates the files' format through the controller, and back to rsa.
//!
//! The test runs in phases (`support::Phases`): after the shared set-up, a failing phase is
//! reported and the others still run, so one regression does not hide the rest.
//!
//! Secret values are never printed: comparisons use lengths and digests in messages.

#[path = "rotate_cli/fixture.rs"]
mod fixture;
mod support;

use std::{path::Path, time::Duration};

use fixture::*;
use k8s_openapi::api::core::v1::Secret;
use kseal_crds::SealedSecret;
use kube::{Api, api::PostParams};
use support::{Phases, git, harness_bin, require_cluster, run_tool, secret_data, wait_for};

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

/// The sealed text of every item in the repository's three files.
fn sealed_values(repo: &Path) -> Vec<String> {
    ["k8s/a.yaml", "k8s/b.yaml", "k8s/c.yaml"]
        .iter()
        .flat_map(|f| documents(&read(repo, f)))
        .filter(|doc| ss_name(doc).is_some())
        .flat_map(|doc| {
            let ss: SealedSecret = serde_yaml::from_str(&doc).unwrap();
            ss.spec
                .encrypted_data
                .iter()
                .filter_map(|(_, v)| v.as_sealed().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `kseal rotate --encryption pq-hybrid` through the controller (`/v1/rotate?encryption=`)
/// migrates every item to pq-hybrid, `--check --encryption pq-hybrid` then passes, the cluster
/// still opens every document (`verify --cluster`), and the backup unseals the files to the same
/// Secrets as before; `--encryption rsa` migrates back the same way. Runs after the phases that
/// compare files with their original bytes.
fn phase_encryption(fx: &Fixture) {
    let repo = &fx.repo;
    let backup = fx.root.path().join("backup.yaml").display().to_string();
    let unseal = || {
        let (code, out, err) = kseal(repo, &["unseal", "--key", &backup, "k8s/"], b"");
        assert_eq!(code, 0, "unseal: {err}");
        out
    };
    let before = unseal();
    for (format, marker) in [("pq-hybrid", true), ("rsa", false)] {
        let (code, _, err) = fx.kseal_ctl(repo, &["rotate", "--check", "--encryption", format]);
        assert_eq!(code, 5, "--check before migrating to {format}: {err}");
        let (code, out, err) = fx.kseal_ctl(repo, &["rotate", "--encryption", format]);
        assert_eq!(
            code,
            0,
            "rotate --encryption {format}: {}{err}",
            String::from_utf8_lossy(&out)
        );
        let values = sealed_values(repo);
        let items: usize = fx.expected.values().map(|items| items.len()).sum();
        assert_eq!(values.len(), items, "every item of the documents");
        assert!(
            values.iter().all(|v| v.starts_with("ksealPQ1") == marker),
            "not every item is {format} after rotate --encryption {format}"
        );
        let (code, _, err) = fx.kseal_ctl(repo, &["rotate", "--check", "--encryption", format]);
        assert_eq!(code, 0, "--check after migrating to {format}: {err}");
        let (code, _, err) = fx.kseal_ctl(repo, &["verify", "--cluster"]);
        assert_eq!(code, 0, "verify --cluster of the {format} files: {err}");
        let after = unseal();
        assert!(
            after == before,
            "the {format} files unseal to other Secrets: {} vs {}",
            digest(&after),
            digest(&before)
        );
        eprintln!(
            "kseal rotate --encryption {format} through the controller: {} items",
            values.len()
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
            "encryption",
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
        .run("encryption", async { phase_encryption(&fx) })
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
