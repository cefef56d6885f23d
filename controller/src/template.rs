//! `spec.template.data`: Go `text/template` strings rendered with the decrypted items as context
//! (`docs/wire-format.md` §7.3).
//!
//! Bitnami renders with Go's `text/template` plus sprig's `GenericFuncMap` (minus `env`,
//! `expandenv`, `getHostByName`). kseal uses the `gtmpl` engine (Go template syntax: actions,
//! pipelines, variables, `if`/`else`/`range`/`with`, and Go's builtins `and`, `or`, `not`, `len`,
//! `index`, `print`, `printf`, `println`, `urlquery`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`) plus the
//! sprig functions listed in [`FUNCTIONS`]. A template that calls any other function fails to
//! parse, and the SealedSecret gets `Synced=False` naming the template key and the function: a
//! loud failure instead of a silent difference in output.
//!
//! `printf`, `print`, `println` and `urlquery` are kseal's own (gtmpl's write other bytes than
//! Go's): Go's `fmt` verbs, flags, width and precision, and misuse markers such as
//! `%!d(string=x)`; `url.QueryEscape`. The JSON functions write what Go's `encoding/json` writes
//! (`<`, `>`, `&`, U+2028, U+2029 escaped). The unit test `go_outputs` holds bytes recorded from
//! Go. Left different: gtmpl parses number literals itself, so an integral float literal (`2.0`,
//! `1e6`) is an `int`, a negative float literal loses its fraction and hex literals are 0;
//! decrypted items are strings, so this only concerns literals written in the template.
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
    "mustToJson",
    "toRawJson",
    "mustToRawJson",
    "toPrettyJson",
    "mustToPrettyJson",
    "sha256sum",
    "list",
    "join",
    "splitList",
];

fn funcs() -> Vec<(&'static str, Func)> {
    vec![
        // Go builtins whose gtmpl versions print other bytes than Go's: replaced.
        ("printf", printf as Func),
        ("print", print),
        ("println", println),
        ("urlquery", urlquery),
        ("b64enc", b64enc),
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
        ("mustToJson", to_json),
        ("toRawJson", to_raw_json),
        ("mustToRawJson", to_raw_json),
        ("toPrettyJson", to_pretty_json),
        ("mustToPrettyJson", to_pretty_json),
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

/// Go's `fmt.Sprint` of one value, which is what sprig's `toString` does; sprig's string
/// functions see nil as "".
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::NoValue | Value::Nil | Value::Function(_) => String::new(),
        other => sprint1(other).unwrap_or_default(),
    }
}

/// Go's `printf` (`fmt.Sprintf`); see [`sprintf`].
fn printf(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [Value::String(format), rest @ ..] => sprintf(format, rest).map(Value::from),
        [] => Err(FuncError::AtLeastXArgs("printf".into(), 1)),
        _ => Err(fail("printf: the format must be a string")),
    }
}

/// Go's `print` (`fmt.Sprint`).
fn print(args: &[Value]) -> Result<Value, FuncError> {
    sprint(args).map(Value::from)
}

/// Go's `println` (`fmt.Sprintln`): spaces between all operands, and a newline.
fn println(args: &[Value]) -> Result<Value, FuncError> {
    let parts = args.iter().map(sprint1).collect::<Result<Vec<_>, _>>()?;
    Ok(format!("{}\n", parts.join(" ")).into())
}

/// Go's `urlquery`: its arguments as `fmt.Sprint` joins them (a missing value as
/// `<no value>`), escaped with `url.QueryEscape`.
fn urlquery(args: &[Value]) -> Result<Value, FuncError> {
    let args: Vec<Value> = args
        .iter()
        .map(|v| match v {
            Value::NoValue | Value::Nil => Value::from("<no value>"),
            other => other.clone(),
        })
        .collect();
    Ok(query_escape(&sprint(&args)?).into())
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
        .map(|v| go_quote(&text(v), false))
        .collect::<Vec<_>>()
        .join(" ")
        .into())
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
    json_fn("toJson", args, true, None)
}

fn to_raw_json(args: &[Value]) -> Result<Value, FuncError> {
    json_fn("toRawJson", args, false, None)
}

