//! `--merge-into` changes exactly the lines of the keys it seals; every other line of the
//! committed file stays byte-identical.

mod common;

use std::path::Path;

fn seal(dir: &Path, args: &[&str], stdin: &str) -> common::Run {
    let cert = common::fixtures().join("test.pem");
    let cert = cert.to_str().unwrap();
    let all: Vec<&str> = ["seal", "--no-config", "--cert", cert]
        .iter()
        .copied()
        .chain(args.iter().copied())
        .collect();
    common::kseal(&all, stdin, dir, &[])
}

#[test]
fn merge_changes_exactly_the_sealed_lines() {
    let tmp = common::TempDir::new("merge");
    let dir = tmp.path();
    let env = "DATABASE_URL=postgres://a\nCOHERE_API_KEY=k1\nJWT_SECRET_KEY=j\n";
    seal(
        dir,
        &["--name", "app-env", "-n", "shop", "-w", "sealed.yaml"],
        env,
    )
    .ok();
    let before = std::fs::read_to_string(dir.join("sealed.yaml")).unwrap();

    // One value changed: seal only that key into the file.
    let changed = env.replace("k1", "k2");
    seal(
        dir,
        &["--only", "COHERE_API_KEY", "--merge-into", "sealed.yaml"],
        &changed,
    )
    .ok();
    let after = std::fs::read_to_string(dir.join("sealed.yaml")).unwrap();
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    assert_eq!(b.len(), a.len());
    let differing: Vec<usize> = (0..b.len()).filter(|&i| b[i] != a[i]).collect();
    assert_eq!(differing.len(), 1, "exactly one line changes");
    assert!(a[differing[0]].starts_with("    COHERE_API_KEY: AQ"));

    // Name and namespace come from the file; a conflicting namespace is refused.
    let out = seal(
        dir,
        &["-n", "other", "--merge-into", "sealed.yaml"],
        "COHERE_API_KEY=k3\n",
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("metadata.namespace is 'shop' in the file but 'other' here")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("sealed.yaml")).unwrap(),
        after,
        "nothing written on error"
    );
}
