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
                    let end = command.find(['>', '|', ';', '&']).unwrap_or(command.len());
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
