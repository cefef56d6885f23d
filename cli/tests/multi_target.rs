//! Sealing for several clusters in one command: one file per certificate, each of which opens
//! with its own cluster's key only, and no ambiguous output.

mod common;

use std::path::Path;

use common::{Run, TempDir};

fn kseal(dir: &Path, args: &[&str], stdin: &str) -> Run {
    common::kseal(args, stdin, dir, &[])
}

fn ok(run: Run) -> Run {
    run.ok()
}

/// A temporary directory with two clusters' keys from `kseal keygen` and a `.env`.
fn setup(name: &str) -> TempDir {
    let tmp = TempDir::new(name);
    let dir = tmp.path().to_path_buf();
    for cluster in ["staging", "prod"] {
        ok(kseal(
            &dir,
            &[
                "keygen",
                "--out",
                &format!("keys/{cluster}"),
                "--key-size",
                "2048",
            ],
            "",
        ));
    }
    std::fs::write(
        dir.join(".env"),
        "DB_PASSWORD=multi-target-value\nAPI_KEY=k\n",
    )
    .unwrap();
    tmp
}

const ENV_FLAGS: [&str; 5] = ["--no-config", "--name", "app-env", "-n", "shop"];

#[test]
fn one_file_per_cert_each_opens_only_with_its_own_key() {
    let dir = setup("multi-flags");
    let d = dir.path();
    let mut args = vec!["seal", ".env"];
    args.extend(ENV_FLAGS);
    args.extend([
        "--cert",
        "staging=keys/staging/tls.crt",
        "--cert",
        "prod=keys/prod/tls.crt",
        "--out-dir",
        "sealed",
    ]);
    let run = ok(kseal(d, &args, ""));
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr
            .contains("kseal: wrote sealed/staging.yaml (2 item(s), staging SHA256:")
    );
    assert!(
        run.stderr
            .contains("kseal: wrote sealed/prod.yaml (2 item(s), prod SHA256:")
    );

    for (file, own, other) in [("staging", "staging", "prod"), ("prod", "prod", "staging")] {
        let sealed = format!("sealed/{file}.yaml");
        let own_key = format!("keys/{own}/tls.key");
        let other_key = format!("keys/{other}/tls.key");
        let opened = ok(kseal(d, &["unseal", "--key", &own_key, &sealed], ""));
        assert!(
            opened
                .stdout
                .contains("DB_PASSWORD: bXVsdGktdGFyZ2V0LXZhbHVl")
        );
        let refused = kseal(d, &["unseal", "--key", &other_key, &sealed], "");
        assert_eq!(refused.code, 4, "{file} must not open with {other}'s key");
        assert!(refused.stderr.contains("no key could decrypt secret"));
        // verify ties each file to its own certificate.
        let own_cert = format!("keys/{own}/tls.crt");
        let other_cert = format!("keys/{other}/tls.crt");
        ok(kseal(
            d,
            &["verify", &sealed, "--no-config", "--cert", &own_cert],
            "",
        ));
        assert_eq!(
            kseal(
                d,
                &["verify", &sealed, "--no-config", "--cert", &other_cert],
                ""
            )
            .code,
            5
        );
    }

    // Unnamed certificates take the file stem; -w DIR/ works as --out-dir.
    std::fs::copy(d.join("keys/staging/tls.crt"), d.join("eu.pem")).unwrap();
    std::fs::copy(d.join("keys/prod/tls.crt"), d.join("us.pem")).unwrap();
    let mut args = vec!["seal", ".env"];
    args.extend(ENV_FLAGS);
    args.extend([
        "--cert", "eu.pem", "--cert", "us.pem", "-o", "json", "-w", "out/",
    ]);
    ok(kseal(d, &args, ""));
    assert!(d.join("out/eu.json").is_file() && d.join("out/us.json").is_file());
}

