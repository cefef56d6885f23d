//! In-place edits of committed sealed files: replace or add `spec.encryptedData` items and leave
//! every other byte as it was, so that a git diff shows exactly the items that changed.
//!
//! YAML is edited as text, line by line, because no YAML serializer round-trips a file's own
//! layout (comments, quoting, key order). The edit is then checked by parsing the result: if the
//! file's layout is one this editor does not understand, it refuses rather than guess.

use serde_json::Value;

use crate::ordered_json::OrderedJson;

/// One sealed file, as text, and where its single SealedSecret document lives.
#[derive(Debug)]
pub(crate) struct SealedFile {
    text: String,
    json: bool,
}

/// What a sealed file says about the object whose items are merged: the values that define the
/// OAEP label, so that new items are sealed to the same scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) name: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) annotations: std::collections::BTreeMap<String, String>,
}

impl SealedFile {
    /// Reads a file holding exactly one SealedSecret (YAML or JSON).
    pub(crate) fn parse(text: String) -> Result<(Self, Identity), String> {
        let json = text.trim_start().starts_with('{');
        let docs: Vec<Value> = if json {
            serde_json::Deserializer::from_str(&text)
                .into_iter::<Value>()
                .collect::<Result<_, _>>()
                .map_err(|e| format!("not valid JSON: {e}"))?
        } else {
            let mut docs = Vec::new();
            for de in serde_yaml::Deserializer::from_str(&text) {
                let v: Option<Value> = serde::Deserialize::deserialize(de).map_err(|e| {
                    let msg = e.to_string();
                    format!(
                        "not valid YAML: {}",
                        msg.split(" at line ").next().unwrap_or(&msg)
                    )
                })?;
                docs.extend(v);
            }
            docs
        };
        let sealed: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == "SealedSecret")
            .collect();
        if sealed.len() != 1 || docs.len() != 1 {
            return Err(format!(
                "holds {} documents ({} SealedSecrets); merging needs a file with exactly one SealedSecret",
                docs.len(),
                sealed.len()
            ));
        }
        let doc = sealed[0];
        let meta = &doc["metadata"];
        let annotations = meta["annotations"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let identity = Identity {
            name: meta["name"].as_str().map(str::to_owned),
            namespace: meta["namespace"].as_str().map(str::to_owned),
            annotations,
        };
        Ok((Self { text, json }, identity))
    }

    /// Returns the text with `updates` applied: existing items replaced where they stand, new
    /// items appended after the last one.
    pub(crate) fn merge(&self, updates: &[(String, String)]) -> Result<String, String> {
        let merged = if self.json {
            self.merge_json(updates)?
        } else {
            self.merge_yaml(updates)?
        };
        verify(&merged, self.json, updates)?;
        Ok(merged)
    }

    fn merge_json(&self, updates: &[(String, String)]) -> Result<String, String> {
        let mut doc: OrderedJson = serde_json::from_str(&self.text).map_err(|e| e.to_string())?;
        let items = doc
            .get_mut("spec")
            .and_then(OrderedJson::as_object_mut)
            .ok_or("spec is not an object")?
            .entry("encryptedData".to_owned())
            .or_insert_with(|| OrderedJson::Object(Default::default()));
        let items = items
            .as_object_mut()
            .ok_or("spec.encryptedData is not an object")?;
        for (k, v) in updates {
            items.insert(k.clone(), OrderedJson::String(v.clone()));
        }
        let mut out = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        out.push('\n');
        Ok(out)
    }

    fn merge_yaml(&self, updates: &[(String, String)]) -> Result<String, String> {
        let mut lines: Vec<String> = self.text.split_inclusive('\n').map(str::to_owned).collect();
        let eol = if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let block = find_encrypted_data(&lines)
            .ok_or("cannot find a block-style spec.encryptedData mapping to edit in place")?;
        let mut end = block.end;
        let mut item_indent = block.item_indent;
        if block.inline_empty {
            lines[block.header] = format!("{:1$}encryptedData:{eol}", "", block.header_indent);
            item_indent = block.header_indent + 2;
        }
        for (key, value) in updates {
            let new_line = format!(
                "{:indent$}{}: {}{eol}",
                "",
                crate::output::scalar(key),
                value,
                indent = item_indent
            );
            match find_item(&lines, block.header + 1, end, item_indent, key) {
                Some((first, last)) => {
                    lines.splice(first..=last, [new_line]);
                    end -= last - first;
                }
                None => {
                    lines.insert(end, new_line);
                    end += 1;
                }
            }
        }
        Ok(lines.concat())
    }
}

