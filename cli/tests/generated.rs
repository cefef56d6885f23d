//! Generated artifacts committed to the repo must match what the binary generates.

use std::process::Command;

#[test]
fn man_page_is_up_to_date() {
    let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .arg("man")
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/kseal.1")).unwrap();
    assert!(
        out.stdout == committed,
        "cli/doc/kseal.1 is stale; regenerate it with: cargo run -p kseal -- man > cli/doc/kseal.1"
    );
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
