//! Finding and reading manifest files for the commands that walk a repository (`verify`,
//! `guard`, `rotate`, `keys`, `unseal DIR`): files or directories, YAML streams (several
//! documents) or JSON streams, and the items of a `kind: List`.
//!
//! A stream is split into documents *with their byte spans*, so that an editor (`merge.rs`)
//! can change one document and leave every other byte of the file alone.

use std::{
    fs,
    ops::Range,
    path::{Path, PathBuf},
};

use serde_json::Value;

use crate::{
    config::Config,
    exit::{Failure, Result},
    io,
};

/// File extensions read as manifests when a directory is walked.
pub(crate) const MANIFEST_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// What to collect when walking a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// Files ending in `.yaml`, `.yml` or `.json`.
    Manifests,
    /// Every file (the guard also looks for `.env` files).
    AllFiles,
}

/// Expands `paths`: `-` (stdin) and a file are taken whatever their name; a directory is walked
/// recursively,
/// skipping `.git` and, for [`Walk::Manifests`], hidden entries. The result is sorted within
/// each directory and has no duplicates. Symbolic links to directories are not followed (no
/// loops).
pub(crate) fn collect_files(paths: &[PathBuf], walk: Walk) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path == Path::new("-") {
            out.push(path.clone());
            continue;
        }
        let meta = fs::metadata(path).map_err(|e| {
            Failure::runtime(format!(
                "cannot read {}: {}",
                path.display(),
                io::io_reason(&e)
            ))
        })?;
        if meta.is_dir() {
            walk_dir(path, walk, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

fn walk_dir(dir: &Path, walk: Walk, out: &mut Vec<PathBuf>) -> Result<()> {
    let fail = |e: std::io::Error| {
        Failure::runtime(format!(
            "cannot read directory {}: {}",
            dir.display(),
            io::io_reason(&e)
        ))
    };
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(fail)?
        .collect::<std::result::Result<_, _>>()
        .map_err(fail)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".git" || (walk == Walk::Manifests && name.starts_with('.')) {
            continue;
        }
        let path = if dir == Path::new(".") {
            PathBuf::from(&name)
        } else {
            dir.join(&name)
        };
        let file_type = entry.file_type().map_err(fail)?;
        if file_type.is_dir() {
            walk_dir(&path, walk, out)?;
        } else if file_type.is_file() || (file_type.is_symlink() && path.is_file()) {
            let wanted = match walk {
                Walk::AllFiles => true,
                Walk::Manifests => path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e)),
            };
            if wanted {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// The paths a repository-wide command works on: the given ones; else the outputs kseal.yaml
/// names that exist; else the current directory.
pub(crate) fn default_paths(given: &[PathBuf], config: Option<&Config>) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let outputs: Vec<PathBuf> = config
        .map(|c| c.outputs())
        .unwrap_or_default()
        .into_iter()
        .map(|o| o.path)
        .filter(|p| p.exists())
        .collect();
    if outputs.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        outputs
    }
}

/// `a, b, c`: paths for a message.
pub(crate) fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The syntax of a stream, decided by its first non-blank character (`{` or `[` is JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Yaml,
    Json,
}

crate::exit::message_error!(
    /// Why a document does not parse: `line L: what`, the parser's message without any quoted
    /// input (`kseal_core::manifest::scrub_parser_message`).
    DocError
);

/// One top-level document of a stream.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Byte range of the document's text; for YAML it includes its `---` line.
    pub(crate) span: Range<usize>,
    /// 1-based position among the non-empty documents (`0` for an empty one).
    pub(crate) number: usize,
    /// The parsed document; `Ok(None)` for an empty one, `Err` (a message without any quoted
    /// input) when it does not parse.
    pub(crate) value: std::result::Result<Option<Value>, DocError>,
}

/// A file's documents, in order.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) format: Format,
    pub(crate) segments: Vec<Segment>,
}

/// One object found in a stream: a top-level document or an item of a `kind: List`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Doc<'a> {
    /// Index into [`Stream::segments`].
    pub(crate) segment: usize,
    /// 1-based document number, for messages.
    pub(crate) number: usize,
    /// 0-based index in the List's `items`, when the object is one.
    pub(crate) item: Option<usize>,
    pub(crate) value: &'a Value,
}

