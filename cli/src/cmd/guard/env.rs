//! Env files: which names are env files, and the check of example files (placeholders only).
//! Example files are read with `kseal_core::dotenv` (python-dotenv's reading), the same parser
//! `kseal seal` uses.

use kseal_core::dotenv::{self, EnvFormat, KeyRule, ParseOptions};

use super::Finding;
use crate::placeholder::{has_marker, looks_like_credential, url_password};

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

/// Suffixes of example `.env` files, which may be committed with placeholder values.
const EXAMPLE_SUFFIXES: [&str; 3] = [".example", ".sample", ".template"];

/// Extensions that make a file source code, documentation or a manifest rather than an env
/// file, even when its name contains `.env` (`env.d.ts`, `app.env.yaml`).
const NOT_ENV_EXTENSIONS: [&str; 17] = [
    "ts", "tsx", "js", "jsx", "mjs", "cjs", "py", "go", "rs", "rb", "java", "kt", "sh", "md",
    "yaml", "yml", "json",
];

/// The finding for an env file that is not an example.
pub(super) const REAL_ENV_MESSAGE: &str = "a .env file must not be committed: its values are secrets in clear; seal it with `kseal seal FILE -w OUT`, take it out of git (`git rm --cached FILE`) and list it in .gitignore; commit a FILE.example with placeholders instead";

/// What a file name says about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EnvFile {
    /// An env file: must not be committed.
    Real,
    /// An example env file: may be committed with placeholder values.
    Example,
    No,
}

/// `.env`, `.envrc`, `.env.*`, `env.*`, `*.env` and `*.env.*` (`prod.env.bak`) are env files,
/// unless their extension makes them code or a manifest; `*.example`, `*.sample` and
/// `*.template` ones are examples.
pub(super) fn classify(name: &str) -> EnvFile {
    let code = name
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && NOT_ENV_EXTENSIONS.contains(&ext));
    let env = !code
        && (name == ".env"
            || name == ".envrc"
            || name.starts_with(".env.")
            || name.starts_with(".envrc.")
            || name.starts_with("env.")
            || (name.ends_with(".env") && name.len() > 4)
            || name.contains(".env."));
    match (env, EXAMPLE_SUFFIXES.iter().any(|s| name.ends_with(s))) {
        (false, _) => EnvFile::No,
        (true, true) => EnvFile::Example,
        (true, false) => EnvFile::Real,
    }
}

/// Each value of an example env file must be a placeholder (see [`is_placeholder`]). A file
/// that does not read as an env file cannot be checked and is reported.
pub(super) fn check_example(bytes: &[u8]) -> Vec<Finding> {
    let options = ParseOptions {
        format: EnvFormat::Lenient,
        keys: KeyRule::SecretKey,
        ..ParseOptions::default()
    };
    let parsed = match dotenv::parse(bytes, &options) {
        Ok(parsed) => parsed,
        Err(e) => {
            return e
                .errors()
                .map(|d| Finding {
                    line: Some(d.line),
                    message: format!("{} {}: this example file cannot be read as a .env file, so its values cannot be checked; fix the line", d.code.as_str(), d.message),
                    kind: super::Kind::Unreadable,
                })
                .collect();
        }
    };
    parsed
        .entries
        .iter()
        .filter(|e| {
            std::str::from_utf8(e.value.expose())
                .map_or(true, |value| !is_placeholder(e.key.as_str(), value))
        })
        .map(|e| {
            Finding::clear(
                Some(e.line),
                format!("{}: the value does not look like a placeholder; example files must not hold real values (use one such as change-me)", e.key),
            )
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        for name in [
            ".env",
            ".env.production",
            "app.env",
            ".envrc",
            "prod.env.bak",
            "env.staging",
            ".env.local",
        ] {
            assert_eq!(classify(name), EnvFile::Real, "{name}");
        }
        for name in [".env.example", ".env.staging.sample", "app.env.template"] {
            assert_eq!(classify(name), EnvFile::Example, "{name}");
        }
        for name in [
            "env",
            "environment.yaml",
            "env.d.ts",
            "vite-env.d.ts",
            "app.env.yaml",
            ".envoy.yaml",
            "dotenv.rs",
        ] {
            assert_eq!(classify(name), EnvFile::No, "{name}");
        }
    }

    #[test]
    fn example_files_read_as_dotenv() {
        let found = check_example(b"# c\nexport A=1 # comment\nDB_PASSWORD=\"multi\nline\"\nC='x'\nAPI_KEY=hunter2hunter2\n");
        let lines: Vec<Option<usize>> = found.iter().map(|f| f.line).collect();
        assert_eq!(lines, [Some(3), Some(6)], "{found:?}");
        let found = check_example(b"A=\"unterminated\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, super::super::Kind::Unreadable);
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
            ("API_TOKEN", "TODO"),
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
}
