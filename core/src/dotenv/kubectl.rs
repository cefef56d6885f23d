//! kubectl's reading (`docs/dotenv.md` §5.1), as `staging/src/k8s.io/kubectl/pkg/cmd/util/env_file.go`
//! does it: line by line, each line checked for UTF-8, a BOM removed from line 1 only, leading
//! Unicode whitespace trimmed, `#` lines skipped, split at the first `=`, the value verbatim.
//!
//! Two deliberate differences, both turning something kubectl does silently into a diagnostic:
//! a line of 64 KiB or more is an error (`E018`; kubectl's `bufio.Scanner` stops there and kubectl
//! never checks `scanner.Err()`, so the rest of the file is dropped), and a value taken from the
//! environment is reported (`W107`).

use super::{
    problem::{Flaw, KeyCheck, KeyName, Problem},
    sink::{At, Place, Sink, Site, column_before, looks_like_name, showable_key},
};
use crate::{names::SecretKeyName, secret::SecretBytes};

/// `bufio.MaxScanTokenSize`: a line (with its CR, without its LF) of this many bytes or more does
/// not fit the scanner's buffer.
const MAX_LINE: usize = 64 * 1024;

/// Reads `source` the way `kubectl create secret generic --from-env-file` does into `sink`.
pub(super) fn parse(source: &[u8], sink: &mut Sink<'_, '_>) {
    let mut start = 0;
    let mut line = 0;
    // bufio.ScanLines: LF-separated lines, the last one may lack its LF, and a final LF does not
    // start another (empty) line.
    while start < source.len() {
        line += 1;
        let end = source[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(source.len(), |i| start + i);
        let raw = &source[start..end];
        if raw.len() >= MAX_LINE {
            sink.report(
                Problem::LineTooLong { bytes: raw.len() },
                Place::bare(line, 1),
            );
        } else {
            // The scanner drops one CR before the LF (or at the end of the file).
            let content = raw.strip_suffix(b"\r").unwrap_or(raw);
            match std::str::from_utf8(content) {
                Ok(text) => statement(sink, line, text),
                Err(e) => {
                    let at = e.valid_up_to();
                    let problem = Problem::NotText {
                        byte: start + at,
                        flaw: Flaw::NotUtf8,
                    };
                    sink.report(
                        problem,
                        Place::bare(line, column_before(content, at, line == 1)),
                    );
                }
            }
        }
        start = end + 1;
    }
}

/// One line, exactly as `processEnvFileLine` reads it.
fn statement(sink: &mut Sink<'_, '_>, line: usize, text: &str) {
    let body = if line == 1 {
        text.strip_prefix('\u{feff}').unwrap_or(text)
    } else {
        text
    };
    // Go's unicode.IsSpace and Rust's char::is_whitespace are both the White_Space property.
    let trimmed = body.trim_start();
    let key_start = body.len() - trimmed.len();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return;
    }
    let (key, value) = match trimmed.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (trimmed, None),
    };
    let key_end = key_start + key.len();
    let accepted = if is_env_var_name(key) {
        SecretKeyName::parse(key).ok()
    } else {
        None
    };
    // A line without `=` is shown only if it looks like a variable name: it may be a value
    // pasted on a line of its own, which kubectl would take as a key.
    let showable = match value {
        Some(_) => accepted.is_some() || key.is_empty() || showable_in_error(key),
        None => looks_like_name(key),
    };
    let shown = match value {
        _ if !showable => key_start,
        Some(_) => key_end + 1,
        None => body.len(),
    };
    let site = Site {
        line,
        text: body,
        base: 0,
        shown,
    };
    let Some(name) = accepted else {
        let at = match (key.is_empty(), showable) {
            (true, _) => At::Point(key_end),
            (false, true) => At::Span(key_start, key_end),
            (false, false) => At::Value,
        };
        let problem = Problem::InvalidKey {
            key: showable.then(|| key.to_owned()),
            check: KeyCheck::Kubectl,
        };
        sink.report_at(problem, &site, at);
        return;
    };
    let (value, from_environment) = match value {
        Some(value) => (SecretBytes::copy_from(value.as_bytes()), false),
        None => {
            // kubectl calls os.Getenv: an unset variable gives an empty value, like an empty one.
            let found = sink.options.environment.and_then(|lookup| lookup(key));
            let problem = Problem::FromEnvironment {
                key: KeyName::new(showable.then_some(key)),
                set: found.is_some(),
            };
            let at = if showable {
                At::Span(key_start, key_end)
            } else {
                At::Value
            };
            sink.report_at(problem, &site, at);
            (found.unwrap_or_default(), true)
        }
    };
    sink.define(
        &site,
        name,
        (key_start, key_end),
        Some(value),
        from_environment,
        showable,
    );
}

/// apimachinery's `IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`, not `.` and not starting with `..`.
fn is_env_var_name(s: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    let bytes = s.as_bytes();
    matches!(bytes.first(), Some(&b) if allowed(b) && !b.is_ascii_digit())
        && bytes.iter().all(|&b| allowed(b))
        && s != "."
        && !s.starts_with("..")
}

/// Whether a rejected key may be quoted in `E003`: Secret key characters, optionally with the
/// `export ` prefix or blanks before `=` that dotenv files have and kubectl rejects.
fn showable_in_error(key: &str) -> bool {
    let blanks: &[char] = &[' ', '\t'];
    let key = key.trim_end_matches(blanks);
    let key = match key.strip_prefix("export") {
        Some(rest) if rest.starts_with(blanks) => rest.trim_start_matches(blanks),
        _ => key,
    };
    showable_key(key)
}
