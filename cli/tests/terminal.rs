//! A command that reads stdin says so when stdin is a terminal, and only then. The terminal is
//! util-linux `script`, which runs the command on a pseudo-terminal fed from its own stdin.
#![cfg(target_os = "linux")]

mod common;

use std::{
    io::Write,
    process::{Command, Stdio},
};

use common::{fixtures, kseal};

const NOTE: &str = "kseal: reading a .env file or Secret manifests from standard input (Ctrl-D on a new line to end";

#[test]
fn reading_a_terminal_is_announced() {
    let command = format!(
        "{} seal --cert test.pem --name app -n shop",
        env!("CARGO_BIN_EXE_kseal")
    );
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(fixtures())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is installed (it provides the terminal for this test)");
    child.stdin.take().unwrap().write_all(b"A=1\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(NOTE), "{text}");
    assert!(text.contains("kind: SealedSecret"), "{text}");

    // Piped stdin: no note.
    let run = kseal(
        &["seal", "--cert", "test.pem", "--name", "app", "-n", "shop"],
        "A=1\n",
        &fixtures(),
        &[],
    )
    .ok();
    assert_eq!(run.stderr, "");
}
