//! Finding the line and column of a field in a block-style YAML file, for errors that are only
//! found after the file is read (serde gives positions for its own errors, not for ours).
//!
//! Only block mappings and sequences are followed; a field inside a flow collection
//! (`{name: eu, cert: a.pem}`) is reported at the deepest enclosing field that was found.

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// `secrets[1].clusters`.
pub(crate) fn show(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[derive(Debug)]
enum Kind {
    Dash,
    Key(String),
    Other,
}

/// A token at the start of a line, or after a `- ` on it: 1-based line, 0-based column.
#[derive(Debug)]
struct Token {
    line: usize,
    col: usize,
    kind: Kind,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let mut col = line.len() - trimmed.len();
        let mut rest = trimmed;
        while rest == "-" || rest.starts_with("- ") {
            out.push(Token {
                line: index + 1,
                col,
                kind: Kind::Dash,
            });
            let after = rest[1..].trim_start();
            col += rest.len() - after.len();
            rest = after;
        }
        if rest.is_empty() {
            continue;
        }
        let kind = match key_of(rest) {
            Some(key) => Kind::Key(key),
            None => Kind::Other,
        };
        out.push(Token {
            line: index + 1,
            col,
            kind,
        });
    }
    out
}

/// The key of `key: value` or `key:` (quotes removed).
fn key_of(text: &str) -> Option<String> {
    let end = text
        .char_indices()
        .find(|&(i, c)| c == ':' && text[i + 1..].chars().next().is_none_or(|n| n == ' '))
        .map(|(i, _)| i)?;
    let key = text[..end].trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    (!key.is_empty() && !key.starts_with(['{', '['])).then(|| key.to_owned())
}

/// The 1-based line and column of the deepest part of `path` found in `text`.
pub(crate) fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let tokens = tokenize(text);
    let mut found = None;
    let mut start = 0;
    for seg in path {
        let first = tokens.get(start)?;
        let col = first.col;
        let hit = match seg {
            Seg::Key(key) => tokens[start..]
                .iter()
                .take_while(|t| t.col >= col)
                .position(|t| t.col == col && matches!(&t.kind, Kind::Key(k) if k == key)),
            Seg::Index(n) => {
                if !matches!(first.kind, Kind::Dash) {
                    return found;
                }
                tokens[start..]
                    .iter()
                    .take_while(|t| t.col >= col)
                    .enumerate()
                    .filter(|(_, t)| t.col == col && matches!(t.kind, Kind::Dash))
                    .nth(*n)
                    .map(|(i, _)| i)
            }
        };
        let Some(offset) = hit else {
            return found;
        };
        let token = &tokens[start + offset];
        found = Some((token.line, token.col + 1));
        start += offset + 1;
        // The value must start on a later line, or (after a dash) be the item's first key.
        if let Some(next) = tokens.get(start) {
            let nested = match seg {
                Seg::Key(_) => {
                    next.line > token.line && (next.col > col || matches!(next.kind, Kind::Dash))
                }
                Seg::Index(_) => true,
            };
            if !nested {
                return found;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(spec: &[&str]) -> Vec<Seg> {
        spec.iter()
            .map(|s| match s.parse() {
                Ok(i) => Seg::Index(i),
                Err(_) => Seg::Key((*s).to_owned()),
            })
            .collect()
    }

    #[test]
    fn finds_nested_fields() {
        let text = "# c\ndefaults:\n  scope: strict\nsecrets:\n  - input: a\n    name: x\n  - input: b\n    cert: c.pem\n    clusters:\n      - name: eu\n        cert: eu.pem\n      - {name: us, cert: us.pem}\n";
        assert_eq!(locate(text, &path(&["defaults", "scope"])), Some((3, 3)));
        assert_eq!(locate(text, &path(&["secrets", "1"])), Some((7, 3)));
        assert_eq!(
            locate(text, &path(&["secrets", "1", "clusters"])),
            Some((9, 5))
        );
        assert_eq!(
            locate(text, &path(&["secrets", "1", "clusters", "0", "cert"])),
            Some((11, 9))
        );
        // Inside a flow mapping: the item is as deep as it goes.
        assert_eq!(
            locate(text, &path(&["secrets", "1", "clusters", "1", "cert"])),
            Some((12, 7))
        );
        assert_eq!(locate(text, &path(&["secrets", "0", "cert"])), Some((5, 3)));
        assert_eq!(
            show(&path(&["secrets", "1", "clusters"])),
            "secrets[1].clusters"
        );
    }

    #[test]
    fn sequence_at_the_parents_indentation() {
        let text = "secrets:\n- input: a\n- input: b\n  cert: x\n";
        assert_eq!(locate(text, &path(&["secrets", "1", "cert"])), Some((4, 3)));
    }
}
