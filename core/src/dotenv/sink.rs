//! What the three readers share: collecting entries and diagnostics, the key, duplicate, size
//! and warning rules that do not depend on the syntax, masking source lines, and the UTF-8 text
//! check (`E001`).

use std::collections::HashMap;

use super::{
    Diagnostic, Entry, EnvFormat, KeyRule, MASK, MAX_SECRET_DATA, ParseError, ParseOptions, Parsed,
    Severity,
    problem::{Flaw, KeyCheck, KeyName, Problem},
};
use crate::{
    names::{SecretKeyName, is_portable_env_name},
    secret::SecretBytes,
};

/// At most this many `E001`s are reported: a binary file fed by mistake would otherwise produce
/// one per line, and the first few already say "this is not a text file".
pub(super) const MAX_ENCODING_DIAGNOSTICS: usize = 10;

/// Where a diagnostic is shown: position, masked line and caret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Place {
    pub(super) line: usize,
    pub(super) column: usize,
    pub(super) masked_line: Option<String>,
    pub(super) caret: Option<(usize, usize)>,
}

impl Place {
    /// A position without a source line (the line cannot be shown safely).
    pub(super) fn bare(line: usize, column: usize) -> Self {
        Self {
            line,
            column,
            masked_line: None,
            caret: None,
        }
    }
}

/// Where the caret of a diagnostic on a [`Site`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    /// One column at this offset (e.g. where a missing `=` belongs).
    Point(usize),
    /// The shown text between two offsets (a key, whitespace around `=`).
    Span(usize, usize),
    /// The value: its first column, underlining the whole mask. Every problem about the content of
    /// a value uses this, so that no position inside a secret is revealed (§8.4).
    Value,
}

/// The first physical line of a statement and how much of it may be shown.
#[derive(Debug, Clone, Copy)]
pub(super) struct Site<'t> {
    /// 1-based line number.
    pub(super) line: usize,
    /// The physical line, without its line end.
    pub(super) text: &'t str,
    /// Offset of `text[0]` in the coordinates of every other offset used with this site.
    pub(super) base: usize,
    /// Offset where masking starts. Only structure comes before it: indentation, `export`, a key
    /// that is safe to show, whitespace and `=`.
    pub(super) shown: usize,
}

impl Site<'_> {
    /// 1-based column, in characters, of an offset on this line.
    pub(super) fn column(&self, offset: usize) -> usize {
        let rel = offset.saturating_sub(self.base).min(self.text.len());
        // Offsets are always at ASCII structure or at the line's ends, so `rel` is a boundary;
        // fall back to a byte count rather than panic if a caller gets that wrong.
        self.text.get(..rel).map_or(rel, |s| s.chars().count()) + 1
    }

    /// Whether anything after `shown` is masked.
    fn masks_something(&self) -> bool {
        self.shown.saturating_sub(self.base) < self.text.len()
    }

    /// The line with everything from `shown` on replaced by one fixed-width [`MASK`].
    fn masked(&self) -> String {
        let end = self.shown.saturating_sub(self.base).min(self.text.len());
        let prefix = self.text.get(..end).unwrap_or("");
        // Tabs and other control characters would shift the caret line in a terminal.
        let mut out: String = prefix
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if self.masks_something() {
            out.push_str(MASK);
        }
        out
    }

    /// The place of a diagnostic on this line.
    pub(super) fn place(&self, at: At) -> Place {
        let (column, width) = match at {
            At::Point(offset) => (self.column(offset), 1),
            At::Span(from, to) => {
                let column = self.column(from);
                (column, self.column(to).saturating_sub(column).max(1))
            }
            At::Value => {
                let width = if self.masks_something() {
                    MASK.len()
                } else {
                    1
                };
                (self.column(self.shown), width)
            }
        };
        Place {
            line: self.line,
            column,
            masked_line: Some(self.masked()),
            caret: Some((column, width)),
        }
    }
}

/// Collects entries and diagnostics and applies the rules every mode shares.
pub(super) struct Sink<'o, 'a> {
    /// The options of this parse.
    pub(super) options: &'o ParseOptions<'a>,
    entries: Vec<Entry>,
    /// Where each entry's value is, in step with `entries`, for `E017`.
    value_places: Vec<Place>,
    /// First definition of every key: its line and, if it was accepted, its index in `entries`.
    seen: HashMap<String, (usize, Option<usize>)>,
    diagnostics: Vec<Diagnostic>,
}

impl<'o, 'a> Sink<'o, 'a> {
    /// An empty sink for one parse.
    pub(super) fn new(options: &'o ParseOptions<'a>) -> Self {
        Self {
            options,
            entries: Vec::new(),
            value_places: Vec::new(),
            seen: HashMap::new(),
            diagnostics: Vec::new(),
        }
    }

