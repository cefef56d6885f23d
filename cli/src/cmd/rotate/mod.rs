//! `kseal rotate`: re-encryption of sealed files to the newest certificate (`docs/cli.md`, "Rotation": not
//! key renewal, not credential rotation). Which documents are stale is decided from the
//! `kseal.dev/key-fingerprint` annotation alone; only stale documents are touched, through the
//! line editor in `merge/`, and only files that change are written.
//!
//! The re-encryption itself sits behind [`reseal::Resealer`]: offline with private keys given
//! on the command line (here), or through the controller's `/v1/rotate` (`cluster.rs`), without
//! changing how files are found, edited and reported (`report.rs`).
//!
//! `--encryption` migrates items between the value formats (`docs/pq-format.md`): a document
//! with items in the other format is stale too. It needs the plaintexts, so only the offline
//! path does it; `/v1/rotate` keeps each item's format, and asking the cluster path for a format
//! is refused rather than answered in whatever format the items had.

mod cluster;
mod report;
mod reseal;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::SystemTime,
};

use kseal_core::{Certificate, Encryption, Fingerprint};
use kseal_crds::{KEY_FINGERPRINT_ANNOTATION, SealedSecret};

use crate::{
    args::RotateArgs,
    certs::CertSource,
    config::Config,
    exit::{Failure, Result},
    io, keys,
    merge::{self, DocEdit},
    say,
    scan::{self, Stream, Walk},
};

use self::{
    report::{Mode, Progress, Report, Status, Tally, conclude, finish},
    reseal::{OfflineResealer, ResealError, Resealer},
};

pub(crate) fn run(args: RotateArgs) -> Result<()> {
    let mode = if args.check {
        Mode::Check
    } else if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Write
    };
    let config = args.config.load()?;
    let plan = plan(&args, config.as_ref())?;
    let mut report = Report::new(args.report.json());
    let outcome = rotate(&args, mode, config.as_ref(), plan, &mut report);
    report.print_json(mode, outcome.is_ok())?;
    outcome
}

fn rotate(
    args: &RotateArgs,
    mode: Mode,
    config: Option<&Config>,
    plan: Vec<(PathBuf, Option<CertSource>)>,
    report: &mut Report,
) -> Result<()> {
    let mut offline = args.cert.is_some() || !args.keys.is_empty() || args.offline;
    if !offline && mode != Mode::Write && !crate::cluster::configured() {
        say::hint(
            "no cluster configured (KUBECONFIG, ~/.kube/config): comparing with the cert files kseal.yaml names, as --offline does",
        );
        offline = true;
    }
    let encryption = args.encryption.map(Encryption::from);
    if !offline {
        return cluster::rotate(args, mode, config, plan, report, encryption);
    }
    if mode == Mode::Write && args.keys.is_empty() {
        return Err(
            Failure::usage("--offline re-sealing needs the old private keys (--key)").hint(
                "drop --offline to re-seal through the controller, or pass --key BACKUP_KEYS",
            ),
        );
    }
    let plan: Vec<(PathBuf, CertSource)> = plan
        .into_iter()
        .map(|(file, source)| match source {
            Some(source) => Ok((file, source)),
            None => Err(no_cert(&file)),
        })
        .collect::<Result<_>>()?;

    // Load each certificate once.
    let mut certs: BTreeMap<String, Certificate> = BTreeMap::new();
    for (_, source) in &plan {
        if let std::collections::btree_map::Entry::Vacant(slot) = certs.entry(source_key(source)) {
            let allow_expired = mode == Mode::Check || args.unsafe_allow_expired_cert;
            let cert = source.load(SystemTime::now(), allow_expired)?;
            if let Some(encryption) = encryption {
                crate::cmd::seal::sealer::require_pq_key(&cert, encryption, &source.describe())?;
            }
            slot.insert(cert);
        }
    }
    let keys = if args.keys.is_empty() {
        None
    } else {
        Some(keys::load(&args.keys)?)
    };

    let mut tally = Tally::default();
    let mut progress = Progress::new(&plan, keys.is_some() && mode != Mode::Check);
    for (file, source) in &plan {
        let cert = &certs[&source_key(source)];
        let resealer = keys.as_ref().map(|keys| OfflineResealer {
            keys,
            cert,
            encryption,
        });
        rotate_file(
            file,
            Target {
                fingerprint: cert.fingerprint(),
                encryption,
            },
            resealer.as_ref().map(|r| r as &dyn Resealer),
            mode,
            &mut progress,
            &mut tally,
            report,
        )?;
    }
    progress.clear();
    report.flush()?;
    let remedy = match encryption {
        Some(e) => format!(
            "re-seal them with `kseal rotate --encryption {0}` (through the controller) or `kseal rotate --key BACKUP_KEYS --encryption {0}`, then commit the result",
            e.as_str()
        ),
        None => "re-seal them with `kseal rotate` (through the controller) or `kseal rotate --key BACKUP_KEYS`, then commit the result".to_owned(),
    };
    let summary = conclude(
        report,
        &tally,
        mode,
        &plan.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        encryption,
        (
            &remedy,
            "pass every backup key with --key (files or a directory); keys from `kseal backup` or `kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` work as they are",
        ),
    )
    .map_err(|e| report.nothing_written(e))?;
    report.write_staged()?;
    say::note(&summary);
    Ok(())
}

