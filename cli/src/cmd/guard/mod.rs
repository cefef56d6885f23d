//! `kseal guard`: a pre-commit check that no secret is committed in clear. The rules are the
//! command's long help (`GUARD_ABOUT` in `args.rs`) and `docs/cli.md`; this module implements
//! them: [`env`] for env files, [`manifest`] for Kubernetes manifests and Kustomize generators,
//! and [`private_key_line`] for PEM private keys in any file.
//!
//! Findings name the file, the line or document, and the key, and say how to fix it. A value is
//! never printed, and no message is built from one: the checks only answer yes or no about a
//! value.

mod env;
mod manifest;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    args::GuardArgs,
    exit::{Code, Failure, Result},
    io, say,
    scan::{self, MANIFEST_EXTENSIONS, Walk},
};

/// What kind of problem a finding is, for the summary and its hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A secret in clear: a value, an env file, a private key, a generator input.
    Clear,
    /// A SealedSecret whose values are not well-formed ciphertext.
    Broken,
    /// A file that could not be checked (not UTF-8, not parseable).
    Unreadable,
}

/// One problem: where (an optional 1-based line), what, and which kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
    pub(crate) kind: Kind,
}

impl Finding {
    pub(crate) fn clear(line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
            kind: Kind::Clear,
        }
    }

    pub(crate) fn broken(line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
            kind: Kind::Broken,
        }
    }

    pub(crate) fn unreadable(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
            kind: Kind::Unreadable,
        }
    }
}

pub(crate) fn run(args: GuardArgs) -> Result<()> {
    let files = if args.files.is_empty() {
        git_ls_files()?
    } else {
        scan::collect_files(&args.files, Walk::AllFiles)?
    };
    let mut count = [0usize; 3];
    let mut bad_files = 0;
    let mut records = Vec::new();
    for file in &files {
        let findings = check_file(file)?;
        if findings.is_empty() {
            continue;
        }
        bad_files += 1;
        let shown = io::display_name(Some(file));
        for f in findings {
            count[f.kind as usize] += 1;
            records.push(serde_json::json!({
                "file": shown,
                "line": f.line,
                "kind": match f.kind {
                    Kind::Clear => "clear",
                    Kind::Broken => "malformed",
                    Kind::Unreadable => "unreadable",
                },
                "message": f.message,
            }));
            match f.line {
                Some(l) => say::error(format_args!("{shown}:{l}: {}", f.message)),
                None => say::error(format_args!("{shown}: {}", f.message)),
            }
        }
    }
    let [clear, broken, unreadable] = count;
    let problems = clear + broken + unreadable;
    if args.report.json() {
        io::write_json(&serde_json::json!({
            "findings": records,
            "summary": {
                "files": files.len(),
                "filesWithProblems": bad_files,
                "clear": clear,
                "malformed": broken,
                "unreadable": unreadable,
                "passed": problems == 0,
            },
        }))?;
    }
    if problems == 0 {
        return Ok(());
    }
    let mut what = Vec::new();
    if clear > 0 {
        what.push(format!("{clear} secret(s) in clear"));
    }
    if broken > 0 {
        what.push(format!("{broken} malformed sealed value(s)"));
    }
    if unreadable > 0 {
        what.push(format!("{unreadable} file(s) that cannot be checked"));
    }
    let summary = if clear == problems {
        format!(
            "{problems} problem(s) in {bad_files} file(s): secrets must not be committed in clear"
        )
    } else {
        format!(
            "{problems} problem(s) in {bad_files} file(s): {}",
            what.join(", ")
        )
    };
    let mut failure = Failure::new(Code::Check, summary);
    if clear > 0 {
        failure = failure.hint("seal Secrets and .env files with `kseal seal FILE -w OUT` and commit the SealedSecret; commit a .env.example with placeholder values instead of a .env");
    }
    if broken > 0 {
        failure = failure.hint("a sealed value was altered or pasted incompletely: seal it again from its source with `kseal seal`");
    }
    Err(failure.hint(
        "a file committed on purpose (a test fixture) can be left out with `exclude:` in .pre-commit-config.yaml",
    ))
}