impl Stream {
    /// Splits and parses `text`. YAML documents are split at `---` and `...` lines in column 0
    /// (a YAML document marker, which no scalar may contain), and each is parsed on its own, so
    /// one broken document (a Helm template) does not hide the others. A JSON stream stops at
    /// the first error.
    pub(crate) fn parse(text: &str) -> Self {
        let first = text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .chars()
            .next();
        if matches!(first, Some('{') | Some('[')) {
            Self {
                format: Format::Json,
                segments: json_segments(text),
            }
        } else {
            Self {
                format: Format::Yaml,
                segments: yaml_segments(text),
            }
        }
    }

    /// Every parsed object, with List items expanded (the List itself is not returned).
    pub(crate) fn docs(&self) -> Vec<Doc<'_>> {
        let mut out = Vec::new();
        for (index, segment) in self.segments.iter().enumerate() {
            let Ok(Some(value)) = &segment.value else {
                continue;
            };
            match value["items"].as_array() {
                Some(items) if value["kind"] == "List" => {
                    for (i, item) in items.iter().enumerate() {
                        out.push(Doc {
                            segment: index,
                            number: segment.number,
                            item: Some(i),
                            value: item,
                        });
                    }
                }
                _ => out.push(Doc {
                    segment: index,
                    number: segment.number,
                    item: None,
                    value,
                }),
            }
        }
        out
    }

    /// The first parse error, as `not valid YAML: line L: message`.
    pub(crate) fn first_error(&self) -> Option<String> {
        self.segments.iter().find_map(|s| {
            let message = s.value.as_ref().err()?;
            Some(format!(
                "not valid {}: {message}",
                match self.format {
                    Format::Yaml => "YAML",
                    Format::Json => "JSON",
                }
            ))
        })
    }
}

impl Doc<'_> {
    /// `document N`, `document N item M`, followed by `(namespace/name)` when the object has a
    /// name: the place of an object in a file, for messages.
    pub(crate) fn describe(&self) -> String {
        let mut out = format!("document {}", self.number);
        if let Some(i) = self.item {
            out.push_str(&format!(" item {}", i + 1));
        }
        let meta = &self.value["metadata"];
        let name = meta["name"].as_str().filter(|s| !s.is_empty());
        let namespace = meta["namespace"].as_str().filter(|s| !s.is_empty());
        match (namespace, name) {
            (Some(ns), Some(n)) => out.push_str(&format!(" ({ns}/{n})")),
            (None, Some(n)) => out.push_str(&format!(" ({n})")),
            (Some(ns), None) => out.push_str(&format!(" ({ns}/<no name>)")),
            (None, None) => {}
        }
        out
    }

    /// Whether this object is a SealedSecret (by `kind`; `apiVersion` is checked by `verify`).
    pub(crate) fn is_sealed_secret(&self) -> bool {
        self.value["kind"] == "SealedSecret"
    }
}

/// A manifest stream read for its SealedSecrets (`verify`, `ls`, `diff`), and what is wrong with
/// it as a whole.
#[derive(Debug)]
pub(crate) struct SealedStream {
    pub(crate) stream: Stream,
    /// Not UTF-8 or not parseable, or no SealedSecret in a file the user named. A directory may
    /// hold Helm templates and other files that are not YAML: only a file named on the command
    /// line, or one that mentions SealedSecret, must parse.
    pub(crate) problem: Option<String>,
}

impl SealedStream {
    /// Reads `file` (`-`: stdin); `named`: the user named it rather than a folder holding it.
    pub(crate) fn read(file: &Path, named: bool) -> Result<Self> {
        Ok(Self::from_bytes(io::read_input(Some(file))?, named))
    }

    pub(crate) fn from_bytes(bytes: Vec<u8>, named: bool) -> Self {
        let Ok(text) = String::from_utf8(bytes) else {
            return Self {
                stream: Stream {
                    format: Format::Yaml,
                    segments: Vec::new(),
                },
                problem: named.then(|| "not UTF-8 text".to_owned()),
            };
        };
        let stream = Stream::parse(&text);
        let problem = match stream.first_error() {
            Some(error) => (named || text.contains("SealedSecret")).then_some(error),
            None if named && !stream.docs().iter().any(Doc::is_sealed_secret) => {
                Some("holds no SealedSecret".to_owned())
            }
            None => None,
        };
        Self { stream, problem }
    }

