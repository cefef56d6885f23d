//! The function table templates see: Go's builtins (the engine's, and kseal's `printf`, `print`,
//! `println` and `urlquery`) and the sprig functions of [`super::sprig`], each called through
//! [`guarded`], which checks the time budget before the call and the size of the result after
//! it. Helpers shared by the functions: argument checks, the caps of [`super::limits`], and
//! error messages that are safe to show.

use gtmpl::{Func, FuncError, Value};

use super::{
    gofmt::{sprint, sprint1, sprintf},
    goquote::query_escape,
    limits::{self, MAX_COUNT, MAX_LIST, MAX_LIST_DEPTH, MAX_VALUE},
    sprig,
};

/// Marks a function error message as written by kseal and free of values, so it may be shown.
pub(super) const SAFE: &str = "\u{1}kseal:";

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

/// `(name, function)` pairs, each function wrapped in [`guarded`].
macro_rules! guarded {
    ($($name:literal => $f:path),* $(,)?) => {
        vec![$(($name, {
            fn call(args: &[Value]) -> Result<Value, FuncError> {
                guarded($name, args, $f)
            }
            call as Func
        })),*]
    };
}

/// Every function a template may call.
pub(super) fn table() -> Vec<(&'static str, Func)> {
    guarded![
        // The engine's Go builtins, only guarded.
        "eq" => gtmpl::funcs::eq,
        "ne" => gtmpl::funcs::ne,
        "lt" => gtmpl::funcs::lt,
        "le" => gtmpl::funcs::le,
        "gt" => gtmpl::funcs::gt,
        "ge" => gtmpl::funcs::ge,
        "len" => gtmpl::funcs::len,
        "and" => gtmpl::funcs::and,
        "or" => gtmpl::funcs::or,
        "not" => gtmpl::funcs::not,
        "index" => gtmpl::funcs::index,
        "call" => gtmpl::funcs::call,
        // Go builtins whose gtmpl versions print other bytes than Go's: replaced.
        "printf" => printf,
        "print" => print,
        "println" => println,
        "urlquery" => urlquery,
        "b64enc" => sprig::b64enc,
        "b64dec" => sprig::b64dec,
        "b32enc" => sprig::b32enc,
        "b32dec" => sprig::b32dec,
        "upper" => sprig::upper,
        "lower" => sprig::lower,
        "title" => sprig::title,
        "trim" => sprig::trim,
        "trimAll" => sprig::trim_all,
        "trimPrefix" => sprig::trim_prefix,
        "trimSuffix" => sprig::trim_suffix,
        "nospace" => sprig::nospace,
        "quote" => sprig::quote,
        "squote" => sprig::squote,
        "replace" => sprig::replace,
        "contains" => sprig::contains,
        "hasPrefix" => sprig::has_prefix,
        "hasSuffix" => sprig::has_suffix,
        "repeat" => sprig::repeat,
        "trunc" => sprig::trunc,
        "substr" => sprig::substr,
        "cat" => sprig::cat,
        "indent" => sprig::indent,
        "nindent" => sprig::nindent,
        "default" => sprig::default,
        "empty" => sprig::empty,
        "coalesce" => sprig::coalesce,
        "ternary" => sprig::ternary,
        "toString" => sprig::to_string,
        "toJson" => sprig::to_json,
        "mustToJson" => sprig::to_json,
        "toRawJson" => sprig::to_raw_json,
        "mustToRawJson" => sprig::to_raw_json,
        "toPrettyJson" => sprig::to_pretty_json,
        "mustToPrettyJson" => sprig::to_pretty_json,
        "sha256sum" => sprig::sha256sum,
        "list" => sprig::list,
        "join" => sprig::join,
        "splitList" => sprig::split_list,
    ]
}

/// Calls `f` within the budget: refused once the time is spent, and its result refused when it
/// is larger than [`MAX_VALUE`] (functions that could allocate far more check their sizes
/// before allocating).
fn guarded(name: &str, args: &[Value], f: Func) -> Result<Value, FuncError> {
    limits::check_time().map_err(fail)?;
    let value = f(args)?;
    check_value(name, &value)?;
    Ok(value)
}

/// Refuses a string or list result over [`MAX_VALUE`] bytes, a list over [`MAX_LIST`]
/// elements or nested deeper than [`MAX_LIST_DEPTH`].
pub(super) fn check_value(name: &str, value: &Value) -> Result<(), FuncError> {
    let size = value_size(name, value, 0)?;
    if size > MAX_VALUE {
        return Err(over_size(name, size));
    }
    Ok(())
}

