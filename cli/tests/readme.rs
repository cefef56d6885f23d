//! The README's user path, run verbatim: every fenced block of the top-level `README.md` that
//! follows a `<!-- readme-test: user-path -->` line is run with `bash -euo pipefail`, in order and
//! in one shell, from the root of a fresh folder that holds a copy of `examples/` committed to a
//! new git repository (what a clone gives a user). The `kseal` built for this test run is first on
//! `PATH`, standing in for the README's `cargo install --locked --path cli`. No kubeconfig is
//! reachable, so a step that needed a cluster would fail here.
//!
//! The test fails when a README command stops working, when the marked blocks stop covering the
//! user path (seal, merge one key, verify, guard), or when the files they leave differ from what
//! the README says (a sealed file committed, then exactly one changed line).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use common::TempDir;

/// The marker line before each block the test runs.
const MARKER: &str = "<!-- readme-test: user-path -->";

/// The sealed file the user path writes, relative to the fresh folder.
const SEALED: &str = "examples/k8s/overlays/staging/app-env.sealed.yaml";

/// A fenced code block of the README: its first line number (1-based) and its text.
struct Block {
    line: usize,
    text: String,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md is readable")
}

/// Every block marked with [`MARKER`], in README order. A marker that is not followed (after
/// blank lines) by a ```` ```sh ```` or ```` ```bash ```` fence, or a fence that is never closed,
/// is an error: a typo must not make the test run less.
fn marked_blocks(readme: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != MARKER {
            i += 1;
            continue;
        }
        let marker_line = i + 1;
        i += 1;
        while i < lines.len() && lines[i].trim().is_empty() {
            i += 1;
        }
        match lines.get(i).map(|l| l.trim()) {
            Some("```sh" | "```bash") => {}
            other => {
                return Err(format!(
                    "README.md:{marker_line}: the marker is followed by {other:?}, not a ```sh block"
                ));
            }
        }
        let start = i + 2;
        i += 1;
        let mut text = String::new();
        loop {
            match lines.get(i) {
                None => {
                    return Err(format!(
                        "README.md:{}: the block is never closed",
                        start - 1
                    ));
                }
                Some(l) if l.trim() == "```" => break,
                Some(l) => {
                    text.push_str(l);
                    text.push('\n');
                }
            }
            i += 1;
        }
        blocks.push(Block { line: start, text });
        i += 1;
    }
    Ok(blocks)
}

