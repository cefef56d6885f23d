//! Static checks of a template's text, run before the engine parses it.
//!
//! The engine (gtmpl) recurses while it parses and renders nested blocks, parentheses and
//! `template` calls, and allows recursive templates down to a depth far beyond any thread's
//! stack; its lexer also panics on some non-ASCII input. Its syntax tree is private, so these
//! checks read the text with the engine's own lexical rules (delimiters `{{ }}`, trim markers
//! `{{- ` and ` -}}`, comments, `"…"`, `` `…` `` and `'…'` literals) and refuse:
//!
//! - a `template` or `block` that calls itself, directly or through other templates;
//! - nesting deeper than [`MAX_DEPTH`], counted along the deepest path through `template`
//!   calls;
//! - a non-ASCII character inside an action but outside a string literal, and a string literal
//!   that holds both a backslash escape and non-ASCII characters (the engine's lexer and
//!   unquoting slice such text inside a character);
//! - a template name with a backslash escape (it could name a template differently than it
//!   reads);
//! - an action left open at the end of the text (the engine's lexer loops forever on some);
//! - a `{{- ` trim marker right after a non-ASCII character (the engine cuts the character).
//!
//! Text the engine itself rejects is left to the engine's parse error: the scan stops where the
//! engine's lexer would stop.

use std::collections::HashMap;

use super::limits::MAX_DEPTH;

/// One template body: the root text or a `define`/`block`.
#[derive(Debug, Default)]
struct Body {
    name: String,
    /// Deepest nesting inside this body, relative to its start.
    depth: usize,
    /// `template`/`block` calls: the callee and the nesting at the call.
    calls: Vec<(String, usize)>,
}

/// An open block: how many nesting levels it adds (`else if` adds one each), and the body it
/// starts, for `define` and `block`.
#[derive(Debug)]
struct Frame {
    levels: usize,
    body: Option<usize>,
}

