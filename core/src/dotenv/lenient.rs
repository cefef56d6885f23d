//! python-dotenv's reading (`src/dotenv/parser.py`, `docs/dotenv.md` §7.1), without interpolation.
//!
//! The reader follows python-dotenv's regular expressions binding by binding: `export` prefix,
//! an unquoted key `[^=#\s]+` or a single-quoted one, blanks around `=` trimmed, single-quoted
//! values with `\\` and `\'` decoded, double-quoted values with `\\ \' \" \a \b \f \n \r \t \v`
//! decoded, both possibly over several lines, unquoted values cut at the first `#` that follows
//! whitespace and right-trimmed, and a comment allowed right after a closing quote.
//!
//! Where python-dotenv itself has been fixed (1.2.3, 1.2.4) the fixed behaviour is used: a BOM
//! is removed, `KEY=  # comment` is empty, and `\\` before a closing quote does not escape it.
//! Differences by design: `${...}` is never expanded (`W108` says so), lines python-dotenv skips
//! with a logged warning are errors with a code, and an unterminated quote (where python-dotenv's
//! backtracking may still find some closing quote) is `E009`.

use zeroize::Zeroizing;

use super::{
    problem::Problem,
    sink::{self, At, LineIndex, Sink, Site, looks_like_name, showable_key},
    strict::into_secret,
};

/// Reads `source` the way python-dotenv does into `sink`.
pub(super) fn parse(source: &[u8], sink: &mut Sink<'_, '_>) {
    let Some(text) = sink::decode(source, sink) else {
        return;
    };
    let mut reader = Lenient {
        text,
        index: LineIndex::new(text),
        sink,
    };
    let mut pos = 0;
    loop {
        // `_multiline_whitespace`: blank lines and indentation between bindings.
        pos = reader.skip(pos, is_py_space);
        if pos >= text.len() {
            break;
        }
        match reader.binding(pos) {
            Some(next) => pos = next,
            // An unterminated quote swallowed the rest of the file.
            None => break,
        }
    }
}

/// Python's `str.isspace`, which is what `\s` matches in python-dotenv's patterns.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `[^\S\r\n]`: whitespace that does not end a line.
fn is_py_blank(c: char) -> bool {
    is_py_space(c) && c != '\n' && c != '\r'
}

/// What follows a key.
enum Value {
    /// No `=`: python-dotenv's `None`.
    Absent,
    /// A quoted value, whose closing quote may be followed by junk (E010).
    Quoted(Zeroizing<Vec<u8>>),
    /// An unquoted value (always up to the end of the line).
    Unquoted(Zeroizing<Vec<u8>>),
}

/// The reader's state: the text, its line starts, and where results go.
struct Lenient<'t, 's, 'o, 'a> {
    text: &'t str,
    index: LineIndex,
    sink: &'s mut Sink<'o, 'a>,
}

