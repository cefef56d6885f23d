//! `--merge-into` changes exactly the lines of the keys it seals; every other line of the
//! committed file stays byte-identical.

use std::process::{Command, Stdio};
use std::{io::Write, path::Path};

fn seal(dir: &Path, args: &[&str], stdin: &str) {
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .args(["seal", "--no-config", "--cert"])
        .arg(&cert)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn merge_changes_exactly_the_sealed_lines() {
    let dir = std::env::temp_dir().join(format!("kseal-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env = "DATABASE_URL=postgres://a\nCOHERE_API_KEY=k1\nJWT_SECRET_KEY=j\n";
    seal(
        &dir,
        &["--name", "app-env", "-n", "shop", "-w", "sealed.yaml"],
        env,
    );
    let before = std::fs::read_to_string(dir.join("sealed.yaml")).unwrap();

    // One value changed: seal only that key into the file.
    let changed = env.replace("k1", "k2");
    seal(
        &dir,
        &["--only", "COHERE_API_KEY", "--merge-into", "sealed.yaml"],
        &changed,
    );
    let after = std::fs::read_to_string(dir.join("sealed.yaml")).unwrap();
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    assert_eq!(b.len(), a.len());
    let differing: Vec<usize> = (0..b.len()).filter(|&i| b[i] != a[i]).collect();
    assert_eq!(differing.len(), 1, "exactly one line changes");
    assert!(a[differing[0]].starts_with("    COHERE_API_KEY: AQ"));

    // Name and namespace come from the file; a conflicting namespace is refused.
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test.pem");
    let mut out = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .args([
            "seal",
            "--no-config",
            "-n",
            "other",
            "--merge-into",
            "sealed.yaml",
            "--cert",
        ])
        .arg(&cert)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    out.stdin
        .take()
        .unwrap()
        .write_all(b"COHERE_API_KEY=k3\n")
        .unwrap();
    let out = out.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("metadata.namespace is 'shop' in the file but 'other' here")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("sealed.yaml")).unwrap(),
        after,
        "nothing written on error"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
