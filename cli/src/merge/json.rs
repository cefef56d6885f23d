//! JSON documents edited in place: parsed with their key order kept ([`OrderedJson`]) and
//! written back with their own indentation.

use super::EditError;
use crate::ordered_json::OrderedJson;

/// One JSON document with items and annotations set, written with the document's own
/// indentation (kubeseal indents by four spaces, kseal by two) and key order. No trailing
/// newline.
pub(super) fn edit_json_document(
    text: &str,
    items: &[(String, String)],
    annotations: &[(String, String)],
) -> Result<String, EditError> {
    let mut doc: OrderedJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !items.is_empty() {
        let entry = doc
            .get_mut("spec")
            .and_then(OrderedJson::as_object_mut)
            .ok_or("spec is not an object")?
            .entry("encryptedData".to_owned())
            .or_insert_with(|| OrderedJson::Object(Default::default()));
        if *entry == OrderedJson::Null {
            *entry = OrderedJson::Object(Default::default());
        }
        let map = entry
            .as_object_mut()
            .ok_or("spec.encryptedData is not an object")?;
        for (k, v) in items {
            map.insert(k.clone(), OrderedJson::String(v.clone()));
        }
    }
    if !annotations.is_empty() {
        let entry = doc
            .get_mut("metadata")
            .and_then(OrderedJson::as_object_mut)
            .ok_or("metadata is not an object")?
            .entry("annotations".to_owned())
            .or_insert_with(|| OrderedJson::Object(Default::default()));
        if *entry == OrderedJson::Null {
            *entry = OrderedJson::Object(Default::default());
        }
        let map = entry
            .as_object_mut()
            .ok_or("metadata.annotations is not an object")?;
        for (k, v) in annotations {
            map.insert(k.clone(), OrderedJson::String(v.clone()));
        }
    }
    let indent = json_indent(text);
    let mut out = Vec::new();
    if indent.is_empty() {
        serde::Serialize::serialize(&doc, &mut serde_json::Serializer::new(&mut out))
    } else {
        let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
        serde::Serialize::serialize(
            &doc,
            &mut serde_json::Serializer::with_formatter(&mut out, formatter),
        )
    }
    .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| EditError(e.to_string()))
}

/// The indentation unit of a pretty-printed JSON document (the whitespace before its first
/// nested key); empty for a document on one line.
fn json_indent(text: &str) -> String {
    text.split('\n')
        .nth(1)
        .map(|line| {
            line.chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect()
        })
        .unwrap_or_default()
}
