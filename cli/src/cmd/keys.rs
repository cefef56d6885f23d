//! `kseal keys`: which key sealed which files, by the `kseal.dev/key-fingerprint` annotation,
//! and which of the given certificates (or, with `--cluster`, of the controller's active keys)
//! no file here references any more.

use std::collections::BTreeMap;

use kseal_crds::KEY_FINGERPRINT_ANNOTATION;

use crate::{
    args::KeysArgs,
    cmd::{rotate, verify::load_certs},
    exit::{Failure, Result},
    inspect, io,
    scan::{self, Doc, Stream, Walk},
};

/// Documents and files sealed to one key.
#[derive(Debug, Default)]
struct Usage {
    documents: usize,
    files: Vec<String>,
}

pub(crate) fn run(args: KeysArgs) -> Result<()> {
    let config = args.config.load()?;
    let certs = if args.cluster {
        Vec::new()
    } else {
        load_certs(&args.certs, config.as_ref())?
    };
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
        let shown = io::display_name(Some(file));
        for doc in stream.docs().iter().filter(|d| Doc::is_sealed_secret(d)) {
            total += 1;
            let fp = inspect::fingerprint(doc.value).map(|f| f.to_string());
            let entry = usage.entry(fp).or_default();
            entry.documents += 1;
            if !entry.files.contains(&shown) {
                entry.files.push(shown.clone());
            }
        }
    }
    if args.cluster {
        return cluster_report(&args, &usage);
    }
    if total == 0 && certs.is_empty() {
        return Err(Failure::input(format!(
            "no SealedSecret found in {}",
            scan::show_paths(&paths)
        )));
    }

    let mut rows: Vec<Vec<String>> = vec![vec![
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
        rows.push(vec![
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
            rows.push(vec![
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
        rows.push(vec![
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
                scan::show_paths(&paths)
            ),
        }
    }
    Ok(())
}

/// `--cluster`: one row per active key of the controller, newest first, then the keys documents
/// reference that the cluster does not hold, then the documents without annotation.
fn cluster_report(args: &KeysArgs, usage: &BTreeMap<Option<String>, Usage>) -> Result<()> {
    let session = args.controller.controller().connect()?;
    let newest = rotate::cluster_newest(&session)?;
    let active = rotate::cluster_certs(&session, &newest)?;
    let unknown = usage.get(&None).map_or(0, |u| u.documents);
    let mut rows: Vec<Vec<String>> = vec![
        [
            "KEY",
            "SECRET",
            "CREATED",
            "NEWEST",
            "DOCUMENTS",
            "STATUS",
            "FILES",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut retirable = 0;
    let mut blocked = 0;
    for c in &active {
        let u = usage.get(&Some(c.fingerprint.clone()));
        let documents = u.map_or(0, |u| u.documents);
        let status = if c.latest || documents > 0 {
            "in use"
        } else if unknown > 0 {
            blocked += 1;
            "in use"
        } else {
            retirable += 1;
            "safe to retire"
        };
        rows.push(vec![
            c.fingerprint.clone(),
            if c.secret_name.is_empty() {
                "-".into()
            } else {
                c.secret_name.clone()
            },
            c.created.clone().unwrap_or_else(|| "-".into()),
            if c.latest { "yes" } else { "-" }.into(),
            documents.to_string(),
            status.into(),
            u.map_or_else(|| "-".into(), |u| u.files.join(", ")),
        ]);
    }
    let mut missing = 0;
    for (fp, u) in usage {
        let Some(fp) = fp else { continue };
        if active.iter().any(|c| &c.fingerprint == fp) {
            continue;
        }
        missing += u.documents;
        rows.push(vec![
            fp.clone(),
            "-".into(),
            "-".into(),
            "-".into(),
            u.documents.to_string(),
            "not in cluster".into(),
            u.files.join(", "),
        ]);
    }
    if let Some(u) = usage.get(&None) {
        rows.push(vec![
            "(no annotation)".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            u.documents.to_string(),
            "unknown key".into(),
            u.files.join(", "),
        ]);
    }
    io::write_stdout(render(&rows).as_bytes())?;
    if blocked > 0 {
        eprintln!(
            "kseal: hint: {unknown} document(s) have no {KEY_FINGERPRINT_ANNOTATION} annotation, so no older key is proven unused; `kseal rotate` re-seals them and adds it"
        );
    }
    if retirable > 0 {
        eprintln!(
            "kseal: hint: no file here uses the key(s) marked safe to retire; check other repositories and the SealedSecrets in the cluster first, and keep a backup (`kseal backup`) before removing a key Secret"
        );
    }
    if missing > 0 {
        eprintln!(
            "kseal: warning: {missing} document(s) are sealed to keys {} does not hold: they cannot be unsealed there (another cluster's files, or a deleted key)",
            session.service()
        );
    }
    Ok(())
}

/// Columns padded to their widest cell; the last column is not padded.
fn render(rows: &[Vec<String>]) -> String {
    let mut widths = vec![0usize; rows.first().map_or(0, Vec::len)];
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
