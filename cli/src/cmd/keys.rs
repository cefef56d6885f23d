//! `kseal keys`: which key sealed which files, by the `kseal.dev/key-fingerprint` annotation,
//! and which of the given certificates no file here references any more.

use std::collections::BTreeMap;

use kseal_core::Fingerprint;
use kseal_crds::KEY_FINGERPRINT_ANNOTATION;

use crate::{
    args::KeysArgs,
    cmd::verify::load_certs,
    config::Config,
    exit::{Failure, Result},
    io,
    scan::{self, Doc, Stream, Walk},
};

/// Documents and files sealed to one key.
#[derive(Debug, Default)]
struct Usage {
    documents: usize,
    files: Vec<String>,
}

pub(crate) fn run(args: KeysArgs) -> Result<()> {
    let config = Config::find(args.config.as_deref(), args.no_config)?;
    let certs = load_certs(&args.certs, config.as_ref())?;
    let paths = scan::default_paths(&args.paths, config.as_ref());
    let files = scan::collect_files(&paths, Walk::Manifests)?;

    // Fingerprint (None: no or malformed annotation) → usage.
    let mut usage: BTreeMap<Option<String>, Usage> = BTreeMap::new();
    let mut total = 0;
    for file in &files {
        let Ok(text) = String::from_utf8(io::read_input(Some(file))?) else {
            continue;
        };
        let stream = Stream::parse(&text);
        let shown = file.display().to_string();
        for doc in stream.docs().iter().filter(|d| Doc::is_sealed_secret(d)) {
            total += 1;
            let fp = doc.value["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION]
                .as_str()
                .and_then(Fingerprint::parse)
                .map(|f| f.to_string());
            let entry = usage.entry(fp).or_default();
            entry.documents += 1;
            if !entry.files.contains(&shown) {
                entry.files.push(shown.clone());
            }
        }
    }
    if total == 0 && certs.is_empty() {
        return Err(Failure::input(format!(
            "no SealedSecret found in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }

    let mut rows: Vec<[String; 5]> = vec![[
        "KEY".into(),
        "CERTIFICATE".into(),
        "DOCUMENTS".into(),
        "STATUS".into(),
        "FILES".into(),
    ]];
    let cert_for = |fp: &str| {
        certs
            .iter()
            .find(|c| c.cert.fingerprint().as_str() == fp)
            .map_or("-".to_owned(), |c| c.shown.clone())
    };
    for (fp, u) in usage.iter().filter(|(fp, _)| fp.is_some()) {
        let fp = fp.as_deref().unwrap_or_default();
        rows.push([
            fp.to_owned(),
            cert_for(fp),
            u.documents.to_string(),
            "in use".into(),
            u.files.join(", "),
        ]);
    }
    let mut unreferenced = 0;
    for c in &certs {
        let fp = c.cert.fingerprint().to_string();
        if !usage.contains_key(&Some(fp.clone())) {
            unreferenced += 1;
            rows.push([
                fp,
                c.shown.clone(),
                "0".into(),
                "unreferenced".into(),
                "-".into(),
            ]);
        }
    }
    let unknown = usage.get(&None);
    if let Some(u) = unknown {
        rows.push([
            "(no annotation)".into(),
            "-".into(),
            u.documents.to_string(),
            "unknown key".into(),
            u.files.join(", "),
        ]);
    }
    io::write_stdout(render(&rows).as_bytes())?;
    if unreferenced > 0 {
        match unknown {
            Some(u) => eprintln!(
                "kseal: hint: {} document(s) have no {KEY_FINGERPRINT_ANNOTATION} annotation and may use an unreferenced key; `kseal rotate` adds it",
                u.documents
            ),
            None => eprintln!(
                "kseal: hint: no file under {} uses the unreferenced key(s); check other repositories and the cluster before retiring them",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok(())
}

/// Columns padded to their widest cell; the last column is not padded.
fn render(rows: &[[String; 5]]) -> String {
    let mut widths = [0usize; 5];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
