//! The `kseal` command lines in the example app's CI workflows (`examples/.github/workflows/`)
//! must parse with this binary: a renamed flag or subcommand fails here, not in a user's CI.

use std::{path::Path, process::Command};

/// Every line of every `run:` script that starts a `kseal` command, cut before redirections
/// and pipes, as (workflow file, line).
fn kseal_lines() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/.github/workflows");
    let mut found = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let workflow: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for job in workflow["jobs"].as_mapping().unwrap().values() {
            for step in job["steps"].as_sequence().unwrap() {
                let Some(script) = step["run"].as_str() else {
                    continue;
                };
                for line in script.lines() {
                    let line = line.trim();
                    let Some(start) = line.find("kseal ") else {
                        continue;
                    };
                    // Only commands: at the start of the line or after `if`/`then`/`;`.
                    let before = line[..start].trim_end();
                    if !(before.is_empty() || before == "if" || before.ends_with(';')) {
                        continue;
                    }
                    let command = &line[start..];
                    let end = command
                        .find(['<', '>', '|', ';', '&'])
                        .unwrap_or(command.len());
                    found.push((name.clone(), command[..end].trim().to_owned()));
                }
            }
        }
    }
    found
}

#[test]
fn every_kseal_command_in_the_example_workflows_parses() {
    let lines = kseal_lines();
    // deploy.yml runs guard and verify; rotate.yml runs rotate --check, rotate and verify --cluster.
    for wanted in [
        "kseal guard",
        "kseal verify",
        "kseal rotate",
        "--check",
        "--cluster",
    ] {
        assert!(
            lines.iter().any(|(_, l)| l.contains(wanted)),
            "no workflow runs `{wanted}`: {lines:?}"
        );
    }
    for (file, line) in &lines {
        let mut args: Vec<&str> = line.split_whitespace().skip(1).collect();
        if args == ["--version"] {
            continue;
        }
        // clap reports an unknown subcommand or flag before it acts on --help.
        args.push("--help");
        let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: `{line}` does not parse: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every file under `dir` (hidden folders too) that holds a SealedSecret document.
fn sealed_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sealed_files(&path, out);
        } else if std::fs::read_to_string(&path)
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "kind: SealedSecret"))
        {
            out.push(path);
        }
    }
}

#[test]
fn the_example_ci_verifies_every_sealed_file_the_repository_has() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut expected = Vec::new();
    sealed_files(&examples, &mut expected);
    assert!(
        expected.len() >= 4,
        "the overlays' and the Helm chart's: {expected:?}"
    );
    let verify: Vec<String> = kseal_lines()
        .into_iter()
        .filter(|(file, line)| {
            file == "deploy.yml" && line.starts_with("kseal verify") && !line.ends_with(" -")
        })
        .map(|(_, line)| line)
        .collect();
    assert_eq!(verify.len(), 1, "{verify:?}");
    let args: Vec<&str> = verify[0].split_whitespace().skip(1).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .args(&args)
        .current_dir(&examples)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "`{}`: {stderr}", verify[0]);
    let summary = format!(
        "checked {n} SealedSecret(s) in {n} file(s): 0 error(s), 0 warning(s)",
        n = expected.len()
    );
    assert!(stderr.contains(&summary), "`{}`: {stderr}", verify[0]);

    // The rendered stream is verified from stdin: a SealedSecret whose namespace an overlay
    // rewrote no longer matches its template and fails.
    let sealed =
        std::fs::read_to_string(examples.join("k8s/overlays/staging/app-env.sealed.yaml")).unwrap();
    let run = |stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kseal"))
            .args(["verify", "--strict", "-"])
            .current_dir(&examples)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let rendered =
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop-staging\n---\n{sealed}");
    let out = run(&rendered);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved = rendered.replacen("  namespace: shop-staging\n", "  namespace: elsewhere\n", 1);
    assert_ne!(moved, rendered);
    let out = run(&moved);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("<stdin>"));
}
