//! Go's string escapes: `strconv.Quote` (and `QuoteToASCII`, `CanBackquote`, `IsPrint`) and
//! `url.QueryEscape`.

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
/// Rust's `escape_debug` leaves exactly those unescaped (after the first character, where it
/// also escapes grapheme extenders), apart from the quotes and the backslash it always escapes.
pub(super) fn is_go_printable(c: char) -> bool {
    match c {
        ' ' | '"' | '\'' | '\\' => true,
        _ => {
            let mut probe = String::from("a");
            probe.push(c);
            let escaped = probe.escape_debug().to_string();
            escaped[1..] == probe[1..]
        }
    }
}

/// Go's `strconv.Quote` (`ascii`: `QuoteToASCII`).
pub(super) fn go_quote(s: &str, ascii: bool) -> String {
    quote_with(s, '"', ascii)
}

pub(super) fn quote_with(s: &str, quote: char, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            _ if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ if is_go_printable(c) && (!ascii || c.is_ascii()) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            _ if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            _ if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

/// Go's `strconv.CanBackquote`: no backquote, no control character but tab, no U+FEFF.
pub(super) fn can_backquote(s: &str) -> bool {
    !s.chars()
        .any(|c| c == '`' || c == '\u{feff}' || c == '\u{7f}' || (c < ' ' && c != '\t'))
}

/// Go's `url.QueryEscape`: unreserved bytes (`A-Za-z0-9-_.~`) kept, space as `+`, every other
/// byte as `%XX`.
pub(super) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_strconv() {
        assert_eq!(go_quote("a\"b\\\n\u{7}", false), r#""a\"b\\\n\a""#);
        assert_eq!(go_quote("ü\u{200b}🔐", false), "\"ü\\u200b🔐\"");
        assert_eq!(go_quote("ü🔐", true), r#""\u00fc\U0001f510""#);
        assert_eq!(quote_with("'", '\'', false), r"'\''");
        assert!(can_backquote("a\tb") && !can_backquote("a`b") && !can_backquote("a\nb"));
        assert!(is_go_printable('ü') && !is_go_printable('\u{200b}'));
    }

    #[test]
    fn escapes_like_query_escape() {
        assert_eq!(query_escape("a b+c/~é"), "a+b%2Bc%2F~%C3%A9");
    }
}
