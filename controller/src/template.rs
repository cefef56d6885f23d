//! `spec.template.data`: Go `text/template` strings rendered with the decrypted items as context
//! (`wire-format.md` §7.3).
//!
//! Bitnami renders with Go's `text/template` plus sprig's `GenericFuncMap` (minus `env`,
//! `expandenv`, `getHostByName`). kseal uses the `gtmpl` engine (Go template syntax: actions,
//! pipelines, variables, `if`/`else`/`range`/`with`, and Go's builtins `and`, `or`, `not`, `len`,
//! `index`, `print`, `printf`, `println`, `urlquery`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`) plus the
//! sprig functions listed in [`FUNCTIONS`]. A template that calls any other function fails to
//! parse, and the SealedSecret gets `Synced=False` naming the template key and the function: a
//! loud failure instead of a silent difference in output.
//!
//! Error messages never contain values: the engine's own messages can print its context (every
//! decrypted value) or function arguments, so only messages known to be about the template text
//! are passed through.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use gtmpl::{Context, Func, FuncError, Template, Value, error::ExecError};
use sha2::{Digest as _, Sha256};

/// Marks a function error message as written by kseal and free of values, so it may be shown.
const SAFE: &str = "\u{1}kseal:";

/// The sprig functions kseal implements, with sprig's argument order (the piped value last).
pub const FUNCTIONS: &[&str] = &[
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "upper",
    "lower",
    "title",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "nospace",
    "quote",
    "squote",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "trunc",
    "substr",
    "cat",
    "indent",
    "nindent",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "toString",
    "toJson",
    "sha256sum",
    "list",
    "join",
    "splitList",
];

fn funcs() -> Vec<(&'static str, Func)> {
    vec![
        ("b64enc", b64enc as Func),
        ("b64dec", b64dec),
        ("b32enc", b32enc),
        ("b32dec", b32dec),
        ("upper", upper),
        ("lower", lower),
        ("title", title),
        ("trim", trim),
        ("trimAll", trim_all),
        ("trimPrefix", trim_prefix),
        ("trimSuffix", trim_suffix),
        ("nospace", nospace),
        ("quote", quote),
        ("squote", squote),
        ("replace", replace),
        ("contains", contains),
        ("hasPrefix", has_prefix),
        ("hasSuffix", has_suffix),
        ("repeat", repeat),
        ("trunc", trunc),
        ("substr", substr),
        ("cat", cat),
        ("indent", indent),
        ("nindent", nindent),
        ("default", default),
        ("empty", empty),
        ("coalesce", coalesce),
        ("ternary", ternary),
        ("toString", to_string),
        ("toJson", to_json),
        ("sha256sum", sha256sum),
        ("list", list),
        ("join", join),
        ("splitList", split_list),
    ]
}

/// A template that could not be rendered. The message names the template key and says what is
/// wrong with the template text; it never contains a decrypted value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {key:?}: {message}")]
pub struct TemplateError {
    /// The `spec.template.data` key.
    pub key: String,
    /// What went wrong.
    pub message: String,
}

