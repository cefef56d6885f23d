//! Parsing `.env` files into Secret data, without ever echoing a value.
//!
//! The contract is `docs/dotenv.md`: [`parse`] reads a dotenv file in one of three ways
//! ([`EnvFormat`]) and returns the `(key, value)` pairs in file order, or every problem in the
//! file at once as [`Diagnostic`]s.
//!
//! - [`EnvFormat::Strict`] (the default) accepts only lines that python-dotenv, Node's dotenv,
//!   dotenvy and docker compose all read the same way (§2–§4); everything else is an error with
//!   a code (`E001`–`E017`) and a hint. Quoting the value is always a way out.
//! - [`EnvFormat::Kubectl`] is byte-for-byte `kubectl create secret generic --from-env-file`
//!   (§5.1), for migrations that must not change a single Secret.
//! - [`EnvFormat::Lenient`] is python-dotenv's reading (§7.1), without interpolation.
//!
//! # Values are never echoed (§4.2)
//!
//! Messages, hints, masked source lines and `Debug` output name keys, lines, columns, byte
//! offsets and sizes, never any part of a value. Three rules go beyond the letter of the spec:
//!
//! - Every error about the *content* of a value (E005–E013, E016) points at the first column of
//!   the value and underlines the fixed-width [`MASK`], not at the offending character, so
//!   neither the position of a character inside a secret nor the value's length leaks (§8.4).
//! - The text of a line without `=` is shown only when it looks like a conventional variable
//!   name (`[A-Z_][A-Z0-9_]*`, containing `_` or no digit, nothing but a comment after it). A
//!   pasted password or a PEM body line on its own line is therefore masked as a whole (`E002`,
//!   `W106`), and in kubectl mode, where such a line becomes a key, every message about that key
//!   describes it instead of quoting it (`W107`, `W101`, `E015`).
//! - The text before `=` in an invalid-key error (`E003`) is shown only when it consists of
//!   Secret-key characters (`[-._a-zA-Z0-9]`), so a base64 line that happens to contain `=` is
//!   not printed either.
//!
//! # Not handled here
//!
//! The module does not read files or the process environment: the caller passes the bytes and,
//! for kubectl mode only, a lookup closure ([`ParseOptions::environment`]).

use std::fmt;

// Kubernetes' `MaxSecretSize` (§6.3): exceeding it is `E017` in every mode.
use crate::{MAX_SECRET_DATA, names::SecretKeyName, secret::SecretBytes};

mod kubectl;
mod lenient;
mod problem;
mod sink;
mod strict;

/// The fixed-width mask that stands in for every value in [`Diagnostic::masked_line`]. Its
/// width never depends on the value, so the value's length does not leak (§4.2).
pub const MASK: &str = "********";

/// Which reading of the file [`parse`] applies (`--env-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EnvFormat {
    /// Exactly `kubectl create secret generic --from-env-file` (§5.1): verbatim values, a bare
    /// `KEY` takes its value from [`ParseOptions::environment`], only invalid keys, duplicates,
    /// invalid UTF-8 and over-long lines are errors.
    Kubectl,
    /// python-dotenv's reading (§7.1), with interpolation always off and unparseable lines kept
    /// as errors (python-dotenv only logs and skips them).
    Lenient,
    /// The strict grammar of §2–§4: only lines that every common dotenv parser reads the same way.
    #[default]
    Strict,
}

impl EnvFormat {
    /// The flag value: `"strict"`, `"kubectl"` or `"lenient"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kubectl => "kubectl",
            Self::Lenient => "lenient",
            Self::Strict => "strict",
        }
    }

    /// The format named by a flag value (exact, lower case), or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kubectl" => Some(Self::Kubectl),
            "lenient" => Some(Self::Lenient),
            "strict" => Some(Self::Strict),
            _ => None,
        }
    }
}

impl fmt::Display for EnvFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which keys [`parse`] accepts (`--keys`) in strict and lenient mode.
///
/// Kubectl mode always applies kubectl's own rule (`IsEnvVarName` plus the Secret key rules);
/// there this setting only decides whether `W103` is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyRule {
    /// `[A-Za-z_][A-Za-z0-9_]*`, at most 253 bytes: valid as a Secret key, as an environment
    /// variable on every cluster version and as a shell name (§6.1). Lower-case letters give
    /// the informational warning `W103`.
    #[default]
    EnvVar,
    /// The Secret data-key charset `[-._a-zA-Z0-9]+` with apimachinery's other rules
    /// ([`SecretKeyName`]); `envFrom` skips such keys on clusters before 1.34 (§6.2).
    SecretKey,
}

impl KeyRule {
    /// The flag value: `"env"` or `"secret"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnvVar => "env",
            Self::SecretKey => "secret",
        }
    }

    /// The rule named by a flag value (`"env"` or `"secret"`), or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "env" => Some(Self::EnvVar),
            "secret" => Some(Self::SecretKey),
            _ => None,
        }
    }
}

