//! Go's `fmt` as templates use it: `fmt.Sprint`, `fmt.Sprintf` with Go's verbs, flags, width
//! and precision, and Go's in-band misuse markers (`%!d(string=x)`). Widths and precisions are
//! capped at [`MAX_COUNT`] and a result at [`MAX_VALUE`] bytes.

use std::collections::{BTreeMap, HashMap};

use gtmpl::{FuncError, Value};

use super::{
    funcs::{fail, over_count, over_size},
    goquote::{can_backquote, go_quote, is_go_printable, quote_with},
    limits::{MAX_COUNT, MAX_VALUE},
};

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
pub(super) fn sprint1(v: &Value) -> Result<String, FuncError> {
    let mut out = String::new();
    format_value(&mut out, Spec::default(), 'v', v, 0)?;
    Ok(out)
}

/// Go's `fmt.Sprint`: operands in their `%v` form, a space between two operands when neither is
/// a string.
pub(super) fn sprint(args: &[Value]) -> Result<String, FuncError> {
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
pub(super) fn sprintf(format: &str, args: &[Value]) -> Result<String, FuncError> {
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
        if let Some(w) = spec.width.filter(|&w| w > MAX_COUNT) {
            return Err(over_count("printf", "width", w, MAX_COUNT));
        }
        if let Some(p) = spec.prec.filter(|&p| p > MAX_COUNT) {
            return Err(over_count("printf", "precision", p, MAX_COUNT));
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
            Some(v) => {
                format_value(&mut out, spec, verb, v, 0)?;
                within_limit(&out)?;
            }
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
                within_limit(out)?;
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
                within_limit(out)?;
            }
            out.push(']');
        }
    }
    Ok(())
}

/// Refuses a `printf` result over [`MAX_VALUE`] while it is being built (each verb may pad to
/// [`MAX_COUNT`] characters, and a list pads each element).
fn within_limit(out: &str) -> Result<(), FuncError> {
    if out.len() > MAX_VALUE {
        return Err(over_size("printf", out.len()));
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
    let sign = sign(negative, spec);
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

/// The sign Go writes before a number: `-`, or `+` / ` ` with those flags.
fn sign(negative: bool, spec: Spec) -> &'static str {
    if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
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
    let sign = sign(f.is_sign_negative() && !f.is_nan(), spec);
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
pub(super) fn shortest_digits(f: f64) -> (String, i32) {
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
pub(super) fn plain_decimal(digits: &str, exp: i32) -> String {
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

#[cfg(test)]
mod tests;
