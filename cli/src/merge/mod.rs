//! In-place edits of committed sealed files: replace or add `spec.encryptedData` items (and set
//! outer `metadata.annotations`, for the key fingerprint) and leave every other byte as it was,
//! so that a git diff shows exactly the items that changed. [`SealedFile`] edits a file holding
//! one SealedSecret (`seal --merge-into`); [`edit_stream`] edits chosen documents of a
//! multi-document file and leaves the others alone (`rotate`).
//!
//! YAML is edited as text, line by line, because no YAML serializer round-trips a file's own
//! layout (comments, quoting, key order). The edit is then checked by parsing the result: if the
//! file's layout is one this editor does not understand, it refuses rather than guess.

use serde_json::Value;

use crate::scan::{Format, Stream};

mod json;
mod yaml;

use self::{
    json::edit_json_document,
    yaml::{eol_of, set_annotation, set_items},
};

crate::exit::message_error!(
    /// Why an in-place edit was refused: a layout this editor does not understand, or a result
    /// that does not read back as intended. It names documents and fields, never values.
    EditError
);

/// One sealed file, as text, and where its single SealedSecret document lives.
#[derive(Debug)]
pub(crate) struct SealedFile {
    text: String,
    json: bool,
    /// Index of the SealedSecret among the stream's segments.
    segment: usize,
}

/// What a sealed file says about the object whose items are merged: the values that define the
/// OAEP label, so that new items are sealed to the same scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) name: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) annotations: std::collections::BTreeMap<String, String>,
    /// The `spec.encryptedData` items in the file: names and sealed values (`None` for a value
    /// that is not a string).
    pub(crate) items: Vec<(String, Option<String>)>,
}

impl SealedFile {
    /// Reads a file holding exactly one SealedSecret (YAML or JSON).
    pub(crate) fn parse(text: String) -> Result<(Self, Identity), EditError> {
        let stream = Stream::parse(&text);
        if let Some(error) = stream.first_error() {
            return Err(error.into());
        }
        let json = stream.format == Format::Json;
        let docs: Vec<(usize, &Value)> = stream
            .segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.value.as_ref().ok()?)))
            .collect();
        let sealed = docs
            .iter()
            .filter(|(_, d)| d["kind"] == "SealedSecret")
            .count();
        let [(segment, doc)] = docs[..] else {
            return Err(EditError(format!(
                "holds {} documents ({sealed} SealedSecrets); merging needs a file with exactly one SealedSecret",
                docs.len(),
            )));
        };
        if sealed != 1 {
            return Err(
                "holds no SealedSecret; merging needs a file with exactly one SealedSecret".into(),
            );
        }
        let meta = &doc["metadata"];
        let identity = Identity {
            name: meta["name"].as_str().map(str::to_owned),
            namespace: meta["namespace"].as_str().map(str::to_owned),
            annotations: crate::inspect::string_annotations(meta),
            items: crate::inspect::encrypted_items(doc),
        };
        Ok((
            Self {
                text,
                json,
                segment,
            },
            identity,
        ))
    }

    /// Returns the text with `updates` applied (existing items replaced where they stand, new
    /// items appended after the last one) and the outer `annotations` set.
    pub(crate) fn merge(
        &self,
        updates: &[(String, String)],
        annotations: &[(String, String)],
    ) -> Result<String, EditError> {
        let edit = DocEdit {
            segment: self.segment,
            items: updates.to_vec(),
            annotations: annotations.to_vec(),
        };
        let merged = edit_stream(&self.text, &Stream::parse(&self.text), &[edit])?;
        verify(&merged, self.json, updates)?;
        Ok(merged)
    }
}

/// Changes to one top-level document of a stream.
#[derive(Debug, Default)]
pub(crate) struct DocEdit {
    /// Index into [`Stream::segments`].
    pub(crate) segment: usize,
    /// `spec.encryptedData` items to replace (in place) or add (at the end).
    pub(crate) items: Vec<(String, String)>,
    /// Outer `metadata.annotations` to set (replaced in place, or added in sorted position).
    pub(crate) annotations: Vec<(String, String)>,
}

