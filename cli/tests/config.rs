//! kseal.yaml: found from the input's folder and the working folder, never outside the git
//! repository; named on stderr when it is not the working folder's; every missing value reported
//! at once; errors that point at the field (file:line:column and its path).

mod common;

use std::path::Path;

use common::{Run, TempDir};

fn kseal(dir: &Path, args: &[&str]) -> Run {
    common::kseal(args, "", dir, &[])
}

fn cert() -> String {
    common::fixtures().join("test.pem").display().to_string()
}

#[test]
fn discovery_stays_inside_the_repository() {
    let tmp = TempDir::new("config-repo");
    let outer = tmp.path();
    // A kseal.yaml around the repository would write outside it.
    std::fs::write(
        outer.join("kseal.yaml"),
        format!(
            "secrets:\n  - input: .env\n    name: a\n    namespace: b\n    cert: {}\n    output: outside.yaml\n",
            cert()
        ),
    )
    .unwrap();
    let repo = outer.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join(".env"), "A=1\n").unwrap();
    let run = kseal(&repo, &["seal", ".env", "-w"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!outer.join("outside.yaml").exists());
    // Every missing value at once.
    for missing in [
        "kseal: error: no Secret name for .env",
        "kseal: error: no namespace for .env",
        "kseal: error: no certificate to seal with",
        "kseal: error: -w without a FILE needs an `output:`",
        "kseal: error: 4 values missing for .env; nothing was sealed",
    ] {
        assert!(run.stderr.contains(missing), "{missing}:\n{}", run.stderr);
    }

    // A `.git` file (a worktree or submodule) marks the root too.
    std::fs::remove_dir(repo.join(".git")).unwrap();
    std::fs::write(repo.join(".git"), "gitdir: elsewhere\n").unwrap();
    assert_eq!(kseal(&repo, &["seal", ".env", "-w"]).code, 2);
    assert!(!outer.join("outside.yaml").exists());

    // From the input's folder: app/kseal.yaml is used when sealing app/.env from the root, and
    // named on stderr.
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(repo.join("app/.env"), "A=1\n").unwrap();
    std::fs::write(
        repo.join("app/kseal.yaml"),
        format!(
            "secrets:\n  - input: .env\n    name: a\n    namespace: b\n    cert: {}\n    output: sealed/app.yaml\n",
            cert()
        ),
    )
    .unwrap();
    let run = kseal(&repo, &["seal", "app/.env", "-w"]).ok();
    assert!(
        run.stderr
            .starts_with("kseal: using app/kseal.yaml\nkseal: wrote app/sealed/app.yaml"),
        "{}",
        run.stderr
    );
    // From a subfolder, the working folder's parents up to the root are searched.
    let run = kseal(
        &repo.join("app/sealed"),
        &["verify", "--no-config", "app.yaml"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = kseal(&repo.join("app/sealed"), &["verify"]).ok();
    assert!(
        run.stderr.starts_with("kseal: using ../kseal.yaml\n"),
        "{}",
        run.stderr
    );
}

/// The error for a kseal.yaml, without its hint.
fn config_error(text: &str) -> String {
    let tmp = TempDir::new("config-errors");
    let d = tmp.path();
    std::fs::create_dir(d.join(".git")).unwrap();
    std::fs::write(d.join("kseal.yaml"), text).unwrap();
    std::fs::write(d.join(".env"), "A=1\n").unwrap();
    let run = kseal(d, &["seal", ".env"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.stderr.lines().next().unwrap().to_owned()
}

#[test]
fn errors_point_at_the_field() {
    let base = "defaults:\n  scope: strict\nsecrets:\n  - input: .env\n    name: app\n";
    assert_eq!(
        config_error(&format!("{base}    namespace: [a, b]\n")),
        "kseal: error: kseal.yaml:6:16: secrets[0].namespace: invalid type: sequence, expected a string"
    );
    assert_eq!(
        config_error(&format!("{base}    namespce: shop\n")),
        "kseal: error: kseal.yaml:6:5: secrets[0]: unknown field `namespce`, expected one of `input`, `name`, `namespace`, `scope`, `cert`, `type`, `labels`, `annotations`, `output`, `context`, `format`, `envFormat`, `keys`, `encryption`, `clusters`"
    );
    assert_eq!(
        config_error(&format!("{base}    scope: strickt\n")),
        "kseal: error: kseal.yaml:6:12: secrets[0].scope: 'strickt' is not one of strict, namespace-wide, cluster-wide"
    );
    assert_eq!(
        config_error(&format!(
            "{base}    cert: a.pem\n    clusters:\n      - {{name: eu, cert: eu.pem}}\n"
        )),
        "kseal: error: kseal.yaml:7:5: secrets[0].clusters: `cert` and `clusters` cannot both be set: each cluster names its own cert, output and context"
    );
    assert_eq!(
        config_error("secrets:\n  - name: app\n"),
        "kseal: error: kseal.yaml:2:3: secrets[0]: missing field `input` (the env file or glob this entry is for)"
    );
    assert_eq!(
        config_error("defaults:\n  input: .env\n"),
        "kseal: error: kseal.yaml:2:3: defaults.input: `input` belongs in a `secrets:` entry"
    );
    assert_eq!(
        config_error(
            "secrets:\n  - input: .env\n    clusters:\n      - name: eu\n        cert: [x]\n"
        ),
        "kseal: error: kseal.yaml:5:15: secrets[0].clusters[0].cert: invalid type: sequence, expected a string"
    );
}
