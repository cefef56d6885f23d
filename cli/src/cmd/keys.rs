//! `kseal keys`: which key sealed which files, by the `kseal.dev/key-fingerprint` annotation,
//! and which of the given certificates (or, with `--cluster`, of the controller's active keys)
//! no file here references any more.

use std::collections::BTreeMap;

use kseal_crds::KEY_FINGERPRINT_ANNOTATION;

use crate::{
    args::KeysArgs,
    certs::{cluster_certs, cluster_newest, load_certs},
    exit::{Failure, Result},
    inspect, io, say,
    scan::{self, SealedStream, Walk},
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
        let sealed = SealedStream::read(file, false)?;
        let shown = io::display_name(Some(file));
        for doc in sealed.docs() {
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

    let mut rows: Vec<Row> = Vec::new();
    let cert_for = |fp: &str| {
        certs
            .iter()
            .find(|c| c.cert.fingerprint().as_str() == fp)
            .map(|c| c.shown.clone())
    };
    for (fp, u) in usage.iter().filter(|(fp, _)| fp.is_some()) {
        rows.push(Row {
            certificate: fp.as_deref().and_then(cert_for),
            ..Row::new(fp.clone(), "in use", Some(u))
        });
    }
    let mut unreferenced = 0;
    for c in &certs {
        let fp = c.cert.fingerprint().to_string();
        if !usage.contains_key(&Some(fp.clone())) {
            unreferenced += 1;
            rows.push(Row {
                certificate: Some(c.shown.clone()),
                ..Row::new(Some(fp), "unreferenced", None)
            });
        }
    }
    let unknown = usage.get(&None);
    if let Some(u) = unknown {
        rows.push(Row::new(None, "unknown key", Some(u)));
    }
    print(&rows, false, args.report.json())?;
    if unreferenced > 0 {
        match unknown {
            Some(u) => say::hint(format_args!(
                "{} document(s) have no {KEY_FINGERPRINT_ANNOTATION} annotation and may use an unreferenced key; `kseal rotate` adds it",
                u.documents
            )),
            None => say::hint(format_args!(
                "no file under {} uses the unreferenced key(s); check other repositories and the cluster before retiring them",
                scan::show_paths(&paths)
            )),
        }
    }
    Ok(())
}

/// `--cluster`: one row per active key of the controller, newest first, then the keys documents
/// reference that the cluster does not hold, then the documents without annotation.
fn cluster_report(args: &KeysArgs, usage: &BTreeMap<Option<String>, Usage>) -> Result<()> {
    let session = args.controller.controller().connect()?;
    let newest = cluster_newest(&session)?;
    let active = cluster_certs(&session, &newest)?;
    let unknown = usage.get(&None).map_or(0, |u| u.documents);
    let mut rows: Vec<Row> = Vec::new();
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
        rows.push(Row {
            secret: Some(c.secret_name.clone()).filter(|s| !s.is_empty()),
            created: c.created.clone(),
            newest: Some(c.latest),
            ..Row::new(Some(c.fingerprint.clone()), status, u)
        });
    }
    let mut missing = 0;
    for (fp, u) in usage {
        let Some(fp) = fp else { continue };
        if active.iter().any(|c| &c.fingerprint == fp) {
            continue;
        }
        missing += u.documents;
        rows.push(Row {
            newest: Some(false),
            ..Row::new(Some(fp.clone()), "not in cluster", Some(u))
        });
    }
    if let Some(u) = usage.get(&None) {
        rows.push(Row {
            newest: Some(false),
            ..Row::new(None, "unknown key", Some(u))
        });
    }
    print(&rows, true, args.report.json())?;
    if blocked > 0 {
        say::hint(format_args!(
            "{unknown} document(s) have no {KEY_FINGERPRINT_ANNOTATION} annotation, so no older key is proven unused; `kseal rotate` re-seals them and adds it"
        ));
    }
    if retirable > 0 {
        say::hint(
            "no file here uses the key(s) marked safe to retire; check other repositories and the SealedSecrets in the cluster first, and keep a backup (`kseal backup`) before removing a key Secret",
        );
    }
    if missing > 0 {
        say::warning(format_args!(
            "{missing} document(s) are sealed to keys {} does not hold: they cannot be unsealed there (another cluster's files, or a deleted key)",
            session.service()
        ));
    }
    Ok(())
}

/// One key in the report (`fingerprint` `None`: the documents without the annotation).
/// `certificate` is for the local report; `secret`, `created` and `newest` for `--cluster`.
#[derive(Debug)]
struct Row {
    fingerprint: Option<String>,
    certificate: Option<String>,
    secret: Option<String>,
    created: Option<String>,
    newest: Option<bool>,
    documents: usize,
    status: &'static str,
    files: Vec<String>,
}

impl Row {
    fn new(fingerprint: Option<String>, status: &'static str, usage: Option<&Usage>) -> Self {
        Self {
            fingerprint,
            certificate: None,
            secret: None,
            created: None,
            newest: None,
            documents: usage.map_or(0, |u| u.documents),
            status,
            files: usage.map(|u| u.files.clone()).unwrap_or_default(),
        }
    }
}

/// The rows as a table, or as JSON (`-o json`; the shape is in docs/cli.md).
fn print(rows: &[Row], cluster: bool, json: bool) -> Result<()> {
    if json {
        let keys: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let mut v = serde_json::json!({
                    "fingerprint": r.fingerprint,
                    "documents": r.documents,
                    "status": r.status,
                    "files": r.files,
                });
                if cluster {
                    v["secret"] = r.secret.clone().into();
                    v["created"] = r.created.clone().into();
                    v["newest"] = r.newest.unwrap_or(false).into();
                } else {
                    v["certificate"] = r.certificate.clone().into();
                }
                v
            })
            .collect();
        return io::write_json(&serde_json::json!({ "keys": keys }));
    }
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut table: Vec<Vec<String>> = vec![if cluster {
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
        .to_vec()
    } else {
        ["KEY", "CERTIFICATE", "DOCUMENTS", "STATUS", "FILES"]
            .map(String::from)
            .to_vec()
    }];
    for r in rows {
        let key = r
            .fingerprint
            .clone()
            .unwrap_or_else(|| "(no annotation)".into());
        let files = if r.files.is_empty() {
            "-".into()
        } else {
            r.files.join(", ")
        };
        table.push(if cluster {
            vec![
                key,
                dash(&r.secret),
                dash(&r.created),
                if r.newest == Some(true) { "yes" } else { "-" }.into(),
                r.documents.to_string(),
                r.status.into(),
                files,
            ]
        } else {
            vec![
                key,
                dash(&r.certificate),
                r.documents.to_string(),
                r.status.into(),
                files,
            ]
        });
    }
    io::write_stdout(render(&table).as_bytes())
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