    /// Records a diagnostic. `--deny-empty` raises `W101` to an error here.
    pub(super) fn report(&mut self, problem: Problem, place: Place) {
        let code = problem.code();
        let severity = match code {
            super::Code::W101 if self.options.deny_empty => Severity::Error,
            _ => code.default_severity(),
        };
        self.diagnostics.push(Diagnostic {
            code,
            severity,
            line: place.line,
            column: place.column,
            message: problem.message(),
            hint: problem.hint(),
            masked_line: place.masked_line,
            caret: place.caret,
        });
    }

    /// Records a diagnostic on a site.
    pub(super) fn report_at(&mut self, problem: Problem, site: &Site<'_>, at: At) {
        self.report(problem, site.place(at));
    }

    /// The key as a Secret key if it passes the rule of `--keys` (strict and lenient mode).
    pub(super) fn accept_key(&self, key: &str) -> Option<SecretKeyName> {
        match self.options.keys {
            KeyRule::EnvVar if !is_portable_env_name(key) => None,
            // SecretKeyName also enforces the 253-byte limit for both rules.
            _ => SecretKeyName::parse(key).ok(),
        }
    }

    /// Which rule an `E003` in this parse was checked against.
    pub(super) fn key_check(&self) -> KeyCheck {
        match self.options.format {
            EnvFormat::Kubectl => KeyCheck::Kubectl,
            _ => KeyCheck::Rule(self.options.keys),
        }
    }

    /// Records a definition of `key`. `value` is `None` when the statement had errors: the key
    /// still counts for duplicate detection, so that every duplicate is reported at once.
    /// `show_key` is false for a key that may be a pasted value (kubectl mode, a line without
    /// `=` that does not look like a variable name): messages then describe it instead.
    pub(super) fn define(
        &mut self,
        site: &Site<'_>,
        key: SecretKeyName,
        key_span: (usize, usize),
        value: Option<SecretBytes>,
        from_environment: bool,
        show_key: bool,
    ) {
        let name = KeyName::new(show_key.then_some(key.as_str()));
        let key_at = if show_key {
            At::Span(key_span.0, key_span.1)
        } else {
            At::Value
        };
        if let Some(&(first_line, index)) = self.seen.get(key.as_str()) {
            if self.options.format != EnvFormat::Lenient {
                self.report_at(
                    Problem::DuplicateKey {
                        key: name,
                        first_line,
                    },
                    site,
                    key_at,
                );
                return;
            }
            let Some(value) = value else { return };
            let problem = Problem::DuplicateLastWins {
                key: name.clone(),
                first_line,
            };
            self.report_at(problem, site, key_at);
            self.value_warnings(site, name, &value);
            match index {
                // python-dotenv returns a dict: the key keeps its first position, the value is
                // the last one.
                Some(i) => {
                    let entry = &mut self.entries[i];
                    entry.value = value;
                    entry.line = site.line;
                    self.value_places[i] = site.place(At::Value);
                }
                None => {
                    let i = self.push(site, key.clone(), value, from_environment);
                    self.seen.insert(key.to_string(), (first_line, Some(i)));
                }
            }
            return;
        }
        let index = value.as_ref().map(|_| self.entries.len());
        self.seen.insert(key.to_string(), (site.line, index));
        let lowercase = key.as_str().bytes().any(|b| b.is_ascii_lowercase());
        // W103 is informational; for a key that may be a pasted value, W107 says what matters.
        if self.options.keys == KeyRule::EnvVar && lowercase && show_key {
            self.report_at(Problem::LowercaseKey { key: name.clone() }, site, key_at);
        }
        if let Some(value) = value {
            self.value_warnings(site, name, &value);
            self.push(site, key, value, from_environment);
        }
    }

    /// `W101` and `W102` for an accepted value.
    fn value_warnings(&mut self, site: &Site<'_>, key: KeyName, value: &SecretBytes) {
        let problem = match value.expose().last() {
            None => Problem::EmptyValue { key },
            Some(b'\n') => Problem::TrailingNewline {
                key,
                carriage_return: false,
            },
            Some(b'\r') => Problem::TrailingNewline {
                key,
                carriage_return: true,
            },
            Some(_) => return,
        };
        self.report_at(problem, site, At::Value);
    }

    fn push(
        &mut self,
        site: &Site<'_>,
        key: SecretKeyName,
        value: SecretBytes,
        from_environment: bool,
    ) -> usize {
        self.entries.push(Entry {
            key,
            value,
            line: site.line,
            from_environment,
        });
        self.value_places.push(site.place(At::Value));
        self.entries.len() - 1
    }