/// How [`parse`] reads a file. `ParseOptions::default()` is strict mode with environment-variable
/// keys, empty values allowed (with `W101`) and no environment.
#[derive(Clone, Copy, Default)]
pub struct ParseOptions<'a> {
    /// Which reading of the file.
    pub format: EnvFormat,
    /// Which keys are accepted.
    pub keys: KeyRule,
    /// Make `W101` (empty value) an error (`--deny-empty`).
    pub deny_empty: bool,
    /// Kubectl mode only: where a bare `KEY` line (no `=`) takes its value from; the CLI passes a
    /// closure over the process environment. As in kubectl, a variable that is unset, or a
    /// `None` here, gives an empty value. The entry is marked
    /// [`from_environment`](Entry::from_environment) and `W107` names the key. Strict mode
    /// rejects such lines (`E002`) and lenient mode skips them (`W106`) whatever this is.
    // The CLI is written against exactly this type, and the style guide rules out a type alias.
    #[allow(clippy::type_complexity)]
    pub environment: Option<&'a dyn Fn(&str) -> Option<SecretBytes>>,
}

impl fmt::Debug for ParseOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A closure has no Debug; saying whether one is set is all a reader needs.
        f.debug_struct("ParseOptions")
            .field("format", &self.format)
            .field("keys", &self.keys)
            .field("deny_empty", &self.deny_empty)
            .field("environment", &self.environment.map(|_| "<fn>"))
            .finish()
    }
}

/// One accepted `KEY=value` pair. `Debug` shows the key and the value's length only.
#[derive(Debug)]
pub struct Entry {
    /// The key, valid as a Secret data key by construction.
    pub key: SecretKeyName,
    /// The value's bytes after unquoting and unescaping; never base64-decoded.
    pub value: SecretBytes,
    /// The 1-based line on which the assignment starts (for a duplicate in lenient mode, the line
    /// of the definition that won).
    pub line: usize,
    /// Whether the value came from [`ParseOptions::environment`] (kubectl mode, bare `KEY`).
    pub from_environment: bool,
}

/// The result of a successful [`parse`].
#[derive(Debug, Default)]
pub struct Parsed {
    /// The entries in file order (in lenient mode a repeated key keeps the position of its first
    /// definition and the value of its last, like python-dotenv's dict).
    pub entries: Vec<Entry>,
    /// Warnings, in line order. None of them is an error under the options used.
    pub warnings: Vec<Diagnostic>,
}

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is accepted; the user should still look.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`, as printed in [`Diagnostic::render`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stable code of a diagnostic (`docs/dotenv.md` §4.3). `E` codes are errors and `W` codes
/// warnings, except that `--deny-empty` reports `W101` with [`Severity::Error`].
///
/// Codes above those in the spec: `E018` (kubectl's 64 KiB line limit), `W105`–`W108` (lenient
/// and kubectl mode). `W104` is reserved for a SealedSecret size estimate (§6.3), which needs the
/// certificate and therefore belongs to the sealing step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// Invalid UTF-8, a NUL byte, or a CR not followed by LF (kubectl mode: invalid UTF-8 only).
    E001,
    /// A line with a key but no `=`.
    E002,
    /// A key that breaks the [`KeyRule`] (or kubectl's rule), or no key before `=`.
    E003,
    /// Whitespace directly before or after `=`.
    E004,
    /// Whitespace inside an unquoted value (including a TAB before an inline `#`).
    E005,
    /// `#` inside an unquoted value.
    E006,
    /// `$` in an unquoted or double-quoted value, or `${` in a single-quoted one.
    E007,
    /// A backslash or a quote character inside an unquoted value.
    E008,
    /// A quote that is not closed before the end of the file.
    E009,
    /// Text after the closing quote other than whitespace or a comment.
    E010,
    /// An escape other than `\n`, `\\`, `\"` inside double quotes.
    E011,
    /// `\\` or `\'` inside single quotes.
    E012,
    /// A value in backticks.
    E013,
    /// YAML-style `KEY: value`.
    E014,
    /// A key defined twice (strict and kubectl mode).
    E015,
    /// Trailing whitespace after an unquoted value.
    E016,
    /// The values add up to more than [`MAX_SECRET_DATA`].
    E017,
    /// Kubectl mode: a line of 64 KiB or more, where kubectl's line reader silently stops.
    E018,
    /// An empty value (an error with [`ParseOptions::deny_empty`]).
    W101,
    /// A value that ends with LF or CR.
    W102,
    /// A key with lower-case letters ([`KeyRule::EnvVar`] only).
    W103,
    /// Lenient mode: a key defined again; the last value wins, as in python-dotenv.
    W105,
    /// Lenient mode: a bare `KEY` without `=`, which python-dotenv skips on load.
    W106,
    /// Kubectl mode: a bare `KEY` whose value was taken from the environment.
    W107,
    /// Lenient mode: a value containing `${`, which python-dotenv would expand by default.
    W108,
}