/// Renders every `spec.template.data` entry with `items` (item name → decrypted value) as the
/// template's `.`. Items that are not UTF-8 are left out of the context (Go strings may hold any
/// bytes, Rust strings may not), so a template that reads one sees `<no value>`.
pub fn render_all(
    templates: &BTreeMap<String, String>,
    items: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, TemplateError> {
    let context: HashMap<String, Value> = items
        .iter()
        .filter_map(|(k, v)| {
            std::str::from_utf8(v)
                .ok()
                .map(|s| (k.clone(), Value::String(s.to_owned())))
        })
        .collect();
    let context = Context::from(Value::Map(context));
    let functions = funcs();
    templates
        .iter()
        .map(|(key, text)| {
            let mut template = Template::default();
            template.add_funcs(&functions);
            template.parse(text.as_str()).map_err(|e| TemplateError {
                key: key.clone(),
                message: parse_message(&e.to_string()),
            })?;
            let out = template.render(&context).map_err(|e| TemplateError {
                key: key.clone(),
                message: exec_message(&e),
            })?;
            Ok((key.clone(), out.into_bytes()))
        })
        .collect()
}

/// Parse errors are about the template text, which is public, so they are shown, reworded for
/// the one users hit most: a function kseal does not implement.
fn parse_message(raw: &str) -> String {
    if let Some(at) = raw.find("function ")
        && let Some(name) = raw[at + 9..].strip_suffix(" not defined")
    {
        return format!(
            "function {name:?} is not supported by kseal (supported: Go builtins and {})",
            FUNCTIONS.join(", ")
        );
    }
    format!("cannot parse: {raw}")
}

/// Execution errors pass through only when their text cannot hold a value.
fn exec_message(e: &ExecError) -> String {
    match e {
        ExecError::FuncError(FuncError::Generic(m)) if m.starts_with(SAFE) => {
            m[SAFE.len()..].to_owned()
        }
        ExecError::FuncError(FuncError::AtLeastXArgs(..) | FuncError::ExactlyXArgs(..))
        | ExecError::UndefinedFunction(_)
        | ExecError::TemplateNotDefined(_)
        | ExecError::MaxTemplateDepth
        | ExecError::VariableNotFound(_)
        | ExecError::NotAFunctionButArguments(_)
        | ExecError::OnlyMapsAndObjectsHaveFields
        | ExecError::PipelineMustYieldString => e.to_string(),
        ExecError::NoFiledFor(field, _) => format!("no field {field:?}"),
        ExecError::FuncError(_) => {
            "a function failed: wrong number or type of arguments (values are not shown)".into()
        }
        _ => "cannot render (details are not shown because they may contain values)".into(),
    }
}

fn fail(message: impl std::fmt::Display) -> FuncError {
    FuncError::Generic(format!("{SAFE}{message}"))
}

/// Go's `fmt.Sprint` of one value, which is what sprig's `toString` does.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::NoValue | Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn arg<'a>(name: &str, args: &'a [Value], n: usize) -> Result<&'a [Value], FuncError> {
    if args.len() == n {
        Ok(args)
    } else {
        Err(FuncError::ExactlyXArgs(name.to_owned(), n))
    }
}

fn int(name: &str, v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| fail(format!("{name}: expected an integer"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| fail(format!("{name}: expected an integer"))),
        _ => Err(fail(format!("{name}: expected an integer"))),
    }
}

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

fn b64enc(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("b64enc", args, |s| {
        Ok(base64::engine::general_purpose::STANDARD.encode(s))
    })
}