/// Applies `edits` to the documents of `text` (parsed as `stream`) and returns the new text.
/// Documents without an edit, and every line an edit does not touch, stay byte for byte; a
/// JSON document that is edited is written back with its own indentation and key order.
///
/// The result is parsed again and compared document by document with what the edits should
/// give; any difference (a layout this editor misreads) is an error and nothing is returned.
pub(crate) fn edit_stream(
    text: &str,
    stream: &Stream,
    edits: &[DocEdit],
) -> Result<String, EditError> {
    let mut out = String::with_capacity(text.len() + 1024);
    let mut cursor = 0;
    let mut expected = Vec::new();
    for (index, segment) in stream.segments.iter().enumerate() {
        let value = match &segment.value {
            Ok(v) => v.clone(),
            Err(e) => return Err(EditError(format!("document {}: {e}", segment.number))),
        };
        let edit = edits.iter().find(|e| e.segment == index);
        let Some(edit) = edit else {
            expected.push(Some(value));
            continue;
        };
        let mut value = value;
        apply_to_value(&mut value, edit)?;
        expected.push(Some(value));
        let original = &text[segment.span.clone()];
        let edited = match stream.format {
            Format::Json => edit_json_document(original, &edit.items, &edit.annotations)?,
            Format::Yaml => {
                let mut lines: Vec<String> =
                    original.split_inclusive('\n').map(str::to_owned).collect();
                let eol = eol_of(text);
                set_items(&mut lines, eol, &edit.items)?;
                for (key, value) in &edit.annotations {
                    set_annotation(&mut lines, eol, key, value)?;
                }
                lines.concat()
            }
        };
        out.push_str(&text[cursor..segment.span.start]);
        out.push_str(&edited);
        cursor = segment.span.end;
    }
    out.push_str(&text[cursor..]);
    let reread = Stream::parse(&out);
    let actual: Vec<Option<Value>> = reread
        .segments
        .iter()
        .map(|s| s.value.clone().ok())
        .collect();
    if actual != expected {
        return Err("the edited file does not read back as intended; it was left unchanged".into());
    }
    Ok(out)
}

/// What an edit should do to a parsed document (the reference the edited text is checked
/// against).
fn apply_to_value(doc: &mut Value, edit: &DocEdit) -> Result<(), EditError> {
    let object = doc.as_object_mut().ok_or("the document is not a map")?;
    if !edit.items.is_empty() {
        let spec = object
            .entry("spec")
            .or_insert_with(|| Value::Object(Default::default()))
            .as_object_mut()
            .ok_or("spec is not a map")?;
        let items = spec
            .entry("encryptedData")
            .or_insert_with(|| Value::Object(Default::default()));
        if items.is_null() {
            *items = Value::Object(Default::default());
        }
        let items = items
            .as_object_mut()
            .ok_or("spec.encryptedData is not a map")?;
        for (k, v) in &edit.items {
            items.insert(k.clone(), Value::String(v.clone()));
        }
    }
    if !edit.annotations.is_empty() {
        let meta = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or("metadata is not a map")?;
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if annotations.is_null() {
            *annotations = Value::Object(Default::default());
        }
        let annotations = annotations
            .as_object_mut()
            .ok_or("metadata.annotations is not a map")?;
        for (k, v) in &edit.annotations {
            annotations.insert(k.clone(), Value::String(v.clone()));
        }
    }
    Ok(())
}

