//! Tests of the `.env` reader. Values that must never be echoed contain [`CANARY`]; every
//! diagnostic a test produces is checked for both halves of it.

use super::*;

/// One test per code.
mod codes;
/// Kubectl mode.
mod kubectl_mode;
/// Lenient mode.
mod lenient_mode;
/// Strict mode, rendering and the no-echo invariants.
mod strict_mode;

/// A value that must never appear in diagnostics or `Debug` output.
const CANARY: &str = "CANARY-s3cr3t";

fn options(format: EnvFormat) -> ParseOptions<'static> {
    ParseOptions {
        format,
        ..ParseOptions::default()
    }
}

/// Asserts that nothing derived from a diagnostic contains either half of the canary.
fn assert_hidden(d: &Diagnostic) {
    let shown = [d.render(".env"), format!("{d:?}"), d.to_string()];
    let (first, second) = CANARY.split_once('-').unwrap();
    for text in shown {
        assert!(
            !text.contains(first) && !text.contains(second),
            "value leaked: {text}"
        );
    }
}

/// Parses and checks every diagnostic (error or warning) for leaks.
fn run(src: &[u8], options: &ParseOptions<'_>) -> Result<Parsed, ParseError> {
    let result = parse(src, options);
    match &result {
        Ok(parsed) => {
            parsed.warnings.iter().for_each(assert_hidden);
            let debug = format!("{parsed:?}");
            assert!(
                !debug.contains("CANARY") && !debug.contains("s3cr3t"),
                "{debug}"
            );
        }
        Err(e) => {
            e.diagnostics.iter().for_each(assert_hidden);
            assert!(!e.to_string().contains("CANARY"));
        }
    }
    result
}

/// The entries as `(key, value)` text pairs (values are UTF-8 in these tests).
fn pairs(parsed: &Parsed) -> Vec<(String, String)> {
    parsed
        .entries
        .iter()
        .map(|e| {
            (
                e.key.to_string(),
                String::from_utf8(e.value.expose().to_vec()).unwrap(),
            )
        })
        .collect()
}

/// Parses `src` in `format`, which must succeed, and returns the pairs.
fn accept(format: EnvFormat, src: &str) -> Vec<(String, String)> {
    match run(src.as_bytes(), &options(format)) {
        Ok(parsed) => pairs(&parsed),
        Err(e) => panic!("{src:?} rejected: {:#?}", e.diagnostics),
    }
}

/// The value of the single entry of `src` in `format`.
fn value(format: EnvFormat, src: &str) -> String {
    let entries = accept(format, src);
    assert_eq!(entries.len(), 1, "{src:?}: {entries:?}");
    entries[0].1.clone()
}

/// The codes of all diagnostics (errors and warnings) of a rejected `src`.
fn rejected(format: EnvFormat, src: &[u8]) -> Vec<Code> {
    match run(src, &options(format)) {
        Ok(parsed) => panic!("{src:?} accepted: {:?}", pairs(&parsed)),
        Err(e) => e.diagnostics.iter().map(|d| d.code).collect(),
    }
}

/// The codes of the warnings of an accepted `src`.
fn warnings(format: EnvFormat, src: &str) -> Vec<Code> {
    run(src.as_bytes(), &options(format))
        .unwrap()
        .warnings
        .iter()
        .map(|d| d.code)
        .collect()
}

/// The only diagnostic of `src` in strict mode; asserts its code and position.
fn only(src: &[u8], code: Code, line: usize, column: usize) -> Diagnostic {
    only_with(src, &ParseOptions::default(), code, line, column)
}

fn only_with(
    src: &[u8],
    options: &ParseOptions<'_>,
    code: Code,
    line: usize,
    column: usize,
) -> Diagnostic {
    let diagnostics = match run(src, options) {
        Ok(parsed) => parsed.warnings,
        Err(e) => e.diagnostics,
    };
    assert_eq!(
        diagnostics.len(),
        1,
        "{:?}: {diagnostics:#?}",
        String::from_utf8_lossy(src)
    );
    let d = diagnostics.into_iter().next().unwrap();
    assert_eq!((d.code, d.line, d.column), (code, line, column), "{d:#?}");
    d
}

// ---------------------------------------------------------------------------------------------
// The small API.

#[test]
fn names_round_trip() {
    for format in [EnvFormat::Strict, EnvFormat::Kubectl, EnvFormat::Lenient] {
        assert_eq!(EnvFormat::parse(format.as_str()), Some(format));
        assert_eq!(format.to_string(), format.as_str());
    }
    assert_eq!(EnvFormat::default(), EnvFormat::Strict);
    assert_eq!(EnvFormat::parse("Strict"), None);
    for keys in [KeyRule::EnvVar, KeyRule::SecretKey] {
        assert_eq!(KeyRule::parse(keys.as_str()), Some(keys));
    }
    assert_eq!(KeyRule::default(), KeyRule::EnvVar);
    assert_eq!(Code::E006.to_string(), "E006");
    assert_eq!(Code::W101.as_str(), "W101");
    assert_eq!(Code::E017.default_severity(), Severity::Error);
    assert_eq!(Code::W108.default_severity(), Severity::Warning);
    let defaults = ParseOptions::default();
    assert!(!defaults.deny_empty && defaults.environment.is_none());
}