/// A stable identity for a certificate source, to load each once.
fn source_key(source: &CertSource) -> String {
    match source {
        CertSource::File(p) => format!("file:{}", p.display()),
        CertSource::Url(u) => format!("url:{u}"),
    }
}

/// Which files to rotate, each with the certificate it must be sealed to: `--cert` for every
/// file, else the cert kseal.yaml names for that output, else kseal.yaml's only cert.
fn plan(args: &RotateArgs, config: Option<&Config>) -> Result<Vec<(PathBuf, Option<CertSource>)>> {
    let outputs = config.map(Config::outputs).unwrap_or_default();
    let files: Vec<PathBuf> = if args.paths.is_empty() {
        let Some(config) = config else {
            return Err(Failure::usage("no files to rotate: no PATH given and no kseal.yaml found")
                .hint("pass the sealed files or directories: kseal rotate k8s/ --key BACKUP_KEYS --cert NEW.pem"));
        };
        if outputs.is_empty() {
            return Err(Failure::usage(format!(
                "no files to rotate: {} names no output",
                config.path.display()
            ))
            .hint(
                "pass the sealed files or directories, or add `output:` to the kseal.yaml entries",
            ));
        }
        // An output not sealed yet has nothing to rotate.
        outputs
            .iter()
            .map(|o| o.path.clone())
            .filter(|p| p.exists())
            .collect()
    } else if args.paths.iter().any(|p| p == Path::new("-")) {
        return Err(
            Failure::usage("rotate rewrites files in place; it cannot read stdin ('-')")
                .hint("pass the sealed files or directories"),
        );
    } else {
        scan::collect_files(&args.paths, Walk::Manifests)?
    };
    let only_cert = config.map(Config::certs).filter(|c| c.len() == 1);
    Ok(files
        .into_iter()
        .map(|file| {
            if let Some(c) = &args.cert {
                return (file, Some(CertSource::parse(c, None)));
            }
            let Some(config) = config else {
                return (file, None);
            };
            let source = config
                .output_for(&file)
                .and_then(|o| o.cert)
                .or_else(|| only_cert.as_ref().map(|c| c[0].clone()));
            (file, source)
        })
        .collect::<Vec<_>>())
}

fn no_cert(file: &Path) -> Failure {
    Failure::usage(format!(
        "no certificate to re-seal {} to",
        file.display()
    ))
    .hint("pass --cert NEW.pem (the cluster's newest, from `kubeseal --fetch-cert`), or name the file as an `output:` with a `cert:` in kseal.yaml")
}

/// What a document must be sealed to: the newest certificate and, with `--encryption`, every item
/// in one format.
#[derive(Clone, Copy)]
struct Target<'a> {
    fingerprint: &'a Fingerprint,
    encryption: Option<Encryption>,
}

impl Target<'_> {
    /// How many items of `doc` are not in the wanted format (none without `--encryption`).
    fn items_in_other_format(&self, doc: &serde_json::Value) -> usize {
        let Some(wanted) = self.encryption else {
            return 0;
        };
        doc["spec"]["encryptedData"].as_object().map_or(0, |items| {
            items
                .values()
                .filter_map(serde_json::Value::as_str)
                .filter(|v| Encryption::of_base64(v) != wanted)
                .count()
        })
    }

    /// `" (as pq-hybrid)"` with `--encryption`, to follow `old -> new` in a report row.
    fn as_format(&self) -> String {
        self.encryption
            .map(|e| format!(" (as {})", e.as_str()))
            .unwrap_or_default()
    }
}