fn to_pretty_json(args: &[Value]) -> Result<Value, FuncError> {
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

// ---------------------------------------------------------------------------------------------
// Go's fmt, as templates use it

/// Go's `fmt` flags, width and precision of one verb.
#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// A template value as Go's `fmt` sees it: numbers are `int` (or `uint` past `i64`) or `float64`,
/// items are `string`, `list` makes a slice, `.` is the `map[string]string` of items.
enum Go<'a> {
    Nil,
    Bool(bool),
    Int(i128),
    Uint(u64),
    Float(f64),
    Str(&'a str),
    List(&'a [Value]),
    Map(&'a HashMap<String, Value>),
}

fn go(v: &Value) -> Result<Go<'_>, FuncError> {
    Ok(match v {
        Value::NoValue | Value::Nil => Go::Nil,
        Value::Bool(b) => Go::Bool(*b),
        Value::String(s) => Go::Str(s),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Go::Int(i.into()),
            (None, Some(u), _) => Go::Uint(u),
            (_, _, Some(f)) => Go::Float(f),
            _ => Go::Nil,
        },
        Value::Array(a) => Go::List(a),
        Value::Map(m) | Value::Object(m) => Go::Map(m),
        Value::Function(_) => return Err(fail("a function value cannot be formatted")),
    })
}

impl Go<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Go::Nil => "<nil>",
            Go::Bool(_) => "bool",
            Go::Int(_) => "int",
            Go::Uint(_) => "uint",
            Go::Float(_) => "float64",
            Go::Str(_) => "string",
            Go::List(_) => "[]interface {}",
            Go::Map(_) => "map[string]string",
        }
    }
}

/// Go's `fmt.Sprint` of one value (`%v`): what `{{ . }}`-style printing, `toString` and `print`
/// write.
fn sprint1(v: &Value) -> Result<String, FuncError> {
    let mut out = String::new();
    format_value(&mut out, Spec::default(), 'v', v, 0)?;
    Ok(out)
}