fn b64dec(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("b64dec", args, |s| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|_| fail("b64dec: input is not valid base64"))?;
        String::from_utf8(bytes).map_err(|_| fail("b64dec: decoded bytes are not UTF-8"))
    })
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32enc(args: &[Value]) -> Result<Value, FuncError> {
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

fn b32dec(args: &[Value]) -> Result<Value, FuncError> {
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

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("upper", args, |s| Ok(s.to_uppercase()))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("lower", args, |s| Ok(s.to_lowercase()))
}

fn title(args: &[Value]) -> Result<Value, FuncError> {
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

fn trim(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("trim", args, |s| Ok(s.trim().to_owned()))
}

fn nospace(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("nospace", args, |s| {
        Ok(s.chars().filter(|c| !c.is_whitespace()).collect())
    })
}

fn quote(args: &[Value]) -> Result<Value, FuncError> {
    // sprig quotes each argument with Go's %q and joins them with spaces.
    Ok(args
        .iter()
        .filter(|v| !matches!(v, Value::Nil | Value::NoValue))
        .map(|v| go_quote(&text(v)))
        .collect::<Vec<_>>()
        .join(" ")
        .into())
}

/// Go's `strconv.Quote` for printable text: JSON's escaping matches it for common input.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn squote(args: &[Value]) -> Result<Value, FuncError> {
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

fn trim_all(args: &[Value]) -> Result<Value, FuncError> {
    let (cutset, s) = two_strings("trimAll", args)?;
    Ok(s.trim_matches(|c| cutset.contains(c)).to_owned().into())
}

fn trim_prefix(args: &[Value]) -> Result<Value, FuncError> {
    let (prefix, s) = two_strings("trimPrefix", args)?;
    Ok(s.strip_prefix(prefix.as_str())
        .unwrap_or(&s)
        .to_owned()
        .into())
}

fn trim_suffix(args: &[Value]) -> Result<Value, FuncError> {
    let (suffix, s) = two_strings("trimSuffix", args)?;
    Ok(s.strip_suffix(suffix.as_str())
        .unwrap_or(&s)
        .to_owned()
        .into())
}

fn contains(args: &[Value]) -> Result<Value, FuncError> {
    let (needle, s) = two_strings("contains", args)?;
    Ok(s.contains(needle.as_str()).into())
}

fn has_prefix(args: &[Value]) -> Result<Value, FuncError> {
    let (prefix, s) = two_strings("hasPrefix", args)?;
    Ok(s.starts_with(prefix.as_str()).into())
}

fn has_suffix(args: &[Value]) -> Result<Value, FuncError> {
    let (suffix, s) = two_strings("hasSuffix", args)?;
    Ok(s.ends_with(suffix.as_str()).into())
}

fn replace(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("replace", args, 3)?;
    Ok(text(&a[2])
        .replace(text(&a[0]).as_str(), &text(&a[1]))
        .into())
}

fn repeat(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("repeat", args, 2)?;
    let n = usize::try_from(int("repeat", &a[0])?).unwrap_or(0);
    let s = text(&a[1]);
    // A Secret holds at most 1 MiB; refuse to build more than that.
    if n.saturating_mul(s.len()) > 1 << 20 {
        return Err(fail("repeat: result would exceed 1 MiB"));
    }
    Ok(s.repeat(n).into())
}

fn trunc(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("trunc", args, 2)?;
    let n = int("trunc", &a[0])?;
    let chars: Vec<char> = text(&a[1]).chars().collect();
    let len = chars.len() as i64;
    let out: String = if n >= 0 {
        chars.iter().take(n as usize).collect()
    } else {
        chars.iter().skip((len + n).max(0) as usize).collect()
    };
    Ok(out.into())
}

fn substr(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("substr", args, 3)?;
    let (start, end) = (int("substr", &a[0])?, int("substr", &a[1])?);
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

fn cat(args: &[Value]) -> Result<Value, FuncError> {
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
    let n = usize::try_from(int(name, &a[0])?).unwrap_or(0);
    let pad = " ".repeat(n);
    let body = format!("{pad}{}", text(&a[1]).replace('\n', &format!("\n{pad}")));
    Ok(if newline { format!("\n{body}") } else { body }.into())
}

fn indent(args: &[Value]) -> Result<Value, FuncError> {
    indent_by("indent", args, false)
}

fn nindent(args: &[Value]) -> Result<Value, FuncError> {
    indent_by("nindent", args, true)
}

fn default(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [d] => Ok(d.clone()),
        [d, given] => Ok(if is_empty(given) { d } else { given }.clone()),
        _ => Err(FuncError::AtLeastXArgs("default".into(), 1)),
    }
}

fn empty(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("empty", args, 1)?;
    Ok(is_empty(&a[0]).into())
}

fn coalesce(args: &[Value]) -> Result<Value, FuncError> {
    Ok(args
        .iter()
        .find(|v| !is_empty(v))
        .cloned()
        .unwrap_or(Value::Nil))
}

fn ternary(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("ternary", args, 3)?;
    Ok(if matches!(a[2], Value::Bool(true)) {
        a[0].clone()
    } else {
        a[1].clone()
    })
}

fn to_string(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("toString", args, |s| Ok(s.to_owned()))
}

fn to_json(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("toJson", args, 1)?;
    Ok(json(&a[0]).to_string().into())
}

fn json(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::String(s) => s.as_str().into(),
        Value::Number(n) => n
            .as_i64()
            .map(Into::into)
            .or_else(|| n.as_f64().map(Into::into))
            .unwrap_or(serde_json::Value::Null),
        Value::Array(a) => a.iter().map(json).collect(),
        Value::Map(m) | Value::Object(m) => {
            // Sorted keys, as Go's encoding/json writes maps.
            let sorted: BTreeMap<_, _> = m.iter().map(|(k, v)| (k.clone(), json(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
    }
}

fn sha256sum(args: &[Value]) -> Result<Value, FuncError> {
    string_fn("sha256sum", args, |s| {
        Ok(Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    })
}

fn list(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Array(args.to_vec()))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let a = arg("join", args, 2)?;
    let sep = text(&a[0]);
    Ok(match &a[1] {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(&sep),
        other => text(other),
    }
    .into())
}

fn split_list(args: &[Value]) -> Result<Value, FuncError> {
    let (sep, s) = two_strings("splitList", args)?;
    Ok(Value::Array(
        s.split(sep.as_str())
            .map(|p| Value::from(p.to_owned()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, items: &[(&str, &str)]) -> Result<String, TemplateError> {
        let templates = BTreeMap::from([("out".to_owned(), template.to_owned())]);
        let items = items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect();
        render_all(&templates, &items).map(|m| String::from_utf8(m["out"].clone()).unwrap())
    }

    #[test]
    fn what_users_write() {
        let items = [("user", "admin"), ("pass", "s3cr3t"), ("host", "db")];
        for (template, want) in [
            ("{{ .user }}", "admin"),
            (r#"{{ index . "pass" }}"#, "s3cr3t"),
            (
                "postgres://{{ .user }}:{{ .pass }}@{{ .host }}:5432/app",
                "postgres://admin:s3cr3t@db:5432/app",
            ),
            (
                r#"{{ printf "%s:%s" .user .pass | b64enc }}"#,
                "YWRtaW46czNjcjN0",
            ),
            (r#"{{ "YWRtaW4=" | b64dec }}"#, "admin"),
            ("{{ .user | upper }}", "ADMIN"),
            ("{{ .user | quote }}", "\"admin\""),
            ("{{ .user | squote }}", "'admin'"),
            (r#"{{ .missing | default "fallback" }}"#, "fallback"),
            (r#"{{ .user | default "fallback" }}"#, "admin"),
            (r#"{{ replace "a" "A" .user }}"#, "Admin"),
            (
                r#"{{ if eq .user "admin" }}yes{{ else }}no{{ end }}"#,
                "yes",
            ),
            (r#"{{ .user | trimPrefix "ad" }}"#, "min"),
            ("{{ .user | sha256sum | trunc 8 }}", "8c6976e5"),
            (
                "user: {{ .user }}\npass: {{ .pass | nindent 2 }}",
                "user: admin\npass: \n  s3cr3t",
            ),
            (r#"{{ list .user .host | join "," }}"#, "admin,db"),
            ("{{ .user | toJson }}", "\"admin\""),
            (r#"{{ "hello" | b32enc }}"#, "NBSWY3DP"),
            (r#"{{ "NBSWY3DP" | b32dec }}"#, "hello"),
            ("{{ .user | title }}", "Admin"),
            ("{{ cat .user .host }}", "admin db"),
        ] {
            assert_eq!(render(template, &items).unwrap(), want, "{template}");
        }
    }

    #[test]
    fn unknown_function_is_named() {
        let e = render("{{ .pass | htpasswd }}", &[("pass", "s3cr3t")]).unwrap_err();
        assert_eq!(e.key, "out");
        assert!(e.message.contains("\"htpasswd\" is not supported"), "{e}");
        assert!(!e.to_string().contains("s3cr3t"));
        let e = render("{{ env \"HOME\" }}", &[]).unwrap_err();
        assert!(e.message.contains("\"env\""), "{e}");
    }

    #[test]
    fn errors_never_show_values() {
        for template in [
            r#"{{ index . "nope" 3 }}"#,
            "{{ .pass | b64dec }}",
            "{{ lt .pass 3 }}",
            "{{ len 3 }}",
            "{{ range .pass }}{{ end }}",
            "{{ .pass.field }}",
        ] {
            let e = render(template, &[("pass", "s3cr3t-canary")]);
            if let Err(e) = e {
                assert!(!e.to_string().contains("canary"), "{template}: {e}");
            }
        }
    }
}
