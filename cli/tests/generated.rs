//! Generated artifacts committed to the repo must match what the binary generates.

mod common;

use std::{collections::BTreeSet, process::Command};

/// `cli/doc/` holds exactly the pages `kseal man --out-dir` writes, byte for byte, and every
/// page another one links to (`kseal-seal(1)`) is among them.
#[test]
fn man_pages_are_up_to_date() {
    let dir = common::TempDir::new("man");
    let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("doc");
    let names = |d: &std::path::Path| -> BTreeSet<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".1"))
            .collect()
    };
    let generated = names(dir.path());
    let regenerate = "regenerate them with: cargo run -p kseal -- man --out-dir cli/doc";
    assert_eq!(
        names(&committed_dir),
        generated,
        "cli/doc/*.1 differ; {regenerate}"
    );
    assert!(generated.len() > 10 && generated.contains("kseal-seal.1"));
    for name in &generated {
        let page = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let committed = std::fs::read_to_string(committed_dir.join(name)).unwrap();
        assert!(page == committed, "cli/doc/{name} is stale; {regenerate}");
        // Links look like `kseal\-seal(1)` in roff.
        for (at, _) in page.match_indices("(1)") {
            let start = page[..at]
                .rfind(|c: char| c.is_whitespace())
                .map_or(0, |i| i + 1);
            let link = page[start..at].replace("\\-", "-");
            if link.starts_with("kseal") {
                assert!(
                    generated.contains(&format!("{link}.1")),
                    "{name} links to {link}(1), which has no page"
                );
            }
        }
    }
    // `kseal man` alone prints kseal(1); `kseal man seal` prints kseal-seal(1).
    for (args, name) in [
        (vec!["man"], "kseal.1"),
        (vec!["man", "seal"], "kseal-seal.1"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            std::fs::read_to_string(dir.path().join(name)).unwrap()
        );
    }
}

#[test]
fn completions_cover_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("unseal") && text.contains("keygen"),
            "{shell} completion lists the commands"
        );
    }
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_owned(), |o| {
            String::from_utf8(o.stdout).unwrap().trim().to_owned()
        });
    assert_eq!(
        text,
        format!("kseal {} (commit {commit})\n", env!("CARGO_PKG_VERSION"))
    );
}