/// Bytes of the strings in `value` (lists and maps included), up to [`MAX_LIST_DEPTH`].
fn value_size(name: &str, value: &Value, depth: usize) -> Result<usize, FuncError> {
    Ok(match value {
        Value::String(s) => s.len(),
        Value::Array(items) => {
            if items.len() > MAX_LIST {
                return Err(over_list(name, items.len()));
            }
            if depth >= MAX_LIST_DEPTH {
                return Err(fail(format!(
                    "{name}: lists nested deeper than the limit of {MAX_LIST_DEPTH}"
                )));
            }
            let mut sum = items.len();
            for item in items {
                sum = sum.saturating_add(value_size(name, item, depth + 1)?);
            }
            sum
        }
        Value::Map(m) | Value::Object(m) if depth < MAX_LIST_DEPTH => {
            let mut sum = 0usize;
            for (k, v) in m {
                sum = sum
                    .saturating_add(k.len())
                    .saturating_add(value_size(name, v, depth + 1)?);
            }
            sum
        }
        _ => 8,
    })
}

pub(super) fn fail(message: impl std::fmt::Display) -> FuncError {
    FuncError::Generic(format!("{SAFE}{message}"))
}

/// `<name> <what> N over the limit M`, e.g. `repeat count 1000000000 over the limit 1048576`.
pub(super) fn over_count(
    name: &str,
    what: &str,
    n: impl std::fmt::Display,
    limit: usize,
) -> FuncError {
    fail(format!("{name} {what} {n} over the limit {limit}"))
}

/// `name: list of N elements over the limit 65536`.
pub(super) fn over_list(name: &str, n: usize) -> FuncError {
    fail(format!(
        "{name}: list of {n} elements over the limit {MAX_LIST}"
    ))
}

/// `name: result of N bytes over the limit of 1048576 bytes (the 1 MiB Secret limit)`.
pub(super) fn over_size(name: &str, bytes: usize) -> FuncError {
    fail(format!(
        "{name}: result of {bytes} bytes over the limit of {MAX_VALUE} bytes (the 1 MiB Secret limit)"
    ))
}

pub(super) fn arg<'a>(name: &str, args: &'a [Value], n: usize) -> Result<&'a [Value], FuncError> {
    if args.len() == n {
        Ok(args)
    } else {
        Err(FuncError::ExactlyXArgs(name.to_owned(), n))
    }
}

pub(super) fn int(name: &str, v: &Value) -> Result<i64, FuncError> {
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

/// An integer count, width or index argument, at most [`MAX_COUNT`] either way.
pub(super) fn count(name: &str, what: &str, v: &Value) -> Result<i64, FuncError> {
    let n = int(name, v)?;
    if n.unsigned_abs() > MAX_COUNT as u64 {
        return Err(over_count(name, what, n, MAX_COUNT));
    }
    Ok(n)
}

/// Go's `fmt.Sprint` of one value, which is what sprig's `toString` does; sprig's string
/// functions see nil as "".
pub(super) fn text(v: &Value) -> String {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn message(e: FuncError) -> String {
        match e {
            FuncError::Generic(m) => m.strip_prefix(SAFE).expect("a safe message").to_owned(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_function_is_in_the_table() {
        let table: Vec<&str> = table().iter().map(|(name, _)| *name).collect();
        for name in FUNCTIONS {
            assert!(table.contains(name), "{name}");
        }
    }

    #[test]
    fn guarded_refuses_after_the_time_budget() {
        let _running = limits::start(100, Duration::ZERO);
        let e = guarded("upper", &[Value::from("a")], sprig::upper).unwrap_err();
        assert!(message(e).contains("longer than the limit"));
    }

    #[test]
    fn results_over_the_value_limit_are_refused() {
        let big = Value::from("x".repeat(MAX_VALUE + 1));
        let e = guarded("toString", &[big], sprig::to_string).unwrap_err();
        assert!(message(e).starts_with("toString: result of 1048577 bytes over the limit"));
        let long = Value::Array(vec![Value::Nil; MAX_LIST + 1]);
        assert!(
            message(check_value("list", &long).unwrap_err()).contains("list of 65537 elements")
        );
        let mut deep = Value::Nil;
        for _ in 0..=MAX_LIST_DEPTH {
            deep = Value::Array(vec![deep]);
        }
        assert!(message(check_value("list", &deep).unwrap_err()).contains("nested deeper"));
    }

    #[test]
    fn counts_are_capped_both_ways() {
        assert_eq!(count("trunc", "count", &Value::from(-5)).unwrap(), -5);
        let e = count("repeat", "count", &Value::from(1_000_000_000)).unwrap_err();
        assert_eq!(message(e), "repeat count 1000000000 over the limit 1048576");
        assert!(count("trunc", "count", &Value::from(i64::MIN)).is_err());
    }
}
