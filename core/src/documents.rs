//! Multi-document YAML and JSON: the one reader of manifest streams. `kseal_core::manifest`
//! (Secrets to seal, key files), the CLI's manifest files (`kseal verify`, `rotate`, `guard`,
//! `unseal`, the `--merge-into` editor) and the controller's request bodies (`/v1/verify`,
//! `/v1/rotate`) all read through it.
//!
//! The syntax is decided by the first non-blank character: `{` or `[` starts JSON (one value or
//! a stream of values), anything else is YAML. YAML is split into documents at `---` and `...`
//! lines in column 0 (document markers, which no scalar may contain) and each document is
//! parsed on its own, so one broken document (a Helm template) does not hide the others and
//! every document keeps its byte span for editors. A JSON stream stops at its first error: after
//! one there is no telling where the next value starts.
//!
//! Hostile input is bounded before and while parsing:
//!
//! - [`Limits`]: the input's size, its number of documents (a `---` bomb), and the nesting of
//!   YAML flow collections (`[`, `{`), checked before libyaml sees a document because its
//!   scanner takes time quadratic in that nesting (100,000 `[` took 40 s);
//! - serde's recursion limit (128 levels, JSON and YAML alike: deep block nesting);
//! - serde_yaml's alias budget: a document whose aliases expand beyond it fails (billion
//!   laughs); aliases in fields the target type does not read are skipped unexpanded.
//!
//! Errors name the document, line and column and never quote the input: parser messages lose
//! everything between quotes ([`scrub_parser_message`]), since a value may be a secret.

use std::{fmt, ops::Range};

use serde::de::DeserializeOwned;

/// Bounds on one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input in bytes.
    pub max_bytes: usize,
    /// Most documents, empty ones included (each `---` line starts one).
    pub max_documents: usize,
    /// Deepest nesting of YAML flow collections (`[`, `{`) in one document.
    pub max_flow_depth: usize,
}

impl Limits {
    /// Manifest files and standard input: 64 MiB, 10,000 documents, flow nesting 1,000. A
    /// repository's largest generated manifests stay well below; a Secret holds at most 1 MiB.
    pub const FILES: Self = Self {
        max_bytes: 64 << 20,
        max_documents: 10_000,
        max_flow_depth: 1000,
    };

    /// One object in a request body: 2 MiB (a Secret holds at most 1 MiB of data, which base64
    /// and sealing make about 1.4 MiB), 64 documents (empty ones around the object are allowed),
    /// flow nesting 1,000.
    pub const REQUEST: Self = Self {
        max_bytes: 2 << 20,
        max_documents: 64,
        max_flow_depth: 1000,
    };
}

/// The syntax of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// YAML: documents separated by `---`.
    Yaml,
    /// JSON: one value or a stream of values.
    Json,
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Yaml => "YAML",
            Self::Json => "JSON",
        })
    }
}

/// Why an input cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Over [`Limits::max_bytes`].
    #[error("input is {bytes} bytes; the limit is {limit}")]
    TooLarge {
        /// The input's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Over [`Limits::max_documents`].
    #[error("input has more than {limit} documents")]
    TooManyDocuments {
        /// The limit.
        limit: usize,
    },
    /// Not UTF-8 text.
    #[error("input is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
}

/// What is wrong with one document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// JSON that is not JSON, or any YAML problem other than the limits below (serde_yaml does
    /// not tell syntax from shape): the parser's message without quoted input.
    #[error("{0}")]
    Syntax(String),
    /// The input ends inside a value.
    #[error("input ends inside a value")]
    EndsEarly,
    /// Well-formed, but not of the expected shape: the parser's message without quoted input.
    #[error("{0}")]
    Shape(String),
    /// Flow collections nested deeper than [`Limits::max_flow_depth`].
    #[error("nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// Nested deeper than serde's recursion limit (128 levels).
    #[error("recursion limit exceeded")]
    RecursionLimit,
    /// YAML aliases that expand beyond serde_yaml's budget (billion laughs).
    #[error("repetition limit exceeded")]
    RepetitionLimit,
}

/// A document that does not parse. `line` and `column` are 1-based and count from the start of
/// the input, not of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    /// 1-based position among the input's non-empty documents.
    pub document: usize,
    /// The syntax it was read as.
    pub syntax: Syntax,
    /// Line of the problem, if the parser knows it.
    pub line: Option<usize>,
    /// Column of the problem, if the parser knows it.
    pub column: Option<usize>,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for DocumentError {
    /// `L:C: document N: not valid YAML: problem`, the place first as compilers write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{l}:{c}: ")?,
            (Some(l), None) => write!(f, "{l}: ")?,
            _ => {}
        }
        write!(
            f,
            "document {}: not valid {}: {}",
            self.document, self.syntax, self.problem
        )
    }
}

impl std::error::Error for DocumentError {}