fn verify(text: &str, json: bool, updates: &[(String, String)]) -> Result<(), EditError> {
    let doc: Value = if json {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_yaml::from_str(text).map_err(|e| e.to_string())?
    };
    for (k, v) in updates {
        if doc["spec"]["encryptedData"][k] != Value::String(v.clone()) {
            return Err(EditError(format!(
                "the edited file does not read back item '{k}' correctly"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: app-env\n  namespace: shop\nspec:\n  encryptedData:\n    A: AgAAA=\n    B: AgBBB=\n  template:\n    metadata:\n      name: app-env\n      namespace: shop\n    type: Opaque\n";

    #[test]
    fn replaces_one_line_and_appends_new_items() {
        let (file, id) = SealedFile::parse(FILE.into()).unwrap();
        assert_eq!(id.name.as_deref(), Some("app-env"));
        let out = file
            .merge(
                &[("B".into(), "AgNEW=".into()), ("C".into(), "AgC=".into())],
                &[],
            )
            .unwrap();
        let old: Vec<&str> = FILE.lines().collect();
        let new: Vec<&str> = out.lines().collect();
        assert_eq!(new.len(), old.len() + 1);
        assert_eq!(new[9], "    B: AgNEW=");
        assert_eq!(new[10], "    C: AgC=");
        for (i, line) in old.iter().enumerate().filter(|(i, _)| *i != 9) {
            let j = if i < 10 { i } else { i + 1 };
            assert_eq!(new[j], *line);
        }
    }

    #[test]
    fn inline_empty_map_and_quoted_keys() {
        let text = FILE.replace(
            "  encryptedData:\n    A: AgAAA=\n    B: AgBBB=\n",
            "  encryptedData: {}\n",
        );
        let (file, _) = SealedFile::parse(text).unwrap();
        let out = file.merge(&[("K".into(), "AgK=".into())], &[]).unwrap();
        assert!(out.contains("  encryptedData:\n    K: AgK=\n  template:"));
        let quoted = FILE.replace("    A: AgAAA=", "    \"A\": AgAAA=");
        let (file, _) = SealedFile::parse(quoted).unwrap();
        let out = file.merge(&[("A".into(), "AgZ=".into())], &[]).unwrap();
        assert!(out.contains("    A: AgZ=\n    B: AgBBB="));
    }

    #[test]
    fn edits_one_document_of_a_stream_and_its_annotation() {
        let other = "# keep me\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n";
        let annotated = FILE.replace(
            "metadata:\n  name: app-env",
            "metadata:\n  annotations:\n    kseal.dev/key-fingerprint: \"SHA256:old\"\n    z.io/x: y\n  name: app-env",
        );
        let text = format!("{other}{FILE}{annotated}");
        let stream = Stream::parse(&text);
        assert_eq!(stream.segments.len(), 3);
        let fp = (
            "kseal.dev/key-fingerprint".to_owned(),
            "SHA256:new".to_owned(),
        );
        let edits = [
            DocEdit {
                segment: 1,
                items: vec![("A".into(), "AgNEW=".into())],
                annotations: vec![fp.clone()],
            },
            DocEdit {
                segment: 2,
                items: vec![("B".into(), "AgNEW=".into())],
                annotations: vec![fp],
            },
        ];
        let out = edit_stream(&text, &stream, &edits).unwrap();
        assert!(
            out.starts_with(other),
            "untouched document and comment kept"
        );
        let docs: Vec<&str> = out.split("---\n").collect();
        assert!(docs[2].contains("metadata:\n  annotations:\n    kseal.dev/key-fingerprint: \"SHA256:new\"\n  name: app-env"));
        assert!(docs[2].contains("    A: AgNEW=\n    B: AgBBB="));
        assert!(docs[3].contains("    kseal.dev/key-fingerprint: \"SHA256:new\"\n    z.io/x: y\n"));
        assert!(docs[3].contains("    A: AgAAA=\n    B: AgNEW="));
        assert_eq!(out.lines().count(), text.lines().count() + 2);
    }

    #[test]
    fn annotation_goes_in_sorted_place_and_json_keeps_its_indent() {
        let text = FILE.replacen(
            "metadata:\n",
            "metadata:\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n",
            1,
        );
        let stream = Stream::parse(&text);
        let edit = DocEdit {
            segment: 0,
            items: vec![],
            annotations: vec![("kseal.dev/key-fingerprint".into(), "SHA256:x".into())],
        };
        let out = edit_stream(&text, &stream, &[edit]).unwrap();
        assert!(out.contains(
            "  annotations:\n    kseal.dev/key-fingerprint: \"SHA256:x\"\n    sealedsecrets"
        ));

        let json = "{\n    \"kind\": \"SealedSecret\",\n    \"metadata\": {\n        \"name\": \"a\"\n    },\n    \"spec\": {\n        \"encryptedData\": {\n            \"K\": \"AgA=\"\n        }\n    }\n}\n{\"kind\":\"Other\"}\n";
        let stream = Stream::parse(json);
        let edit = DocEdit {
            segment: 0,
            items: vec![("K".into(), "AgB=".into())],
            annotations: vec![("kseal.dev/key-fingerprint".into(), "SHA256:x".into())],
        };
        let out = edit_stream(json, &stream, &[edit]).unwrap();
        assert!(out.contains("\n            \"K\": \"AgB=\"\n"), "{out}");
        assert!(
            out.contains("\"annotations\": {\n            \"kseal.dev/key-fingerprint\""),
            "{out}"
        );
        assert!(out.ends_with("}\n{\"kind\":\"Other\"}\n"));
    }

    #[test]
    fn refuses_several_documents() {
        let two = format!("{FILE}{FILE}");
        assert!(
            SealedFile::parse(two)
                .unwrap_err()
                .to_string()
                .contains("exactly one SealedSecret")
        );
    }
}
