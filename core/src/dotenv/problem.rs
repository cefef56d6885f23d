//! Every message and hint of the `.env` diagnostics, in one place.
//!
//! A [`Problem`] carries only public data: keys that are safe to show, line and column numbers,
//! byte offsets and sizes. There is deliberately no variant that could hold value bytes.

use super::{Code, KeyRule, MAX_SECRET_DATA};

/// What made a file fail the UTF-8 text check (`E001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flaw {
    /// A CR not followed by LF.
    LoneCr,
    /// A byte sequence that is not UTF-8.
    NotUtf8,
    /// A NUL byte.
    Nul,
}

/// The key rule an `E003` was checked against, for the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyCheck {
    /// kubectl's `IsEnvVarName` plus the Secret key rules.
    Kubectl,
    /// The rule chosen with `--keys`.
    Rule(KeyRule),
}

/// Which quotes a `$` was found in (`E007`), for the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dollar {
    /// Unquoted or double-quoted: compose and dotenvy substitute.
    Expanded,
    /// `${` inside single quotes: python-dotenv substitutes even there (§8.2).
    SingleQuoted,
}

/// A key as a message names it. A key read from a line without `=` that does not look like a
/// variable name may be a pasted value (kubectl mode makes it a key all the same), so it is
/// described instead of quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyName(Option<String>);

impl KeyName {
    /// A key that may be shown, or `None` for one that must not.
    pub(super) fn new(key: Option<&str>) -> Self {
        Self(key.map(str::to_owned))
    }

    /// `'FOO'`, or `the key on this line`.
    fn subject(&self) -> String {
        self.0
            .as_ref()
            .map_or_else(|| "the key on this line".into(), |k| format!("'{k}'"))
    }

    /// `key 'FOO'`, or `key`.
    fn noun(&self) -> String {
        self.0
            .as_ref()
            .map_or_else(|| "key".into(), |k| format!("key '{k}'"))
    }
}

/// One diagnosable problem with its public parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Problem {
    /// E001.
    NotText { byte: usize, flaw: Flaw },
    /// E002; `key` is `None` when the line's text must not be shown.
    MissingEquals { key: Option<String> },
    /// E003; `key` is `None` when the text must not be shown. An empty key is `Some("")`.
    InvalidKey {
        key: Option<String>,
        check: KeyCheck,
    },
    /// E004.
    WhitespaceAroundEquals,
    /// E005.
    WhitespaceInValue,
    /// E006.
    HashInValue,
    /// E007.
    DollarInValue(Dollar),
    /// E008.
    BackslashOrQuoteInValue,
    /// E009.
    UnterminatedQuote { line: usize, column: usize },
    /// E010.
    TextAfterQuote,
    /// E011.
    UnsupportedEscape,
    /// E012.
    EscapeInSingleQuotes,
    /// E013.
    Backtick,
    /// E014.
    ColonSeparator,
    /// E015.
    DuplicateKey { key: KeyName, first_line: usize },
    /// E016.
    TrailingWhitespace,
    /// E017.
    TooLarge { total: usize },
    /// E018.
    LineTooLong { bytes: usize },
    /// W101.
    EmptyValue { key: KeyName },
    /// W102; `carriage_return` tells CR from LF.
    TrailingNewline { key: KeyName, carriage_return: bool },
    /// W103.
    LowercaseKey { key: KeyName },
    /// W105.
    DuplicateLastWins { key: KeyName, first_line: usize },
    /// W106; `key` is `None` when the line's text must not be shown.
    BareKeySkipped { key: Option<String> },
    /// W107; `set` tells whether the variable existed.
    FromEnvironment { key: KeyName, set: bool },
    /// W108.
    InterpolationIgnored { key: String },
}

impl Problem {
    /// The code this problem is reported under.
    pub(super) fn code(&self) -> Code {
        match self {
            Self::NotText { .. } => Code::E001,
            Self::MissingEquals { .. } => Code::E002,
            Self::InvalidKey { .. } => Code::E003,
            Self::WhitespaceAroundEquals => Code::E004,
            Self::WhitespaceInValue => Code::E005,
            Self::HashInValue => Code::E006,
            Self::DollarInValue(_) => Code::E007,
            Self::BackslashOrQuoteInValue => Code::E008,
            Self::UnterminatedQuote { .. } => Code::E009,
            Self::TextAfterQuote => Code::E010,
            Self::UnsupportedEscape => Code::E011,
            Self::EscapeInSingleQuotes => Code::E012,
            Self::Backtick => Code::E013,
            Self::ColonSeparator => Code::E014,
            Self::DuplicateKey { .. } => Code::E015,
            Self::TrailingWhitespace => Code::E016,
            Self::TooLarge { .. } => Code::E017,
            Self::LineTooLong { .. } => Code::E018,
            Self::EmptyValue { .. } => Code::W101,
            Self::TrailingNewline { .. } => Code::W102,
            Self::LowercaseKey { .. } => Code::W103,
            Self::DuplicateLastWins { .. } => Code::W105,
            Self::BareKeySkipped { .. } => Code::W106,
            Self::FromEnvironment { .. } => Code::W107,
            Self::InterpolationIgnored { .. } => Code::W108,
        }
    }

