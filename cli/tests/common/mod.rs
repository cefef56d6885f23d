//! Helpers shared by the CLI integration tests: run the `kseal` binary with stdin, a working
//! directory and environment; temporary directories come from `kseal-test-support`.
// Each test file compiles this module on its own and uses a different part of it.
#![allow(dead_code, unused_imports)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// What one `kseal` run did.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts success and returns the run.
    pub(crate) fn ok(self) -> Self {
        assert_eq!(self.code, 0, "kseal failed:\n{}", self.stderr);
        self
    }
}

/// Runs `kseal ARGS` in `cwd` with `stdin` and extra environment variables.
pub(crate) fn kseal(args: &[&str], stdin: &str, cwd: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kseal"));
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("kseal runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `cli/tests/fixtures`.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The one temporary-directory type of every test crate (`tests/support`).
pub(crate) use kseal_test_support::TempDir;

/// `git ARGS` in a test directory, asserting success (`tests/support`).
pub(crate) use kseal_test_support::git;