fn rotate_file(
    file: &Path,
    target: Target<'_>,
    resealer: Option<&dyn Resealer>,
    mode: Mode,
    progress: &mut Progress,
    tally: &mut Tally,
    report: &mut Report,
) -> Result<()> {
    let shown = file.display().to_string();
    // Rows in document order; a re-sealed row is only final once the file is edited.
    let mut rows: Vec<(usize, Status, Option<String>, String)> = Vec::new();
    let mut row = |order: usize, status: Status, place: Option<&str>, detail: &str| {
        rows.push((order, status, place.map(str::to_owned), detail.to_owned()));
    };
    let Ok(text) = String::from_utf8(io::read_input(Some(file))?) else {
        row(0, Status::Failed, None, "not UTF-8 text");
        finish(&shown, rows, mode, tally, report);
        return Ok(());
    };
    let stream = Stream::parse(&text);
    let docs: Vec<_> = stream
        .docs()
        .into_iter()
        .filter(scan::Doc::is_sealed_secret)
        .collect();
    if let Some(error) = stream.first_error()
        && text.contains("SealedSecret")
    {
        row(0, Status::Failed, None, &error);
        finish(&shown, rows, mode, tally, report);
        return Ok(());
    }
    if docs.is_empty() {
        return Ok(());
    }
    tally.files += 1;
    let mut edits = Vec::new();
    let mut pending = Vec::new();
    for (order, doc) in docs.into_iter().enumerate() {
        tally.documents += 1;
        progress.tick();
        let place = doc.describe();
        let current = doc.value["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION].as_str();
        let other_format = target.items_in_other_format(doc.value);
        let fingerprint = target.fingerprint;
        if current == Some(fingerprint.as_str()) && other_format == 0 {
            row(order, Status::UpToDate, Some(&place), fingerprint.as_str());
            continue;
        }
        let from = current.unwrap_or("an unknown key (no annotation)");
        if mode == Mode::Check {
            let mut detail = if current == Some(fingerprint.as_str()) {
                format!("sealed to {fingerprint}")
            } else {
                format!("sealed to {from}, not {fingerprint}")
            };
            if let (Some(wanted), 1..) = (target.encryption, other_format) {
                detail.push_str(&format!("; {other_format} item(s) not {}", wanted.as_str()));
            }
            row(order, Status::Stale, Some(&place), &detail);
            continue;
        }
        if doc.item.is_some() {
            row(
                order,
                Status::Failed,
                Some(&place),
                "inside a kind: List, which cannot be edited in place; split the List into documents",
            );
            continue;
        }
        let Some(resealer) = resealer else {
            row(
                order,
                Status::Resealed,
                Some(&place),
                &format!("{from} -> {fingerprint}{}", target.as_format()),
            );
            continue;
        };
        let sealed: SealedSecret = match serde_json::from_value(doc.value.clone()) {
            Ok(s) => s,
            Err(e) => {
                let message = format!(
                    "not a valid SealedSecret: {}",
                    kseal_core::documents::scrub_parser_message(&e.to_string())
                );
                row(order, Status::Failed, Some(&place), &message);
                continue;
            }
        };
        match resealer.reseal(&sealed) {
            Ok(resealed) => {
                let from: Vec<&str> = resealed
                    .opened_with
                    .iter()
                    .map(Fingerprint::as_str)
                    .collect();
                let from = if from.is_empty() {
                    current.unwrap_or("an unknown key").to_owned()
                } else {
                    from.join(", ")
                };
                pending.push((
                    order,
                    place,
                    format!("{from} -> {}{}", resealer.target(), target.as_format()),
                ));
                edits.push(DocEdit {
                    segment: doc.segment,
                    items: resealed.items,
                    annotations: vec![(
                        KEY_FINGERPRINT_ANNOTATION.to_owned(),
                        resealer.target().to_string(),
                    )],
                });
            }
            Err(ResealError::Abort(failure)) => return Err(failure),
            Err(e) => {
                if matches!(e, ResealError::Decrypt(_)) {
                    tally.decrypt_failures += 1;
                }
                row(order, Status::Failed, Some(&place), &e.to_string());
            }
        }
    }
    if !edits.is_empty() {
        match merge::edit_stream(&text, &stream, &edits) {
            Ok(edited) => {
                if mode == Mode::Write {
                    report.stage(file, edited.into_bytes());
                    tally.written += 1;
                }
                for (order, place, detail) in &pending {
                    row(*order, Status::Resealed, Some(place), detail);
                }
            }
            Err(e) => {
                for (order, place, _) in &pending {
                    row(
                        *order,
                        Status::Failed,
                        Some(place),
                        &format!("cannot update the file in place: {e}"),
                    );
                }
            }
        }
    }
    finish(&shown, rows, mode, tally, report);
    Ok(())
}
