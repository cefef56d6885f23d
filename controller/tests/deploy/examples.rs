//! The example app repository (`examples/`) with the `kseal` binary: its sealed files open with
//! the example keys, and `--merge-into` changes one line in git.

use super::*;

/// The committed sealed files of the example open with the test-only example keys and hold
/// exactly the fake values of `.env.<env>.example` (kustomize overlay and Helm copies).
#[test]
fn example_sealed_files_open_with_example_keys() {
    let kseal = kseal_cli();
    for env in ["staging", "dev"] {
        let key = repo().join(format!("tests/fixtures/example-keys/{env}.key"));
        for file in [
            format!("k8s/overlays/{env}/app-env.sealed.yaml"),
            format!("helm/shop/secrets/app-env.{env}.sealed.yaml"),
        ] {
            let out = run_in(
                &kseal,
                &["unseal", "--key", path_str(&key), &file, "-o", "json"],
                b"",
                Some(&examples()),
            );
            let secrets = docs(&out);
            assert_eq!(secrets.len(), 1, "{file}");
            let s = &secrets[0];
            assert_eq!(s["metadata"]["name"], "app-env");
            assert_eq!(s["metadata"]["namespace"], format!("shop-{env}"));
            assert!(
                json_secret_data(s) == example_env(env),
                "{file}: unsealed data differs from .env.{env}.example"
            );
        }
    }
}

/// The review story: change one value in `.env.staging`, re-seal only that key into the
/// committed file, and git shows exactly one changed line.
#[test]
fn merge_into_changes_one_line_in_git() {
    let kseal = kseal_cli();
    let tmp = TempDir::new("merge");
    let dir = tmp.to_path_buf();
    let sealed = "k8s/overlays/staging/app-env.sealed.yaml";
    std::fs::create_dir_all(dir.join("k8s/overlays/staging")).unwrap();
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    for f in ["kseal.yaml", ".gitignore", "certs/staging.pem", sealed] {
        std::fs::copy(examples().join(f), dir.join(f)).unwrap();
    }
    let env = std::fs::read_to_string(examples().join(".env.staging.example")).unwrap();
    let git = Path::new("git");
    let g = |args: &[&str]| run_in(git, args, b"", Some(&dir));
    g(&["init", "-q"]);
    g(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "add",
        ".",
    ]);
    g(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "-m",
        "sealed",
    ]);
    let changed = env.replace(
        "COHERE_API_KEY=fake-cohere-api-key",
        "COHERE_API_KEY=fake-cohere-api-key-rotated",
    );
    assert_ne!(changed, env);
    std::fs::write(dir.join(".env.staging"), changed).unwrap();
    // The real .env file is ignored by the example's .gitignore.
    assert_eq!(g(&["status", "--porcelain", "--", ".env.staging"]), "");
    run_in(
        &kseal,
        &[
            "seal",
            ".env.staging",
            "--only",
            "COHERE_API_KEY",
            "--merge-into",
            sealed,
        ],
        b"",
        Some(&dir),
    );
    let numstat = g(&["diff", "--numstat"]);
    assert_eq!(numstat, format!("1\t1\t{sealed}\n"), "git diff --numstat");
    let diff = g(&["diff", "-U0"]);
    let changed_lines: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(changed_lines.len(), 2, "{diff}");
    assert!(
        changed_lines
            .iter()
            .all(|l| l[1..].trim_start().starts_with("COHERE_API_KEY: "))
    );
    // The merged file opens to the new value and the untouched old ones.
    let key = repo().join("tests/fixtures/example-keys/staging.key");
    let out = run_in(
        &kseal,
        &["unseal", "--key", path_str(&key), sealed, "-o", "json"],
        b"",
        Some(&dir),
    );
    let data = json_secret_data(&docs(&out)[0]);
    assert_eq!(data["COHERE_API_KEY"], b"fake-cohere-api-key-rotated");
    assert_eq!(data["JWT_SECRET_KEY"], b"fake-jwt-secret-key");
    drop(tmp);
}
