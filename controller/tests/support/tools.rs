//! Running the harness's tools (helm, kubectl, kubeseal, argocd-health) and reading what they print:
//! the one copy the install, seed and node tests share.

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use base64::Engine as _;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("controller/ has a parent")
        .to_path_buf()
}

/// `examples/`, the example app repository.
pub fn examples() -> PathBuf {
    repo().join("examples")
}

/// Runs `tool args…` with `stdin`, in `dir` when given; (success, stdout, stderr).
pub fn try_run(
    tool: &Path,
    args: &[&str],
    stdin: &[u8],
    dir: Option<&Path>,
) -> (bool, String, String) {
    try_run_env(tool, args, stdin, dir, &[])
}

/// [`try_run`] with `env` added to the tool's environment (e.g. another cluster's `KUBECONFIG`).
pub fn try_run_env(
    tool: &Path,
    args: &[&str],
    stdin: &[u8],
    dir: Option<&Path>,
    env: &[(&str, &OsStr)],
) -> (bool, String, String) {
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", tool.display()));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`try_run`], returning stdout; panics with the command and its stderr on failure.
pub fn run_in(tool: &Path, args: &[&str], stdin: &[u8], dir: Option<&Path>) -> String {
    run_env_in(tool, args, stdin, dir, &[])
}

/// [`try_run_env`], returning stdout; panics with the command and its stderr on failure.
pub fn run_env_in(
    tool: &Path,
    args: &[&str],
    stdin: &[u8],
    dir: Option<&Path>,
    env: &[(&str, &OsStr)],
) -> String {
    let (ok, out, err) = try_run_env(tool, args, stdin, dir, env);
    assert!(
        ok,
        "{} {} failed:\n{err}\n{out}",
        tool.display(),
        args.join(" ")
    );
    out
}

/// Every non-empty document of a multi-document YAML text.
pub fn docs(yaml: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect()
}

/// The object of `kind` named `name` among `objects`; panics when there is none.
pub fn find<'a>(objects: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The `data` of a Secret printed as JSON (`kubectl get secret -o json`, `kseal unseal -o json`),
/// each value base64-decoded; panics naming the key when one is not valid base64.
pub fn json_secret_data(secret: &serde_json::Value) -> BTreeMap<String, Vec<u8>> {
    let Some(data) = secret["data"].as_object() else {
        return BTreeMap::new();
    };
    data.iter()
        .map(|(k, v)| {
            let bytes = v
                .as_str()
                .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                .unwrap_or_else(|| panic!("data.{k} is not a base64 string"));
            (k.clone(), bytes)
        })
        .collect()
}