impl<'t> Lenient<'t, '_, '_, '_> {
    /// The first offset at or after `from` whose character does not satisfy `skip`.
    fn skip(&self, from: usize, skip: fn(char) -> bool) -> usize {
        self.text[from..]
            .char_indices()
            .find(|&(_, c)| !skip(c))
            .map_or(self.text.len(), |(i, _)| from + i)
    }

    /// Reads one binding starting at `start` (not whitespace). Returns where the next one may
    /// start, or `None` after an unterminated quote.
    fn binding(&mut self, start: usize) -> Option<usize> {
        let text = self.text;
        let line = self.index.line(start);
        let line_start = self.index.start(line);
        let (line_end, _) = sink::line_bounds(text, line_start);
        let site = |shown| Site {
            line,
            text: &text[line_start..line_end],
            base: line_start,
            shown,
        };

        // `(?:export[^\S\r\n]+)?`
        let mut pos = start;
        if text[pos..].starts_with("export") {
            let after = self.skip(pos + 6, is_py_blank);
            if after > pos + 6 {
                pos = after;
            }
        }
        let key_start = pos;
        let key = match text[pos..].chars().next() {
            // A comment line: no key, and `_comment` below consumes it.
            Some('#') => None,
            Some('\'') => {
                // `'([^']+)'`
                match text[pos + 1..].find('\'') {
                    Some(len) if len > 0 => {
                        pos += len + 2;
                        Some((key_start + 1, key_start + 1 + len))
                    }
                    _ => {
                        let problem = Problem::InvalidKey {
                            key: None,
                            check: self.sink.key_check(),
                        };
                        return Some(self.fail(problem, &site(key_start), At::Value, pos));
                    }
                }
            }
            _ => {
                // `[^=#\s]+`
                pos = self.skip(pos, |c| c != '=' && c != '#' && !is_py_space(c));
                if pos == key_start {
                    let problem = Problem::InvalidKey {
                        key: Some(String::new()),
                        check: self.sink.key_check(),
                    };
                    return Some(self.fail(problem, &site(key_start), At::Point(key_start), pos));
                }
                Some((key_start, pos))
            }
        };
        pos = self.skip(pos, is_py_blank);
        // Text before `=` that is not made of key characters is never shown, whatever the
        // problem on the line (it may be a base64 fragment).
        let key_visible = key.is_none_or(|(s, e)| showable_key(&text[s..e]));
        let value_site = |value_start| site(if key_visible { value_start } else { key_start });

        let mut value = Value::Absent;
        let mut value_start = pos;
        if key.is_some() && text[pos..].starts_with('=') {
            value_start = self.skip(pos + 1, is_py_blank);
            let blank_before = value_start > pos + 1;
            value = self.value(&value_site(value_start), value_start, blank_before)?;
            pos = match value {
                Value::Quoted(_) => self.closing_quote_end(value_start)?,
                _ => sink::line_bounds(text, value_start).0,
            };
        }

        // `_comment`, then `_end_of_line`.
        let after = self.skip(pos, is_py_blank);
        if text[after..].starts_with('#') {
            pos = sink::line_bounds(text, after).0;
        }
        let eol = self.skip(pos, is_py_blank);
        let at_eol = eol == text.len() || matches!(text.as_bytes()[eol], b'\n' | b'\r');
        let Some((key_start, key_end)) = key else {
            return Some(sink::line_bounds(text, eol).1);
        };
        let key_text = &text[key_start..key_end];
        if !at_eol {
            let value_shown = if key_visible { value_start } else { key_start };
            return Some(self.junk(key_text, &value, key_start, value_shown, eol, &site));
        }
        let next = sink::line_bounds(text, eol).1;
        let bytes = match value {
            Value::Absent => {
                let key = looks_like_name(key_text).then(|| key_text.to_owned());
                let shown = if key.is_some() {
                    self.skip(key_end, is_py_blank)
                } else {
                    key_start
                };
                let at = if key.is_some() {
                    At::Span(key_start, key_end)
                } else {
                    At::Value
                };
                self.sink
                    .report_at(Problem::BareKeySkipped { key }, &site(shown), at);
                return Some(next);
            }
            Value::Quoted(bytes) | Value::Unquoted(bytes) => bytes,
        };
        let Some(name) = self.sink.accept_key(key_text) else {
            let showable = showable_key(key_text);
            let site = site(if showable { value_start } else { key_start });
            let at = if showable {
                At::Span(key_start, key_end)
            } else {
                At::Value
            };
            let problem = Problem::InvalidKey {
                key: showable.then(|| key_text.to_owned()),
                check: self.sink.key_check(),
            };
            self.sink.report_at(problem, &site, at);
            return Some(next);
        };
        let site = site(value_start);
        if bytes.windows(2).any(|w| w == b"${") {
            self.sink.report_at(
                Problem::InterpolationIgnored {
                    key: key_text.to_owned(),
                },
                &site,
                At::Value,
            );
        }
        self.sink.define(
            &site,
            name,
            (key_start, key_end),
            Some(into_secret(bytes)),
            false,
            true,
        );
        Some(next)
    }

    /// `parse_value`: the value at `start` (after `=` and blanks). `None` after E009.
    fn value(&mut self, site: &Site<'_>, start: usize, blank_before: bool) -> Option<Value> {
        let text = self.text;
        let Some(first) = text[start..].chars().next() else {
            return Some(Value::Unquoted(Zeroizing::default()));
        };
        match first {
            '\'' | '"' => {
                let Some(close) = self.closing_quote(start) else {
                    let problem = Problem::UnterminatedQuote {
                        line: site.line,
                        column: site.column(start),
                    };
                    self.sink.report_at(problem, site, At::Value);
                    return None;
                };
                Some(Value::Quoted(decode(&text[start + 1..close], first == '"')))
            }
            '\n' | '\r' => Some(Value::Unquoted(Zeroizing::default())),
            _ => {
                let part = &text[start..sink::line_bounds(text, start).0];
                // python-dotenv ≥ 1.2.4: a value that is only a comment is empty.
                if blank_before && part.starts_with('#') {
                    return Some(Value::Unquoted(Zeroizing::default()));
                }
                Some(Value::Unquoted(Zeroizing::new(
                    unquoted(part).as_bytes().to_vec(),
                )))
            }
        }
    }

    /// The offset of the quote closing the one at `open`: the first one not escaped by a
    /// backslash, where `\\` is an escaped backslash.
    fn closing_quote(&self, open: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let quote = bytes[open];
        let mut i = open + 1;
        loop {
            match bytes.get(i) {
                None => return None,
                Some(b'\\') if matches!(bytes.get(i + 1), Some(&b) if b == quote || b == b'\\') => {
                    i += 2
                }
                Some(&b) if b == quote => return Some(i),
                Some(_) => i += 1,
            }
        }
    }

    /// The offset after the closing quote of the value opened at `open`.
    fn closing_quote_end(&self, open: usize) -> Option<usize> {
        self.closing_quote(open).map(|close| close + 1)
    }

    /// A binding followed by text python-dotenv cannot read (`_end_of_line` fails at `eol`).
    /// `value_shown` is where masking starts for a problem with the value.
    fn junk(
        &mut self,
        key_text: &str,
        value: &Value,
        key_start: usize,
        value_shown: usize,
        eol: usize,
        site: &dyn Fn(usize) -> Site<'t>,
    ) -> usize {
        let (end, _) = sink::line_bounds(self.text, eol);
        let (problem, site, at) = match value {
            Value::Quoted(_) | Value::Unquoted(_) => {
                (Problem::TextAfterQuote, site(value_shown), At::Value)
            }
            Value::Absent
                if key_text.ends_with(':') && showable_key(&key_text[..key_text.len() - 1]) =>
            {
                let colon = key_start + key_text.len() - 1;
                (Problem::ColonSeparator, site(eol), At::Point(colon))
            }
            // `FOO BAR=1`: the key python-dotenv would need contains whitespace.
            Value::Absent if self.text[eol..end].contains('=') => {
                let problem = Problem::InvalidKey {
                    key: None,
                    check: self.sink.key_check(),
                };
                (problem, site(key_start), At::Value)
            }
            // `FOO bar`: not shown, as the first word of a pasted passphrase looks like a key.
            Value::Absent => (
                Problem::MissingEquals { key: None },
                site(key_start),
                At::Value,
            ),
        };
        self.fail(problem, &site, at, eol)
    }

    /// Reports a problem that makes python-dotenv skip the rest of the line from `from`, and
    /// returns where the next line starts (`_rest_of_line`).
    fn fail(&mut self, problem: Problem, site: &Site<'_>, at: At, from: usize) -> usize {
        self.sink.report_at(problem, site, at);
        sink::line_bounds(self.text, from).1
    }
}

