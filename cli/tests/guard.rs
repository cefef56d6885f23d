//! `kseal guard` as a pre-commit hook: without arguments it checks what git tracks, and the
//! repository's `.pre-commit-hooks.yaml` runs it. Rule-by-rule findings are pinned by
//! `tests/cmd/guard*.toml`.

mod common;

use std::{path::Path, process::Command};

use common::{TempDir, git};

fn guard(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .arg("guard")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_arguments_it_checks_what_git_tracks() {
    let dir = TempDir::new("guard");
    std::fs::create_dir_all(dir.join("k8s")).unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "."]);
    let secret_value = "guard-git-value-9d1c";
    std::fs::write(d.join(".env"), format!("TOKEN={secret_value}\n")).unwrap();
    std::fs::write(d.join(".env.example"), "TOKEN=\n").unwrap();
    std::fs::write(
        d.join("k8s/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n",
    )
    .unwrap();
    git(d, &["add", ".env.example", "k8s/cm.yaml"]);

    // .env exists but is not tracked: nothing to block.
    let (code, stdout, stderr) = guard(d, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty() && stderr.is_empty());

    // Tracked (as pre-commit sees a staged file): blocked, without printing the value.
    git(d, &["add", "-f", ".env"]);
    let (code, _, stderr) = guard(d, &[]);
    assert_eq!(code, 5);
    assert!(
        stderr.starts_with("kseal: error: .env: a .env file must not be committed"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret_value));

    // From a subdirectory, git ls-files lists only what is under it.
    let (code, _, stderr) = guard(&d.join("k8s"), &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn outside_a_git_repository_it_asks_for_files() {
    let dir = TempDir::new("guard-nogit");
    let (code, _, stderr) = guard(dir.path(), &[]);
    // Temporary directories are not inside a repository; if this one is, git succeeds instead.
    if code != 0 {
        assert_eq!(code, 1);
        assert!(
            stderr.contains(
                "kseal: hint: run it inside a git repository, or pass the files to check"
            )
        );
    }
}

#[test]
fn pre_commit_hook_definition_runs_guard_on_the_staged_files() {
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.pre-commit-hooks.yaml");
    let text = std::fs::read_to_string(&hooks).expect(".pre-commit-hooks.yaml at the repo root");
    let hooks: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let hook = hooks
        .as_sequence()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "kseal-guard")
        .expect("a kseal-guard hook");
    assert_eq!(hook["entry"], "kseal guard");
    assert_eq!(hook["pass_filenames"], true);
    assert!(matches!(hook["language"].as_str(), Some("system" | "rust")));
}

/// Runs `kseal ARGS` in `dir` (for setting up fixtures).
fn kseal(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kseal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn private_keys_generators_and_env_files_are_caught() {
    let dir = TempDir::new("guard-leaks");
    std::fs::create_dir_all(dir.join("k8s")).unwrap();
    let d = dir.path();
    // The key pair `kseal keygen` writes, in the folder one would commit.
    kseal(d, &["keygen", "--out", "certs", "--key-size", "2048"]);
    let key = std::fs::read_to_string(d.join("certs/tls.key")).unwrap();
    let body: String = key.lines().nth(1).unwrap().to_owned();
    std::fs::write(
        d.join("id_rsa"),
        key.replace("RSA PRIVATE", "OPENSSH PRIVATE"),
    )
    .unwrap();
    std::fs::write(d.join("server.key"), &key).unwrap();
    let indented: String = key.lines().map(|l| format!("    {l}\n")).collect();
    std::fs::write(
        d.join("k8s/tls-config.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: tls}}\ndata:\n  key: |\n{indented}"
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("k8s/kustomization.yaml"),
        "resources: [app.yaml]\nsecretGenerator:\n  - name: lit\n    literals: [PASSWORD=guard-literal-value]\n  - name: envs\n    envs: [.env.prod]\n  - name: files\n    files: [cfg=prod.env]\n",
    )
    .unwrap();
    let value = "guard-env-value-77f3";
    for name in [".envrc", "prod.env.bak", "env.staging", ".env.local"] {
        std::fs::write(d.join(name), format!("export TOKEN={value}\n")).unwrap();
    }
    // Not valid UTF-8: cannot be checked, so it is reported rather than skipped.
    std::fs::write(
        d.join("k8s/latin1.yaml"),
        b"kind: Secret\ndata:\n  k: caf\xe9\n",
    )
    .unwrap();

    let (code, stdout, stderr) = guard(d, &["."]);
    assert_eq!(code, 5, "{stderr}");
    assert!(stdout.is_empty());
    for expected in [
        "kseal: error: certs/tls.key:1: a private key (PEM block) must not be committed",
        "kseal: error: id_rsa:1: a private key (PEM block)",
        "kseal: error: server.key:1: a private key (PEM block)",
        "kseal: error: k8s/tls-config.yaml:6: a private key (PEM block)",
        "kseal: error: k8s/kustomization.yaml: secretGenerator 'lit': `literals:` puts values in clear",
        "kseal: error: k8s/kustomization.yaml: secretGenerator 'envs': builds a Secret from an env file in clear (k8s/.env.prod)",
        "kseal: error: k8s/kustomization.yaml: secretGenerator 'files': builds a Secret from an env file in clear (k8s/prod.env)",
        "kseal: error: .envrc: a .env file must not be committed",
        "kseal: error: prod.env.bak: a .env file must not be committed",
        "kseal: error: env.staging: a .env file must not be committed",
        "kseal: error: .env.local: a .env file must not be committed",
        "kseal: error: k8s/latin1.yaml: not valid UTF-8 text, so it cannot be checked",
        "kseal: error: 12 problem(s) in 10 file(s): 11 secret(s) in clear, 1 file(s) that cannot be checked",
    ] {
        assert!(
            stderr.contains(expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    // The certificate next to the key is public.
    assert!(!stderr.contains("tls.crt"), "{stderr}");
    for secret in [value, "guard-literal-value", body.as_str()] {
        assert!(!stderr.contains(secret), "a value was printed");
    }
}

#[test]
fn the_examples_and_sealed_files_have_no_findings() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let (code, stdout, stderr) = guard(&examples, &["."]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty() && stderr.is_empty(), "{stderr}");

    // Freshly sealed files of every format.
    let dir = TempDir::new("guard-sealed");
    let d = dir.path();
    std::fs::write(d.join("app.env"), "A=1\nPASSWORD=hunter2\n").unwrap();
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test.pem");
    let cert = cert.to_str().unwrap();
    for (format, out) in [("yaml", "sealed/a.yaml"), ("json", "sealed/a.json")] {
        kseal(
            d,
            &[
                "seal",
                "app.env",
                "--no-config",
                "--cert",
                cert,
                "--name",
                "a",
                "-n",
                "b",
                "-o",
                format,
                "-w",
                out,
            ],
        );
    }
    std::fs::remove_file(d.join("app.env")).unwrap();
    let (code, _, stderr) = guard(d, &["."]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn malformed_ciphertext_is_not_called_a_secret_in_clear() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/guard/k8s/broken.sealed.yaml");
    let (code, _, stderr) = guard(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[fixture.to_str().unwrap()],
    );
    assert_eq!(code, 5);
    assert!(
        stderr.contains("1 problem(s) in 1 file(s): 1 malformed sealed value(s)"),
        "{stderr}"
    );
    assert!(!stderr.contains("in clear"), "{stderr}");
    assert!(stderr.contains("seal it again from its source"));
}
