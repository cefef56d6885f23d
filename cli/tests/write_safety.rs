//! `kseal seal` never loses or mis-seals a committed item: each test pins the file after the
//! command, byte for byte.
//!
//! - `--only` onto an existing output merges into it instead of replacing it;
//! - a merge refuses a certificate other than the one the file is sealed to, and takes the
//!   certificate from the kseal.yaml entry whose `output:` is that file;
//! - the files of one command are written all or none;
//! - `--raw -w` writes the file; `-w` writes through a symbolic link and creates folders.

mod common;

use std::path::Path;

use common::{Run, TempDir};

const ENV: &str = "DATABASE_URL=postgres://app:pw@db/app\nCOHERE_API_KEY=k1\nJWT_SECRET_KEY=j\nSTAGE_API_KEY=s\nBETTER_AUTH_SECRET=b\nREDIS_URL=redis://r\nSMTP_PASSWORD=m\nSENTRY_DSN=https://x@s/1\n";

fn kseal(dir: &Path, args: &[&str]) -> Run {
    common::kseal(args, "", dir, &[])
}

/// `kseal` with the words of `line` as arguments.
fn sh(dir: &Path, line: &str) -> Run {
    kseal(dir, &line.split_whitespace().collect::<Vec<_>>())
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// Asserts that `run` failed with `code` saying `message`, and that `file` still reads `before`.
fn refused(dir: &Path, run: &Run, code: i32, message: &str, (file, before): (&str, &str)) {
    assert_eq!(run.code, code, "{}", run.stderr);
    assert!(run.stderr.contains(message), "{}", run.stderr);
    assert_eq!(read(dir, file), before, "{file} is unchanged");
}

/// A folder with a `.git` (so discovery stays inside), two clusters' keys, and `.env.staging`.
fn setup(name: &str) -> TempDir {
    let tmp = TempDir::new(name);
    let d = tmp.path();
    std::fs::create_dir(d.join(".git")).unwrap();
    for cluster in ["staging", "prod"] {
        let out = format!("keys/{cluster}");
        kseal(d, &["keygen", "--out", &out, "--key-size", "2048"]).ok();
    }
    std::fs::write(d.join(".env.staging"), ENV).unwrap();
    tmp
}

/// The Secret `kseal unseal` recovers from `file` with `key`, or the exit code.
fn unseal(dir: &Path, key: &str, file: &str) -> Result<String, i32> {
    let run = kseal(dir, &["unseal", "--key", key, file]);
    if run.code == 0 {
        Ok(run.stdout)
    } else {
        Err(run.code)
    }
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

const FLAGS: [&str; 5] = ["--no-config", "--name", "app-env", "-n", "shop"];

#[test]
fn only_onto_an_existing_output_keeps_the_other_items() {
    let tmp = setup("only-merge");
    let d = tmp.path();
    let mut args = vec!["seal", ".env.staging", "--cert", "keys/staging/tls.crt"];
    args.extend(FLAGS);
    kseal(d, &[&args[..], &["-w", "sealed.yaml"]].concat()).ok();
    let before = read(d, "sealed.yaml");
    assert_eq!(before.matches(": AQ").count(), 8);

    std::fs::write(d.join(".env.staging"), ENV.replace("k1", "k2")).unwrap();
    let run = kseal(
        d,
        &[
            &args[..],
            &["--only", "COHERE_API_KEY", "-w", "sealed.yaml"],
        ]
        .concat(),
    )
    .ok();
    assert!(
        run.stderr
            .contains("kseal: updated sealed.yaml (1 item(s))"),
        "{}",
        run.stderr
    );
    let after = read(d, "sealed.yaml");
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    assert_eq!(a.len(), b.len(), "no item was dropped:\n{after}");
    let changed: Vec<usize> = (0..b.len()).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(changed.len(), 1, "exactly the one item's line changes");
    assert!(a[changed[0]].starts_with("    COHERE_API_KEY: AQ"));
    let secret = unseal(d, "keys/staging/tls.key", "sealed.yaml").unwrap();
    assert!(secret.contains(&format!("COHERE_API_KEY: {}", b64("k2"))));
    assert!(secret.contains(&format!("JWT_SECRET_KEY: {}", b64("j"))));
    assert_eq!(secret.matches("_KEY: ").count(), 3);

    // The same through kseal.yaml's `output:` (`-w` without a FILE).
    std::fs::write(
        d.join("kseal.yaml"),
        "secrets:\n  - input: .env.staging\n    name: app-env\n    namespace: shop\n    cert: keys/staging/tls.crt\n    output: sealed.yaml\n",
    )
    .unwrap();
    std::fs::write(d.join(".env.staging"), ENV.replace("k1", "k3")).unwrap();
    kseal(
        d,
        &["seal", ".env.staging", "--only", "COHERE_API_KEY", "-w"],
    )
    .ok();
    let again = read(d, "sealed.yaml");
    assert_eq!(again.lines().count(), b.len());
    assert_eq!(
        again
            .lines()
            .zip(after.lines())
            .filter(|(x, y)| x != y)
            .count(),
        1
    );

    // --only onto an output sealed for another object is refused; the file stays.
    let run = sh(d, "seal .env.staging --only COHERE_API_KEY -n other -w");
    let message = "metadata.namespace is 'shop' in the file but 'other' here";
    refused(d, &run, 2, message, ("sealed.yaml", &again));

    // Onto a file that does not exist yet, --only writes the items it names.
    kseal(
        d,
        &[&args[..], &["--only", "JWT_SECRET_KEY", "-w", "new.yaml"]].concat(),
    )
    .ok();
    assert_eq!(read(d, "new.yaml").matches(": AQ").count(), 1);
}

#[test]
fn a_merge_refuses_another_clusters_certificate() {
    let tmp = setup("merge-cert");
    let d = tmp.path();
    let mut args = vec!["seal", ".env.staging", "--cert", "keys/staging/tls.crt"];
    args.extend(FLAGS);
    kseal(d, &[&args[..], &["-w", "sealed.yaml"]].concat()).ok();
    let before = read(d, "sealed.yaml");

    std::fs::write(d.join("one.env"), "COHERE_API_KEY=new\n").unwrap();
    let run = sh(
        d,
        "seal one.env --no-config --cert keys/prod/tls.crt --merge-into sealed.yaml",
    );
    let message = "merging would mix items for two keys";
    refused(d, &run, 2, message, ("sealed.yaml", &before));
    assert!(run.stderr.contains("--reseal-all"));

    // A file without the fingerprint annotation cannot prove which key it is sealed to.
    let bare: String = before
        .lines()
        .filter(|l| !l.contains("annotations:") && !l.contains("kseal.dev/key-fingerprint"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("bare.yaml"), &bare).unwrap();
    let run = sh(
        d,
        "seal one.env --no-config --cert keys/staging/tls.crt --merge-into bare.yaml",
    );
    let message = "has no kseal.dev/key-fingerprint annotation";
    refused(d, &run, 2, message, ("bare.yaml", &bare));

    // Without --cert, the certificate is the one kseal.yaml names for that output: staging's,
    // although the entry for the input would say prod.
    std::fs::write(
        d.join("kseal.yaml"),
        "defaults: {name: app-env, namespace: shop}\nsecrets:\n  - input: .env.staging\n    cert: keys/staging/tls.crt\n    output: sealed.yaml\n  - input: one.env\n    cert: keys/prod/tls.crt\n",
    )
    .unwrap();
    kseal(d, &["seal", "one.env", "--merge-into", "sealed.yaml"]).ok();
    let merged = read(d, "sealed.yaml");
    assert_eq!(merged.lines().count(), before.lines().count());
    let secret = unseal(d, "keys/staging/tls.key", "sealed.yaml").unwrap();
    assert!(secret.contains(&format!("COHERE_API_KEY: {}", b64("new"))));

    // --reseal-all seals every item to the new certificate, so the input must hold them all.
    let run = sh(
        d,
        "seal one.env --cert keys/prod/tls.crt --merge-into sealed.yaml --reseal-all",
    );
    let message = "has item(s) the input does not: BETTER_AUTH_SECRET, DATABASE_URL, JWT_SECRET_KEY, REDIS_URL, SENTRY_DSN, SMTP_PASSWORD, STAGE_API_KEY\n";
    refused(d, &run, 2, message, ("sealed.yaml", &merged));
    sh(
        d,
        "seal .env.staging --cert keys/prod/tls.crt --merge-into sealed.yaml --reseal-all",
    )
    .ok();
    let resealed = read(d, "sealed.yaml");
    assert_eq!(resealed.lines().count(), before.lines().count());
    assert!(
        !resealed.contains(
            before
                .lines()
                .find(|l| l.contains("kseal.dev/key-fingerprint"))
                .unwrap()
        )
    );
    assert_eq!(
        unseal(d, "keys/staging/tls.key", "sealed.yaml"),
        Err(4),
        "no item is left for the old key"
    );
    let secret = unseal(d, "keys/prod/tls.key", "sealed.yaml").unwrap();
    for line in ENV.lines() {
        let (key, value) = line.split_once('=').unwrap();
        assert!(secret.contains(&format!("{key}: {}", b64(value))), "{key}");
    }
    sh(d, "verify sealed.yaml --no-config --cert keys/prod/tls.crt").ok();
}

#[test]
fn a_multi_cluster_write_is_all_or_nothing() {
    let tmp = setup("multi-atomic");
    let d = tmp.path();
    std::fs::create_dir_all(d.join("k8s")).unwrap();
    std::fs::write(d.join("k8s/eu.yaml"), "# the committed eu file\n").unwrap();
    // us's output is a folder: its rename fails after eu's has been done.
    std::fs::create_dir_all(d.join("k8s/us.yaml")).unwrap();
    std::fs::write(
        d.join("kseal.yaml"),
        "secrets:\n  - input: .env.staging\n    name: app-env\n    namespace: shop\n    clusters:\n      - {name: eu, cert: keys/staging/tls.crt, output: k8s/eu.yaml}\n      - {name: us, cert: keys/prod/tls.crt, output: k8s/us.yaml}\n",
    )
    .unwrap();
    let run = kseal(d, &["seal", ".env.staging", "-w"]);
    let committed = ("k8s/eu.yaml", "# the committed eu file\n");
    refused(d, &run, 1, "cannot write k8s/us.yaml", committed);
    assert!(run.stderr.contains("no file was changed"));
    let names: Vec<String> = std::fs::read_dir(d.join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "no temporary or backup file is left: {names:?}"
    );

    // New folders are removed again when the command fails.
    std::fs::write(
        d.join("kseal.yaml"),
        "secrets:\n  - input: .env.staging\n    name: app-env\n    namespace: shop\n    clusters:\n      - {name: eu, cert: keys/staging/tls.crt, output: new/eu/app.yaml}\n      - {name: us, cert: keys/prod/tls.crt, output: k8s/us.yaml}\n",
    )
    .unwrap();
    assert_eq!(kseal(d, &["seal", ".env.staging", "-w"]).code, 1);
    assert!(!d.join("new").exists());

    // When every write can be done, both are, into new folders.
    std::fs::remove_dir(d.join("k8s/us.yaml")).unwrap();
    kseal(d, &["seal", ".env.staging", "-w"]).ok();
    assert!(unseal(d, "keys/staging/tls.key", "new/eu/app.yaml").is_ok());
    assert!(unseal(d, "keys/prod/tls.key", "k8s/us.yaml").is_ok());
}

#[test]
fn raw_write_symlinks_and_folders() {
    let tmp = setup("write-paths");
    let d = tmp.path();
    let raw = |extra: &[&str]| {
        let args = [
            &[
                "seal",
                "--raw",
                "--no-config",
                "--cert",
                "keys/staging/tls.crt",
                "--name",
                "app",
                "-n",
                "shop",
            ][..],
            extra,
        ]
        .concat();
        common::kseal(&args, "raw-value", d, &[])
    };
    let run = raw(&["-w", "out/raw.txt"]).ok();
    assert!(run.stdout.is_empty(), "-w means nothing on stdout");
    let sealed = read(d, "out/raw.txt");
    assert!(sealed.starts_with("AQ") && !sealed.contains('\n'));
    let run = raw(&["-w"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--raw -w needs a FILE"));

    // A symbolic link is written through: the link stays, its target gets the content.
    std::fs::create_dir_all(d.join("real")).unwrap();
    std::fs::write(d.join("real/app.yaml"), "old\n").unwrap();
    std::os::unix::fs::symlink("real/app.yaml", d.join("app.yaml")).unwrap();
    let mut args = vec!["seal", ".env.staging", "--cert", "keys/staging/tls.crt"];
    args.extend(FLAGS);
    kseal(d, &[&args[..], &["-w", "app.yaml"]].concat()).ok();
    assert!(
        std::fs::symlink_metadata(d.join("app.yaml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(read(d, "real/app.yaml").contains("kind: SealedSecret"));

    // Missing folders are created.
    kseal(d, &[&args[..], &["-w", "a/b/c.yaml"]].concat()).ok();
    assert!(read(d, "a/b/c.yaml").contains("kind: SealedSecret"));
}

#[test]
fn keygen_force_writes_the_private_key_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = TempDir::new("keygen-mode");
    let d = tmp.path();
    std::fs::create_dir(d.join("k")).unwrap();
    std::fs::write(d.join("k/tls.key"), "old").unwrap();
    std::fs::set_permissions(d.join("k/tls.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = kseal(d, &["keygen", "--out", "k", "--key-size", "2048"]);
    refused(d, &run, 2, "k/tls.key already exists", ("k/tls.key", "old"));
    kseal(
        d,
        &["keygen", "--out", "k", "--key-size", "2048", "--force"],
    )
    .ok();
    let mode = |f: &str| std::fs::metadata(d.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("k/tls.key"), 0o600);
    assert!(read(d, "k/tls.key").contains("PRIVATE KEY"));
    assert_eq!(mode("k/tls.crt") & 0o600, 0o600);
}