    /// The one-line message (lower case, no trailing period, no value).
    pub(super) fn message(&self) -> String {
        match self {
            Self::NotText { byte, flaw } => {
                let what = match flaw {
                    Flaw::LoneCr => " (a CR not followed by LF)",
                    Flaw::NotUtf8 => "",
                    Flaw::Nul => " (a NUL byte)",
                };
                format!("file is not valid UTF-8 text at byte {byte}{what}")
            }
            Self::MissingEquals { key: Some(key) } => format!("missing '=' after key '{key}'"),
            Self::MissingEquals { key: None } => {
                "missing '=' (the line is not shown because it may be part of a value)".into()
            }
            Self::InvalidKey { key: Some(key), .. } if key.is_empty() => {
                "missing key before '='".into()
            }
            Self::InvalidKey { key: Some(key), .. } => format!("invalid key '{key}'"),
            Self::InvalidKey { key: None, .. } => {
                "invalid key (not shown because it may be part of a value)".into()
            }
            Self::WhitespaceAroundEquals => "whitespace around '='".into(),
            Self::WhitespaceInValue => "unquoted value contains whitespace".into(),
            Self::HashInValue => "'#' inside an unquoted value".into(),
            Self::DollarInValue(Dollar::Expanded) => {
                "'$' in a value that some parsers expand".into()
            }
            Self::DollarInValue(Dollar::SingleQuoted) => {
                "'${' in a single-quoted value, which python-dotenv expands".into()
            }
            Self::BackslashOrQuoteInValue => "backslash or quote inside an unquoted value".into(),
            Self::UnterminatedQuote { line, column } => {
                format!("unterminated quote opened at line {line}, column {column}")
            }
            Self::TextAfterQuote => "unexpected text after the closing quote".into(),
            Self::UnsupportedEscape => "unsupported escape sequence".into(),
            Self::EscapeInSingleQuotes => "escape sequence inside single quotes".into(),
            Self::Backtick => "backtick quotes are not supported".into(),
            Self::ColonSeparator => "':' is not a separator".into(),
            Self::DuplicateKey { key, first_line } => {
                format!(
                    "duplicate {} (first defined at line {first_line})",
                    key.noun()
                )
            }
            Self::TrailingWhitespace => "trailing whitespace after the value".into(),
            Self::TooLarge { total } => format!(
                "Secret data would be {total} bytes; the Kubernetes limit is 1 MiB ({MAX_SECRET_DATA} bytes)"
            ),
            Self::LineTooLong { bytes } => {
                format!("line is {bytes} bytes long; kubectl reads lines of at most 65535 bytes")
            }
            Self::EmptyValue { key } => format!("empty value for {}", key.subject()),
            Self::TrailingNewline {
                key,
                carriage_return: false,
            } => {
                format!("value of {} ends with a newline", key.subject())
            }
            Self::TrailingNewline {
                key,
                carriage_return: true,
            } => {
                format!("value of {} ends with a carriage return", key.subject())
            }
            Self::LowercaseKey { key } => format!("{} is not upper case", key.noun()),
            Self::DuplicateLastWins { key, first_line } => {
                let key = key.noun();
                format!("duplicate {key} (first defined at line {first_line}); the last value wins")
            }
            Self::BareKeySkipped { key: Some(key) } => {
                format!("no '=' after key '{key}'; the line is skipped")
            }
            Self::BareKeySkipped { key: None } => {
                "line without '=' is skipped (not shown because it may be part of a value)".into()
            }
            Self::FromEnvironment { key, set: true } => {
                format!("value of {} is taken from the environment", key.subject())
            }
            Self::FromEnvironment { key, set: false } => {
                format!(
                    "{} is not set in the environment; its value is empty",
                    key.subject()
                )
            }
            Self::InterpolationIgnored { key } => {
                format!("value of '{key}' contains '${{', which is kept literally")
            }
        }
    }