/// `parse_unquoted_value`: `re.sub(r"\s+#.*", "", part).rstrip()`.
fn unquoted(part: &str) -> &str {
    let mut previous_space = false;
    let mut cut = part.len();
    for (i, c) in part.char_indices() {
        if c == '#' && previous_space {
            cut = i;
            break;
        }
        previous_space = is_py_space(c);
    }
    part[..cut].trim_end_matches(is_py_space)
}

/// `decode_escapes`: single-quoted values decode `\\` and `\'`, double-quoted ones also `\"` and
/// `\a \b \f \n \r \t \v`; any other backslash stays. CRLF becomes LF, as Python's universal
/// newlines do when python-dotenv opens the file.
fn decode(content: &str, double: bool) -> Zeroizing<Vec<u8>> {
    let bytes = content.as_bytes();
    // Allocated once at its final bound, so that no reallocation leaves a copy of the secret.
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\r' {
            i += 1;
            continue;
        }
        if b == b'\\' {
            let decoded = match (bytes.get(i + 1), double) {
                (Some(b'\\'), _) => Some(b'\\'),
                (Some(b'\''), _) => Some(b'\''),
                (Some(b'"'), true) => Some(b'"'),
                (Some(b'a'), true) => Some(0x07),
                (Some(b'b'), true) => Some(0x08),
                (Some(b'f'), true) => Some(0x0c),
                (Some(b'n'), true) => Some(b'\n'),
                (Some(b'r'), true) => Some(b'\r'),
                (Some(b't'), true) => Some(b'\t'),
                (Some(b'v'), true) => Some(0x0b),
                _ => None,
            };
            if let Some(d) = decoded {
                out.push(d);
                i += 2;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}