#[test]
fn several_targets_never_go_to_stdout_or_one_file() {
    let dir = setup("multi-refuse");
    let d = dir.path();
    let certs = [
        "--cert",
        "keys/staging/tls.crt",
        "--cert",
        "keys/prod/tls.crt",
    ];
    let mut args = vec!["seal", ".env"];
    args.extend(ENV_FLAGS);
    args.extend(certs);
    let run = kseal(d, &args, "");
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    // Both files are called tls.crt: the names clash until they are given.
    assert!(
        run.stderr.contains("two certificates are both named 'tls'"),
        "{}",
        run.stderr
    );

    let mut args = vec!["seal", ".env"];
    args.extend(ENV_FLAGS);
    args.extend([
        "--cert",
        "a=keys/staging/tls.crt",
        "--cert",
        "b=keys/prod/tls.crt",
    ]);
    let run = kseal(d, &args, "");
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr
            .contains("refusing to print several clusters' SealedSecrets to stdout")
    );

    args.extend(["-w", "one.yaml"]);
    let run = kseal(d, &args, "");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("-w one.yaml names one file, but there are 2 targets (a, b)")
    );
    assert!(!d.join("one.yaml").exists());
}

#[test]
fn kseal_yaml_clusters_write_each_output() {
    let dir = setup("multi-config");
    let d = dir.path();
    std::fs::write(
        d.join("kseal.yaml"),
        "secrets:\n  - input: .env\n    name: app-env\n    namespace: shop\n    clusters:\n      - {name: staging, cert: keys/staging/tls.crt, output: k8s/staging/app-env.yaml}\n      - {name: prod, cert: keys/prod/tls.crt, output: k8s/prod/app-env.yaml}\n",
    )
    .unwrap();
    std::fs::create_dir_all(d.join("k8s/staging")).unwrap();
    std::fs::create_dir_all(d.join("k8s/prod")).unwrap();

    let run = kseal(d, &["seal", ".env"], "");
    assert_eq!(run.code, 2, "two clusters do not go to stdout");
    ok(kseal(d, &["seal", ".env", "-w"], ""));
    for cluster in ["staging", "prod"] {
        let file = format!("k8s/{cluster}/app-env.yaml");
        let key = format!("keys/{cluster}/tls.key");
        ok(kseal(d, &["unseal", "--key", &key, &file], ""));
    }
    // verify and keys read the certs and outputs from kseal.yaml.
    let run = ok(kseal(d, &["verify"], ""));
    assert!(
        run.stderr
            .contains("checked 2 SealedSecret(s) in 2 file(s): 0 error(s), 0 warning(s)")
    );
    let run = ok(kseal(d, &["keys"], ""));
    assert_eq!(
        run.stdout.lines().filter(|l| l.contains("in use")).count(),
        2
    );
    // rotate --check compares each output with its own cluster's cert.
    ok(kseal(d, &["rotate", "--check", "--offline"], ""));

    // A cluster without an output: nothing is written at all.
    std::fs::write(
        d.join("kseal.yaml"),
        "secrets:\n  - input: .env\n    name: app-env\n    namespace: shop\n    clusters:\n      - {name: staging, cert: keys/staging/tls.crt, output: k8s/new.yaml}\n      - {name: prod, cert: keys/prod/tls.crt}\n",
    )
    .unwrap();
    let run = kseal(d, &["seal", ".env", "-w"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("-w: no output for prod in kseal.yaml"));
    assert!(!d.join("k8s/new.yaml").exists());
    let run = ok(kseal(d, &["seal", ".env", "--out-dir", "by-cluster"], ""));
    assert!(run.stderr.contains("by-cluster/prod.yaml"));

    // One cluster: its output, and stdout is fine.
    std::fs::write(
        d.join("kseal.yaml"),
        "secrets:\n  - input: .env\n    name: app-env\n    namespace: shop\n    clusters:\n      - {name: eu, cert: keys/staging/tls.crt, output: k8s/eu.yaml}\n",
    )
    .unwrap();
    ok(kseal(d, &["seal", ".env", "-w"], ""));
    ok(kseal(
        d,
        &["unseal", "--key", "keys/staging/tls.key", "k8s/eu.yaml"],
        "",
    ));
    assert!(
        ok(kseal(d, &["seal", ".env"], ""))
            .stdout
            .contains("kind: SealedSecret")
    );
}
