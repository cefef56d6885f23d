//! `kseal ls` and `kseal diff` on real files and git revisions: item names, never values.

mod common;

use common::{TempDir, fixtures, git, kseal};

/// Every ciphertext in `text` (the values of `encryptedData`).
fn ciphertexts(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().split_once(": ").map(|(_, v)| v.to_owned()))
        .filter(|v| v.len() > 100)
        .collect()
}

#[test]
fn diff_against_a_git_revision() {
    let dir = TempDir::new("diff-git");
    let sealed = std::fs::read_to_string(fixtures().join("sealed.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("k8s")).unwrap();
    std::fs::write(dir.path().join("k8s/app.yaml"), &sealed).unwrap();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "sealed"]);

    // Nothing changed since HEAD: exit 0, both items unchanged.
    let same = kseal(
        &["diff", "--git", "HEAD", "k8s/app.yaml"],
        "",
        dir.path(),
        &[],
    )
    .ok();
    assert!(
        same.stdout.contains("unchanged  API_KEY"),
        "{}",
        same.stdout
    );
    assert!(same.stdout.contains("unchanged  DATABASE_URL"));

    // One item re-sealed, one renamed: exit 1, in every spelling of the old side.
    let new = sealed
        .replace("API_KEY: AQBE", "NEW_KEY: AQBE")
        .replace("DATABASE_URL: AQAr4", "DATABASE_URL: AQAr5");
    std::fs::write(dir.path().join("k8s/app.yaml"), &new).unwrap();
    let sub = dir.path().join("k8s");
    for (args, cwd) in [
        (vec!["diff", "--git", "HEAD", "k8s/app.yaml"], dir.path()),
        (
            vec!["diff", "HEAD:k8s/app.yaml", "k8s/app.yaml"],
            dir.path(),
        ),
        (vec!["diff", "HEAD:./app.yaml", "app.yaml"], sub.as_path()),
        (vec!["diff", "--git", "HEAD", "app.yaml"], sub.as_path()),
    ] {
        let run = kseal(&args, "", cwd, &[]);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        for line in [
            "removed    API_KEY",
            "re-sealed  DATABASE_URL",
            "added      NEW_KEY",
        ] {
            assert!(
                run.stdout.contains(line),
                "{args:?}: {line}\n{}",
                run.stdout
            );
        }
        for value in ciphertexts(&sealed).iter().chain(&ciphertexts(&new)) {
            assert!(!run.stdout.contains(value.as_str()) && !run.stderr.contains(value.as_str()));
        }
    }

    // A path that is not in the revision, or a revision that does not exist: exit 2.
    for spec in ["HEAD:k8s/missing.yaml", "no-such-rev:k8s/app.yaml"] {
        let run = kseal(&["diff", spec, "k8s/app.yaml"], "", dir.path(), &[]);
        assert_eq!(run.code, 2, "{spec}: {}", run.stderr);
        assert!(
            run.stderr
                .starts_with(&format!("kseal: error: git show {spec}: ")),
            "{}",
            run.stderr
        );
    }
    let run = kseal(
        &["diff", "--git", "-x:y", "k8s/app.yaml"],
        "",
        dir.path(),
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn ls_shows_names_never_values() {
    let sealed = std::fs::read_to_string(fixtures().join("sealed.yaml")).unwrap();
    let run = kseal(&["ls", "-o", "json", "-"], &sealed, &fixtures(), &[]).ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let doc = &json["sealedSecrets"][0];
    assert_eq!(doc["file"], "<stdin>");
    assert_eq!(doc["items"], serde_json::json!(["API_KEY", "DATABASE_URL"]));
    assert_eq!(doc["keyBits"], serde_json::json!([2048]));
    for value in ciphertexts(&sealed) {
        assert!(!run.stdout.contains(value.as_str()));
    }
    // A folder is searched as verify does: only sealed files, the others skipped quietly.
    let run = kseal(&["ls", "verify"], "", &fixtures(), &[]).ok();
    assert_eq!(
        run.stdout.matches("\n  items:").count(),
        6,
        "{}",
        run.stdout
    );
    assert_eq!(run.stderr, "");
}
