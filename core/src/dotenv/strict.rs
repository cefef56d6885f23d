//! The strict reading (`docs/dotenv.md` §2–§4): only what python-dotenv, Node's dotenv, dotenvy and
//! docker compose read the same way.
//!
//! Each statement is one line, or several when a quoted value spans lines. After a problem the
//! reader still consumes the statement's value (including a multi-line quoted one), so that the
//! following lines are never misread as keys, which could echo pieces of a value.

use zeroize::Zeroizing;

use super::{
    problem::{Dollar, Problem},
    sink::{self, At, LineIndex, Sink, Site, is_blank, looks_like_name, showable_key, skip_blanks},
};
use crate::secret::SecretBytes;

/// Reads `source` in strict mode into `sink`.
pub(super) fn parse(source: &[u8], sink: &mut Sink<'_, '_>) {
    let Some(text) = sink::decode(source, sink) else {
        return;
    };
    let mut reader = Strict {
        text,
        index: LineIndex::new(text),
        sink,
    };
    let mut pos = 0;
    while pos < text.len() {
        pos = reader.statement(pos);
    }
}

/// Moves finished value bytes (kept in a wiping buffer while under construction, so that a
/// broken statement leaves nothing behind) into a secret without copying them.
pub(super) fn into_secret(mut scratch: Zeroizing<Vec<u8>>) -> SecretBytes {
    SecretBytes::new(std::mem::take(&mut *scratch))
}

/// Whitespace other than space and tab that some parser trims from an unquoted value: Python's
/// `str.isspace` (adds `\x1c`–`\x1f`), JavaScript's `trim` (adds U+FEFF) and Unicode spaces.
pub(super) fn is_other_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}' || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The reader's state: the text, its line starts, and where results go.
struct Strict<'t, 's, 'o, 'a> {
    text: &'t str,
    index: LineIndex,
    sink: &'s mut Sink<'o, 'a>,
}