/// Every file git tracks under the working directory (paths relative to it).
fn git_ls_files() -> Result<Vec<PathBuf>> {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .output()
        .map_err(|e| {
            Failure::runtime(format!("cannot run git ls-files: {}", io::io_reason(&e)))
                .hint("pass the files to check: kseal guard FILE…")
        })?;
    if !out.status.success() {
        return Err(Failure::runtime(format!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .hint("run it inside a git repository, or pass the files to check: kseal guard FILE…"));
    }
    Ok(out
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        // A file deleted in the work tree but still in the index has nothing to check.
        .filter(|p| p.is_file())
        .collect())
}

fn check_file(path: &Path) -> Result<Vec<Finding>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = io::read_input(Some(path))?;
    let mut out = Vec::new();
    if let Some(line) = private_key_line(&bytes) {
        out.push(Finding::clear(
            Some(line),
            "a private key (PEM block) must not be committed: anyone with it can decrypt what was sealed to it; keep it out of git (add it to .gitignore) and store it offline, e.g. in a password manager",
        ));
    }
    match env::classify(&name) {
        env::EnvFile::Real => {
            out.push(Finding::clear(None, env::REAL_ENV_MESSAGE));
            return Ok(out);
        }
        env::EnvFile::Example => {
            out.extend(env::check_example(&bytes));
            return Ok(out);
        }
        env::EnvFile::No => {}
    }
    let is_manifest = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e))
        || name == "Kustomization"
        || path == Path::new("-");
    if !is_manifest {
        return Ok(out);
    }
    match String::from_utf8(bytes) {
        Ok(text) => out.extend(manifest::check(path, &kseal_core::SecretString::new(text))),
        Err(_) => out.push(Finding::unreadable(
            "not valid UTF-8 text, so it cannot be checked for Secrets in clear; save it as UTF-8",
        )),
    }
    Ok(out)
}

/// The 1-based line of the first PEM private-key block: a `-----BEGIN … PRIVATE KEY-----` line
/// followed by a base64 body and its `-----END` line, wherever it is (a key file, a YAML block
/// scalar, a JSON string with `\n` escapes). A lone header without a body (a string in source
/// code or documentation) does not count.
fn private_key_line(bytes: &[u8]) -> Option<usize> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], BEGIN).map(|i| i + from) {
        from = at + BEGIN.len();
        let header_end = find(&bytes[from..], b"-----").map(|i| i + from)?;
        let label = &bytes[from..header_end];
        if !label.ends_with(b"PRIVATE KEY") || label.len() > 40 {
            continue;
        }
        let after = &bytes[header_end + 5..];
        let end = find(after, b"-----END ").unwrap_or(after.len());
        let body = &after[..end];
        let base64_chars = body
            .iter()
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            .count();
        if end < after.len() && base64_chars >= 64 {
            return Some(1 + bytes[..at].iter().filter(|&&b| b == b'\n').count());
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_need_a_body() {
        let body = "MIIEowIBAAKCAQEA".repeat(8);
        let key =
            format!("x\n-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n");
        assert_eq!(private_key_line(key.as_bytes()), Some(2));
        let json = format!(
            "{{\"k\": \"-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n\"}}"
        );
        assert_eq!(private_key_line(json.as_bytes()), Some(1));
        let yaml = format!(
            "a: |\n  -----BEGIN OPENSSH PRIVATE KEY-----\n  {body}\n  -----END OPENSSH PRIVATE KEY-----\n"
        );
        assert_eq!(private_key_line(yaml.as_bytes()), Some(2));
        assert_eq!(
            private_key_line(b"assert!(v.contains(\"-----BEGIN RSA PRIVATE KEY-----\"))"),
            None
        );
        let cert = format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n");
        assert_eq!(private_key_line(cert.as_bytes()), None);
    }
}
