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
//! Templates are written by whoever may create a SealedSecret, so rendering is bounded in two
//! layers (`docs/templates.md`): in-process limits ([`limits`], [`scan`], and the caps in each
//! function) that stop a template with a message naming the key and the limit, and a child
//! process with resource limits ([`sandbox`]) for what the engine does out of their sight.
//! [`Renderer`] is how callers choose: [`InProcess`] renders on the calling thread (`kseal unseal`,
//! tests); the controller's `Sandbox` (`controller/src/template/sandbox.rs`) runs
//! [`render_announced`] in a child process.
//!
//! The crate is pure: no file system, environment, network or async runtime. Its one clock is
//! the monotonic [`std::time::Instant`] behind the time budget ([`limits::MAX_TIME`]).
//!
//! Error messages never contain values: the engine's own messages can print its context (every
//! decrypted value) or function arguments, so only messages known to be about the template text
//! are passed through.
//!
//! Modules: `funcs` (the function table and its guard: **a new template function is added
//! there**, with its implementation in `sprig` or a module of its own), `sprig`, `gofmt` (Go's
//! `fmt`), `goquote` (Go's string escapes), `gojson` (Go's `encoding/json`), [`limits`], `scan`
//! (static checks).
#![deny(missing_docs)]

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use gtmpl::{Context, FuncError, Template, Value, error::ExecError};
use kseal_core::{MAX_SECRET_DATA, SecretBytes};

mod funcs;
mod gofmt;
mod gojson;
mod goquote;
pub mod limits;
mod scan;
mod sprig;

pub use funcs::FUNCTIONS;

/// Named plaintexts: the decrypted items a render reads (item name → value) and the rendered
/// templates it returns (template key → bytes). Every value is a zeroizing [`SecretBytes`].
pub type Plaintexts = BTreeMap<String, SecretBytes>;

/// A template that could not be rendered. The message names the template key and says what is
/// wrong with the template text or which limit it hit; it never contains a decrypted value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {key:?}: {message}")]
pub struct TemplateError {
    /// The `spec.template.data` key.
    pub key: String,
    /// What went wrong.
    pub message: String,
}

/// Renders `spec.template.data` (key → template text) with `items` (item name → decrypted
/// value) as the templates' `.`, into key → rendered bytes.
pub trait Renderer: Send + Sync {
    /// Renders every template, or reports the first that fails.
    fn render(
        &self,
        templates: &BTreeMap<String, String>,
        items: &Plaintexts,
    ) -> Result<Plaintexts, TemplateError>;
}

/// Renders on the calling thread with the in-process limits only (the same budgets as the
/// controller's child process, without its resource limits): for `kseal unseal`, tests and
/// other pure callers. The controller renders in its `Sandbox`.
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcess;

impl Renderer for InProcess {
    fn render(
        &self,
        templates: &BTreeMap<String, String>,
        items: &Plaintexts,
    ) -> Result<Plaintexts, TemplateError> {
        render_all(templates, items)
    }
}

/// Renders every `spec.template.data` entry in process (see [`InProcess`]). Items that are not
/// UTF-8 are left out of the context (Go strings may hold any bytes, Rust strings may not), so a
/// template that reads one sees `<no value>`.
pub fn render_all(
    templates: &BTreeMap<String, String>,
    items: &Plaintexts,
) -> Result<Plaintexts, TemplateError> {
    render_announced(templates, items, limits::MAX_TIME, &mut |_| {})
}

/// [`render_all`] within `time`, calling `announce` with each key before rendering it (a
/// sandbox reports the key so that a child killed mid-render can be blamed on it).
///
/// The output budget is the Secret limit less the items no template replaces, shared by all
/// templates in key order; the time budget is shared too.
pub fn render_announced(
    templates: &BTreeMap<String, String>,
    items: &Plaintexts,
    time: Duration,
    announce: &mut dyn FnMut(&str),
) -> Result<Plaintexts, TemplateError> {
    let kept: usize = items
        .iter()
        .filter(|(name, _)| !templates.contains_key(*name))
        .map(|(_, value)| value.len())
        .sum();
    let _running = limits::start(MAX_SECRET_DATA.saturating_sub(kept), time);
    // Plain copy: gtmpl's context holds `Value::String`s, which the engine clones freely, so the
    // plaintext in them cannot be zeroized (in the controller, the child process that holds
    // them exits after the render).
    let context: HashMap<String, Value> = items
        .iter()
        .filter_map(|(k, v)| {
            std::str::from_utf8(v.expose())
                .ok()
                .map(|s| (k.clone(), Value::String(s.to_owned())))
        })
        .collect();
    let context = Context::from(Value::Map(context));
    let functions = funcs::table();
    let mut rendered = BTreeMap::new();
    for (key, text) in templates {
        announce(key);
        let error = |message| TemplateError {
            key: key.clone(),
            message,
        };
        scan::check(text).map_err(|refusal| error(refusal.to_string()))?;
        let mut template = Template::default();
        template.add_funcs(&functions);
        template
            .parse(text.as_str())
            .map_err(|e| error(parse_message(&e.to_string())))?;
        let mut output = limits::Output::default();
        if let Err(e) = template.execute(&mut output, &context) {
            return Err(error(match output.over() {
                Some(over) => over.to_string(),
                None => exec_message(&e),
            }));
        }
        limits::spend(output.len());
        rendered.insert(key.clone(), output.into_bytes());
    }
    Ok(rendered)
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
    // The engine quotes tokens of the text, which may be long: keep the message short.
    let cut = raw
        .char_indices()
        .nth(MAX_PARSE_MESSAGE)
        .map_or(raw, |(at, _)| &raw[..at]);
    let more = if cut.len() < raw.len() { "…" } else { "" };
    format!("cannot parse: {cut}{more}")
}

/// Characters of the engine's parse error kept in a message.
const MAX_PARSE_MESSAGE: usize = 300;

/// Execution errors pass through only when their text cannot hold a value.
fn exec_message(e: &ExecError) -> String {
    match e {
        ExecError::FuncError(FuncError::Generic(m)) if m.starts_with(funcs::SAFE) => {
            m[funcs::SAFE.len()..].to_owned()
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

#[cfg(test)]
mod tests;
