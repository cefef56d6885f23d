//! `kseal rotate` offline: only stale documents change, only their item lines and fingerprint
//! annotation; every other byte (other documents, comments, spec.template) stays; the result
//! opens with the new key only; a second run changes nothing.

mod common;

use std::path::Path;

use common::{Run, TempDir};

fn kseal(dir: &Path, args: &[&str], stdin: &str) -> Run {
    common::kseal(args, stdin, dir, &[])
}

fn ok(run: Run) -> Run {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

const ENV: &str = "DATABASE_URL=postgres://rotate-test\nAPI_KEY=rotate-test-key\n";

/// A directory with the old key (the fixture test.key/test.pem), a new key from keygen, and
/// sealed files: a multi-document YAML file and a kubeseal-style (4-space) JSON file.
fn setup(name: &str) -> TempDir {
    let dir = TempDir::new(&format!("rotate-{name}"));
    let d = dir.path();
    ok(kseal(
        d,
        &["keygen", "--out", "new", "--key-size", "2048"],
        "",
    ));
    let old = fixture("test.pem");
    let seal = |cert: &str, extra: &[&str]| -> String {
        let mut args = vec!["seal", "--no-config", "--cert", cert, "-n", "shop"];
        args.extend(extra);
        ok(kseal(d, &args, ENV)).stdout
    };
    let stale = seal(
        &old,
        &[
            "--name",
            "app-env",
            "--scope",
            "namespace-wide",
            "-l",
            "app=shop",
        ],
    );
    let current = seal("new/tls.crt", &["--name", "current"]);
    // kubeseal writes no fingerprint annotation.
    let unannotated = seal(&old, &["--name", "legacy"])
        .lines()
        .filter(|l| !l.contains("annotations:") && !l.contains("kseal.dev/key-fingerprint"))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let configmap = "---\n# a comment that must survive\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LOG_LEVEL: info\n";
    let yaml = format!("# header comment\n{stale}{configmap}{current}{unannotated}");
    std::fs::write(d.join("app.yaml"), yaml).unwrap();

    // JSON as kubeseal prints it: four-space indentation, kind first, no fingerprint.
    let json = seal(&old, &["--name", "json-app", "-o", "json"]);
    let mut four = String::new();
    let mut skip = 0;
    for line in json.lines() {
        if line.trim_start().starts_with("\"annotations\"")
            && skip == 0
            && !four.contains("template")
        {
            skip = 3;
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        four.push_str(&" ".repeat(indent * 2));
        four.push_str(line.trim_start());
        four.push('\n');
    }
    let four = four.replacen(
        "\"namespace\": \"shop\",\n    },",
        "\"namespace\": \"shop\"\n    },",
        1,
    );
    assert!(
        !four.contains("key-fingerprint") && four.starts_with("{\n    \"kind\""),
        "{four}"
    );
    serde_json::from_str::<serde_json::Value>(&four).unwrap();
    std::fs::write(d.join("app.json"), four).unwrap();
    dir
}

fn read(d: &Path, f: &str) -> String {
    std::fs::read_to_string(d.join(f)).unwrap()
}

#[test]
fn rotate_touches_only_stale_documents_and_is_idempotent() {
    let dir = setup("main");
    let d = dir.path();
    let old_key = fixture("test.key");
    let before = read(d, "app.yaml");
    let before_json = read(d, "app.json");

    // CI check: stale documents exit 5 and nothing is written.
    let run = kseal(
        d,
        &[
            "rotate",
            "app.yaml",
            "app.json",
            "--check",
            "--cert",
            "new/tls.crt",
        ],
        "",
    );
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("stale"))
            .count(),
        3
    );
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("up to date"))
            .count(),
        1
    );
    assert_eq!(read(d, "app.yaml"), before);

    // A dry run with the keys opens everything but writes nothing.
    let run = ok(kseal(
        d,
        &[
            "rotate",
            "app.yaml",
            "--dry-run",
            "--key",
            &old_key,
            "--cert",
            "new/tls.crt",
        ],
        "",
    ));
    assert!(
        run.stderr.contains("2 would be re-sealed"),
        "{}",
        run.stderr
    );
    assert_eq!(read(d, "app.yaml"), before);

    // The wrong key: the documents fail, exit 4, and the file is not touched.
    let run = kseal(
        d,
        &[
            "rotate",
            "app.yaml",
            "--key",
            &fixture("wrong.key"),
            "--cert",
            "new/tls.crt",
        ],
        "",
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.contains("failed        app.yaml: document 1 (shop/app-env): no key could decrypt secret (API_KEY, DATABASE_URL)"), "{}", run.stdout);
    assert_eq!(read(d, "app.yaml"), before);

    let run = ok(kseal(
        d,
        &[
            "rotate",
            "app.yaml",
            "app.json",
            "--key",
            &old_key,
            "--cert",
            "new/tls.crt",
        ],
        "",
    ));
    assert!(
        run.stderr.contains(
            "4 SealedSecret(s) in 2 file(s): 1 up to date, 3 re-sealed, 0 failed; wrote 2 file(s)"
        ),
        "{}",
        run.stderr
    );
    let after = read(d, "app.yaml");

    // Line by line: only item lines and the fingerprint annotation changed; the unannotated
    // document gained two lines (annotations: and the fingerprint).
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    assert_eq!(a.len(), b.len() + 2);
    // Lines that did not exist before are the re-sealed items only (the new fingerprint line
    // already existed, on the document that was up to date).
    let changed: Vec<&str> = a.iter().filter(|l| !b.contains(l)).copied().collect();
    assert_eq!(changed.len(), 4, "{changed:#?}");
    for line in &changed {
        let t = line.trim_start();
        assert!(
            t.starts_with("DATABASE_URL: AQ") || t.starts_with("API_KEY: AQ"),
            "unexpected change: {line}"
        );
    }
    let new_fp = current_fingerprint(&before);
    assert_eq!(before.matches(&new_fp).count(), 1);
    assert_eq!(after.matches(&new_fp).count(), 3);
    assert_eq!(after.matches("kseal.dev/key-fingerprint").count(), 3);
    assert_eq!(
        after.matches("  annotations:\n").count(),
        before.matches("  annotations:\n").count() + 1
    );
    // The untouched documents and comments are byte-identical.
    let current_doc = |text: &str| {
        text.split("---\n")
            .find(|d| d.contains("name: current\n"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(current_doc(&after), current_doc(&before));
    assert!(after.starts_with("# header comment\n---\n"));
    assert!(after.contains("---\n# a comment that must survive\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  LOG_LEVEL: info\n"));
    // spec.template is never touched; the scope annotations stay.
    assert!(after.contains("  template:\n    metadata:\n      annotations:\n        sealedsecrets.bitnami.com/namespace-wide: \"true\"\n      labels:\n        app: shop\n"));
    assert_eq!(
        after
            .matches("sealedsecrets.bitnami.com/namespace-wide")
            .count(),
        before
            .matches("sealedsecrets.bitnami.com/namespace-wide")
            .count()
    );

    // JSON keeps its four-space layout and gains the annotation.
    let json = read(d, "app.json");
    assert_ne!(json, before_json);
    assert!(
        json.starts_with("{\n    \"kind\": \"SealedSecret\",\n    \"apiVersion\""),
        "{json}"
    );
    assert!(json.contains(
        "\n        \"annotations\": {\n            \"kseal.dev/key-fingerprint\": \"SHA256:"
    ));
    assert_eq!(json.lines().count(), before_json.lines().count() + 3);

    // Everything opens with the new key, nothing with the old one, with the same values.
    for file in ["app.yaml", "app.json"] {
        let opened = ok(kseal(d, &["unseal", "--key", "new/tls.key", file], ""));
        assert!(opened.stdout.contains("API_KEY: cm90YXRlLXRlc3Qta2V5"));
        assert_eq!(kseal(d, &["unseal", "--key", &old_key, file], "").code, 4);
    }
    ok(kseal(
        d,
        &[
            "verify",
            "app.yaml",
            "app.json",
            "--no-config",
            "--cert",
            "new/tls.crt",
        ],
        "",
    ));

    // A second run is a no-op: nothing written, same bytes.
    let run = ok(kseal(
        d,
        &[
            "rotate",
            "app.yaml",
            "app.json",
            "--key",
            &old_key,
            "--cert",
            "new/tls.crt",
        ],
        "",
    ));
    assert!(
        run.stderr
            .contains("4 up to date, 0 re-sealed, 0 failed; wrote 0 file(s)"),
        "{}",
        run.stderr
    );
    assert_eq!(read(d, "app.yaml"), after);
    assert_eq!(read(d, "app.json"), json);
    ok(kseal(
        d,
        &[
            "rotate",
            "app.yaml",
            "app.json",
            "--check",
            "--cert",
            "new/tls.crt",
        ],
        "",
    ));

    // keys: the old certificate is no longer referenced.
    let run = ok(kseal(
        d,
        &[
            "keys",
            ".",
            "--no-config",
            "--cert",
            &fixture("test.pem"),
            "--cert",
            "new/tls.crt",
        ],
        "",
    ));
    let old_row = run.stdout.lines().find(|l| l.contains("test.pem")).unwrap();
    assert!(old_row.contains("unreferenced"), "{}", run.stdout);
}

/// The fingerprint line of the document sealed to the new key.
fn current_fingerprint(text: &str) -> String {
    let doc = text
        .split("---\n")
        .find(|d| d.contains("name: current\n"))
        .unwrap();
    doc.lines()
        .find(|l| l.contains("kseal.dev/key-fingerprint"))
        .unwrap()
        .to_owned()
}

#[test]
fn rotate_defaults_to_kseal_yaml_outputs_and_a_key_directory() {
    let dir = setup("config");
    let d = dir.path();
    std::fs::create_dir_all(d.join("backup")).unwrap();
    std::fs::copy(fixture("test.key"), d.join("backup/old.key")).unwrap();
    std::fs::write(d.join("backup/README.md"), "not a key\n").unwrap();
    std::fs::write(
        d.join("kseal.yaml"),
        "secrets:\n  - input: .env\n    name: app-env\n    namespace: shop\n    cert: new/tls.crt\n    output: app.yaml\n  - input: .env.later\n    cert: new/tls.crt\n    output: not-sealed-yet.yaml\n",
    )
    .unwrap();
    let json_before = read(d, "app.json");
    let run = ok(kseal(d, &["rotate", "--key", "backup"], ""));
    assert!(
        run.stderr
            .contains("3 SealedSecret(s) in 1 file(s): 1 up to date, 2 re-sealed"),
        "{}",
        run.stderr
    );
    assert_eq!(read(d, "app.json"), json_before, "not a configured output");
    ok(kseal(d, &["rotate", "--check", "--offline"], ""));
    // An explicit path that is a configured output takes that output's cert.
    ok(kseal(
        d,
        &["rotate", "app.yaml", "--check", "--offline"],
        "",
    ));
}

#[test]
fn list_items_are_reported_not_rewritten() {
    let dir = setup("list");
    let d = dir.path();
    let doc = read(d, "app.json");
    let list = format!("{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{doc}]}}\n");
    std::fs::write(d.join("list.json"), &list).unwrap();
    let run = kseal(
        d,
        &[
            "rotate",
            "list.json",
            "--key",
            &fixture("test.key"),
            "--cert",
            "new/tls.crt",
        ],
        "",
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("document 1 item 1 (shop/json-app): inside a kind: List")
    );
    assert_eq!(read(d, "list.json"), list);
}

/// The files of one run are written all or none: one document that cannot be re-sealed leaves
/// the files that were ready untouched, byte for byte.
#[test]
fn a_failure_writes_no_file() {
    let dir = setup("batch");
    let d = dir.path();
    let (yaml, json) = (read(d, "app.yaml"), read(d, "app.json"));
    let list = format!("{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{json}]}}\n");
    std::fs::write(d.join("list.json"), &list).unwrap();
    let args = [
        "rotate",
        "app.yaml",
        "app.json",
        "list.json",
        "--key",
        &fixture("test.key"),
        "--cert",
        "new/tls.crt",
    ];
    let run = kseal(d, &args, "");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "kseal: hint: no file was changed (2 were ready): the files of one run are written all or none"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrote"), "{}", run.stderr);
    assert_eq!(read(d, "app.yaml"), yaml);
    assert_eq!(read(d, "app.json"), json);
    assert_eq!(read(d, "list.json"), list);

    // Without the file that fails, both are written in one batch.
    let run = ok(kseal(
        d,
        &args[..3]
            .iter()
            .chain(&args[4..])
            .copied()
            .collect::<Vec<_>>(),
        "",
    ));
    assert!(run.stderr.contains("wrote 2 file(s)"), "{}", run.stderr);
    assert_ne!(read(d, "app.yaml"), yaml);
    assert_ne!(read(d, "app.json"), json);
}