/// Go's `fmt.Sprint`: operands in their `%v` form, a space between two operands when neither is
/// a string.
fn sprint(args: &[Value]) -> Result<String, FuncError> {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::String(_));
        if i > 0 && !is_str(v) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&sprint1(v)?);
    }
    Ok(out)
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %q %x %X %f %F %e %E %g %G %t %c
/// %U %b %o %O %%` with flags `-+ #0`, width and precision (also `*`). Go's in-band markers for
/// misuse (`%!d(string=x)`, `%!d(MISSING)`, `%!(EXTRA …)`, `%!(NOVERB)`) are written as Go writes
/// them. What kseal does not implement (argument indexes `%[n]d`, `%x` of a float, `%g` with a
/// precision, `%#v` of a list) fails loudly instead of rendering other bytes.
fn sprintf(format: &str, args: &[Value]) -> Result<String, FuncError> {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => (spec.minus, spec.zero) = (true, false),
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                '0' => spec.zero = !spec.minus,
                _ => break,
            }
            chars.next();
        }
        if chars.peek() == Some(&'[') {
            return Err(fail(
                "printf: explicit argument indexes (%[n]) are not supported by kseal",
            ));
        }
        // Width: digits or `*` (an int argument; negative means `-`).
        if chars.peek() == Some(&'*') {
            chars.next();
            match args.get(next).map(go).transpose()? {
                Some(Go::Int(w)) => {
                    if w < 0 {
                        (spec.minus, spec.zero) = (true, false);
                    }
                    spec.width = Some(usize::try_from(w.unsigned_abs()).unwrap_or(usize::MAX));
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            next += 1;
        } else {
            spec.width = digits(&mut chars);
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                match args.get(next).map(go).transpose()? {
                    Some(Go::Int(p)) if p >= 0 => {
                        spec.prec = Some(usize::try_from(p).unwrap_or(usize::MAX));
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                next += 1;
            } else {
                spec.prec = Some(digits(&mut chars).unwrap_or(0));
            }
        }
        if spec.width.is_some_and(|w| w > 1 << 20) || spec.prec.is_some_and(|p| p > 1 << 20) {
            return Err(fail("printf: width or precision over 1 MiB"));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next) {
            Some(v) => format_value(&mut out, spec, verb, v, 0)?,
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
        }
        next += 1;
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, v) in args[next..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let g = go(v)?;
            if !matches!(g, Go::Nil) {
                out.push_str(g.type_name());
                out.push('=');
            }
            format_value(&mut out, Spec::default(), 'v', v, 0)?;
        }
        out.push(')');
    }
    Ok(out)
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

fn unsupported(verb: char, what: &str) -> FuncError {
    fail(format!(
        "printf: %{verb} of {what} is not supported by kseal"
    ))
}

/// Writes one operand the way Go's `fmt` prints it with `verb`.
fn format_value(
    out: &mut String,
    spec: Spec,
    verb: char,
    v: &Value,
    depth: usize,
) -> Result<(), FuncError> {
    let g = go(v)?;
    let bad = |out: &mut String| -> Result<(), FuncError> {
        out.push_str("%!");
        out.push(verb);
        out.push('(');
        if !matches!(g, Go::Nil) {
            out.push_str(g.type_name());
            out.push('=');
            format_value(out, spec, 'v', v, depth)?;
        } else {
            out.push_str("<nil>");
        }
        out.push(')');
        Ok(())
    };
    match g {
        Go::Nil if depth > 0 => out.push_str("<nil>"),
        Go::Nil if verb == 'v' => pad(out, spec, "<nil>"),
        Go::Nil => bad(out)?,
        Go::Bool(b) => match verb {
            'v' | 't' => pad(out, spec, if b { "true" } else { "false" }),
            _ => bad(out)?,
        },
        Go::Int(i) => format_int(out, spec, verb, i).or_else(|()| bad(out))?,
        Go::Uint(u) => format_int(out, spec, verb, u.into()).or_else(|()| bad(out))?,
        Go::Float(f) => match verb {
            'v' | 'g' | 'G' | 'e' | 'E' | 'f' | 'F' => format_float(out, spec, verb, f)?,
            'b' | 'x' | 'X' => return Err(unsupported(verb, "a float")),
            _ => bad(out)?,
        },
        Go::Str(s) => match verb {
            'v' if spec.sharp => pad(out, spec, &go_quote(s, false)),
            'v' | 's' => pad(out, spec, truncate(s, spec.prec)),
            'q' => {
                let s = truncate(s, spec.prec);
                let quoted = if spec.sharp && can_backquote(s) {
                    format!("`{s}`")
                } else {
                    go_quote(s, spec.plus)
                };
                pad(out, spec, &quoted);
            }
            'x' | 'X' => format_hex_bytes(out, spec, verb, s.as_bytes()),
            _ => bad(out)?,
        },
        Go::List(items) => {
            if spec.sharp && verb == 'v' {
                return Err(unsupported(verb, "a list"));
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_value(out, spec, verb, item, depth + 1)?;
            }
            out.push(']');
        }
        Go::Map(m) => {
            if spec.sharp && verb == 'v' {
                return Err(unsupported(verb, "a map"));
            }
            out.push_str("map[");
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            for (i, (k, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_value(out, spec, verb, &Value::String(k.clone()), depth + 1)?;
                out.push(':');
                format_value(out, spec, verb, item, depth + 1)?;
            }
            out.push(']');
        }
    }
    Ok(())
}

/// The first `prec` characters of `s` (Go's precision counts runes).
fn truncate(s: &str, prec: Option<usize>) -> &str {
    match prec.and_then(|p| s.char_indices().nth(p)) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// Pads `s` to the width (counted in characters): spaces, or zeros on the left with `0`.
fn pad(out: &mut String, spec: Spec, s: &str) {
    let fill = spec.width.unwrap_or(0).saturating_sub(s.chars().count());
    let c = if spec.zero && !spec.minus { '0' } else { ' ' };
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(s);
    }
}

/// Go's integer verbs; `Err` for a verb Go does not accept for integers.
fn format_int(out: &mut String, spec: Spec, verb: char, i: i128) -> Result<(), ()> {
    let negative = i < 0;
    let u = i.unsigned_abs();
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            pad(out, spec, c.encode_utf8(&mut [0; 4]));
            return Ok(());
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            pad(out, spec, &quote_with(&c.to_string(), '\'', spec.plus));
            return Ok(());
        }
        'U' => {
            let mut s = format!("U+{:0w$X}", u, w = spec.prec.unwrap_or(4));
            if spec.sharp
                && let Some(c) = u32::try_from(i).ok().and_then(char::from_u32)
                && is_go_printable(c)
            {
                s.push_str(&format!(" '{c}'"));
            }
            pad(
                out,
                Spec {
                    zero: false,
                    ..spec
                },
                &s,
            );
            return Ok(());
        }
        _ => return Err(()),
    };
    let min_digits = match spec.prec {
        Some(0) if u == 0 => {
            pad(
                out,
                Spec {
                    zero: false,
                    ..spec
                },
                "",
            );
            return Ok(());
        }
        Some(p) => p,
        None if spec.zero && !spec.minus && spec.width.is_some() => {
            let w = spec.width.unwrap_or(0);
            if negative || spec.plus || spec.space {
                w.saturating_sub(1)
            } else {
                w
            }
        }
        None => 0,
    };
    let mut digits = match base {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if upper => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => u.to_string(),
    };
    if digits.len() < min_digits {
        digits = format!("{}{digits}", "0".repeat(min_digits - digits.len()));
    }
    let prefix = match (base, spec.sharp, verb) {
        (8, _, 'O') => "0o",
        (2, true, _) => "0b",
        (8, true, _) if !digits.starts_with('0') => "0",
        (16, true, _) if upper => "0X",
        (16, true, _) => "0x",
        _ => "",
    };
    let sign = if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    pad(
        out,
        Spec {
            zero: false,
            ..spec
        },
        &format!("{sign}{prefix}{digits}"),
    );
    Ok(())
}

