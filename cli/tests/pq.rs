//! `kseal seal --encryption pq-hybrid` end to end through the binary (`docs/pq-format.md`):
//! sealed with a certificate that carries an X-Wing key, opened by `kseal unseal --key` with
//! the key Secret the controller writes (`xwing.key` next to `tls.key`), in every scope; and the
//! committed fixtures of the `*-pq*` snapshots belong together.
//!
//! The fixtures in `tests/fixtures/pq/` (test-only keys, like the others there) are written by
//! `KSEAL_WRITE_PQ_FIXTURES=1 cargo test -p kseal --test pq committed_fixtures`.

mod common;

use std::{
    path::Path,
    time::{Duration, SystemTime},
};

use base64::Engine as _;
use common::{TempDir, fixtures, kseal};
use kseal_core::{CertParams, Certificate, KeySize, PrivateKey, keys::generate_with_pq};

const ENV: &str = "API_KEY=pq-api-key-7d2e\nDATABASE_URL=postgres://app:s3cr3t-9f@db/app\n";

/// A key Secret as the controller writes it (`tls.crt`, `tls.key`, `xwing.key`).
fn key_secret(key: &PrivateKey, cert: &Certificate) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let pq = key.pq().expect("generated with its X-Wing key");
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sealed-secrets-keypq\n  namespace: kube-system\n  labels:\n    sealedsecrets.bitnami.com/sealed-secrets-key: active\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n  xwing.key: {}\n",
        b64(cert.to_pem().as_bytes()),
        b64(key.to_pkcs1_pem().expose().as_bytes()),
        b64(pq.to_pkcs8_pem().expose().as_bytes()),
    )
}

/// `kseal seal --no-config --cert tls.crt --name NAME -n shop EXTRA…` of `env` in `dir`; it must
/// succeed.
fn seal(dir: &Path, name: &str, extra: &[&str], env: &str) -> common::Run {
    let args = [
        &[
            "seal",
            "--no-config",
            "--cert",
            "tls.crt",
            "--name",
            name,
            "-n",
            "shop",
        ][..],
        extra,
    ]
    .concat();
    kseal(&args, env, dir, &[]).ok()
}

fn generate(dir: &Path) {
    let (key, cert) = generate_with_pq(&CertParams {
        key_size: KeySize::Rsa2048,
        not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600), // 2026-01-01
        validity: Duration::from_secs(100 * 365 * 86_400),
        common_name: String::new(),
        serial: [0x70; 16],
    })
    .unwrap();
    std::fs::write(dir.join("tls.crt"), cert.to_pem()).unwrap();
    std::fs::write(dir.join("key.yaml"), key_secret(&key, &cert)).unwrap();
}

