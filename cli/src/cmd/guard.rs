//! `kseal guard`: a pre-commit check that no secret is committed in clear. The rules are the
//! command's long help (`GUARD_ABOUT` in `args.rs`); this file implements them.
//!
//! Findings name the file, the line or document, and the key. A value is never printed, and
//! no message is built from one: the checks only answer yes or no about a value.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use kseal_core::SecretString;
use kseal_crds::{EncryptedData, EncryptedValue};
use serde_json::Value;

use crate::{
    args::GuardArgs,
    cmd::verify::{describe_problem, inspect_value},
    exit::{Code, Failure, Result},
    io,
    scan::{self, Format, MANIFEST_EXTENSIONS, Stream, Walk},
};

/// Words that mark a value in an example file as a placeholder (compared in lower case).
const PLACEHOLDER_MARKERS: [&str; 10] = [
    "example",
    "fake",
    "changeme",
    "change-me",
    "xxx",
    "placeholder",
    "dummy",
    "your-",
    "your_",
    "${",
];

/// Parts of a variable name that suggest its value is a secret (compared in upper case).
const SECRET_NAME_PARTS: [&str; 13] = [
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "PASS",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "SALT",
    "DSN",
    "CERT",
];

/// Prefixes of well-known credential formats (AWS, GitHub, GitLab, Slack, Stripe, OpenAI,
/// Google, npm, SendGrid).
const TOKEN_PREFIXES: [&str; 18] = [
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "sk_live_",
    "rk_live_",
    "sk-",
    "AIza",
    "npm_",
    "SG.",
];

/// Suffixes of example `.env` files, which may be committed with placeholder values.
const EXAMPLE_SUFFIXES: [&str; 3] = [".example", ".sample", ".template"];

/// One problem: where (an optional 1-based line) and what.
type Finding = (Option<usize>, String);

pub(crate) fn run(args: GuardArgs) -> Result<()> {
    let files = if args.files.is_empty() {
        git_ls_files()?
    } else {
        scan::collect_files(&args.files, Walk::AllFiles)?
    };
    let mut problems = 0;
    let mut bad_files = 0;
    for file in &files {
        let findings = check_file(file)?;
        if findings.is_empty() {
            continue;
        }
        bad_files += 1;
        problems += findings.len();
        let shown = file.display();
        for (line, message) in findings {
            match line {
                Some(l) => eprintln!("kseal: error: {shown}:{l}: {message}"),
                None => eprintln!("kseal: error: {shown}: {message}"),
            }
        }
    }
    if problems == 0 {
        return Ok(());
    }
    Err(Failure::new(
        Code::Check,
        format!("{problems} problem(s) in {bad_files} file(s): secrets must not be committed in clear"),
    )
    .hint("seal Secrets and .env files with `kseal seal FILE -w OUT` and commit the SealedSecret; commit a .env.example with placeholder values instead of a .env")
    .hint("a file committed on purpose (a test fixture) can be left out with `exclude:` in .pre-commit-config.yaml"))
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
    if is_env_name(&name) {
        if !EXAMPLE_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            return Ok(vec![(
                None,
                "a .env file must not be committed: its values are secrets in clear".to_owned(),
            )]);
        }
        let Ok(text) = String::from_utf8(io::read_input(Some(path))?) else {
            return Ok(vec![(
                None,
                "an example .env file that is not UTF-8 text".to_owned(),
            )]);
        };
        return Ok(check_env_example(&SecretString::new(text)));
    }
    let is_manifest = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e));
    if !is_manifest {
        return Ok(Vec::new());
    }
    match String::from_utf8(io::read_input(Some(path))?) {
        Ok(text) => Ok(check_manifests(&SecretString::new(text))),
        Err(_) => Ok(Vec::new()),
    }
}

/// `.env`, `.env.*` and `*.env`.
fn is_env_name(name: &str) -> bool {
    name == ".env" || name.starts_with(".env.") || (name.ends_with(".env") && name.len() > 4)
}

/// Each value of an example `.env` file must be a placeholder (see [`is_placeholder`]).
fn check_env_example(text: &SecretString) -> Vec<Finding> {
    env_entries(text.expose())
        .into_iter()
        .filter(|(_, key, value)| !is_placeholder(key, value.expose()))
        .map(|(line, key, _)| {
            (
                Some(line),
                format!("{key}: the value does not look like a placeholder; example files must not hold real values"),
            )
        })
        .collect()
}

