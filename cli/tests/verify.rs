//! `kseal verify` on what `kseal seal` writes (clean for every scope), on key-size and size
//! limits, and on directory walks. Message texts for each rule are pinned by the snapshots in
//! `tests/cmd/verify-*.toml`.

mod common;

use std::path::Path;

use common::{Run, TempDir};

use base64::Engine as _;

fn kseal(dir: &Path, args: &[&str], stdin: &str) -> Run {
    common::kseal(args, stdin, dir, &[])
}

fn tempdir(name: &str) -> TempDir {
    TempDir::new(&format!("verify-{name}"))
}

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

fn seal(dir: &Path, extra: &[&str]) -> String {
    let cert = fixture("tests/fixtures/test.pem");
    let mut args = vec![
        "seal",
        "--no-config",
        "--cert",
        &cert,
        "--name",
        "app",
        "-n",
        "shop",
    ];
    args.extend_from_slice(extra);
    common::kseal(&args, "A=1\nB=two\n", dir, &[]).ok().stdout
}

#[test]
fn every_scope_kseal_writes_verifies_clean() {
    let dir = tempdir("scopes");
    let d = dir.path();
    let mut all = String::new();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        all.push_str(&seal(d, &["--scope", scope]));
    }
    std::fs::write(d.join("all.yaml"), &all).unwrap();
    let cert = fixture("tests/fixtures/test.pem");
    let run = kseal(
        d,
        &[
            "verify",
            "all.yaml",
            "--strict",
            "--no-config",
            "--cert",
            &cert,
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("checked 3 SealedSecret(s) in 1 file(s): 0 error(s), 0 warning(s)")
    );

    // A JSON stream of two documents.
    let json = seal(d, &["-o", "json"]) + &seal(d, &["-o", "json", "--scope", "cluster-wide"]);
    std::fs::write(d.join("all.json"), json).unwrap();
    let run = kseal(
        d,
        &["verify", "all.json", "--no-config", "--cert", &cert],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("checked 2 SealedSecret(s)"));
}

#[test]
fn key_size_is_checked_against_the_certificates() {
    let dir = tempdir("sizes");
    let d = dir.path();
    // kubeseal writes no fingerprint, so the size is checked against every given cert.
    let unannotated: String = seal(d, &[])
        .lines()
        .filter(|l| !l.contains("annotations:") && !l.contains("key-fingerprint"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("s.yaml"), unannotated).unwrap();
    let big = fixture("../tests/fixtures/keys/rsa4096-a.crt");
    let small = fixture("tests/fixtures/test.pem");
    let run = kseal(d, &["verify", "s.yaml", "--no-config", "--cert", &big], "");
    assert_eq!(run.code, 5);
    assert!(
        run.stderr
            .contains("item A: length prefix says a 2048-bit key, but ")
            && run.stderr.contains(" is 4096-bit"),
        "{}",
        run.stderr
    );
    let run = kseal(
        d,
        &[
            "verify",
            "s.yaml",
            "--no-config",
            "--cert",
            &big,
            "--cert",
            &small,
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("cannot tell which key sealed it"));
    let run = kseal(
        d,
        &[
            "verify",
            "s.yaml",
            "--no-config",
            "--strict",
            "--cert",
            &small,
        ],
        "",
    );
    assert_eq!(run.code, 5, "a warning fails with --strict");
}

/// A document with one item of `plaintext` bytes (structure only: not real ciphertext).
fn sized_doc(plaintext: usize) -> String {
    let mut blob = vec![0x01, 0x00];
    blob.resize(2 + 256 + plaintext + 16, 0xab);
    let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
    format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  annotations:\n    kseal.dev/key-fingerprint: \"SHA256:OUa/f6hP2IAwGpZavMZLk+HQ0Vgut22tkl+abWBPBDI\"\n  name: big\n  namespace: shop\nspec:\n  encryptedData:\n    BLOB: {b64}\n"
    )
}

#[test]
fn size_limits() {
    let dir = tempdir("limits");
    let d = dir.path();
    let cert = fixture("tests/fixtures/test.pem");
    std::fs::write(d.join("apply.yaml"), sized_doc(300 << 10)).unwrap();
    let run = kseal(
        d,
        &["verify", "apply.yaml", "--no-config", "--cert", &cert],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(
        "client-side `kubectl apply` copies it into an annotation limited to 262144 bytes"
    ));
    std::fs::write(d.join("huge.yaml"), sized_doc((1 << 20) + 1)).unwrap();
    let run = kseal(
        d,
        &["verify", "huge.yaml", "--no-config", "--cert", &cert],
        "",
    );
    assert_eq!(run.code, 5);
    assert!(run.stderr.contains(
        "the Secret would hold 1048577 bytes of data; Kubernetes refuses Secrets over 1 MiB (1048576 bytes)"
    ));
}

#[test]
fn directories_skip_what_is_not_sealed_but_named_files_must_parse() {
    let dir = tempdir("walk");
    let d = dir.path();
    std::fs::create_dir_all(d.join("k8s/chart/templates")).unwrap();
    std::fs::create_dir_all(d.join("k8s/.hidden")).unwrap();
    std::fs::write(d.join("k8s/app.sealed.yaml"), seal(d, &[])).unwrap();
    std::fs::write(
        d.join("k8s/chart/templates/x.yaml"),
        "kind: Secret\nmetadata:\n  name: {{ .x }}-y\n",
    )
    .unwrap();
    std::fs::write(d.join("k8s/notes.txt"), "kind: SealedSecret\n").unwrap();
    std::fs::write(d.join("k8s/.hidden/bad.yaml"), "kind: SealedSecret\n").unwrap();
    let run = kseal(d, &["verify", "k8s", "--no-config"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("checked 1 SealedSecret(s) in 1 file(s)")
    );

    let run = kseal(
        d,
        &["verify", "k8s/chart/templates/x.yaml", "--no-config"],
        "",
    );
    assert_eq!(run.code, 5);
    assert!(
        run.stderr
            .contains("k8s/chart/templates/x.yaml: not valid YAML: line 3:"),
        "{}",
        run.stderr
    );

    std::fs::write(d.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\n").unwrap();
    let run = kseal(d, &["verify", "cm.yaml", "--no-config"], "");
    assert_eq!(run.code, 5);
    assert!(run.stderr.contains("cm.yaml: holds no SealedSecret"));

    let run = kseal(d, &["verify", "k8s/chart", "--no-config"], "");
    assert_eq!(run.code, 3, "nothing to verify is invalid input");
    assert!(run.stderr.contains("no SealedSecret found in k8s/chart"));
}