/// Go's float verbs (`%g` only without a precision).
fn format_float(out: &mut String, spec: Spec, verb: char, f: f64) -> Result<(), FuncError> {
    if spec.sharp {
        return Err(unsupported(verb, "a float with the # flag"));
    }
    let body = if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        "Inf".to_owned()
    } else {
        match verb {
            'e' | 'E' => exp_form(f.abs(), spec.prec.unwrap_or(6), verb == 'E'),
            'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f.abs()),
            _ if spec.prec.is_some() => return Err(unsupported(verb, "a float with a precision")),
            _ => shortest_g(f.abs(), verb == 'G'),
        }
    };
    let sign = if f.is_sign_negative() && !f.is_nan() {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let len = sign.len() + body.len();
    match spec.width {
        Some(w) if spec.zero && !spec.minus && f.is_finite() && w > len => {
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', w - len));
            out.push_str(&body);
        }
        _ => pad(
            out,
            Spec {
                zero: false,
                ..spec
            },
            &format!("{sign}{body}"),
        ),
    }
    Ok(())
}

/// `d.ddde±XX` with `prec` digits after the point (at least two exponent digits), as Go's `%e`.
fn exp_form(f: f64, prec: usize, upper: bool) -> String {
    let rust = format!("{f:.prec$e}");
    let (mantissa, exp) = rust.split_once('e').unwrap_or((&rust, "0"));
    go_exponent(
        mantissa,
        exp.parse().unwrap_or(0),
        if upper { 'E' } else { 'e' },
    )
}

fn go_exponent(mantissa: &str, exp: i32, e: char) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}{e}{sign}{:02}", exp.unsigned_abs())
}

/// The shortest decimal digits of `f` (no point) and the exponent of the first digit.
fn shortest_digits(f: f64) -> (String, i32) {
    let rust = format!("{f:e}");
    let (mantissa, exp) = rust.split_once('e').unwrap_or((&rust, "0"));
    (mantissa.replace('.', ""), exp.parse().unwrap_or(0))
}

/// Go's `%g`/`%v` of a float without a precision: the shortest digits that read back the
/// same, in `%e` form when the exponent is < -4 or >= 6.
fn shortest_g(f: f64, upper: bool) -> String {
    let (digits, exp) = shortest_digits(f);
    if !(-4..6).contains(&exp) {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        return go_exponent(&mantissa, exp, if upper { 'E' } else { 'e' });
    }
    plain_decimal(&digits, exp)
}

/// `digits` × 10^(exp + 1 - len) written without an exponent.
fn plain_decimal(digits: &str, exp: i32) -> String {
    let point = exp + 1;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    }
}