    /// The SealedSecret documents, in order.
    pub(crate) fn docs(&self) -> Vec<Doc<'_>> {
        self.stream
            .docs()
            .into_iter()
            .filter(Doc::is_sealed_secret)
            .collect()
    }
}

/// 1-based line number of byte `offset`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn yaml_segments(text: &str) -> Vec<Segment> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let end = offset + line.len();
        if is_marker(line, "---") && offset > start {
            spans.push(start..offset);
            start = offset;
        }
        if is_marker(line, "...") {
            spans.push(start..end);
            start = end;
        }
        offset = end;
    }
    if start < text.len() || spans.is_empty() {
        spans.push(start..text.len());
    }
    let mut number = 0;
    spans
        .into_iter()
        .filter_map(|span| {
            let first_line = line_of(text, span.start);
            let value = parse_yaml_document(&text[span.clone()], first_line);
            if matches!(value, Ok(None)) {
                // Text before the first `---` that is only comments is no document at all.
                return None;
            }
            number += 1;
            Some(Segment {
                span,
                number,
                value,
            })
        })
        .collect()
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

fn parse_yaml_document(
    text: &str,
    first_line: usize,
) -> std::result::Result<Option<Value>, DocError> {
    let value: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let message = match e.location() {
                Some(l) => format!(
                    "line {}: {}",
                    first_line + l.line() - 1,
                    kseal_core::manifest::scrub_parser_message(&e.to_string())
                ),
                None => kseal_core::manifest::scrub_parser_message(&e.to_string()),
            };
            // A document holding only comments and markers is empty, not broken.
            let blank = text.lines().all(|l| {
                let t = l.trim();
                t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
            });
            return if blank {
                Ok(None)
            } else {
                Err(DocError(message))
            };
        }
    };
    Ok(match yaml_to_json(value) {
        Value::Null => None,
        v => Some(v),
    })
}

fn json_segments(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut previous_end = 0;
    loop {
        let start = previous_end
            + text[previous_end..]
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(text.len() - previous_end);
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                let end = stream.byte_offset();
                out.push(Segment {
                    span: start..end,
                    number: out.len() + 1,
                    value: Ok(Some(value)),
                });
                previous_end = end;
            }
            Some(Err(e)) => {
                out.push(Segment {
                    span: start..text.len(),
                    number: out.len() + 1,
                    value: Err(DocError(format!(
                        "line {}: {}",
                        e.line(),
                        kseal_core::manifest::scrub_parser_message(&e.to_string())
                    ))),
                });
                break;
            }
        }
    }
    out
}

/// A YAML value as JSON: non-string map keys become their YAML text, tags are dropped.
fn yaml_to_json(value: serde_yaml::Value) -> Value {
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
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_and_spans() {
        let text = "# header\n---\na: 1\n---\n# only a comment\n---\nkind: List\nitems:\n- kind: X\n- kind: Y\n";
        let stream = Stream::parse(text);
        assert_eq!(stream.format, Format::Yaml);
        assert_eq!(
            stream.segments.len(),
            2,
            "comment-only documents are no documents"
        );
        assert_eq!(&text[stream.segments[0].span.clone()], "---\na: 1\n");
        let docs = stream.docs();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1].describe(), "document 2 item 1");
        assert_eq!(docs[2].value["kind"], "Y");
    }

    #[test]
    fn one_broken_document_does_not_hide_the_others() {
        let text = "kind: A\n---\nkind: B\n  bad: [\n---\nkind: C\n";
        let stream = Stream::parse(text);
        assert_eq!(stream.segments.len(), 3);
        assert!(stream.segments[1].value.is_err());
        assert_eq!(stream.docs().len(), 2);
        assert_eq!(
            stream.first_error().unwrap(),
            "not valid YAML: line 4: mapping values are not allowed in this context"
        );
    }

    #[test]
    fn json_streams() {
        let text = "{\"kind\": \"A\"}\n  {\"kind\": \"B\"}\n";
        let stream = Stream::parse(text);
        assert_eq!(stream.format, Format::Json);
        assert_eq!(&text[stream.segments[1].span.clone()], "{\"kind\": \"B\"}");
    }

    #[test]
    fn messages_lose_quoted_input() {
        assert_eq!(
            kseal_core::manifest::scrub_parser_message(
                "invalid value: string \"s3cr3t\", expected x at line 3 column 4"
            ),
            "invalid value: string \"…\", expected x"
        );
    }
}