    /// Applies the size limit (`E017`) and returns the result: entries and warnings, or every
    /// diagnostic if there is an error. On error the entries are dropped, which wipes the values.
    pub(super) fn finish(mut self) -> Result<Parsed, ParseError> {
        let mut total = 0usize;
        let mut crossing = None;
        for (i, entry) in self.entries.iter().enumerate() {
            total = total.saturating_add(entry.value.len());
            if crossing.is_none() && total > MAX_SECRET_DATA {
                crossing = Some(i);
            }
        }
        if let Some(i) = crossing {
            // Report at the value that crossed the limit: that is where splitting would start.
            let place = self.value_places[i].clone();
            self.report(Problem::TooLarge { total }, place);
        }
        // Stable, so that problems at the same position keep the order they were found in.
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        if self
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
        {
            return Err(ParseError {
                diagnostics: self.diagnostics,
            });
        }
        Ok(Parsed {
            entries: self.entries,
            warnings: self.diagnostics,
        })
    }
}

/// Checks that `source` is UTF-8 text without NUL bytes or lone CRs (strict and lenient mode)
/// and returns it without a leading BOM. Otherwise reports `E001` for each affected line (at most
/// [`MAX_ENCODING_DIAGNOSTICS`]) and returns `None`: with the encoding in doubt, the lines cannot
/// be parsed, let alone shown.
pub(super) fn decode<'s>(source: &'s [u8], sink: &mut Sink<'_, '_>) -> Option<&'s str> {
    let mut found = 0;
    let mut start = 0;
    let mut line = 1;
    while start < source.len() {
        let end = source[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(source.len(), |i| start + i);
        let content = &source[start..end];
        if let Some((at, flaw)) = first_flaw(content, end < source.len()) {
            let column = column_before(content, at, line == 1);
            sink.report(
                Problem::NotText {
                    byte: start + at,
                    flaw,
                },
                Place::bare(line, column),
            );
            found += 1;
            if found == MAX_ENCODING_DIAGNOSTICS {
                break;
            }
        }
        start = end + 1;
        line += 1;
    }
    if found > 0 {
        return None;
    }
    // Every line was checked above, so this succeeds.
    let text = std::str::from_utf8(source).ok()?;
    Some(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// The first byte of a line (without its LF) that makes the file not text, if any.
fn first_flaw(content: &[u8], followed_by_lf: bool) -> Option<(usize, Flaw)> {
    let valid = match std::str::from_utf8(content) {
        Ok(_) => content.len(),
        Err(e) => e.valid_up_to(),
    };
    for (i, &b) in content[..valid].iter().enumerate() {
        if b == 0 {
            return Some((i, Flaw::Nul));
        }
        // Only the CR of a CRLF line end is allowed.
        if b == b'\r' && !(followed_by_lf && i + 1 == content.len()) {
            return Some((i, Flaw::LoneCr));
        }
    }
    (valid < content.len()).then_some((valid, Flaw::NotUtf8))
}

/// 1-based character column of byte `at` in a line whose bytes before `at` are valid UTF-8. A BOM
/// at the start of the first line does not count, as editors do not show it.
pub(super) fn column_before(content: &[u8], at: usize, first_line: bool) -> usize {
    let prefix = std::str::from_utf8(&content[..at]).unwrap_or("");
    let prefix = if first_line {
        prefix.strip_prefix('\u{feff}').unwrap_or(prefix)
    } else {
        prefix
    };
    prefix.chars().count() + 1
}

/// The start offsets of the lines of a text, to turn offsets into line numbers.
#[derive(Debug)]
pub(super) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the LF-separated lines of `text`.
    pub(super) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self { starts }
    }

    /// 1-based line number of an offset.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// Offset where a 1-based line starts.
    pub(super) fn start(&self, line: usize) -> usize {
        self.starts[line - 1]
    }
}

/// The end of the physical line containing `from` (before its CRLF or LF) and the start of the
/// next line (the text's length at the end).
pub(super) fn line_bounds(text: &str, from: usize) -> (usize, usize) {
    match text[from..].find('\n') {
        Some(i) => {
            let nl = from + i;
            let end = if nl > from && text.as_bytes()[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            (end, nl + 1)
        }
        None => (text.len(), text.len()),
    }
}

/// Space or horizontal tab: the `WS` of the grammar.
pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The first offset at or after `from` (and before `to`) that is not a space or tab.
pub(super) fn skip_blanks(text: &str, from: usize, to: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < to && is_blank(bytes[i]) {
        i += 1;
    }
    i
}

/// Whether the text of a line without `=` may be shown: it looks like a conventional variable
/// name (`[A-Z_][A-Z0-9_]*`, at most 64 bytes, with `_` or without digits) rather than a pasted
/// password, token or PEM line, which nearly always mix cases or letters and digits.
pub(super) fn looks_like_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && (bytes.contains(&b'_') || !bytes.iter().any(u8::is_ascii_digit))
}

/// Whether the text before `=` may be shown in an invalid-key error: it consists of Secret key
/// characters (so `my-key` and `1KEY` show, a base64 fragment with `+` or `/` does not).
pub(super) fn showable_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}
