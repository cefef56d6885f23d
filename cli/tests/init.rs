//! `kseal init` in a fresh git repository: kseal.yaml, its folders, a .gitignore that git
//! honours, the next step, and a warning for placeholder values.

mod common;

use std::process::Command;

use common::{TempDir, git, kseal};

fn git_ignores(dir: &std::path::Path, path: &str) -> bool {
    Command::new("git")
        .args(["check-ignore", "-q", path])
        .current_dir(dir)
        .status()
        .unwrap()
        .success()
}

#[test]
fn init_sets_up_a_repository() {
    let dir = TempDir::new("init");
    let d = dir.path();
    git(d, &["init", "-q"]);
    std::fs::write(d.join(".gitignore"), "target/").unwrap();
    std::fs::write(d.join(".env.staging"), "API_KEY=changeme\nPORT=8080\n").unwrap();

    let run = kseal(&["init"], "", d, &[]).ok();
    assert_eq!(
        run.stderr,
        "kseal: wrote kseal.yaml; created certs/ and k8s/overlays/staging/; .gitignore: added .env*, !.env*.example, *.key, tls.key\n\
         kseal: warning: .env.staging: API_KEY looks like a placeholder (changeme, xxx, TODO, <…>); is it the value to seal?\n\
         kseal: next: fetch the cluster's certificate with `kseal cert -w certs/staging.pem`, set name and namespace in kseal.yaml, then `kseal seal .env.staging -w`\n"
    );
    assert!(!run.stderr.contains("kubeseal"));
    let config = std::fs::read_to_string(d.join("kseal.yaml")).unwrap();
    assert!(config.contains("`kseal cert -w certs/staging.pem`") && !config.contains("kubeseal"));
    assert!(d.join("certs").is_dir() && d.join("k8s/overlays/staging").is_dir());
    assert_eq!(
        std::fs::read_to_string(d.join(".gitignore")).unwrap(),
        "target/\n\n# kseal: env files and private keys stay out of git; commit the sealed files\n.env*\n!.env*.example\n*.key\ntls.key\n"
    );
    for ignored in [
        ".env",
        ".env.staging",
        ".envrc",
        "tls.key",
        "keys/tls.key",
        "server.key",
    ] {
        assert!(git_ignores(d, ignored), "{ignored} must be ignored");
    }
    for kept in [
        ".env.example",
        ".env.staging.example",
        "kseal.yaml",
        "certs/staging.pem",
    ] {
        assert!(!git_ignores(d, kept), "{kept} must not be ignored");
    }

    // Again: refused without --force; with it, .gitignore is not extended twice.
    let again = kseal(&["init"], "", d, &[]);
    assert_eq!(again.code, 2);
    let forced = kseal(&["init", "--force"], "", d, &[]).ok();
    assert!(
        forced.stderr.starts_with("kseal: wrote kseal.yaml\n"),
        "{}",
        forced.stderr
    );
    assert_eq!(
        std::fs::read_to_string(d.join(".gitignore"))
            .unwrap()
            .matches(".env*")
            .count(),
        2,
        ".env* and !.env*.example once each"
    );
}