struct Block {
    header: usize,
    header_indent: usize,
    inline_empty: bool,
    item_indent: usize,
    /// Index one past the last line of the block.
    end: usize,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

fn find_encrypted_data(lines: &[String]) -> Option<Block> {
    let spec = lines.iter().position(|l| l.trim_end() == "spec:")?;
    let mut child_indent = None;
    for (i, line) in lines.iter().enumerate().skip(spec + 1) {
        if is_blank_or_comment(line) {
            continue;
        }
        let indent = indent_of(line);
        if indent == 0 {
            return None;
        }
        let child = *child_indent.get_or_insert(indent);
        if indent != child {
            continue;
        }
        let rest = line.trim();
        let Some(after) = rest.strip_prefix("encryptedData:") else {
            continue;
        };
        let after = after.trim();
        if after == "{}" {
            return Some(Block {
                header: i,
                header_indent: indent,
                inline_empty: true,
                item_indent: indent + 2,
                end: i + 1,
            });
        }
        if !after.is_empty() && !after.starts_with('#') {
            return None; // flow mapping or anchor: not something to edit as lines
        }
        let mut item_indent = None;
        let mut end = i + 1;
        for (j, l) in lines.iter().enumerate().skip(i + 1) {
            if is_blank_or_comment(l) {
                continue;
            }
            if indent_of(l) <= indent {
                break;
            }
            item_indent.get_or_insert(indent_of(l));
            end = j + 1;
        }
        return Some(Block {
            header: i,
            header_indent: indent,
            inline_empty: false,
            item_indent: item_indent.unwrap_or(indent + 2),
            end,
        });
    }
    None
}

/// The line range of item `key` (the item line plus any continuation lines).
fn find_item(
    lines: &[String],
    start: usize,
    end: usize,
    indent: usize,
    key: &str,
) -> Option<(usize, usize)> {
    let mut i = start;
    while i < end {
        let line = &lines[i];
        if !is_blank_or_comment(line)
            && indent_of(line) == indent
            && item_key(line.trim()) == Some(key.to_owned())
        {
            let mut last = i;
            while last + 1 < end
                && (indent_of(&lines[last + 1]) > indent || lines[last + 1].trim().is_empty())
            {
                if lines[last + 1].trim().is_empty() {
                    break;
                }
                last += 1;
            }
            return Some((i, last));
        }
        i += 1;
    }
    None
}

fn item_key(entry: &str) -> Option<String> {
    if let Some(rest) = entry.strip_prefix('"') {
        let close = rest.find("\":")?;
        return serde_json::from_str(&format!("\"{}\"", &rest[..close])).ok();
    }
    if let Some(rest) = entry.strip_prefix('\'') {
        let close = rest.find("':")?;
        return Some(rest[..close].replace("''", "'"));
    }
    entry.split_once(':').map(|(k, _)| k.trim().to_owned())
}

fn verify(text: &str, json: bool, updates: &[(String, String)]) -> Result<(), String> {
    let doc: Value = if json {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_yaml::from_str(text).map_err(|e| e.to_string())?
    };
    for (k, v) in updates {
        if doc["spec"]["encryptedData"][k] != Value::String(v.clone()) {
            return Err(format!(
                "the edited file does not read back item '{k}' correctly"
            ));
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
            .merge(&[("B".into(), "AgNEW=".into()), ("C".into(), "AgC=".into())])
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
        let out = file.merge(&[("K".into(), "AgK=".into())]).unwrap();
        assert!(out.contains("  encryptedData:\n    K: AgK=\n  template:"));
        let quoted = FILE.replace("    A: AgAAA=", "    \"A\": AgAAA=");
        let (file, _) = SealedFile::parse(quoted).unwrap();
        let out = file.merge(&[("A".into(), "AgZ=".into())]).unwrap();
        assert!(out.contains("    A: AgZ=\n    B: AgBBB="));
    }

    #[test]
    fn refuses_several_documents() {
        let two = format!("{FILE}{FILE}");
        assert!(
            SealedFile::parse(two)
                .unwrap_err()
                .contains("exactly one SealedSecret")
        );
    }
}