/// One non-empty document of a stream.
#[derive(Debug)]
pub struct Document<T> {
    /// 1-based position among the non-empty documents.
    pub number: usize,
    /// Byte range of the document's text; for YAML it includes its `---` line.
    pub span: Range<usize>,
    /// The document read as `T`, or why it could not be.
    pub value: Result<T, DocumentError>,
}

/// A stream's non-empty documents, in order.
#[derive(Debug)]
pub struct Documents<T> {
    /// The syntax the stream was read as.
    pub syntax: Syntax,
    /// The documents. A JSON stream ends at its first error.
    pub documents: Vec<Document<T>>,
}

impl<T> Documents<T> {
    /// The first document that does not parse.
    pub fn first_error(&self) -> Option<&DocumentError> {
        self.documents.iter().find_map(|d| d.value.as_ref().err())
    }

    /// Every value, or the first error.
    pub fn into_values(self) -> Result<Vec<T>, DocumentError> {
        self.documents.into_iter().map(|d| d.value).collect()
    }
}

/// Reads every document of `text` as a `T`; empty documents (only comments, blank lines,
/// markers or an explicit null) are left out.
pub fn read<T: DeserializeOwned>(text: &[u8], limits: &Limits) -> Result<Documents<T>, ReadError> {
    check_size(text, limits)?;
    let text = std::str::from_utf8(text).map_err(|e| ReadError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    if json_like(text.as_bytes()) {
        return json_documents(text, limits).map(|documents| Documents {
            syntax: Syntax::Json,
            documents,
        });
    }
    let mut documents = Vec::new();
    for (span, first_line) in yaml_spans(text, limits)? {
        let number = documents.len() + 1;
        let value = match yaml_document(text, (span.clone(), first_line), number, limits) {
            Ok(None) => continue,
            Ok(Some(value)) => Ok(value),
            Err(e) => Err(e),
        };
        documents.push(Document {
            number,
            span,
            value,
        });
    }
    Ok(Documents {
        syntax: Syntax::Yaml,
        documents,
    })
}

/// Why [`read_one`] found no single object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OneError {
    /// The input cannot be read at all.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The object does not parse.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// More than one non-empty document.
    #[error("expected exactly one object, found several documents")]
    Several,
    /// No document at all.
    #[error("input holds no object")]
    Empty,
}

/// Reads exactly one `T`, for a request body. JSON is tried first; flow-style YAML also starts
/// with `{`, so a JSON *syntax* error sends the input on to YAML (a JSON value of the wrong shape,
/// or one over a limit, does not). Empty YAML documents around the object are allowed.
pub fn read_one<T: DeserializeOwned>(text: &[u8], limits: &Limits) -> Result<T, OneError> {
    check_size(text, limits)?;
    match serde_json::from_slice::<T>(text) {
        Ok(value) => return Ok(value),
        Err(e) if json_like(text) => {
            let e = json_error(&e, 1);
            if !matches!(e.problem, Problem::Syntax(_)) {
                return Err(e.into());
            }
        }
        Err(_) => {}
    }
    let text = std::str::from_utf8(text).map_err(|e| ReadError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut found = None;
    for span in yaml_spans(text, limits)? {
        match yaml_document::<T>(text, span, 1, limits) {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) if found.is_some() => return Err(OneError::Several),
            Ok(Some(value)) => found = Some(value),
            Err(e) => return Err(e.into()),
        }
    }
    found.ok_or(OneError::Empty)
}