/// Why a template's text is refused before the engine parses it. The text is public (it is in
/// the SealedSecret's spec), so template names are quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refusal {
    /// A lexical problem, at a line.
    #[error("{what} (line {line})")]
    At {
        /// What is wrong.
        what: Lexical,
        /// 1-based line.
        line: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`] along the deepest path through `template` calls.
    #[error(
        "nesting deeper than the limit of {MAX_DEPTH} (blocks, parentheses and template calls together)"
    )]
    TooDeep,
    /// The root text calls itself (`{{template ""}}`).
    #[error("the template calls itself through {{{{template \"\"}}}} (recursion is not supported)")]
    RecursiveRoot,
    /// A named template calls itself.
    #[error(
        "template {0:?} calls itself, directly or through other templates (recursion is not supported)"
    )]
    Recursive(String),
}

/// The lexical problems [`check`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum Lexical {
    /// Nesting deeper than [`MAX_DEPTH`] inside one body.
    #[error(
        "nesting deeper than the limit of {MAX_DEPTH} (blocks, parentheses and template calls together)"
    )]
    TooDeep,
    /// `{{- ` right after a non-ASCII character.
    #[error(
        "`{{{{- ` right after a non-ASCII character is not supported (the engine would cut the character): put a space or an ASCII character before it, or drop the `-`"
    )]
    TrimAfterNonAscii,
    /// `{{` without `}}`.
    #[error("unclosed action: `{{{{` without `}}}}` before the end")]
    Unclosed,
    /// A non-ASCII character in an action, outside a string literal.
    #[error(
        "non-ASCII character in an action outside a string literal; only text and string literals may hold non-ASCII characters"
    )]
    NonAsciiInAction,
    /// A string literal with both an escape and non-ASCII characters.
    #[error(
        "a string literal with a backslash escape must be ASCII only (write the character itself instead of escaping)"
    )]
    EscapeNotAscii,
    /// A string literal ending in `\`.
    #[error("a string literal may not end with a lone backslash")]
    LoneBackslash,
    /// `\x` or `\u` with too few hex digits.
    #[error("in a string literal, `\\x` must be followed by two and `\\u` by four hex digits")]
    ShortEscape,
    /// A template name with a backslash escape.
    #[error("a template name may not hold backslash escapes")]
    EscapedName,
}

/// Checks `text` as described in the module documentation.
pub(super) fn check(text: &str) -> Result<(), Refusal> {
    let bodies = Scanner::new(text).run()?;
    Graph::new(&bodies).check()
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    bodies: Vec<Body>,
    /// Open blocks, innermost last.
    frames: Vec<Frame>,
    /// Bodies being read, innermost last, with the nesting level at which each started.
    open: Vec<(usize, usize)>,
}

/// The scan stopped where the engine's lexer stops with an error: the engine reports it.
struct EngineError;

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            bodies: vec![Body::default()],
            frames: Vec::new(),
            open: vec![(0, 0)],
        }
    }

    fn run(mut self) -> Result<Vec<Body>, Refusal> {
        match self.actions() {
            Ok(()) | Err(Stop::Engine(EngineError)) => Ok(self.bodies),
            Err(Stop::Refused(message)) => Err(message),
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn refuse(&self, what: Lexical) -> Stop {
        let line = self.text[..self.pos].matches('\n').count() + 1;
        Stop::Refused(Refusal::At { what, line })
    }

    fn level(&self) -> usize {
        self.frames.iter().map(|f| f.levels).sum()
    }

    /// Records the nesting `extra` levels below the current block in the current body.
    fn reach(&mut self, extra: usize) -> Result<(), Stop> {
        let (body, base) = *self.open.last().unwrap_or(&(0, 0));
        let depth = (self.level() + extra).saturating_sub(base);
        let body = &mut self.bodies[body];
        body.depth = body.depth.max(depth);
        if depth > MAX_DEPTH {
            return Err(self.refuse(Lexical::TooDeep));
        }
        Ok(())
    }

    fn actions(&mut self) -> Result<(), Stop> {
        while let Some(at) = self.rest().find("{{") {
            let text = &self.rest()[..at];
            self.pos += at + 2;
            let trim = usize::from(self.rest().starts_with("- ")) * 2;
            // The engine trims the text before `{{- ` assuming its last character is one byte.
            if trim > 0
                && text
                    .trim_end()
                    .chars()
                    .last()
                    .is_some_and(|c| !c.is_ascii())
            {
                return Err(self.refuse(Lexical::TrimAfterNonAscii));
            }
            if self.rest()[trim..].starts_with("/*") {
                self.pos += trim + 2;
                let end = self.rest().find("*/").ok_or(EngineError)?;
                self.pos += end + 2;
                self.right_delim().ok_or(EngineError)?;
                continue;
            }
            self.pos += trim;
            self.action()?;
        }
        Ok(())
    }

    /// Moves past `}}` or ` -}}` at the current position, if there is one.
    fn right_delim(&mut self) -> Option<()> {
        let len = if self.rest().starts_with("}}") {
            2
        } else if self.rest().starts_with(" -}}") {
            4
        } else {
            return None;
        };
        self.pos += len;
        Some(())
    }

    /// One action, from after its left delimiter to after its right delimiter.
    fn action(&mut self) -> Result<(), Stop> {
        let mut parens = 0usize;
        let mut first = true;
        loop {
            if self.right_delim().is_some() {
                // With a parenthesis open, the engine's lexer stops here with an error.
                return if parens == 0 {
                    Ok(())
                } else {
                    Err(EngineError.into())
                };
            }
            let Some(c) = self.rest().chars().next() else {
                // The engine's lexer steps back past the end of the text here and loops
                // forever (`{{ x ` or `{{ -` at the end): refused instead of parsed.
                return Err(self.refuse(Lexical::Unclosed));
            };
            match c {
                '\r' | '\n' => return Err(EngineError.into()),
                '"' | '`' | '\'' => {
                    self.literal(c)?;
                }
                '(' => {
                    parens += 1;
                    self.pos += 1;
                    self.reach(parens)?;
                }
                ')' => {
                    parens = parens.checked_sub(1).ok_or(EngineError)?;
                    self.pos += 1;
                }
                _ if c.is_ascii_alphanumeric() || c == '_' => {
                    let word = self.word();
                    if first {
                        self.keyword(word)?;
                    }
                }
                _ if is_space(c) => {
                    self.skip_space();
                    continue;
                }
                _ if c.is_ascii() => self.pos += 1,
                _ => {
                    return Err(self.refuse(Lexical::NonAsciiInAction));
                }
            }
            first = false;
        }
    }

    fn word(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// A string (`"`), raw string (`` ` ``) or character (`'`) literal starting at the current
    /// position, with the engine's escape rules; returns its text between the quotes.
    fn literal(&mut self, quote: char) -> Result<&'a str, Stop> {
        let rest = self.rest();
        let end = if quote == '`' {
            rest[1..].find('`').map(|i| i + 1)
        } else {
            // The engine's rule: a backslash escapes the next character, a second backslash
            // included (so `"\\"` does not end at its second quote).
            let mut escaped = false;
            let mut end = None;
            for (i, c) in rest.char_indices().skip(1) {
                match c {
                    '\\' => {
                        escaped = true;
                        continue;
                    }
                    '\n' => break,
                    _ if c == quote && !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
                escaped = false;
            }
            end
        };
        let end = end.ok_or(EngineError)?;
        let body = &rest[1..end];
        if body.contains('\\') && !body.is_ascii() {
            return Err(self.refuse(Lexical::EscapeNotAscii));
        }
        if ends_in_lone_backslash(body) {
            return Err(self.refuse(Lexical::LoneBackslash));
        }
        if short_escape(body) {
            return Err(self.refuse(Lexical::ShortEscape));
        }
        self.pos += end + 1;
        Ok(body)
    }

    /// The first word of an action: opens or closes blocks, records template calls.
    fn keyword(&mut self, word: &str) -> Result<(), Stop> {
        match word {
            "if" | "range" | "with" => {
                self.frames.push(Frame {
                    levels: 1,
                    body: None,
                });
                self.reach(0)?;
            }
            "else" => {
                self.skip_space();
                if self.rest().starts_with("if")
                    && !self.rest()[2..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.pos += 2;
                    if let Some(frame) = self.frames.last_mut() {
                        frame.levels += 1;
                    }
                    self.reach(0)?;
                }
            }
            "end" => {
                if let Some(Frame { body: Some(_), .. }) = self.frames.pop() {
                    self.open.pop();
                }
            }
            "template" | "block" | "define" => {
                self.skip_space();
                let Some(quote) = self
                    .rest()
                    .chars()
                    .next()
                    .filter(|c| matches!(c, '"' | '`'))
                else {
                    // Not a constant name: the engine's parser refuses it, but its lexer
                    // reads on to the end of the text, so the scan does too.
                    return Ok(());
                };
                let name = self.literal(quote)?;
                if name.contains('\\') {
                    return Err(self.refuse(Lexical::EscapedName));
                }
                if word != "define" {
                    self.call(name)?;
                }
                if word != "template" {
                    self.frames.push(Frame {
                        levels: 1,
                        body: Some(self.bodies.len()),
                    });
                    self.open.push((self.bodies.len(), self.level()));
                    self.bodies.push(Body {
                        name: name.to_owned(),
                        ..Body::default()
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn call(&mut self, name: &str) -> Result<(), Stop> {
        self.reach(1)?;
        let (body, base) = *self.open.last().unwrap_or(&(0, 0));
        let depth = (self.level() + 1).saturating_sub(base);
        self.bodies[body].calls.push((name.to_owned(), depth));
        Ok(())
    }

    /// Moves past a run of whitespace as the engine's lexer reads one: it may hold newlines,
    /// but not start with one (a newline there ends the action with an error).
    fn skip_space(&mut self) {
        let rest = self.rest();
        if !rest.starts_with(['\r', '\n']) {
            self.pos += rest.len() - rest.trim_start_matches(is_space).len();
        }
    }
}

/// The engine's whitespace (`char::is_whitespace`: space, tab, newline, vertical tab, form
/// feed, carriage return), among the ASCII characters: non-ASCII whitespace in an action is
/// refused with every other non-ASCII character.
fn is_space(c: char) -> bool {
    c.is_ascii() && c.is_whitespace()
}

/// Whether `body` ends with a backslash that escapes nothing (the engine's unquoting reads past
/// the end of such a literal, as a raw string can hold one).
fn ends_in_lone_backslash(body: &str) -> bool {
    body.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Whether a `\x` or `\u` in `body` has fewer than 2 or 4 characters after it (the engine's
/// unquoting makes no progress on such an escape and loops forever). Every occurrence counts,
/// also one after an escaped backslash.
fn short_escape(body: &str) -> bool {
    let b = body.as_bytes();
    b.windows(2)
        .enumerate()
        .any(|(i, w)| (w == b"\\x" && b.len() - i < 4) || (w == b"\\u" && b.len() - i < 6))
}

enum Stop {
    Engine(EngineError),
    Refused(Refusal),
}

impl From<EngineError> for Stop {
    fn from(e: EngineError) -> Self {
        Self::Engine(e)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    Open,
    Done(usize),
}

/// The call graph of one template's bodies.
struct Graph<'a> {
    bodies: &'a [Body],
    by_name: HashMap<&'a str, Vec<usize>>,
    marks: Vec<Mark>,
}

impl<'a> Graph<'a> {
    fn new(bodies: &'a [Body]) -> Self {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, body) in bodies.iter().enumerate() {
            by_name.entry(body.name.as_str()).or_default().push(i);
        }
        Self {
            bodies,
            by_name,
            marks: vec![Mark::New; bodies.len()],
        }
    }

    fn check(mut self) -> Result<(), Refusal> {
        let depth = self.depth(0, 0)?;
        if depth > MAX_DEPTH {
            return Err(Refusal::TooDeep);
        }
        Ok(())
    }

    /// The deepest nesting below body `i`, reached through `path` calls. Every call adds at
    /// least one level, so the recursion is at most [`MAX_DEPTH`] deep.
    fn depth(&mut self, i: usize, path: usize) -> Result<usize, Refusal> {
        match self.marks[i] {
            Mark::Done(depth) => return Ok(depth),
            Mark::Open => {
                let name = &self.bodies[i].name;
                return Err(if name.is_empty() {
                    Refusal::RecursiveRoot
                } else {
                    Refusal::Recursive(name.clone())
                });
            }
            Mark::New if path > MAX_DEPTH => return Err(Refusal::TooDeep),
            Mark::New => {}
        }
        self.marks[i] = Mark::Open;
        let body = &self.bodies[i];
        let mut depth = body.depth;
        for (callee, at) in &body.calls {
            let targets = self
                .by_name
                .get(callee.as_str())
                .cloned()
                .unwrap_or_default();
            for target in targets {
                depth = depth.max(at + self.depth(target, path + 1)?);
                if depth > MAX_DEPTH {
                    return Err(Refusal::TooDeep);
                }
            }
        }
        self.marks[i] = Mark::Done(depth);
        Ok(depth)
    }
}

#[cfg(test)]
mod tests;
