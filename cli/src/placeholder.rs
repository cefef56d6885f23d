//! Placeholder values (`changeme`, `xxx`, `TODO`, `<your key>`) and values that look like real
//! credentials. One rule for `kseal guard` (example env files must hold placeholders only) and
//! `kseal seal`/`kseal init` (a placeholder about to be sealed is worth a warning). The checks
//! answer yes or no; no message is built from a value.

/// Words that mark a value as a placeholder (compared in lower case).
const MARKERS: [&str; 10] = [
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

/// Whether `kseal seal` should warn before sealing `value`: it is a placeholder marker and
/// does not look like a real credential (`change-me` yes, `postgres://u:S3cr3t@db/example` no).
/// Empty values are the .env parser's W101 warning.
pub(crate) fn is_placeholder(value: &str) -> bool {
    let value = value.trim();
    !value.is_empty() && !looks_like_credential(value) && has_marker(value)
}

/// `kseal: warning:` for each item of `source` whose value is a placeholder, naming the item
/// (never the value). Values that are not UTF-8 are not placeholders.
pub(crate) fn warn<'a>(source: &str, items: impl IntoIterator<Item = (&'a str, &'a [u8])>) {
    for (name, value) in items {
        if std::str::from_utf8(value).is_ok_and(is_placeholder) {
            crate::say::warning(format_args!(
                "{source}: {name} looks like a placeholder (changeme, xxx, TODO, <…>); is it the value to seal?"
            ));
        }
    }
}

/// Whether the value holds a placeholder marker: one of [`MARKERS`], a `<…>`, or the word
/// TODO, TBD or FIXME.
pub(crate) fn has_marker(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    MARKERS.iter().any(|m| lower.contains(m))
        || lower
            .find('<')
            .is_some_and(|open| lower[open..].contains('>'))
        || lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| matches!(word, "todo" | "tbd" | "fixme"))
}

/// The password of `scheme://user:password@host…`, if any.
pub(crate) fn url_password(value: &str) -> Option<&str> {
    let (_, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// A private key, a URL with a real-looking password, a token with a well-known prefix, or a
/// long random-looking string.
pub(crate) fn looks_like_credential(value: &str) -> bool {
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
    fn placeholders_to_warn_about() {
        for value in [
            "changeme",
            "xxx",
            "TODO",
            "todo: ask ops",
            "<api key>",
            "your-token",
            "${DB_PASSWORD}",
        ] {
            assert!(is_placeholder(value), "{value}");
        }
        for value in [
            "",
            "hunter2",
            "postgres://app:S3cr3t@db.example.com/app",
            "todos-list",
        ] {
            assert!(!is_placeholder(value), "{value}");
        }
    }
}
