//! Where the binaries are. A test in the package of a binary uses cargo's
//! `env!("CARGO_BIN_EXE_<name>")`; any other test (and the benchmark programs) calls
//! [`target_bin`], which looks next to the running executable in the target directory and,
//! when the binary is missing, says which `cargo build` to run. Nothing here builds anything.
//! The Go tools (kubectl, kubeseal, helm, …) come from `tests/cluster/build.sh --print-bindir`
//! through [`go_bindir`].

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use crate::HarnessError;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// Binary `name` of workspace package `package`, built into the same profile directory as the
/// running executable (`<target>/<profile>/deps/<test>-<hash>` → `<target>/<profile>/<name>`,
/// `<target>/<profile>/<program>` → `<target>/<profile>/<name>`). `KSEAL_BIN_<NAME>` (upper
/// case, `-` as `_`) overrides it. Panics with the `cargo build` command when it is missing.
pub fn target_bin(name: &str, package: &str) -> PathBuf {
    let var = format!("KSEAL_BIN_{}", name.to_uppercase().replace('-', "_"));
    if let Some(path) = std::env::var_os(&var) {
        return PathBuf::from(path);
    }
    let path = sibling_bin(name);
    let profile = path
        .parent()
        .and_then(Path::file_name)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let release = if profile == "release" {
        " --release"
    } else {
        ""
    };
    assert!(
        path.is_file(),
        "{name} not found at {}: run `cargo build{release} -p {package}` first (or `cargo test --workspace`, \
         which builds every binary), or set {var}",
        path.display()
    );
    path
}

/// Where binary `name` of this workspace is (or would be) built: the profile directory of the
/// running executable, whether the binary exists or not.
pub fn sibling_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable");
    let mut dir = exe.parent().expect("the executable's directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("the profile directory");
    }
    dir.join(name)
}

/// Runs the repository's script at `path` (from the root) with stdin closed, its arguments and
/// environment set by `configure`: its output, or why it did not start.
pub(crate) fn run_script(
    path: &str,
    configure: impl FnOnce(&mut Command) -> &mut Command,
) -> Result<Output, HarnessError> {
    let script = repo_root().join(path);
    let mut command = Command::new(&script);
    configure(&mut command)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| HarnessError::Spawn {
            program: script,
            error,
        })
}

/// The directory of the pinned Go tools, or why not (`tests/cluster/build.sh --print-bindir`
/// fails until every tool is built).
pub fn go_bindir() -> Result<PathBuf, HarnessError> {
    let out = run_script("tests/cluster/build.sh", |c| c.arg("--print-bindir"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().last() {
        Some(dir) if out.status.success() => Ok(PathBuf::from(dir.trim())),
        _ => Err(HarnessError::GoToolsMissing),
    }
}

/// [`go_bindir`] under the test [`policy`](crate::policy): `None` (after the `skipped:` line)
/// when the tools are not built outside CI; a failure in CI.
pub fn go_tools() -> Option<PathBuf> {
    match go_bindir() {
        Ok(dir) => Some(dir),
        Err(why) => crate::skip_or_fail(&why.to_string()),
    }
}
