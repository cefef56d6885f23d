//! Offline interop with the real kubeseal (built from Go modules by tests/cluster/build.sh):
//! kubeseal's output opens with `kseal unseal`, and kseal's opens with
//! `kubeseal --recovery-unseal`, for every scope and both key sizes. The keys come from
//! `kseal keygen`, so this also proves Go accepts kseal's certificates and PKCS#1 keys. The
//! Secrets recorded with kubeseal in `tests/vectors/kubeseal/secrets/` make the round trip the
//! other way: `kseal seal` of each, opened by `kubeseal --recovery-unseal`.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use k8s_openapi::api::core::v1::Secret;
use kseal_test_support::secret_values;

const VALUE: &str = "interop value: ünïcode and symbols !$#'\"";

/// The kubeseal binary: `KSEAL_KUBESEAL`, else the harness's pinned build; `None` after the
/// `skipped:` line when it is not built (in CI, and tests/run-all.sh, a failure instead).
fn kubeseal() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KSEAL_KUBESEAL") {
        return Some(p.into());
    }
    Some(kseal_test_support::go_tools()?.join("kubeseal"))
}

fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .env("KUBECONFIG", "/nonexistent/kubeconfig") // prove nothing talks to a cluster
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("process starts");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn kseal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kseal"))
}

fn scope_annotation(scope: &str) -> String {
    match scope {
        "strict" => String::new(),
        other => format!("  annotations:\n    sealedsecrets.bitnami.com/{other}: \"true\"\n"),
    }
}

#[test]
fn kubeseal_and_kseal_open_each_others_output() {
    let Some(kubeseal) = kubeseal() else {
        return;
    };
    let dir = kseal_test_support::TempDir::new("kubeseal");
    let value_file = dir.join("value");
    std::fs::write(&value_file, VALUE).unwrap();
    let mut cells = 0;
    for bits in ["2048", "4096"] {
        let keys = dir.join(format!("keys-{bits}"));
        run(
            kseal()
                .args(["keygen", "--key-size", bits, "--out"])
                .arg(&keys),
            b"",
        );
        let (crt, key) = (keys.join("tls.crt"), keys.join("tls.key"));
        for scope in ["strict", "namespace-wide", "cluster-wide"] {
            // kubeseal --raw → a SealedSecret around it → kseal unseal.
            let raw = run(
                Command::new(&kubeseal)
                    .args([
                        "--raw",
                        "--scope",
                        scope,
                        "--name",
                        "app",
                        "--namespace",
                        "shop",
                        "--cert",
                    ])
                    .arg(&crt)
                    .arg("--from-file")
                    .arg(&value_file),
                b"",
            );
            let raw = String::from_utf8(raw.stdout).unwrap();
            let doc = format!(
                "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: app\n  namespace: shop\n{}spec:\n  encryptedData:\n    V: {raw}\n",
                scope_annotation(scope)
            );
            let opened = run(
                kseal()
                    .arg("unseal")
                    .arg("--key")
                    .arg(&key)
                    .args(["-o", "json"]),
                doc.as_bytes(),
            );
            assert_secret_value(
                &opened.stdout,
                "V",
                &format!("{bits} {scope} kubeseal --raw → kseal unseal"),
            );

            // A whole Secret sealed by kubeseal → kseal unseal.
            let secret = format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: shop\n{}stringData:\n  V: {}\n",
                scope_annotation(scope),
                serde_json::to_string(VALUE).unwrap()
            );
            let sealed = run(
                Command::new(&kubeseal)
                    .args(["-o", "yaml", "--scope", scope, "--cert"])
                    .arg(&crt),
                secret.as_bytes(),
            );
            let opened = run(
                kseal()
                    .arg("unseal")
                    .arg("--key")
                    .arg(&key)
                    .args(["-o", "json"]),
                &sealed.stdout,
            );
            assert_secret_value(
                &opened.stdout,
                "V",
                &format!("{bits} {scope} kubeseal → kseal unseal"),
            );

            // kseal seal of the same Secret (scope from its annotations, as kubeseal does)
            // → kubeseal --recovery-unseal.
            let sealed = run(
                kseal().args(["seal", "--no-config", "--cert"]).arg(&crt),
                secret.as_bytes(),
            );
            let opened = run(
                Command::new(&kubeseal)
                    .arg("--recovery-unseal")
                    .arg("--recovery-private-key")
                    .arg(&key),
                &sealed.stdout,
            );
            assert_secret_value(
                &opened.stdout,
                "V",
                &format!("{bits} {scope} kseal seal → kubeseal --recovery-unseal"),
            );
            cells += 3;
        }
    }
    eprintln!("kubeseal offline interop: {cells} cells passed");
    assert_eq!(cells, 18);
}