#[test]
fn round_trip_in_every_scope() {
    let dir = TempDir::new("pq-round-trip");
    generate(dir.path());
    let cwd = dir.path();
    for (scope, namespace) in [
        ("strict", "shop"),
        ("namespace-wide", "shop"),
        ("cluster-wide", ""),
    ] {
        let mut args = vec![
            "seal",
            "--no-config",
            "--cert",
            "tls.crt",
            "--name",
            "app",
            "--scope",
            scope,
            "--encryption",
            "pq-hybrid",
        ];
        if !namespace.is_empty() {
            args.extend(["-n", namespace]);
        }
        let sealed = kseal(&args, ENV, cwd, &[]).ok();
        assert_eq!(sealed.stderr, "", "{scope}");
        assert_eq!(
            pq_items(&sealed.stdout),
            ["API_KEY", "DATABASE_URL"],
            "{scope}: both items pq-hybrid"
        );
        std::fs::write(cwd.join("sealed.yaml"), &sealed.stdout).unwrap();

        let opened = kseal(
            &["unseal", "--key", "key.yaml", "sealed.yaml"],
            "",
            cwd,
            &[],
        )
        .ok();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(
            opened
                .stdout
                .contains(&format!("API_KEY: {}", b64("pq-api-key-7d2e"))),
            "{scope}: API_KEY does not unseal to its value"
        );
        assert!(
            opened.stdout.contains(&format!(
                "DATABASE_URL: {}",
                b64("postgres://app:s3cr3t-9f@db/app")
            )),
            "{scope}: DATABASE_URL does not unseal to its value"
        );

        // Without the key Secret's xwing.key the same RSA key opens nothing.
        let rsa_only = std::fs::read_to_string(cwd.join("key.yaml"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("xwing.key:"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(cwd.join("rsa-only.yaml"), rsa_only).unwrap();
        let refused = kseal(
            &["unseal", "--key", "rsa-only.yaml", "sealed.yaml"],
            "",
            cwd,
            &[],
        );
        assert_eq!(refused.code, 4, "{scope}: {}", refused.stderr);
        assert!(refused.stderr.contains("no key could decrypt secret"));
        assert!(!refused.stderr.contains("7d2e") && !refused.stderr.contains("s3cr3t"));
    }
}

/// The committed fixtures: the certificate's X-Wing key is the key Secret's, and the sealed
/// file opens with it (`unseal-pq.toml` shows the output).
#[test]
fn committed_fixtures_belong_together() {
    let dir = fixtures().join("pq");
    if std::env::var_os("KSEAL_WRITE_PQ_FIXTURES").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        generate(&dir);
        let pq = seal(&dir, "app", &["--encryption", "pq-hybrid"], ENV);
        std::fs::write(dir.join("sealed.yaml"), pq.stdout).unwrap();
        let rsa = seal(&dir, "app", &[], ENV);
        std::fs::write(dir.join("sealed-rsa.yaml"), rsa.stdout).unwrap();
    }
    let cert = Certificate::from_pem(&std::fs::read(dir.join("tls.crt")).unwrap()).unwrap();
    let keys =
        kseal_core::manifest::parse_private_keys(&std::fs::read(dir.join("key.yaml")).unwrap())
            .unwrap();
    let [key] = &keys[..] else {
        panic!("one key in key.yaml")
    };
    assert_eq!(key.fingerprint(), cert.fingerprint());
    assert_eq!(
        key.pq().map(|k| k.public_key()),
        cert.pq_public_key(),
        "the certificate carries the key Secret's X-Wing key"
    );
    // The two sealed files hold the same values, one in each format.
    let unseal = |file: &str| kseal(&["unseal", "--key", "key.yaml", file], "", &dir, &[]).ok();
    let (pq, rsa) = (unseal("sealed.yaml"), unseal("sealed-rsa.yaml"));
    assert!(pq.stdout.contains("API_KEY: "));
    assert_eq!(pq.stdout, rsa.stdout);
    let text = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    assert_eq!(pq_items(&text("sealed.yaml")), ["API_KEY", "DATABASE_URL"]);
    assert_eq!(pq_items(&text("sealed-rsa.yaml")), Vec::<&str>::new());
}

/// The items of a sealed file whose values are `pq-hybrid` (the base64 text `ksealPQ1…`).
fn pq_items(sealed: &str) -> Vec<&str> {
    sealed
        .lines()
        .filter_map(|l| l.trim().split_once(": ksealPQ1"))
        .map(|(k, _)| k)
        .collect()
}

/// `kseal rotate --key --encryption` migrates a file from `rsa` to `pq-hybrid` and back; each way
/// it unseals to the same Secret, a second run changes nothing, and `--check` tells a file
/// still in the other format apart.
#[test]
fn rotate_migrates_between_formats() {
    let dir = TempDir::new("pq-rotate");
    generate(dir.path());
    let cwd = dir.path();
    std::fs::write(cwd.join("app.yaml"), seal(cwd, "app", &[], ENV).stdout).unwrap();
    let unseal = || kseal(&["unseal", "--key", "key.yaml", "app.yaml"], "", cwd, &[]).ok();
    let secret = unseal().stdout;
    assert!(secret.contains("API_KEY: ") && secret.contains("DATABASE_URL: "));
    let read = || std::fs::read_to_string(cwd.join("app.yaml")).unwrap();
    assert_eq!(pq_items(&read()), Vec::<&str>::new());
    let rotate = |encryption: &str, extra: &[&str]| {
        let mut args = vec![
            "rotate",
            "app.yaml",
            "--cert",
            "tls.crt",
            "--encryption",
            encryption,
        ];
        args.extend(extra);
        kseal(&args, "", cwd, &[])
    };

    for (to, pq) in [
        ("pq-hybrid", vec!["API_KEY", "DATABASE_URL"]),
        ("rsa", vec![]),
    ] {
        let stale = rotate(to, &["--check"]);
        assert_eq!(stale.code, 5, "{to}: {}", stale.stderr);
        assert!(
            stale.stdout.contains("2 item(s) not"),
            "{to}: {}",
            stale.stdout
        );

        let run = rotate(to, &["--key", "key.yaml"]).ok();
        assert!(
            run.stdout.contains(&format!("(as {to})")),
            "{to}: {}",
            run.stdout
        );
        assert!(run.stderr.contains("1 re-sealed"), "{to}: {}", run.stderr);
        let text = read();
        assert_eq!(pq_items(&text), pq, "{to}: every item in the chosen format");
        assert!(
            text.contains("  template:\n"),
            "{to}: the rest of the file stays"
        );
        assert_eq!(unseal().stdout, secret, "{to}: the same Secret unseals");

        let again = rotate(to, &["--key", "key.yaml"]).ok();
        assert!(
            again.stderr.contains("1 up to date"),
            "{to}: {}",
            again.stderr
        );
        assert_eq!(read(), text, "{to}: a second run changes nothing");
        assert_eq!(rotate(to, &["--check"]).code, 0, "{to}");
    }
}

/// A SealedSecret over 256 KiB as JSON gets the client-side-apply warning, naming the object
/// and the remedy, for both formats; the value never appears.
#[test]
fn large_sealed_secrets_are_warned_about() {
    let dir = TempDir::new("pq-size");
    generate(dir.path());
    // 200 KiB of plaintext: about 267 KiB of base64 in either format.
    let value: String = (0..200 * 1024)
        .map(|i| char::from(b'a' + u8::try_from(i % 26).unwrap()))
        .collect();
    let env = format!("BIG={value}\n");
    for encryption in ["pq-hybrid", "rsa"] {
        let run = seal(dir.path(), "big", &["--encryption", encryption], &env);
        assert!(
            run.stderr
                .starts_with("kseal: warning: SealedSecret 'big' is 2")
                && run.stderr.contains("annotation limited to 256 KiB")
                && run.stderr.contains("kubectl apply --server-side"),
            "{encryption}: {}",
            run.stderr
        );
        assert_eq!(
            run.stderr.contains("--encryption rsa makes each item"),
            encryption == "pq-hybrid"
        );
        assert!(!run.stderr.contains("abcdefghij"));
    }
}
