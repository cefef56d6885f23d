//! Finding and reading manifest files for the commands that walk a repository (`verify`,
//! `guard`, `rotate`, `keys`, `unseal DIR`): files or directories, YAML streams (several
//! documents) or JSON streams, and the items of a `kind: List`.
//!
//! Streams are read by `kseal_core::documents`, the one multi-document reader (its limits and
//! error places); this module keeps each document's byte span, so that an editor (`merge/`) can
//! change one document and leave every other byte of the file alone.

use std::{
    fs,
    ops::Range,
    path::{Path, PathBuf},
};

use kseal_core::documents::{self, DocumentError, JsonValue, Limits, Syntax};
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
    /// input (`kseal_core::documents::scrub_parser_message`).
    DocError
);

impl From<DocumentError> for DocError {
    fn from(e: DocumentError) -> Self {
        Self(match e.line {
            Some(line) => format!("line {line}: {}", e.problem),
            None => e.problem.to_string(),
        })
    }
}

/// One top-level document of a stream.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Byte range of the document's text; for YAML it includes its `---` line.
    pub(crate) span: Range<usize>,
    /// 1-based position among the non-empty documents (empty ones are left out).
    pub(crate) number: usize,
    /// The parsed document, or why it does not parse (a message without any quoted input).
    pub(crate) value: std::result::Result<Value, DocError>,
}

/// A file's documents, in order.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) format: Format,
    pub(crate) segments: Vec<Segment>,
    /// Why the input was not read at all (over the reader's limits); its text is then one
    /// broken segment, so readers that fall back to lines (the guard) still see it.
    pub(crate) unread: Option<String>,
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
    /// Splits and parses `text` with `kseal_core::documents` (YAML documents one by one, so one
    /// broken document, a Helm template, does not hide the others; a JSON stream stops at the
    /// first error). An input over the reader's limits is one broken document.
    pub(crate) fn parse(text: &str) -> Self {
        match documents::read::<JsonValue>(text.as_bytes(), &Limits::FILES) {
            Ok(docs) => Self {
                format: match docs.syntax {
                    Syntax::Json => Format::Json,
                    Syntax::Yaml => Format::Yaml,
                },
                segments: docs
                    .documents
                    .into_iter()
                    .map(|d| Segment {
                        span: d.span,
                        number: d.number,
                        value: d.value.map(|v| v.0).map_err(DocError::from),
                    })
                    .collect(),
                unread: None,
            },
            Err(e) => Self {
                format: Format::Yaml,
                segments: vec![Segment {
                    span: 0..text.len(),
                    number: 1,
                    value: Err(DocError(e.to_string())),
                }],
                unread: Some(e.to_string()),
            },
        }
    }

    /// Every parsed object, with List items expanded (the List itself is not returned).
    pub(crate) fn docs(&self) -> Vec<Doc<'_>> {
        let mut out = Vec::new();
        for (index, segment) in self.segments.iter().enumerate() {
            let Ok(value) = &segment.value else {
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

    /// The first parse error, as `not valid YAML: line L: message`, or why the input was not
    /// read at all (`input has more than 10000 documents`).
    pub(crate) fn first_error(&self) -> Option<String> {
        if let Some(why) = &self.unread {
            return Some(why.clone());
        }
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
                    unread: None,
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
    fn input_over_the_limits_is_one_unreadable_document() {
        let bomb = "---\n".repeat(20_000);
        let stream = Stream::parse(&bomb);
        assert_eq!(
            stream.first_error().unwrap(),
            "input has more than 10000 documents"
        );
        assert_eq!(stream.segments.len(), 1);
        assert_eq!(stream.segments[0].span, 0..bomb.len());
        assert!(stream.docs().is_empty());
    }

    #[test]
    fn json_streams() {
        let text = "{\"kind\": \"A\"}\n  {\"kind\": \"B\"}\n";
        let stream = Stream::parse(text);
        assert_eq!(stream.format, Format::Json);
        assert_eq!(&text[stream.segments[1].span.clone()], "{\"kind\": \"B\"}");
    }
}