fn assert_secret_value(json: &[u8], key: &str, case: &str) {
    let doc: serde_json::Value =
        serde_json::from_slice(json).unwrap_or_else(|e| panic!("{case}: {e}"));
    let got = base64_decode(
        doc["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: no data.{key}")),
    );
    assert_eq!(got, VALUE.as_bytes(), "{case}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The Secrets recorded with kubeseal in `tests/vectors/kubeseal/secrets/` (several items from
/// `data` and `stringData`, binary and empty values, UTF-8 values, every character Kubernetes
/// allows in a key, one value of exactly 1 MiB), sealed by the real `kseal seal` (the production
/// AWS-LC path) for the test-only fixture certificates, and opened by
/// `kubeseal --recovery-unseal` with the matching private key: Go gets back exactly the input's
/// values. Scopes come from the Secrets' annotations, as with kubeseal.
#[test]
fn kubeseal_recovery_unseal_opens_kseal_seal_of_the_vector_secrets() {
    let Some(kubeseal) = kubeseal() else {
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let keys = repo.join("tests/fixtures/keys");
    let mut cells = 0;
    for input in ["strict", "namespace-wide", "cluster-wide", "large"] {
        let path = repo.join(format!("tests/vectors/kubeseal/secrets/{input}.yaml"));
        let yaml = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let secret: Secret = serde_yaml::from_slice(&yaml).unwrap();
        let want = secret_values(&secret);
        assert!(!want.is_empty(), "{input}: no values");
        for stem in ["rsa2048-a", "rsa4096-a"] {
            let case = format!("{input} sealed to {stem}");
            let sealed = run(
                kseal()
                    .args(["seal", "--no-config", "--cert"])
                    .arg(keys.join(format!("{stem}.crt"))),
                &yaml,
            );
            let opened = run(
                Command::new(&kubeseal)
                    .args(["--recovery-unseal", "-o", "json", "--recovery-private-key"])
                    .arg(keys.join(format!("{stem}.key"))),
                &sealed.stdout,
            );
            let got: Secret = serde_json::from_slice(&opened.stdout)
                .unwrap_or_else(|e| panic!("{case}: kubeseal printed no Secret: {e}"));
            // Item names only: a failure never prints a value.
            let got_values = secret_values(&got);
            let differing: Vec<&String> = want
                .keys()
                .chain(got_values.keys())
                .filter(|k| want.get(*k) != got_values.get(*k))
                .collect();
            assert!(
                differing.is_empty(),
                "{case}: kubeseal --recovery-unseal gave other values for {differing:?}"
            );
            assert_eq!(got.metadata.name, secret.metadata.name, "{case}");
            assert_eq!(got.metadata.namespace, secret.metadata.namespace, "{case}");
            cells += 1;
        }
    }
    eprintln!("interop kubeseal --recovery-unseal of kseal seal: {cells}/8 vector Secrets opened");
    assert_eq!(cells, 8);
}

/// A certificate that carries an X-Wing key (`docs/pq-format.md` §5.2, the non-critical
/// `subjectAltPublicKeyInfo` extension) still works for kubeseal: Go's X.509 parser skips the
/// extension, kubeseal seals with the RSA key, and `kseal unseal` opens it with the key Secret
/// the controller writes (which also holds `xwing.key`).
#[test]
fn kubeseal_seals_with_a_certificate_that_carries_an_xwing_key() {
    let Some(kubeseal) = kubeseal() else {
        return;
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pq");
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: shop\nstringData:\n  V: {}\n",
        serde_json::to_string(VALUE).unwrap()
    );
    let sealed = run(
        Command::new(&kubeseal)
            .args(["-o", "yaml", "--cert"])
            .arg(fixtures.join("tls.crt")),
        secret.as_bytes(),
    );
    let opened = run(
        kseal()
            .arg("unseal")
            .arg("--key")
            .arg(fixtures.join("key.yaml"))
            .args(["-o", "json"]),
        &sealed.stdout,
    );
    assert_secret_value(
        &opened.stdout,
        "V",
        "kubeseal --cert <pq cert> → kseal unseal",
    );
}