fn check_size(text: &[u8], limits: &Limits) -> Result<(), ReadError> {
    if text.len() > limits.max_bytes {
        return Err(ReadError::TooLarge {
            bytes: text.len(),
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// Whether the first non-blank character (after a byte-order mark) opens JSON.
fn json_like(text: &[u8]) -> bool {
    let text = text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(text);
    text.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['))
}

fn json_documents<T: DeserializeOwned>(
    text: &str,
    limits: &Limits,
) -> Result<Vec<Document<T>>, ReadError> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<T>();
    let mut previous_end = 0;
    loop {
        let start = previous_end
            + text[previous_end..]
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(text.len() - previous_end);
        let number = out.len() + 1;
        let next = stream.next();
        if next.is_some() && number > limits.max_documents {
            return Err(ReadError::TooManyDocuments {
                limit: limits.max_documents,
            });
        }
        match next {
            None => break,
            Some(Ok(value)) => {
                let end = stream.byte_offset();
                out.push(Document {
                    number,
                    span: start..end,
                    value: Ok(value),
                });
                previous_end = end;
            }
            Some(Err(e)) => {
                out.push(Document {
                    number,
                    span: start..text.len(),
                    value: Err(json_error(&e, number)),
                });
                break;
            }
        }
    }
    Ok(out)
}

fn json_error(e: &serde_json::Error, document: usize) -> DocumentError {
    use serde_json::error::Category;
    let message = e.to_string();
    let problem = limit(&message).unwrap_or_else(|| match e.classify() {
        Category::Eof => Problem::EndsEarly,
        Category::Syntax => Problem::Syntax(scrub_parser_message(&message)),
        Category::Data | Category::Io => Problem::Shape(scrub_parser_message(&message)),
    });
    DocumentError {
        document,
        syntax: Syntax::Json,
        line: Some(e.line()),
        column: Some(e.column()),
        problem,
    }
}

/// The parsers' own limits, named without quoting the input.
fn limit(message: &str) -> Option<Problem> {
    if message.contains("recursion limit exceeded") {
        Some(Problem::RecursionLimit)
    } else if message.contains("repetition limit exceeded") {
        Some(Problem::RepetitionLimit)
    } else {
        None
    }
}

/// One YAML document's place: its byte range and the 1-based line it starts on.
type Span = (Range<usize>, usize);

/// The spans of a YAML stream's documents: split before each `---` line and after each `...`
/// line in column 0. Directives (`%YAML`) and comments before a `---` stay with the document
/// they introduce. One pass, so a `---` bomb costs time linear in its size up to the limit.
fn yaml_spans(text: &str, limits: &Limits) -> Result<Vec<Span>, ReadError> {
    let mut spans = Vec::new();
    let push = |spans: &mut Vec<Span>, span: Span| {
        if spans.len() == limits.max_documents {
            return Err(ReadError::TooManyDocuments {
                limit: limits.max_documents,
            });
        }
        spans.push(span);
        Ok(())
    };
    let (mut start, mut start_line, mut offset) = (0, 1, 0);
    // The current span so far: only blank lines and comments; only those and directives.
    let (mut blank, mut prefix) = (true, false);
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let (number, end) = (index + 1, offset + line.len());
        if is_marker(line, "---") {
            if offset > start && !prefix {
                push(&mut spans, (start..offset, start_line))?;
                (start, start_line) = (offset, number);
            }
            (blank, prefix) = (false, false);
        } else if is_marker(line, "...") {
            push(&mut spans, (start..end, start_line))?;
            (start, start_line) = (end, number + 1);
            (blank, prefix) = (true, false);
        } else if line.starts_with('%') {
            prefix = blank || prefix;
            blank = false;
        } else if !is_blank_line(line) {
            (blank, prefix) = (false, false);
        }
        offset = end;
    }
    if start < text.len() || spans.is_empty() {
        push(&mut spans, (start..text.len(), start_line))?;
    }
    Ok(spans)
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// A blank line, a comment or a bare marker.
fn is_blank_line(line: &str) -> bool {
    let t = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
}

/// Parses one YAML document; `Ok(None)` for an empty one.
fn yaml_document<T: DeserializeOwned>(
    text: &str,
    (span, first_line): Span,
    number: usize,
    limits: &Limits,
) -> Result<Option<T>, DocumentError> {
    let doc = &text[span];
    if doc.lines().all(is_blank_line) {
        return Ok(None);
    }
    let error = |line: Option<usize>, column: Option<usize>, problem| DocumentError {
        document: number,
        syntax: Syntax::Yaml,
        line: line.map(|l| first_line + l - 1),
        column,
        problem,
    };
    if let Some((line, column)) = too_deep(doc, limits.max_flow_depth) {
        return Err(error(
            Some(line),
            Some(column),
            Problem::TooDeep {
                limit: limits.max_flow_depth,
            },
        ));
    }
    serde_yaml::from_str::<Option<T>>(doc).map_err(|e| {
        let message = e.to_string();
        let location = e.location();
        error(
            location.as_ref().map(|l| l.line()),
            location.as_ref().map(|l| l.column()),
            limit(&message).unwrap_or_else(|| Problem::Syntax(scrub_parser_message(&message))),
        )
    })
}

/// Where flow nesting (`[`, `{`) first goes deeper than `max` (1-based line and column), counting
/// every bracket, quoted or not: a larger count only errs towards refusing, and manifests have no
/// long runs of open brackets.
fn too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut line_start) = (0usize, 1, 0);
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some((line, text[line_start..i].chars().count() + 1));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// A parser message with anything quoted removed and without a location suffix (callers report
/// the place themselves): serde and YAML messages quote the offending input, which may be a
/// secret.
pub fn scrub_parser_message(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    let message = message.split(" at position ").next().unwrap_or(message);
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if matches!(c, '"' | '`' | '\'') => {
                out.push(c);
                quote = Some(c);
            }
            None => out.push(c),
        }
    }
    out
}

/// A document read as a JSON value, whatever its syntax: YAML tags are dropped and non-string
/// mapping keys become their YAML text. For readers that look at a document's shape before
/// choosing a type (the CLI's manifest scans).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonValue(pub serde_json::Value);

impl<'de> serde::Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_yaml::Value::deserialize(d).map(|v| Self(yaml_to_json(v)))
    }
}

fn yaml_to_json(value: serde_yaml::Value) -> serde_json::Value {
    use serde_json::Value;
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml::to_string(&other)
                            .map(|s| s.trim_end().to_owned())
                            .unwrap_or_default(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

#[cfg(test)]
mod tests;
