//! `kseal guard` as a pre-commit hook: without arguments it checks what git tracks, and the
//! repository's `.pre-commit-hooks.yaml` runs it. Rule-by-rule findings are pinned by
//! `tests/cmd/guard*.toml`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn guard(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .arg("guard")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_arguments_it_checks_what_git_tracks() {
    let dir = std::env::temp_dir().join(format!("kseal-guard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("k8s")).unwrap();
    let dir = Dir(dir);
    let d = &dir.0;
    git(d, &["init", "-q", "."]);
    let secret_value = "guard-git-value-9d1c";
    std::fs::write(d.join(".env"), format!("TOKEN={secret_value}\n")).unwrap();
    std::fs::write(d.join(".env.example"), "TOKEN=\n").unwrap();
    std::fs::write(
        d.join("k8s/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n",
    )
    .unwrap();
    git(d, &["add", ".env.example", "k8s/cm.yaml"]);

    // .env exists but is not tracked: nothing to block.
    let (code, stdout, stderr) = guard(d, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty() && stderr.is_empty());

    // Tracked (as pre-commit sees a staged file): blocked, without printing the value.
    git(d, &["add", "-f", ".env"]);
    let (code, _, stderr) = guard(d, &[]);
    assert_eq!(code, 5);
    assert!(
        stderr.starts_with("kseal: error: .env: a .env file must not be committed"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret_value));

    // From a subdirectory, git ls-files lists only what is under it.
    let (code, _, stderr) = guard(&d.join("k8s"), &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn outside_a_git_repository_it_asks_for_files() {
    let dir = Dir(std::env::temp_dir().join(format!("kseal-guard-nogit-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let (code, _, stderr) = guard(&dir.0, &[]);
    // Temporary directories are not inside a repository; if this one is, git succeeds instead.
    if code != 0 {
        assert_eq!(code, 1);
        assert!(
            stderr.contains(
                "kseal: hint: run it inside a git repository, or pass the files to check"
            )
        );
    }
}

#[test]
fn pre_commit_hook_definition_runs_guard_on_the_staged_files() {
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.pre-commit-hooks.yaml");
    let text = std::fs::read_to_string(&hooks).expect(".pre-commit-hooks.yaml at the repo root");
    let hooks: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let hook = hooks
        .as_sequence()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "kseal-guard")
        .expect("a kseal-guard hook");
    assert_eq!(hook["entry"], "kseal guard");
    assert_eq!(hook["pass_filenames"], true);
    assert!(matches!(hook["language"].as_str(), Some("system" | "rust")));
}