    /// The remedy, for the `kseal: hint:` line.
    pub(super) fn hint(&self) -> String {
        match self {
            Self::NotText { .. } => "save the file as UTF-8 with LF or CRLF line ends".into(),
            Self::MissingEquals { key } => {
                let key = key.as_deref().unwrap_or("KEY");
                format!(
                    "kseal never takes values from the environment; write `{key}=` for an empty value"
                )
            }
            Self::InvalidKey { check: KeyCheck::Rule(KeyRule::EnvVar), .. } => {
                "use `[A-Za-z_][A-Za-z0-9_]*`, or `--keys=secret` for Secret-only keys".into()
            }
            Self::InvalidKey { check: KeyCheck::Rule(KeyRule::SecretKey), .. } => {
                "Secret data keys use `[-._a-zA-Z0-9]`, are at most 253 bytes, and are not '.' \
                 or start with '..'"
                    .into()
            }
            Self::InvalidKey { check: KeyCheck::Kubectl, .. } => {
                "kubectl's IsEnvVarName requires `[-._a-zA-Z][-._a-zA-Z0-9]*` not starting with \
                 '..', so no `export` and no space before '='; use --env-format=strict for dotenv \
                 syntax"
                    .into()
            }
            Self::WhitespaceAroundEquals => "kubectl rejects the key `KEY `, SOPS keeps it in the key, \
                 dotenv libraries trim it; remove it"
                .into(),
            Self::WhitespaceInValue => {
                "put the value in quotes; an inline comment needs a space (not a tab) right before '#'"
                    .into()
            }
            Self::HashInValue => "quote the value; for Node's dotenv `#` starts a comment".into(),
            Self::DollarInValue(Dollar::Expanded) => {
                "compose and dotenvy substitute variables; use single quotes for a literal `$`".into()
            }
            Self::DollarInValue(Dollar::SingleQuoted) => {
                "python-dotenv expands `${...}` even in single quotes, so no quoting keeps it literal \
                 everywhere; use --env-format=kubectl or lenient if no consumer expands it"
                    .into()
            }
            Self::BackslashOrQuoteInValue => "parsers disagree; quote the whole value".into(),
            Self::UnterminatedQuote { .. } => {
                "close the quote; everything after it up to the end of the file was read as the value"
                    .into()
            }
            Self::TextAfterQuote => "put the whole value inside the quotes".into(),
            Self::UnsupportedEscape => {
                "parsers disagree on escapes; write the character itself or use single quotes".into()
            }
            Self::EscapeInSingleQuotes => {
                "python-dotenv and compose decode it, others keep it; use double quotes".into()
            }
            Self::Backtick => {
                "only Node's dotenv understands them; use single or double quotes".into()
            }
            Self::ColonSeparator => "use '='".into(),
            Self::DuplicateKey { .. } => {
                "remove one; kubectl rejects duplicates, dotenv libraries quietly keep the last".into()
            }
            Self::TrailingWhitespace => {
                "kubectl keeps it, dotenv libraries drop it; remove it or quote the value".into()
            }
            Self::TooLarge { .. } => "split the values over several Secrets".into(),
            Self::LineTooLong { .. } => "kubectl's line reader stops at such a line and silently drops \
                 the rest of the file; use --env-format=strict with a quoted value"
                .into(),
            Self::EmptyValue { .. } => "`--deny-empty` turns this into an error".into(),
            Self::TrailingNewline { .. } => {
                "usually a paste or `echo`/CRLF accident; remove the final line break if it is not \
                 intended"
                    .into()
            }
            Self::LowercaseKey { .. } => {
                "informational; same as dotenv-linter's `LowercaseKey`".into()
            }
            Self::DuplicateLastWins { .. } => {
                "python-dotenv keeps the last value; remove the other definitions".into()
            }
            Self::BareKeySkipped { .. } => {
                "python-dotenv returns no value for it and skips it on load; write `KEY=` for an \
                 empty value"
                    .into()
            }
            Self::FromEnvironment { key: KeyName(Some(_)), .. } => {
                "kubectl copies the variable from the environment of whoever runs it; write the \
                 value into the file to make the Secret reproducible"
                    .into()
            }
            Self::FromEnvironment { key: KeyName(None), .. } => {
                "the line does not look like a variable name; if it is a pasted value, remove it: \
                 kubectl would store it as a key, in plain text"
                    .into()
            }
            Self::InterpolationIgnored { .. } => {
                "python-dotenv expands `${...}` by default (interpolate=True); kseal never does, so \
                 the sealed value keeps the text as written"
                    .into()
            }
        }
    }
}