/// `KEY=VALUE` lines, read leniently (any dotenv dialect): `export`, quotes, multi-line quoted
/// values, inline ` #` comments. Returns the 1-based line, the key and the value.
fn env_entries(text: &str) -> Vec<(usize, String, SecretString)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, rest)) = line.split_once('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let mut value = rest[1..].to_owned();
                loop {
                    if let Some(end) = closing_quote(&value, q) {
                        value.truncate(end);
                        break;
                    }
                    match lines.next() {
                        Some((_, next)) => {
                            value.push('\n');
                            value.push_str(next);
                        }
                        None => break,
                    }
                }
                value
            }
            _ => rest
                .find(" #")
                .map_or(rest, |i| &rest[..i])
                .trim_end()
                .to_owned(),
        };
        out.push((index + 1, key.trim().to_owned(), SecretString::new(value)));
    }
    out
}

fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            return Some(i);
        }
    }
    None
}

/// Whether a value in an example `.env` file is obviously not a real one: empty; or not a
/// credential by its looks and either marked as a placeholder, or for a variable whose name
/// does not suggest a secret, or a number, duration, boolean or plain URL.
fn is_placeholder(key: &str, value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() {
        return true;
    }
    if looks_like_credential(value) {
        return false;
    }
    if has_marker(value) {
        return true;
    }
    let upper = key.to_ascii_uppercase();
    !SECRET_NAME_PARTS.iter().any(|p| upper.contains(p)) || is_harmless(value)
}

fn has_marker(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    PLACEHOLDER_MARKERS.iter().any(|m| lower.contains(m))
        || lower
            .find('<')
            .is_some_and(|open| lower[open..].contains('>'))
}

/// Booleans, numbers and durations (`8080`, `1.5`, `30s`), and URLs without a password.
fn is_harmless(value: &str) -> bool {
    const WORDS: [&str; 8] = ["true", "false", "yes", "no", "on", "off", "none", "null"];
    if WORDS.contains(&value.to_ascii_lowercase().as_str()) {
        return true;
    }
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if !digits.is_empty()
        && value.len() - digits.len() <= 3
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return true;
    }
    (value.starts_with("http://") || value.starts_with("https://"))
        && !value.contains(char::is_whitespace)
        && url_password(value).is_none()
}