impl Code {
    /// The code as printed: `"E006"`, `"W101"`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::E001 => "E001",
            Self::E002 => "E002",
            Self::E003 => "E003",
            Self::E004 => "E004",
            Self::E005 => "E005",
            Self::E006 => "E006",
            Self::E007 => "E007",
            Self::E008 => "E008",
            Self::E009 => "E009",
            Self::E010 => "E010",
            Self::E011 => "E011",
            Self::E012 => "E012",
            Self::E013 => "E013",
            Self::E014 => "E014",
            Self::E015 => "E015",
            Self::E016 => "E016",
            Self::E017 => "E017",
            Self::E018 => "E018",
            Self::W101 => "W101",
            Self::W102 => "W102",
            Self::W103 => "W103",
            Self::W105 => "W105",
            Self::W106 => "W106",
            Self::W107 => "W107",
            Self::W108 => "W108",
        }
    }

    /// The severity the code has unless an option raises it (`E…` → error, `W…` → warning).
    pub fn default_severity(self) -> Severity {
        if self.as_str().starts_with('E') {
            Severity::Error
        } else {
            Severity::Warning
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in the input, located and explained without any part of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// Error or warning under the options used.
    pub severity: Severity,
    /// 1-based line. For a problem inside a multi-line value, the line where the value starts.
    pub line: usize,
    /// 1-based column in characters (not bytes) of the source line; a BOM does not count. For a
    /// problem inside a value, the value's first column.
    pub column: usize,
    /// What is wrong, lower case, e.g. `'#' inside an unquoted value`. Never any part of a value.
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// The source line with every value replaced by [`MASK`], so neither content nor length
    /// leaks; tabs and other control characters become spaces so that the caret lines up.
    /// `None` when the line cannot be shown safely (`E001`, `E018`).
    pub masked_line: Option<String>,
    /// The caret's 1-based start column and its width (at least 1) within `masked_line`.
    pub caret: Option<(usize, usize)>,
}

impl Diagnostic {
    /// The diagnostic as a block of lines in the shape of §4.1, naming `file` (as the user wrote
    /// it). Lines are separated by `\n` and there is no trailing newline; the caller adds one.
    ///
    /// ```text
    /// kseal: .env.staging:12:13: error[E006]: '#' inside an unquoted value
    ///    12 | DB_PASSWORD=********
    ///       |             ^^^^^^^^
    /// kseal: hint: quote the value; for Node's dotenv `#` starts a comment
    /// ```
    pub fn render(&self, file: &str) -> String {
        let mut out = format!(
            "kseal: {file}:{}:{}: {}[{}]: {}",
            self.line, self.column, self.severity, self.code, self.message
        );
        if let Some(masked) = &self.masked_line {
            // The gutter is five columns wide like the spec's example, wider for huge files.
            let width = self.line.to_string().len().max(5);
            out.push_str(&format!("\n{:>width$} | {masked}", self.line));
            if let Some((start, len)) = self.caret {
                let pad = " ".repeat(start.saturating_sub(1));
                out.push_str(&format!(
                    "\n{:>width$} | {pad}{}",
                    "",
                    "^".repeat(len.max(1))
                ));
            }
        }
        out.push_str(&format!("\nkseal: hint: {}", self.hint));
        out
    }
}

impl fmt::Display for Diagnostic {
    /// One line without the file name: `12:13: error[E006]: '#' inside an unquoted value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}[{}]: {}",
            self.line, self.column, self.severity, self.code, self.message
        )
    }
}

/// The file was rejected. Holds every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", summary(.diagnostics))]
pub struct ParseError {
    /// Errors and warnings, sorted by line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl ParseError {
    /// The diagnostics with [`Severity::Error`].
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

/// `"1 error in .env input"`, `"3 errors in .env input"`: a count, never a value.
fn summary(diagnostics: &[Diagnostic]) -> String {
    let n = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    format!("{n} error{} in .env input", if n == 1 { "" } else { "s" })
}

/// Parses a dotenv file.
///
/// Returns the entries in file order plus any warnings, or — if there is at least one error —
/// all diagnostics (errors and warnings) in line order. Never touches the file system or the
/// environment; in kubectl mode a bare `KEY` asks [`ParseOptions::environment`].
pub fn parse(source: &[u8], options: &ParseOptions<'_>) -> Result<Parsed, ParseError> {
    let mut sink = sink::Sink::new(options);
    match options.format {
        EnvFormat::Kubectl => kubectl::parse(source, &mut sink),
        EnvFormat::Lenient => lenient::parse(source, &mut sink),
        EnvFormat::Strict => strict::parse(source, &mut sink),
    }
    sink.finish()
}

#[cfg(test)]
mod tests;
