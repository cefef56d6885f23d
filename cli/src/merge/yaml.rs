//! YAML documents edited as text, line by line: `spec.encryptedData` items replaced where they
//! stand or appended, outer `metadata.annotations` entries set in sorted place. Only
//! block-style mappings are understood; anything else is refused (the caller re-reads the
//! result in any case).

use super::EditError;

pub(super) fn eol_of(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// Replaces or appends `spec.encryptedData` items in the lines of one YAML document.
pub(super) fn set_items(
    lines: &mut Vec<String>,
    eol: &str,
    updates: &[(String, String)],
) -> Result<(), EditError> {
    if updates.is_empty() {
        return Ok(());
    }
    let block = find_encrypted_data(lines)
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
        match find_item(lines, block.header + 1, end, item_indent, key) {
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
    Ok(())
}

/// Sets one outer `metadata.annotations` entry in the lines of one YAML document: the entry's
/// line is replaced where it stands; a new entry goes before the first key that sorts after it
/// (kubeseal's YAML is sorted); a missing `annotations:` becomes the first child of `metadata:`.
pub(super) fn set_annotation(
    lines: &mut Vec<String>,
    eol: &str,
    key: &str,
    value: &str,
) -> Result<(), EditError> {
    let entry = |indent: usize| {
        format!(
            "{:indent$}{}: {}{eol}",
            "",
            crate::output::scalar(key),
            crate::output::scalar(value)
        )
    };
    let meta = lines
        .iter()
        .position(|l| l.trim_end() == "metadata:")
        .ok_or("cannot find a block-style metadata mapping to edit in place")?;
    // The children of `metadata:` and the first child's indentation.
    let mut child_indent = None;
    let mut annotations = None;
    for (i, line) in lines.iter().enumerate().skip(meta + 1) {
        if is_blank_or_comment(line) {
            continue;
        }
        let indent = indent_of(line);
        if indent == 0 {
            break;
        }
        let child = *child_indent.get_or_insert(indent);
        if indent == child
            && annotations.is_none()
            && let Some(after) = line.trim().strip_prefix("annotations:")
        {
            annotations = Some((i, after.trim().to_owned()));
        }
    }
    let child_indent = child_indent.unwrap_or(2);
    let Some((header, after)) = annotations else {
        lines.splice(
            meta + 1..meta + 1,
            [
                format!("{:child_indent$}annotations:{eol}", ""),
                entry(child_indent + 2),
            ],
        );
        return Ok(());
    };
    if after == "{}" {
        lines.splice(
            header..=header,
            [
                format!("{:child_indent$}annotations:{eol}", ""),
                entry(child_indent + 2),
            ],
        );
        return Ok(());
    }
    if !after.is_empty() && !after.starts_with('#') {
        return Err("metadata.annotations is not a block mapping; cannot edit it in place".into());
    }
    let mut item_indent = None;
    let mut end = header + 1;
    for (j, l) in lines.iter().enumerate().skip(header + 1) {
        if is_blank_or_comment(l) {
            continue;
        }
        if indent_of(l) <= child_indent {
            break;
        }
        item_indent.get_or_insert(indent_of(l));
        end = j + 1;
    }
    let item_indent = item_indent.unwrap_or(child_indent + 2);
    if let Some((first, last)) = find_item(lines, header + 1, end, item_indent, key) {
        lines.splice(first..=last, [entry(item_indent)]);
        return Ok(());
    }
    let before = (header + 1..end).find(|&j| {
        let l = &lines[j];
        !is_blank_or_comment(l)
            && indent_of(l) == item_indent
            && item_key(l.trim()).is_some_and(|k| k.as_str() > key)
    });
    lines.insert(before.unwrap_or(end), entry(item_indent));
    Ok(())
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