/// A command with an environment that reads no user or system configuration: its own `HOME`,
/// a git identity, no kubeconfig, and the test's `kseal` first on `PATH`.
fn isolated(program: &str, dir: &Path, sandbox: &Path) -> Command {
    let mut cmd = Command::new(program);
    let bin = sandbox.join("bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&path));
    cmd.current_dir(dir)
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env("HOME", sandbox.join("home"))
        .env("KUBECONFIG", sandbox.join("no-kubeconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "README test")
        .env("GIT_AUTHOR_EMAIL", "readme@example.invalid")
        .env("GIT_COMMITTER_NAME", "README test")
        .env("GIT_COMMITTER_EMAIL", "readme@example.invalid")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    cmd
}

fn run(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn git(dir: &Path, sandbox: &Path, args: &[&str]) -> String {
    let mut cmd = isolated("git", dir, sandbox);
    cmd.args(args);
    let out = run(cmd, &format!("git {}", args.join(" ")));
    String::from_utf8(out.stdout).expect("git prints UTF-8 here")
}

/// The `encryptedData` lines of a sealed file, as (item, value).
fn items(sealed: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in sealed.lines() {
        if line == "  encryptedData:" {
            inside = true;
        } else if inside {
            match line.strip_prefix("    ").and_then(|l| l.split_once(": ")) {
                Some((k, v)) if !k.starts_with(' ') => out.push((k.to_owned(), v.to_owned())),
                _ => inside = false,
            }
        }
    }
    out
}

#[test]
fn marked_blocks_cover_the_user_path() {
    let blocks = marked_blocks(&readme()).unwrap_or_else(|e| panic!("{e}"));
    let all: String = blocks.iter().map(|b| b.text.as_str()).collect();
    for wanted in [
        "cd examples",
        "kseal seal .env.staging.example -w",
        "git commit",
        "--merge-into",
        "kseal verify",
        "kseal guard",
    ] {
        assert!(
            all.contains(wanted),
            "no README block marked `{MARKER}` runs `{wanted}`"
        );
    }
}

#[test]
fn install_command_is_the_one_this_test_stands_in_for() {
    // The user path starts with this install; the test puts the binary it names (`kseal`, the
    // only [[bin]] of this package, which cargo built as CARGO_BIN_EXE_kseal) on PATH instead.
    let readme = readme();
    assert!(
        readme.contains("\ncargo install --locked --path cli "),
        "the README's install block no longer says `cargo install --locked --path cli`"
    );
    assert!(Path::new(env!("CARGO_BIN_EXE_kseal")).is_file());
}

#[test]
fn user_path_runs_verbatim_in_a_fresh_folder() {
    let blocks = marked_blocks(&readme()).unwrap_or_else(|e| panic!("{e}"));
    assert!(blocks.len() >= 3, "only {} marked blocks", blocks.len());

    let sandbox = TempDir::new("readme");
    let sandbox = sandbox.path();
    let fresh = sandbox.join("kseal");
    std::fs::create_dir_all(sandbox.join("home")).unwrap();
    std::fs::create_dir_all(sandbox.join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kseal"), sandbox.join("bin/kseal")).unwrap();
    kseal_test_support::copy_dir(&repo_root().join("examples"), &fresh.join("examples"));
    git(&fresh, sandbox, &["init", "-q", "-b", "main"]);
    git(&fresh, sandbox, &["add", "-A"]);
    git(&fresh, sandbox, &["commit", "-q", "-m", "a fresh clone"]);
    let original = std::fs::read_to_string(fresh.join(SEALED)).unwrap();

    let mut script = String::new();
    for b in &blocks {
        script.push_str(&format!("echo '== README.md:{}' >&2\n", b.line));
        script.push_str(&b.text);
    }
    let mut bash = isolated("bash", &fresh, sandbox);
    bash.args(["-euo", "pipefail", "-c", &script]);
    let out = run(bash, "the README's user path");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);

    // Every block ran (the last marker line reached stderr).
    let last = format!("== README.md:{}", blocks.last().unwrap().line);
    assert!(stderr.contains(&last), "stderr:\n{stderr}");

    // No value of the example .env reaches the terminal.
    let env = std::fs::read_to_string(fresh.join("examples/.env.staging.example")).unwrap();
    for line in env.lines().filter(|l| !l.starts_with('#')) {
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim_matches('\'');
            assert!(
                !stdout.contains(value) && !stderr.contains(value),
                "the value of {key} was printed"
            );
        }
    }

    // The first secret was sealed again and committed: every item re-sealed, same items.
    let committed = git(&fresh, sandbox, &["show", &format!("HEAD:{SEALED}")]);
    assert_eq!(
        git(&fresh, sandbox, &["log", "-1", "--format=%s"]).trim(),
        "staging: app-env"
    );
    let (before, after) = (items(&original), items(&committed));
    assert_eq!(before.len(), 8, "{original}");
    assert_eq!(
        before.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        after.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    assert!(before.iter().zip(&after).all(|(b, a)| b.1 != a.1));

    // Merging one key (the README's `--only KEY`) changed exactly its line, as the README's
    // comment says.
    let all: String = blocks.iter().map(|b| b.text.as_str()).collect();
    let only = all
        .split_once("--only ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .expect("a marked block merges one key with --only KEY");
    let numstat = git(&fresh, sandbox, &["diff", "--numstat"]);
    assert_eq!(numstat, format!("1\t1\t{SEALED}\n"));
    assert!(stdout.contains(&numstat), "stdout:\n{stdout}");
    let merged = items(&std::fs::read_to_string(fresh.join(SEALED)).unwrap());
    assert_eq!(merged.len(), after.len());
    for ((key, old), (_, new)) in after.iter().zip(&merged) {
        assert_eq!(old != new, key == only, "item {key} after merging {only}");
    }
}