impl<'t> Strict<'t, '_, '_, '_> {
    /// Reads the statement starting at line start `start`; returns where the next line starts.
    fn statement(&mut self, start: usize) -> usize {
        let text = self.text;
        let bytes = text.as_bytes();
        let (end, next) = sink::line_bounds(text, start);
        let line = self.index.line(start);
        let site = |shown| Site {
            line,
            text: &text[start..end],
            base: start,
            shown,
        };

        let first = skip_blanks(text, start, end);
        if first == end || bytes[first] == b'#' {
            return next;
        }
        // `export` is a prefix only when a key follows it; `export=1` and `export =1` name a key
        // `export` (the latter then gets E004).
        let mut key_start = first;
        if text[first..end].starts_with("export") {
            let after = skip_blanks(text, first + 6, end);
            if after > first + 6 && after < end && bytes[after] != b'=' {
                key_start = after;
            }
        }
        let Some(eq) = text[key_start..end].find('=').map(|i| key_start + i) else {
            self.bare_line(key_start, end, &site);
            return next;
        };
        if self.colon_separator(key_start, eq, &site) {
            return next;
        }

        let mut key_end = eq;
        while key_end > key_start && is_blank(bytes[key_end - 1]) {
            key_end -= 1;
        }
        let key = &text[key_start..key_end];
        let value_start = skip_blanks(text, eq + 1, end);
        let accepted = self.sink.accept_key(key);
        let showable = accepted.is_some() || key.is_empty() || showable_key(key);
        let site = site(if showable { value_start } else { key_start });

        let mut clean = true;
        if accepted.is_none() {
            let problem = Problem::InvalidKey {
                key: showable.then(|| key.to_owned()),
                check: self.sink.key_check(),
            };
            let at = match (key.is_empty(), showable) {
                (true, _) => At::Point(eq),
                (false, true) => At::Span(key_start, key_end),
                (false, false) => At::Value,
            };
            self.sink.report_at(problem, &site, at);
            clean = false;
        }
        let blank_after = value_start > eq + 1;
        if showable && (key_end < eq || blank_after) {
            let from = if key_end < eq { key_end } else { eq + 1 };
            let to = if blank_after { value_start } else { eq };
            self.sink
                .report_at(Problem::WhitespaceAroundEquals, &site, At::Span(from, to));
            clean = false;
        }

        let (value, next) = self.value(&site, value_start, end, next, blank_after);
        if let Some(key) = accepted {
            // A broken statement defines no value, but its key still counts for E015.
            let value = value.filter(|_| clean).map(into_secret);
            self.sink
                .define(&site, key, (key_start, key_end), value, false, true);
        }
        next
    }

    /// A line with something on it but no `=`: E014 for `KEY: value`, otherwise E002.
    fn bare_line(&mut self, key_start: usize, end: usize, site: &dyn Fn(usize) -> Site<'t>) {
        let bytes = self.text.as_bytes();
        let mut body_end = end;
        while body_end > key_start && is_blank(bytes[body_end - 1]) {
            body_end -= 1;
        }
        if self.colon_separator(key_start, body_end, site) {
            return;
        }
        let word_end = (key_start..body_end)
            .find(|&i| is_blank(bytes[i]))
            .unwrap_or(body_end);
        let word = &self.text[key_start..word_end];
        // Only `NAME` or `NAME # comment`: with more text after it, the word may be the first
        // word of a pasted passphrase.
        let rest = skip_blanks(self.text, word_end, end);
        if looks_like_name(word) && (rest == end || bytes[rest] == b'#') {
            let site = site(rest);
            self.sink.report_at(
                Problem::MissingEquals {
                    key: Some(word.to_owned()),
                },
                &site,
                At::Point(word_end),
            );
        } else {
            // Possibly a pasted value on its own line: show nothing of it.
            let site = site(key_start);
            self.sink
                .report_at(Problem::MissingEquals { key: None }, &site, At::Value);
        }
    }

    /// Reports E014 if `text[key_start..limit]` is `KEY:` followed by whitespace, `=` or the
    /// end; returns whether it did.
    fn colon_separator(
        &mut self,
        key_start: usize,
        limit: usize,
        site: &dyn Fn(usize) -> Site<'t>,
    ) -> bool {
        let bytes = self.text.as_bytes();
        let Some(colon) = self.text[key_start..limit].find(':').map(|i| key_start + i) else {
            return false;
        };
        let yaml_like =
            colon + 1 >= limit || is_blank(bytes[colon + 1]) || bytes[colon + 1] == b'=';
        if !yaml_like || !showable_key(&self.text[key_start..colon]) {
            return false;
        }
        let (end, _) = sink::line_bounds(self.text, colon);
        let site = site(skip_blanks(self.text, colon + 1, end));
        self.sink
            .report_at(Problem::ColonSeparator, &site, At::Point(colon));
        true
    }

    /// Reads the value at `start` (after `=` and any blanks) on a line ending at `end`. Returns
    /// the value if it is valid and where the next statement starts.
    fn value(
        &mut self,
        site: &Site<'_>,
        start: usize,
        end: usize,
        next: usize,
        blank_before: bool,
    ) -> (Option<Zeroizing<Vec<u8>>>, usize) {
        if start == end {
            return (Some(Zeroizing::default()), next);
        }
        match self.text.as_bytes()[start] {
            b'"' => self.double_quoted(site, start),
            b'\'' => self.single_quoted(site, start),
            b'`' => {
                self.sink.report_at(Problem::Backtick, site, At::Value);
                // Node's dotenv reads backtick values over several lines; skip to the closing one
                // so that the lines in between are not read as keys.
                let close = self.text[start + 1..].find('`').map(|i| start + 1 + i);
                (
                    None,
                    close.map_or(next, |c| sink::line_bounds(self.text, c).1),
                )
            }
            // `KEY= # comment`: E004 is already reported; python-dotenv reads the comment as the
            // value, Node's dotenv an empty one, so nothing more to say.
            b'#' if blank_before => (None, next),
            _ => (self.unquoted(site, start, end), next),
        }
    }

    /// An unquoted value: E005, E006, E007, E008 and E016, each at most once.
    fn unquoted(
        &mut self,
        site: &Site<'_>,
        start: usize,
        end: usize,
    ) -> Option<Zeroizing<Vec<u8>>> {
        let bytes = self.text.as_bytes();
        // An inline comment needs a space right before `#`: compose does not accept a tab (§8.3).
        let comment = (start + 1..end).find(|&k| bytes[k] == b'#' && bytes[k - 1] == b' ');
        let mut value_end = comment.unwrap_or(end);
        while value_end > start && is_blank(bytes[value_end - 1]) {
            value_end -= 1;
        }
        let (mut space, mut hash, mut dollar, mut quote) = (false, false, false, false);
        for c in self.text[start..value_end].chars() {
            match c {
                '#' => hash = true,
                '$' => dollar = true,
                '\\' | '"' | '\'' | '`' => quote = true,
                c if is_other_space(c) => space = true,
                _ => {}
            }
        }
        let trailing = comment.is_none() && value_end < end;
        let problems = [
            (space, Problem::WhitespaceInValue),
            (hash, Problem::HashInValue),
            (dollar, Problem::DollarInValue(Dollar::Expanded)),
            (quote, Problem::BackslashOrQuoteInValue),
            (trailing, Problem::TrailingWhitespace),
        ];
        self.report_value_problems(site, problems)
            .then(|| Zeroizing::new(self.text.as_bytes()[start..value_end].to_vec()))
    }

    /// A double-quoted value: `\n`, `\\` and `\"` are the only escapes. Node's dotenv is the
    /// exception (§8.1): it decodes only `\n` (and `\r`), so `\\` and `\"` read differently there.
    fn double_quoted(
        &mut self,
        site: &Site<'_>,
        open: usize,
    ) -> (Option<Zeroizing<Vec<u8>>>, usize) {
        let bytes = self.text.as_bytes();
        // Find the closing quote first, so that the buffer is allocated once at its final size:
        // growing it would leave copies of the secret in freed memory.
        let mut i = open + 1;
        let close = loop {
            match bytes.get(i) {
                None => break None,
                Some(b'\\') => i += 2,
                Some(b'"') => break Some(i),
                Some(_) => i += 1,
            }
        };
        let Some(close) = close else {
            return self.unterminated(site, open);
        };
        let mut out = Zeroizing::new(Vec::with_capacity(close - open - 1));
        let (mut bad_escape, mut dollar) = (false, false);
        let mut i = open + 1;
        while i < close {
            match bytes[i] {
                b'\\' => {
                    // The scan above never stops right after a backslash, so `i + 1 < close`.
                    match bytes[i + 1] {
                        b'n' => out.push(b'\n'),
                        b'\\' => out.push(b'\\'),
                        b'"' => out.push(b'"'),
                        _ => bad_escape = true,
                    }
                    i += 2;
                    continue;
                }
                b'$' => dollar = true,
                // CRLF inside quotes becomes LF; a lone CR was already rejected (E001).
                b'\r' => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            out.push(bytes[i]);
            i += 1;
        }
        let (tail_ok, next) = self.after_quote(close);
        let problems = [
            (dollar, Problem::DollarInValue(Dollar::Expanded)),
            (!tail_ok, Problem::TextAfterQuote),
            (bad_escape, Problem::UnsupportedEscape),
        ];
        (
            self.report_value_problems(site, problems).then_some(out),
            next,
        )
    }

    /// A single-quoted value: literal, except that `\\` and `\'` are errors (E012) because
    /// python-dotenv and compose decode them, and `${` is an error (E007, §8.2) because
    /// python-dotenv expands it even here. A lone `$` is fine.
    fn single_quoted(
        &mut self,
        site: &Site<'_>,
        open: usize,
    ) -> (Option<Zeroizing<Vec<u8>>>, usize) {
        let bytes = self.text.as_bytes();
        // `\'` does not close the value, as in python-dotenv: if the author meant an escape, the
        // rest of the value is still consumed as value and never read as keys.
        let mut i = open + 1;
        let close = loop {
            match bytes.get(i) {
                None => break None,
                Some(b'\\') if matches!(bytes.get(i + 1), Some(b'\\' | b'\'')) => i += 2,
                Some(b'\'') => break Some(i),
                Some(_) => i += 1,
            }
        };
        let Some(close) = close else {
            return self.unterminated(site, open);
        };
        let mut out = Zeroizing::new(Vec::with_capacity(close - open - 1));
        let (mut escape, mut dollar) = (false, false);
        let mut i = open + 1;
        while i < close {
            match bytes[i] {
                b'\\' if matches!(bytes[i + 1], b'\\' | b'\'') => {
                    escape = true;
                    i += 2;
                    continue;
                }
                b'$' if bytes[i + 1] == b'{' => dollar = true,
                b'\r' => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            out.push(bytes[i]);
            i += 1;
        }
        let (tail_ok, next) = self.after_quote(close);
        let problems = [
            (dollar, Problem::DollarInValue(Dollar::SingleQuoted)),
            (!tail_ok, Problem::TextAfterQuote),
            (escape, Problem::EscapeInSingleQuotes),
        ];
        (
            self.report_value_problems(site, problems).then_some(out),
            next,
        )
    }

    /// Whether the rest of the line after a closing quote is blank or a comment (with at least
    /// one blank before `#`), and where the next statement starts.
    fn after_quote(&self, close: usize) -> (bool, usize) {
        let (end, next) = sink::line_bounds(self.text, close + 1);
        let after = skip_blanks(self.text, close + 1, end);
        let ok = after == end || (self.text.as_bytes()[after] == b'#' && after > close + 1);
        (ok, next)
    }

    /// E009: the quote at `open` never closes, so the rest of the file is the value.
    fn unterminated(
        &mut self,
        site: &Site<'_>,
        open: usize,
    ) -> (Option<Zeroizing<Vec<u8>>>, usize) {
        let problem = Problem::UnterminatedQuote {
            line: site.line,
            column: site.column(open),
        };
        self.sink.report_at(problem, site, At::Value);
        (None, self.text.len())
    }

    /// Reports the problems whose flag is set, all at the value; returns whether there were none.
    fn report_value_problems<const N: usize>(
        &mut self,
        site: &Site<'_>,
        problems: [(bool, Problem); N],
    ) -> bool {
        let mut clean = true;
        for (found, problem) in problems {
            if found {
                self.sink.report_at(problem, site, At::Value);
                clean = false;
            }
        }
        clean
    }
}