/// The password of `scheme://user:password@host…`, if any.
fn url_password(value: &str) -> Option<&str> {
    let (_, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// A private key, a URL with a real-looking password, a token with a well-known prefix, or a
/// long random-looking string.
fn looks_like_credential(value: &str) -> bool {
    if value.contains("PRIVATE KEY") {
        return true;
    }
    if url_password(value).is_some_and(|p| !has_marker(p) && !p.chars().all(|c| c == '*')) {
        return true;
    }
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-.".contains(c)))
        .filter(|t| t.len() >= 16 && !has_marker(t))
        .any(|t| TOKEN_PREFIXES.iter().any(|p| t.starts_with(p)) || random_looking(t))
}

/// At least 24 characters with letters and digits, and close to random (Shannon entropy of at
/// least 3.5 bits per character; English words and host names stay well below).
fn random_looking(token: &str) -> bool {
    if token.len() < 24
        || !token.chars().any(|c| c.is_ascii_digit())
        || !token.chars().any(|c| c.is_ascii_alphabetic())
    {
        return false;
    }
    let mut counts = std::collections::HashMap::new();
    for c in token.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = token.chars().count() as f64;
    let entropy: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum();
    entropy >= 3.5
}

/// Secrets in clear and broken SealedSecrets in a YAML or JSON manifest stream.
fn check_manifests(text: &SecretString) -> Vec<Finding> {
    let text = text.expose();
    let stream = Stream::parse(text);
    let mut out = Vec::new();
    for doc in stream.docs() {
        let v = doc.value;
        match v["kind"].as_str() {
            Some("Secret") if matches!(v["apiVersion"].as_str(), None | Some("v1")) => {
                let keys = plaintext_keys(v);
                if !keys.is_empty() {
                    out.push((
                        None,
                        format!(
                            "{}: Secret with values in clear ({})",
                            doc.describe(),
                            keys.join(", ")
                        ),
                    ));
                }
            }
            Some("SealedSecret") => {
                for problem in sealed_problems(v) {
                    out.push((None, format!("{}: {problem}", doc.describe())));
                }
            }
            _ => {}
        }
    }
    // Documents that are not YAML (Helm templates) are read line by line. JSON that does not
    // parse cannot be read that way; if it mentions a Secret, it fails closed.
    for segment in &stream.segments {
        let Err(error) = &segment.value else {
            continue;
        };
        let segment_text = &text[segment.span.clone()];
        match stream.format {
            Format::Yaml => {
                let first_line = scan::line_of(text, segment.span.start);
                out.extend(template_secrets(segment_text, first_line));
            }
            Format::Json if segment_text.contains("Secret") => out.push((
                None,
                format!(
                    "not valid JSON ({error}) and it mentions a Secret, so it cannot be checked"
                ),
            )),
            Format::Json => {}
        }
    }
    out
}

/// Keys of `data` and `stringData` whose value is in clear: a non-empty scalar that is not
/// entirely a template expression.
fn plaintext_keys(secret: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    for field in ["data", "stringData"] {
        let Some(map) = secret[field].as_object() else {
            continue;
        };
        for (key, value) in map {
            let clear = match value {
                Value::String(s) => !s.trim().is_empty() && !is_template(s),
                Value::Number(_) | Value::Bool(_) => true,
                Value::Null | Value::Array(_) | Value::Object(_) => false,
            };
            if clear && !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    keys
}

/// Why the values of a SealedSecret are not ciphertext: the structural checks of `verify`
/// without a certificate.
fn sealed_problems(v: &Value) -> Vec<String> {
    let items: EncryptedData =
        serde_json::from_value(v["spec"]["encryptedData"].clone()).unwrap_or_default();
    let mut out: Vec<String> = items.problems().iter().map(describe_problem).collect();
    for (name, value) in items.iter() {
        if let EncryptedValue::Sealed(text) = value
            && let Err(problem) = inspect_value(text)
        {
            out.push(format!("item {name}: not valid ciphertext: {problem}"));
        }
    }
    if let Some(legacy) = v["spec"]["data"].as_str().filter(|s| !s.is_empty())
        && let Err(problem) = inspect_value(legacy)
    {
        out.push(format!("spec.data: not valid ciphertext: {problem}"));
    }
    out
}

/// Whether `value` is one or more `{{ … }}` template actions and nothing else (quotes around
/// it allowed): Helm renders it at deploy time from values that are not in this file.
fn is_template(value: &str) -> bool {
    let mut rest = value.trim();
    for q in ['"', '\''] {
        if rest.len() >= 2 && rest.starts_with(q) && rest.ends_with(q) {
            rest = rest[1..rest.len() - 1].trim();
        }
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix("{{") else {
            return false;
        };
        let Some(end) = after.find("}}") else {
            return false;
        };
        rest = after[end + 2..].trim_start();
    }
    true
}

/// The line-by-line reading of a document that is not YAML (a Helm template): if it has a
/// top-level `kind: Secret`, every entry under a top-level `data:` or `stringData:` whose value
/// is not a template expression (nor empty) is in clear.
fn template_secrets(text: &str, first_line: usize) -> Vec<Finding> {
    let lines: Vec<&str> = text.lines().collect();
    let top = |line: &str, key: &str| -> Option<String> {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let rest = rest.find(" #").map_or(rest, |i| &rest[..i]);
        Some(rest.trim().trim_matches(['"', '\'']).to_owned())
    };
    if !lines
        .iter()
        .any(|l| top(l, "kind").as_deref() == Some("Secret"))
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let header = ["data", "stringData"]
            .into_iter()
            .find_map(|k| top(lines[i], k).map(|rest| (k, rest)));
        let Some((field, inline)) = header else {
            i += 1;
            continue;
        };
        if !inline.is_empty() {
            if !is_template(&inline) && !matches!(inline.as_str(), "{}" | "null" | "~") {
                out.push((
                    Some(first_line + i),
                    format!("Secret {field} written inline, with values in clear"),
                ));
            }
            i += 1;
            continue;
        }
        i += 1;
        while i < lines.len() {
            let line = lines[i];
            let trimmed = line.trim();
            let indented = line.starts_with([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') || is_template(trimmed) {
                i += 1;
                continue;
            }
            if !indented {
                break;
            }
            let (key, value) = split_entry(trimmed);
            let value = value.find(" #").map_or(value, |c| &value[..c]).trim();
            let indent = line.len() - line.trim_start().len();
            let entry_line = i;
            i += 1;
            let clear = if value.starts_with('|') || value.starts_with('>') {
                // A block scalar: the more-indented lines that follow are the value.
                let mut clear = false;
                while i < lines.len() {
                    let l = lines[i];
                    let t = l.trim();
                    if !t.is_empty() && l.len() - l.trim_start().len() <= indent {
                        break;
                    }
                    clear |= !t.is_empty() && !is_template(t);
                    i += 1;
                }
                clear
            } else {
                !value.is_empty() && !is_template(value) && !matches!(value, "\"\"" | "''")
            };
            if clear {
                out.push((
                    Some(first_line + entry_line),
                    format!("Secret {field}.{key}: value in clear"),
                ));
            }
        }
    }
    out
}

/// Splits `key: value` at the first `:` that is outside a `{{ … }}` action.
fn split_entry(entry: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let bytes = entry.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if entry[i..].starts_with("{{") {
            depth += 1;
            i += 2;
            continue;
        }
        if entry[i..].starts_with("}}") {
            depth = depth.saturating_sub(1);
            i += 2;
            continue;
        }
        if bytes[i] == b':' && depth == 0 && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            return (entry[..i].trim(), entry[i + 1..].trim());
        }
        i += 1;
    }
    (entry, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        for name in [".env", ".env.production", "app.env", ".env.example"] {
            assert!(is_env_name(name), "{name}");
        }
        for name in [".envrc", "env", ".env", "environment.yaml"] {
            assert_eq!(is_env_name(name), name == ".env", "{name}");
        }
    }

    #[test]
    fn placeholders() {
        for (key, value) in [
            ("DATABASE_URL", "postgres://app:change-me@db:5432/app"),
            ("API_KEY", ""),
            ("API_KEY", "your-api-key"),
            ("API_KEY", "<api key>"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("JWT_SECRET", "xxxxxxxx"),
            ("PORT", "8080"),
            ("LOG_LEVEL", "debug"),
            ("AUTH_ENABLED", "true"),
            ("TOKEN_TTL", "30m"),
            ("AUTH_URL", "https://auth.internal.company.com/login"),
            ("DB_PASSWORD", "${DB_PASSWORD}"),
        ] {
            assert!(is_placeholder(key, value), "{key}");
        }
        for (key, value) in [
            ("DB_PASSWORD", "hunter2"),
            ("DATABASE_URL", "postgres://app:S3cr3t@db.example.com/app"),
            ("GITHUB", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            ("ANYTHING", "dGhpc2lzYXJlYWxseWxvbmdyYW5kb210b2tlbjEyMzQ1"),
            ("TLS", "-----BEGIN RSA PRIVATE KEY-----"),
        ] {
            assert!(!is_placeholder(key, value), "{key}");
        }
    }

    #[test]
    fn templates() {
        assert!(is_template("{{ .Values.password | b64enc }}"));
        assert!(is_template("\"{{ .Values.a }}{{ .Values.b }}\""));
        assert!(!is_template("postgres://{{ .Values.user }}@db"));
        assert!(!is_template("hunter2"));
        assert!(!is_template("\"\""));
    }

    #[test]
    fn helm_template_read_line_by_line() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include \"x\" . }}\n  labels:\n    {{- include \"x.labels\" . | nindent 4 }}\ndata:\n  {{- range $k, $v := .Values.env }}\n  {{ $k }}: {{ $v | b64enc | quote }}\n  {{- end }}\n  password: {{ .Values.password | b64enc }}\n  leaked: aHVudGVyMg==\nstringData:\n  config.yaml: |\n    user: {{ .Values.user }}\n    password: hunter2\n";
        let found = template_secrets(text, 1);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0],
            (Some(12), "Secret data.leaked: value in clear".to_owned())
        );
        assert_eq!(found[1].0, Some(14));
    }

    #[test]
    fn env_entries_read_leniently() {
        let text = "# c\nexport A=1 # comment\nB=\"multi\nline\"\nC='x'\nnot a line\n";
        let entries = env_entries(text);
        let keys: Vec<(usize, &str)> = entries.iter().map(|(l, k, _)| (*l, k.as_str())).collect();
        assert_eq!(keys, [(2, "A"), (3, "B"), (5, "C")]);
        assert_eq!(entries[0].2.expose(), "1");
        assert_eq!(entries[1].2.expose(), "multi\nline");
    }
}
