//! Go's `encoding/json` as sprig's `toJson`, `toRawJson` and `toPrettyJson` write it.

use std::collections::BTreeMap;

use gtmpl::Value;

use super::gofmt::{plain_decimal, shortest_digits};

/// Go's `encoding/json` (`json.Marshal`, or an `Encoder` with `SetEscapeHTML(false)` when
/// `html` is false), as sprig's `toJson`, `toRawJson` and `toPrettyJson` write it: map keys
/// sorted, `<`, `>`, `&` escaped as `\u003c`, `\u003e`, `\u0026` (when `html`), U+2028 and
/// U+2029 always escaped, floats in Go's form (`1e-7`, `1e+21`).
pub(super) fn go_json(out: &mut String, v: &Value, html: bool, indent: Option<usize>) {
    let newline = |out: &mut String, level: usize| {
        if indent.is_some() {
            out.push('\n');
            out.extend(std::iter::repeat_n("  ", level));
        }
    };
    let level = indent.unwrap_or(0);
    let deeper = indent.map(|l| l + 1);
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => json_string(out, s, html),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) if f.is_finite() => out.push_str(&json_float(f)),
            _ => out.push_str("null"),
        },
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                go_json(out, item, html, deeper);
            }
            if !items.is_empty() {
                newline(out, level);
            }
            out.push(']');
        }
        Value::Map(m) | Value::Object(m) => {
            out.push('{');
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            for (i, (k, item)) in sorted.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                json_string(out, k, html);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                go_json(out, item, html, deeper);
            }
            if !sorted.is_empty() {
                newline(out, level);
            }
            out.push('}');
        }
    }
}

fn json_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// A float as Go's `encoding/json` writes it: the shortest digits, with an exponent only below
/// 1e-6 or from 1e21 on.
fn json_float(f: f64) -> String {
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, exp) = shortest_digits(f.abs());
    if f != 0.0 && !(-6..21).contains(&exp) {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let e = if exp < 0 {
            format!("e-{}", -exp)
        } else {
            format!("e+{exp:02}")
        };
        return format!("{sign}{mantissa}{e}");
    }
    format!("{sign}{}", plain_decimal(&digits, exp))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn json(v: &Value, html: bool, indent: Option<usize>) -> String {
        let mut out = String::new();
        go_json(&mut out, v, html, indent);
        out
    }

    #[test]
    fn encodes_like_encoding_json() {
        let v = Value::Array(vec![
            Value::from("<&>\u{2028}\"\u{1}"),
            Value::from(1.5),
            Value::Nil,
            Value::from(true),
        ]);
        assert_eq!(
            json(&v, true, None),
            r#"["\u003c\u0026\u003e\u2028\"\u0001",1.5,null,true]"#
        );
        assert_eq!(json(&Value::from("<"), false, None), r#""<""#);
        let map = Value::Map(HashMap::from([
            ("b".to_owned(), Value::from("2")),
            ("a".to_owned(), Value::Array(vec![])),
        ]));
        assert_eq!(
            json(&map, true, Some(0)),
            "{\n  \"a\": [],\n  \"b\": \"2\"\n}"
        );
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(json_float(0.0000001), "1e-7");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(123456789.125), "123456789.125");
        assert_eq!(json_float(-0.5), "-0.5");
    }
}
