//! sprig's functions, as Bitnami's controller offers them (sprig v3's `GenericFuncMap`), with
//! sprig's argument order (the piped value last). Functions that could build more than a
//! Secret holds size their result before building it ([`super::limits`]).

use base64::Engine as _;
use gtmpl::{FuncError, Value};
use sha2::{Digest as _, Sha256};

use super::{
    funcs::{arg, count, fail, over_list, over_size, text},
    gojson::go_json,
    goquote::go_quote,
    limits::{MAX_LIST, MAX_VALUE},
};

/// sprig's `empty`: zero values are empty.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::NoValue | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Map(m) | Value::Object(m) => m.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Function(_) => false,
    }
}

fn string_fn(
    name: &str,
    args: &[Value],
    f: impl FnOnce(&str) -> Result<String, FuncError>,
) -> Result<Value, FuncError> {
    let a = arg(name, args, 1)?;
    f(&text(&a[0])).map(Value::from)
}

pub(super) fn b64enc(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("b64enc", args, |s| {
        Ok(base64::engine::general_purpose::STANDARD.encode(s))
    })
}

pub(super) fn b64dec(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("b64dec", args, |s| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|_| fail("b64dec: input is not valid base64"))?;
        String::from_utf8(bytes).map_err(|_| fail("b64dec: decoded bytes are not UTF-8"))
    })
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub(super) fn b32enc(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("b32enc", args, |s| {
        let mut out = String::new();
        for chunk in s.as_bytes().chunks(5) {
            let mut buf = [0u8; 5];
            buf[..chunk.len()].copy_from_slice(chunk);
            let bits = buf.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            let chars = (chunk.len() * 8).div_ceil(5);
            for i in 0..8 {
                if i < chars {
                    out.push(char::from(B32[((bits >> (35 - 5 * i)) & 31) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        Ok(out)
    })
}

pub(super) fn b32dec(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("b32dec", args, |s| {
        let mut bits = 0u64;
        let mut nbits = 0;
        let mut out = Vec::new();
        for c in s.trim_end_matches('=').bytes() {
            let v = B32
                .iter()
                .position(|&b| b == c)
                .ok_or_else(|| fail("b32dec: input is not valid base32"))?;
            bits = (bits << 5) | v as u64;
            nbits += 5;
            if nbits >= 8 {
                nbits -= 8;
                out.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        String::from_utf8(out).map_err(|_| fail("b32dec: decoded bytes are not UTF-8"))
    })
}

pub(super) fn upper(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("upper", args, |s| Ok(s.to_uppercase()))
}

pub(super) fn lower(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("lower", args, |s| Ok(s.to_lowercase()))
}

pub(super) fn title(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("title", args, |s| {
        let mut out = String::with_capacity(s.len());
        let mut start = true;
        for c in s.chars() {
            if start {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            start = c.is_whitespace();
        }
        Ok(out)
    })
}

pub(super) fn trim(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("trim", args, |s| Ok(s.trim().to_owned()))
}

pub(super) fn nospace(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("nospace", args, |s| {
        Ok(s.chars().filter(|c| !c.is_whitespace()).collect())
    })
}

pub(super) fn quote(args: &[Value]) -> Result<Value, FuncError> {
    // sprig quotes each argument with Go's %q and joins them with spaces.
    Ok(args
        .iter()
        .filter(|v| !matches!(v, Value::Nil | Value::NoValue))
        .map(|v| go_quote(&text(v), false))
        .collect::<Vec<_>>()
        .join(" ")
        .into())
}

pub(super) fn squote(args: &[Value]) -> Result<Value, FuncError> {
    Ok(args
        .iter()
        .filter(|v| !matches!(v, Value::Nil | Value::NoValue))
        .map(|v| format!("'{}'", text(v)))
        .collect::<Vec<_>>()
        .join(" ")
        .into())
}

fn two_strings(name: &str, args: &[Value]) -> Result<(String, String), FuncError> {
    let a = arg(name, args, 2)?;
    Ok((text(&a[0]), text(&a[1])))
}

pub(super) fn trim_all(args: &[Value]) -> Result<Value, FuncError> {
    let (cutset, s) = two_strings("trimAll", args)?;
    Ok(s.trim_matches(|c| cutset.contains(c)).to_owned().into())
}

pub(super) fn trim_prefix(args: &[Value]) -> Result<Value, FuncError> {
    let (prefix, s) = two_strings("trimPrefix", args)?;
    Ok(s.strip_prefix(prefix.as_str())
        .unwrap_or(&s)
        .to_owned()
        .into())
}

pub(super) fn trim_suffix(args: &[Value]) -> Result<Value, FuncError> {
    let (suffix, s) = two_strings("trimSuffix", args)?;
    Ok(s.strip_suffix(suffix.as_str())
        .unwrap_or(&s)
        .to_owned()
        .into())
}

pub(super) fn contains(args: &[Value]) -> Result<Value, FuncError> {
    let (needle, s) = two_strings("contains", args)?;
    Ok(s.contains(needle.as_str()).into())
}

pub(super) fn has_prefix(args: &[Value]) -> Result<Value, FuncError> {
    let (prefix, s) = two_strings("hasPrefix", args)?;
    Ok(s.starts_with(prefix.as_str()).into())
}

pub(super) fn has_suffix(args: &[Value]) -> Result<Value, FuncError> {
    let (suffix, s) = two_strings("hasSuffix", args)?;
    Ok(s.ends_with(suffix.as_str()).into())
}

pub(super) fn replace(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("replace", args, 3)?;
    let (old, new, s) = (text(&a[0]), text(&a[1]), text(&a[2]));
    // Go's strings.Replace with an empty `old` inserts `new` before every character and at the
    // end; Rust's str::replace does the same. Size it before building it.
    let matches = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old.as_str()).count()
    };
    let size = (s.len() - matches * old.len()).saturating_add(matches.saturating_mul(new.len()));
    if size > MAX_VALUE {
        return Err(over_size("replace", size));
    }
    Ok(s.replace(old.as_str(), &new).into())
}

pub(super) fn repeat(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("repeat", args, 2)?;
    let n = usize::try_from(count("repeat", "count", &a[0])?).unwrap_or(0);
    let s = text(&a[1]);
    let size = n.saturating_mul(s.len());
    if size > MAX_VALUE {
        return Err(over_size("repeat", size));
    }
    Ok(s.repeat(n).into())
}

pub(super) fn trunc(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("trunc", args, 2)?;
    let n = count("trunc", "count", &a[0])?;
    let chars: Vec<char> = text(&a[1]).chars().collect();
    let len = chars.len() as i64;
    let out: String = if n >= 0 {
        chars.iter().take(n as usize).collect()
    } else {
        chars.iter().skip((len + n).max(0) as usize).collect()
    };
    Ok(out.into())
}

pub(super) fn substr(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("substr", args, 3)?;
    let start = count("substr", "start", &a[0])?;
    let end = count("substr", "end", &a[1])?;
    let chars: Vec<char> = text(&a[2]).chars().collect();
    let len = chars.len() as i64;
    let start = start.clamp(0, len) as usize;
    let end = if end < 0 { len } else { end.min(len) } as usize;
    Ok(chars
        .get(start..end.max(start))
        .unwrap_or_default()
        .iter()
        .collect::<String>()
        .into())
}

pub(super) fn cat(args: &[Value]) -> Result<Value, FuncError> {
    Ok(args
        .iter()
        .filter(|v| !matches!(v, Value::Nil | Value::NoValue))
        .map(text)
        .collect::<Vec<_>>()
        .join(" ")
        .into())
}

fn indent_by(name: &str, args: &[Value], newline: bool) -> Result<Value, FuncError> {
    let a = arg(name, args, 2)?;
    let n = usize::try_from(count(name, "width", &a[0])?).unwrap_or(0);
    let s = text(&a[1]);
    let lines = s.matches('\n').count() + 1;
    let size = s
        .len()
        .saturating_add(lines.saturating_mul(n))
        .saturating_add(usize::from(newline));
    if size > MAX_VALUE {
        return Err(over_size(name, size));
    }
    let pad = " ".repeat(n);
    let body = format!("{pad}{}", s.replace('\n', &format!("\n{pad}")));
    Ok(if newline { format!("\n{body}") } else { body }.into())
}

pub(super) fn indent(args: &[Value]) -> Result<Value, FuncError> {
    indent_by("indent", args, false)
}

pub(super) fn nindent(args: &[Value]) -> Result<Value, FuncError> {
    indent_by("nindent", args, true)
}

pub(super) fn default(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [d] => Ok(d.clone()),
        [d, given] => Ok(if is_empty(given) { d } else { given }.clone()),
        _ => Err(FuncError::AtLeastXArgs("default".into(), 1)),
    }
}

pub(super) fn empty(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("empty", args, 1)?;
    Ok(is_empty(&a[0]).into())
}

pub(super) fn coalesce(args: &[Value]) -> Result<Value, FuncError> {
    Ok(args
        .iter()
        .find(|v| !is_empty(v))
        .cloned()
        .unwrap_or(Value::Nil))
}

pub(super) fn ternary(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("ternary", args, 3)?;
    Ok(if matches!(a[2], Value::Bool(true)) {
        a[0].clone()
    } else {
        a[1].clone()
    })
}

pub(super) fn to_string(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("toString", args, |s| Ok(s.to_owned()))
}

pub(super) fn to_json(args: &[Value]) -> Result<Value, FuncError> {
    json_fn("toJson", args, true, None)
}

pub(super) fn to_raw_json(args: &[Value]) -> Result<Value, FuncError> {
    json_fn("toRawJson", args, false, None)
}

pub(super) fn to_pretty_json(args: &[Value]) -> Result<Value, FuncError> {
    json_fn("toPrettyJson", args, true, Some(0))
}

fn json_fn(
    name: &str,
    args: &[Value],
    html: bool,
    indent: Option<usize>,
) -> Result<Value, FuncError> {
    let a = arg(name, args, 1)?;
    let mut out = String::new();
    go_json(&mut out, &a[0], html, indent);
    Ok(out.into())
}

pub(super) fn sha256sum(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("sha256sum", args, |s| {
        Ok(Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    })
}

pub(super) fn list(args: &[Value]) -> Result<Value, FuncError> {
    if args.len() > MAX_LIST {
        return Err(over_list("list", args.len()));
    }
    Ok(Value::Array(args.to_vec()))
}

pub(super) fn join(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("join", args, 2)?;
    let sep = text(&a[0]);
    let parts = match &a[1] {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>(),
        other => return Ok(text(other).into()),
    };
    let size = parts
        .iter()
        .map(String::len)
        .fold(0usize, usize::saturating_add)
        .saturating_add(sep.len().saturating_mul(parts.len().saturating_sub(1)));
    if size > MAX_VALUE {
        return Err(over_size("join", size));
    }
    Ok(parts.join(&sep).into())
}

/// Go's `strings.Split`, as sprig's `splitList`: an empty separator splits after each
/// character.
pub(super) fn split_list(args: &[Value]) -> Result<Value, FuncError> {
    let (sep, s) = two_strings("splitList", args)?;
    let n = if sep.is_empty() {
        s.chars().count()
    } else {
        s.matches(sep.as_str()).count() + 1
    };
    if n > MAX_LIST {
        return Err(over_list("splitList", n));
    }
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::from(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::from(p.to_owned()))
            .collect()
    };
    Ok(Value::Array(parts))
}
