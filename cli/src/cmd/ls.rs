//! `kseal ls`: what sealed files hold — per SealedSecret its namespace and name, scope, key
//! fingerprint, key size, format and item names. Reads only what is committed; no key, no value.

use kseal_crds::KEY_FINGERPRINT_ANNOTATION;
use serde_json::{Value, json};

use crate::{
    args::LsArgs,
    exit::{Failure, Result},
    inspect::Summary,
    io, say,
    scan::{self, Doc, Format, SealedStream, Walk},
};

/// One SealedSecret found, with where it was found.
struct Entry {
    file: String,
    place: String,
    number: usize,
    list_item: Option<usize>,
    format: Format,
    summary: Summary,
}

pub(crate) fn run(args: LsArgs) -> Result<()> {
    let config = args.config.load()?;
    let paths = scan::default_paths(&args.paths, config.as_ref());
    let files = scan::collect_files(&paths, Walk::Manifests)?;
    let mut entries = Vec::new();
    let mut problems = 0;
    for file in &files {
        let shown = io::display_name(Some(file));
        let sealed = SealedStream::read(file, args.paths.contains(file))?;
        if let Some(problem) = &sealed.problem {
            say::error(format_args!("{shown}: {problem}"));
            problems += 1;
        }
        entries.extend(sealed.docs().iter().map(|doc: &Doc<'_>| Entry {
            file: shown.clone(),
            place: doc.describe(),
            number: doc.number,
            list_item: doc.item,
            format: sealed.stream.format,
            summary: Summary::of(doc.value),
        }));
    }
    if entries.is_empty() && problems == 0 {
        return Err(Failure::input(format!(
            "no SealedSecret found in {}",
            scan::show_paths(&paths)
        ))
        .hint("pass the sealed files or the directories that hold them"));
    }
    if args.report.json() {
        io::write_json(
            &json!({ "sealedSecrets": entries.iter().map(to_json).collect::<Vec<_>>() }),
        )?;
    } else {
        let text: String = entries.iter().map(to_text).collect();
        io::write_stdout(text.as_bytes())?;
    }
    if problems > 0 {
        return Err(Failure::input(format!(
            "{problems} file(s) could not be listed"
        )));
    }
    Ok(())
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Yaml => "yaml",
        Format::Json => "json",
    }
}

/// The key line: fingerprint and size, as far as the document shows them.
fn describe_key(s: &Summary) -> String {
    let bits = match s.key_bits.as_slice() {
        [] => None,
        [bits] => Some(format!("{bits}-bit")),
        several => Some(format!(
            "items for {}-bit keys",
            several
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    };
    match (&s.fingerprint, bits) {
        (Some(fp), Some(bits)) => format!("{fp} ({bits})"),
        (Some(fp), None) => fp.clone(),
        (None, Some(bits)) => {
            format!("unknown ({bits}; no {KEY_FINGERPRINT_ANNOTATION} annotation)")
        }
        (None, None) => format!("unknown (no {KEY_FINGERPRINT_ANNOTATION} annotation)"),
    }
}

fn to_text(e: &Entry) -> String {
    let s = &e.summary;
    let items: Vec<&str> = s.items.keys().map(String::as_str).collect();
    format!(
        "{}: {}\n  scope:  {}\n  key:    {}\n  format: {}\n  items:  {}\n",
        e.file,
        e.place,
        s.scope,
        describe_key(s),
        format_name(e.format),
        if items.is_empty() {
            "(none)".to_owned()
        } else {
            format!("{} ({})", items.join(", "), items.len())
        }
    )
}

fn to_json(e: &Entry) -> Value {
    let s = &e.summary;
    json!({
        "file": e.file,
        "document": e.number,
        "listItem": e.list_item.map(|i| i + 1),
        "name": s.name,
        "namespace": s.namespace,
        "scope": s.scope.as_str(),
        "fingerprint": s.fingerprint,
        "keyBits": s.key_bits,
        "format": format_name(e.format),
        "items": s.items.keys().collect::<Vec<_>>(),
    })
}
