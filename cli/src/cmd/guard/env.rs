//! Env files: which names are env files, and the check of example files (placeholders only).
//! Example files are read with `kseal_core::dotenv` (python-dotenv's reading), the same parser
//! `kseal seal` uses.

use kseal_core::dotenv::{self, EnvFormat, KeyRule, ParseOptions};

use super::Finding;

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