/// Go's `%x`/`%X` of a string: two hex digits a byte (the precision counts bytes), `0x` once
/// with `#`, or before every byte with `# `, bytes separated by spaces with ` `.
fn format_hex_bytes(out: &mut String, spec: Spec, verb: char, bytes: &[u8]) {
    let bytes = &bytes[..spec.prec.unwrap_or(usize::MAX).min(bytes.len())];
    let prefix = if verb == 'X' { "0X" } else { "0x" };
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if spec.space && i > 0 {
            s.push(' ');
        }
        if spec.sharp && (spec.space || i == 0) {
            s.push_str(prefix);
        }
        if verb == 'X' {
            s.push_str(&format!("{b:02X}"));
        } else {
            s.push_str(&format!("{b:02x}"));
        }
    }
    pad(out, spec, &s);
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
/// Rust's `escape_debug` leaves exactly those unescaped (after the first character, where it
/// also escapes grapheme extenders), apart from the quotes and the backslash it always escapes.
fn is_go_printable(c: char) -> bool {
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
fn go_quote(s: &str, ascii: bool) -> String {
    quote_with(s, '"', ascii)
}

fn quote_with(s: &str, quote: char, ascii: bool) -> String {
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
fn can_backquote(s: &str) -> bool {
    !s.chars()
        .any(|c| c == '`' || c == '\u{feff}' || c == '\u{7f}' || (c < ' ' && c != '\t'))
}

/// Go's `url.QueryEscape`: unreserved bytes (`A-Za-z0-9-_.~`) kept, space as `+`, every other
/// byte as `%XX`.
fn query_escape(s: &str) -> String {
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

/// Go's `encoding/json` (`json.Marshal`, or an `Encoder` with `SetEscapeHTML(false)` when
/// `html` is false), as sprig's `toJson`, `toRawJson` and `toPrettyJson` write it: map keys
/// sorted, `<`, `>`, `&` escaped as `\u003c`, `\u003e`, `\u0026` (when `html`), U+2028 and
/// U+2029 always escaped, floats in Go's form (`1e-7`, `1e+21`).
fn go_json(out: &mut String, v: &Value, html: bool, indent: Option<usize>) {
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

    /// The items of [`go_outputs`]: quotes, tabs, non-ASCII, HTML, control and format
    /// characters, and URL syntax.
    const GO_ITEMS: &[(&str, &str)] = &[
        ("user", "admin"),
        ("pass", "s3cr3t"),
        ("host", "db"),
        ("note", "Grüße 🔐 \"quoted\"\ttab <b>&amp;"),
        (
            "ctl",
            "a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff}",
        ),
        ("html", "<a href='x'>&</a>"),
        ("space", "a b+c/d?e=f&g#h%i"),
    ];

    /// Bytes Go 1.26's `text/template` with sprig v3.3.0's `GenericFuncMap` rendered for these
    /// templates over [`GO_ITEMS`] (a `map[string]string`), recorded from a Go program.
    #[test]
    fn go_outputs() {
        let cases: &[(&str, &str)] = &[
            (
                "{{ urlquery .note }} {{ .space | urlquery }}",
                "Gr%C3%BC%C3%9Fe+%F0%9F%94%90+%22quoted%22%09tab+%3Cb%3E%26amp%3B a+b%2Bc%2Fd%3Fe%3Df%26g%23h%25i",
            ),
            (
                "{{ urlquery \"a\" 1 2 \"b\" }}|{{ urlquery 1 2 }}|{{ urlquery .missing }}|{{ urlquery \"~-_.\" }}",
                "a1+2b|1+2|%3Cno+value%3E|~-_.",
            ),
            (
                "{{ printf \"%q\" .note }}",
                "\"Grüße 🔐 \\\"quoted\\\"\\ttab <b>&amp;\"",
            ),
            (
                "{{ printf \"%q\" .ctl }}",
                "\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"",
            ),
            ("{{ printf \"%05d|%-4d|\" 42 7 }}", "00042|7   |"),
            (
                "{{ printf \"%5d|%+d|%d|% d|%-05d|%+05d|%05d\" 42 3 -1 5 6 7 -8 }}",
                "   42|+3|-1| 5|6    |+0007|-0008",
            ),
            (
                "{{ toJson .html }} {{ toJson .note }} {{ toJson .ctl }}",
                "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\" \"Grüße 🔐 \\\"quoted\\\"\\ttab \\u003cb\\u003e\\u0026amp;\" \"a\\u0000b\\u0007c\u{7f}d\u{a0}e\\u2028f\u{200b}g\u{feff}\"",
            ),
            (
                "{{ mustToJson .html }}|{{ toPrettyJson (list .html 1) }}|{{ toRawJson .html }}",
                "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\"|[\n  \"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\",\n  1\n]|\"<a href='x'>&</a>\"",
            ),
            (
                "{{ quote .ctl }}",
                "\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"",
            ),
            (
                "{{ printf \"%s|%v|%d|%t|%%|%x|%X\" .user true 7 false .user .user }}",
                "admin|true|7|false|%|61646d696e|61646D696E",
            ),
            (
                "{{ printf \"%x|%X|% x|%#x|%# x|%08x|%x|%X\" 255 255 .user .user .user 255 -255 \"ü\" }}",
                "ff|FF|61 64 6d 69 6e|0x61646d696e|0x61 0x64 0x6d 0x69 0x6e|000000ff|-ff|C3BC",
            ),
            (
                "{{ printf \"%f|%.2f|%8.3f|%-8.1f|%+.1f|%v|%v|%e|%g\" 3.14159 3.14159 3.14159 2.5 2.25 1.5 0.0000015 1234.5678 0.000012 }}",
                "3.141590|3.14|   3.142|2.5     |+2.2|1.5|1.5e-06|1.234568e+03|1.2e-05",
            ),
            (
                "{{ printf \"%s|%d|%v\" .missing .missing .missing }}",
                "%!s(<nil>)|%!d(<nil>)|<nil>",
            ),
            ("{{ printf \"%d %s\" \"x\" 5 }}", "%!d(string=x) %!s(int=5)"),
            (
                "{{ printf \"%v|%s|%q|%d\" (list \"a\" 1) (list \"a\" \"b\") (list \"a\" \"b\") (list 1 2) }}",
                "[a 1]|[a b]|[\"a\" \"b\"]|[1 2]",
            ),
            (
                "{{ printf \"%v\" . }}",
                "map[ctl:a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff} host:db html:<a href='x'>&</a> note:Grüße 🔐 \"quoted\"\ttab <b>&amp; pass:s3cr3t space:a b+c/d?e=f&g#h%i user:admin]",
            ),
            (
                "{{ printf \"%10s|%-10s|%.2s|%5.1s|%05s|%x\" \"ab\" \"ab\" \"héllo\" \"xyz\" \"ab\" \"\" }}",
                "        ab|ab        |hé|    x|000ab|",
            ),
            (
                "{{ printf \"%10q|%-10q|%+q|%#q|%.3q\" \"ab\" \"ab\" \"Grüße\" \"ab\" \"abcdef\" }}",
                "      \"ab\"|\"ab\"      |\"Gr\\u00fc\\u00dfe\"|`ab`|\"abc\"",
            ),
            (
                "{{ printf \"%t|%t|%5t\" true \"x\" false }}",
                "true|%!t(string=x)|false",
            ),
            (
                "{{ printf \"%c|%U|%o|%O|%b|%#o\" 65 65 8 8 5 8 }}",
                "A|U+0041|10|0o10|101|010",
            ),
            (
                "{{ printf \"%*d|%-*d|%.*f\" 5 1 4 2 2 3.14159 }}",
                "    1|2   |3.14",
            ),
            (
                "{{ print .missing 1 2 \"a\" 3 true .missing }}|{{ println 1 \"a\" 2 }}",
                "<nil> 1 2a3 true <nil>|1 a 2\n",
            ),
            (
                "{{ printf \"%v %v %v %v\" 0.1 0.00000125 12345678.5 123456789.5 }}",
                "0.1 1.25e-06 1.23456785e+07 1.234567895e+08",
            ),
            (
                "{{ printf \"%5.2f|%05.1f|%-6.2f|%+06.1f|% .2f\" 1.234 1.5 2.5 3.25 4.125 }}",
                " 1.23|001.5|2.50  |+003.2| 4.12",
            ),
            (
                "{{ printf \"%6.2x|%#X|%#v|%#v\" 255 255 \"a\" 1 }}",
                "    ff|0XFF|\"a\"|1",
            ),
            (
                "{{ quote 1 true .missing \"a\" }}|{{ squote 1 .missing }}",
                "\"1\" \"true\" \"a\"|'1'",
            ),
            (
                "{{ printf \"%#08x|%08.3d|%#o|%#b|%O|%x|%#5x|%-#8x|\" 255 7 8 5 8 -255 1 1 }}",
                "0x000000ff|     007|010|0b101|0o10|-ff|  0x1|0x1     |",
            ),
            (
                "{{ printf \"%5d|%-5d\" \"x\" \"y\" }}|{{ printf \"%d\" (list \"a\" 1 .missing) }}|{{ printf \"%v|%5v|%s\" (list \"a\" .missing) (list 1 \"b\") (list .missing) }}",
                "%!d(string=    x)|%!d(string=y    )|[%!d(string=a) 1 <nil>]|[a <nil>]|[    1     b]|[<nil>]",
            ),
            (
                "{{ printf \"%05t|%05v|%-5v|%5v|\" true .missing .missing true }}",
                "0true|<nil>|<nil>| true|",
            ),
            (
                "{{ printf \"%c|%q|%q|%+q|%U|%#U|%.0d|%5.0d|%x\" 97 97 39 252 252 97 0 0 \"\" }}",
                "a|'a'|'\\''|'\\u00fc'|U+00FC|U+0061 'a'||     |",
            ),
            (
                "{{ printf \"%!|%5%|%-+ 0#\" }}",
                "%!!(MISSING)|%|%!(NOVERB)",
            ),
            (
                "{{ printf \"%d %d\" 1 2 3 \"x\" .missing }}",
                "1 2%!(EXTRA int=3, string=x, <nil>)",
            ),
            (
                "{{ printf \"%*d|%*d\" -5 1 \"x\" 2 }}",
                "1    |%!(BADWIDTH)2",
            ),
            (
                "{{ printf \"%e|%E|%.2e|%.0e|%g|%G|%v|%v|%v\" 1234.5678 0.000012 1234.5678 5.5 0.00001 1e-7 100000.5 1234567.5 0.0001 }}",
                "1.234568e+03|1.200000E-05|1.23e+03|6e+00|1e-05|1E-07|100000.5|1.2345675e+06|0.0001",
            ),
            (
                "{{ printf \"%.1f|%.1f|%.0f|%.0f|%.2f\" 0.25 0.35 0.5 1.5 1.005 }}",
                "0.2|0.3|0|2|1.00",
            ),
            (
                "{{ printf \"%10.3e|%-10.1f|%010.2f|%+010.2f|% 010.2f\" 1.5 1.5 1.5 1.5 1.5 }}",
                " 1.500e+00|1.5       |0000001.50|+000001.50| 000001.50",
            ),
            (
                "{{ toJson (list 1 1.5 0.000001 0.0000001 \"x\" true .missing) }}",
                "[1,1.5,0.000001,1e-7,\"x\",true,null]",
            ),
            (
                "{{ printf \"%s\" 1.5 }}|{{ printf \"%t\" 1 }}|{{ printf \"%q\" 1.5 }}|{{ printf \"%s\" true }}",
                "%!s(float64=1.5)|%!t(int=1)|%!q(float64=1.5)|%!s(bool=true)",
            ),
            (
                "{{ printf \"%.3s|%.10s|%-8q|%08q|%x|% X|%#X|%.2x\" \"Grüße\" \"ab\" \"a\" \"a\" \"Grüß\" \"ab\" \"ab\" \"abc\" }}",
                "Grü|ab|\"a\"     |00000\"a\"|4772c3bcc39f|61 62|0X6162|6162",
            ),
            (
                "{{ print \"a\" \"b\" 1 2 \"c\" .missing (list 1 2) }}|{{ println }}|{{ print }}",
                "ab1 2c<nil> [1 2]|\n|",
            ),
            (
                "{{ printf \"%v|%d|%s\" . . . }}",
                "map[ctl:a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff} host:db html:<a href='x'>&</a> note:Grüße 🔐 \"quoted\"\ttab <b>&amp; pass:s3cr3t space:a b+c/d?e=f&g#h%i user:admin]|map[%!d(string=ctl):%!d(string=a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff}) %!d(string=host):%!d(string=db) %!d(string=html):%!d(string=<a href='x'>&</a>) %!d(string=note):%!d(string=Grüße 🔐 \"quoted\"\ttab <b>&amp;) %!d(string=pass):%!d(string=s3cr3t) %!d(string=space):%!d(string=a b+c/d?e=f&g#h%i) %!d(string=user):%!d(string=admin)]|map[ctl:a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff} host:db html:<a href='x'>&</a> note:Grüße 🔐 \"quoted\"\ttab <b>&amp; pass:s3cr3t space:a b+c/d?e=f&g#h%i user:admin]",
            ),
            (
                "{{ printf \"%5s|%-5s|%5.1q\" (list \"a\") (list \"b\") (list \"xyz\") }}",
                "[    a]|[b    ]|[  \"x\"]",
            ),
            ("{{ printf \"%v %v\" 'a' 1.0 }}", "97 1"),
            (
                "{{ printf \"%#q|%#q|%#q\" \"a`b\" \"a\\tb\" \"a\\nb\" }}",
                "\"a`b\"|`a\tb`|\"a\\nb\"",
            ),
            (
                "{{ printf \"%z\" 1 }}|{{ printf \"%d\" }}|{{ printf \"%!\" }}|{{ printf \"100%\" }}",
                "%!z(int=1)|%!d(MISSING)|%!!(MISSING)|100%!(NOVERB)",
            ),
            (
                "{{ .note | quote }} {{ quote .ctl .user }} {{ squote .user }}",
                "\"Grüße 🔐 \\\"quoted\\\"\\ttab <b>&amp;\" \"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\" \"admin\" 'admin'",
            ),
            (
                "{{ toString (list 1 \"a\" .missing true) }}|{{ list \"a\" 2 | join \",\" }}|{{ cat \"a\" 1 true }}",
                "[1 a <nil> true]|a,2|a 1 true",
            ),
            (
                "{{ urlquery .html }}|{{ urlquery .ctl }}|{{ urlquery \"\" }}|{{ urlquery 12 }}",
                "%3Ca+href%3D%27x%27%3E%26%3C%2Fa%3E|a%00b%07c%7Fd%C2%A0e%E2%80%A8f%E2%80%8Bg%EF%BB%BF||12",
            ),
            (
                "{{ toRawJson .html }}|{{ mustToJson (list .html .ctl) }}|{{ toPrettyJson . }}|{{ mustToPrettyJson (list) }}|{{ toJson (list) }}|{{ toRawJson . }}|{{ mustToRawJson .user }}",
                "\"<a href='x'>&</a>\"|[\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\",\"a\\u0000b\\u0007c\u{7f}d\u{a0}e\\u2028f\u{200b}g\u{feff}\"]|{\n  \"ctl\": \"a\\u0000b\\u0007c\u{7f}d\u{a0}e\\u2028f\u{200b}g\u{feff}\",\n  \"host\": \"db\",\n  \"html\": \"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\",\n  \"note\": \"Grüße 🔐 \\\"quoted\\\"\\ttab \\u003cb\\u003e\\u0026amp;\",\n  \"pass\": \"s3cr3t\",\n  \"space\": \"a b+c/d?e=f\\u0026g#h%i\",\n  \"user\": \"admin\"\n}|[]|[]|{\"ctl\":\"a\\u0000b\\u0007c\u{7f}d\u{a0}e\\u2028f\u{200b}g\u{feff}\",\"host\":\"db\",\"html\":\"<a href='x'>&</a>\",\"note\":\"Grüße 🔐 \\\"quoted\\\"\\ttab <b>&amp;\",\"pass\":\"s3cr3t\",\"space\":\"a b+c/d?e=f&g#h%i\",\"user\":\"admin\"}|\"admin\"",
            ),
            (
                "{{ toJson 1 }}|{{ toJson -7 }}|{{ toJson true }}|{{ toJson .missing }}|{{ toJson 0.5 }}|{{ toJson 0.0000012 }}|{{ toJson 123456789.125 }}",
                "1|-7|true|null|0.5|0.0000012|123456789.125",
            ),
            (
                "{{ printf \"%v|%v|%v|%v|%v|%v\" 0.5 2.5 0.00012 0.000012 123456.5 1234567.25 }}",
                "0.5|2.5|0.00012|1.2e-05|123456.5|1.23456725e+06",
            ),
            (
                "{{ printf \"%g|%G|%e|%E|%f|%F\" 0.000012 1234567.25 0.5 3.5e-10 1e-10 123456789.987654321 }}",
                "1.2e-05|1.23456725E+06|5.000000e-01|3.500000E-10|0.000000|123456789.987654",
            ),
            (
                "{{ printf \"%s %d %v %q %x %X %t\" .note 42 .user .user .user .user true }}",
                "Grüße 🔐 \"quoted\"\ttab <b>&amp; 42 admin \"admin\" 61646d696e 61646D696E true",
            ),
            (
                "{{ printf \"%q|%+q|%#q|%x\" .ctl .ctl .ctl .ctl }}",
                "\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"|\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"|\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"|61006207637f64c2a065e280a866e2808b67efbbbf",
            ),
            (
                "{{ printf \"%8.3f|%-8.3f|%08.3f|%+08.3f|% 8.3f|%-+8.1f|%.0f|%.0f|%.0f\" 3.14159 3.14159 3.14159 3.14159 3.14159 2.25 2.5 3.5 0.4 }}",
                "   3.142|3.142   |0003.142|+003.142|   3.142|+2.2    |2|4|0",
            ),
            (
                "{{ printf \"%d|%5d|%-5d|%05d|%+d|% d|%+5d|%-+5d|%x|%X|%#x|%o|%b|%c|%q|%U\" -42 -42 -42 -42 42 42 42 42 3054 3054 3054 64 10 128272 128272 128272 }}",
                "-42|  -42|-42  |-0042|+42| 42|  +42|+42  |bee|BEE|0xbee|100|1010|🔐|'🔐'|U+1F510",
            ),
        ];
        let failed: Vec<String> = cases
            .iter()
            .filter_map(|(template, want)| match render(template, GO_ITEMS) {
                Ok(got) if got == *want => None,
                other => Some(format!("{template}\n  want {want:?}\n  got  {other:?}")),
            })
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {} differ:\n{}",
            failed.len(),
            cases.len(),
            failed.join("\n")
        );
    }
}
