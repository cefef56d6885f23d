//! `kseal rotate`: re-encryption of sealed files to the newest certificate (landscape §1: not
//! key renewal, not credential rotation). Which documents are stale is decided from the
//! `kseal.dev/key-fingerprint` annotation alone; only stale documents are touched, through the
//! line editor in `merge.rs`, and only files that change are written.
//!
//! The re-encryption itself sits behind [`Resealer`]: [`OfflineResealer`] decrypts with private
//! keys given on the command line; a cluster-backed one (the controller's `/v1/rotate`) can take
//! its place without changing how files are found, edited and reported.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::SystemTime,
};

use kseal_core::{Certificate, Fingerprint, KeySet, open_base64, seal_base64};
use kseal_crds::{KEY_FINGERPRINT_ANNOTATION, SealedSecret};
use rand_core::OsRng;

use crate::{
    args::RotateArgs,
    certs::CertSource,
    cmd::unseal::load_keys,
    config::Config,
    exit::{Code, Failure, Result},
    io,
    merge::{self, DocEdit},
    scan::{self, Stream, Walk},
};

/// Re-encrypts one SealedSecret to a target key.
pub(crate) trait Resealer {
    /// The key every re-sealed document is sealed to.
    fn target(&self) -> &Fingerprint;

    /// New `spec.encryptedData` items for `doc`: every item re-encrypted to [`Self::target`]
    /// under the document's own scope (from its outer annotations, name and namespace), in the
    /// same order. All items or none.
    fn reseal(&self, doc: &SealedSecret) -> std::result::Result<Resealed, ResealError>;
}

/// A re-sealed document's new items.
#[derive(Debug)]
pub(crate) struct Resealed {
    pub(crate) items: Vec<(String, String)>,
    /// The keys that opened the old items (for the summary), without duplicates.
    pub(crate) opened_with: Vec<Fingerprint>,
}

/// Why a document was not re-sealed. Messages name items, never values.
#[derive(Debug)]
pub(crate) enum ResealError {
    /// These items opened with none of the keys (wrong key, wrong scope or damaged: one coarse
    /// error, `wire-format.md` §6).
    Decrypt(Vec<String>),
    /// The document cannot be re-sealed as it is.
    Invalid(String),
}

impl std::fmt::Display for ResealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Decrypt(items) => write!(f, "no key could decrypt secret ({})", items.join(", ")),
            Self::Invalid(message) => f.write_str(message),
        }
    }
}

/// Decrypts with private keys held in this process and seals to a certificate.
#[derive(Debug)]
pub(crate) struct OfflineResealer<'a> {
    pub(crate) keys: &'a KeySet,
    pub(crate) cert: &'a Certificate,
}

impl Resealer for OfflineResealer<'_> {
    fn target(&self) -> &Fingerprint {
        self.cert.fingerprint()
    }

    fn reseal(&self, doc: &SealedSecret) -> std::result::Result<Resealed, ResealError> {
        if doc.spec.data.as_deref().is_some_and(|d| !d.is_empty()) {
            return Err(ResealError::Invalid(
                "uses the legacy v1 spec.data, which kseal does not write; seal it again from its source".into(),
            ));
        }
        if let Some(problem) = doc.spec.problems().first() {
            return Err(ResealError::Invalid(problem.to_string()));
        }
        let scope = doc
            .scope()
            .map_err(|e| ResealError::Invalid(e.to_string()))?;
        let hint = doc.key_fingerprint_hint().and_then(Fingerprint::parse);
        let mut items = Vec::new();
        let mut opened_with: Vec<Fingerprint> = Vec::new();
        let mut failed = Vec::new();
        for (name, value) in doc.spec.encrypted_data.iter() {
            let opened = value
                .as_sealed()
                .ok_or(kseal_core::OpenError)
                .and_then(|text| open_base64(self.keys, &scope, text, hint.as_ref()));
            match opened {
                Ok(opened) => {
                    // The plaintext lives in a zeroizing buffer and is dropped right here.
                    let sealed =
                        seal_base64(self.cert, &scope, opened.plaintext.expose(), &mut OsRng);
                    items.push((name.to_owned(), sealed));
                    if !opened_with.contains(&opened.key) {
                        opened_with.push(opened.key);
                    }
                }
                Err(_) => failed.push(name.to_owned()),
            }
        }
        if !failed.is_empty() {
            return Err(ResealError::Decrypt(failed));
        }
        Ok(Resealed { items, opened_with })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Re-seal and write.
    Write,
    /// Re-seal in memory (when keys are given), write nothing.
    DryRun,
    /// Only compare fingerprints.
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    UpToDate,
    Resealed,
    Stale,
    Failed,
}

#[derive(Debug, Default)]
struct Tally {
    documents: usize,
    files: usize,
    up_to_date: usize,
    resealed: usize,
    stale: usize,
    failed: usize,
    decrypt_failures: usize,
    written: usize,
}

pub(crate) fn run(args: RotateArgs) -> Result<()> {
    let mode = if args.check {
        Mode::Check
    } else if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Write
    };
    let config = Config::find(args.config.as_deref(), args.no_config)?;
    let plan = plan(&args, config.as_ref())?;

    // Load each certificate once.
    let mut certs: BTreeMap<String, Certificate> = BTreeMap::new();
    for (_, source) in &plan {
        if let std::collections::btree_map::Entry::Vacant(slot) = certs.entry(source_key(source)) {
            let allow_expired = mode == Mode::Check || args.unsafe_allow_expired_cert;
            slot.insert(source.load(SystemTime::now(), allow_expired)?);
        }
    }
    let keys = if args.keys.is_empty() {
        None
    } else {
        Some(load_keys(&args.keys)?)
    };

    let mut tally = Tally::default();
    let mut out = String::new();
    for (file, source) in &plan {
        let cert = &certs[&source_key(source)];
        let resealer = keys.as_ref().map(|keys| OfflineResealer { keys, cert });
        rotate_file(
            file,
            cert.fingerprint(),
            resealer.as_ref().map(|r| r as &dyn Resealer),
            mode,
            &mut tally,
            &mut out,
        )?;
    }
    io::write_stdout(out.as_bytes())?;

    if tally.documents == 0 && tally.failed == 0 {
        return Err(Failure::input(format!(
            "no SealedSecret found in {}",
            plan.iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let changed = match mode {
        Mode::Write => format!("{} re-sealed", tally.resealed),
        Mode::DryRun => format!("{} would be re-sealed", tally.resealed),
        Mode::Check => format!("{} stale", tally.stale),
    };
    let mut summary = format!(
        "{} SealedSecret(s) in {} file(s): {} up to date, {changed}, {} failed",
        tally.documents, tally.files, tally.up_to_date, tally.failed
    );
    if mode == Mode::Write {
        summary.push_str(&format!("; wrote {} file(s)", tally.written));
    }
    if tally.failed > 0 {
        let code = if tally.decrypt_failures > 0 {
            Code::Decrypt
        } else {
            Code::Input
        };
        let mut failure = Failure::new(code, summary);
        if tally.decrypt_failures > 0 {
            failure = failure.hint("pass every backup key with --key (files or a directory); keys from `kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` work as they are");
        }
        return Err(failure);
    }
    if mode == Mode::Check && tally.stale > 0 {
        return Err(Failure::new(
            Code::Check,
            format!("not every SealedSecret is sealed to the newest certificate: {summary}"),
        )
        .hint("re-seal them with `kseal rotate --key BACKUP_KEYS`, then commit the result"));
    }
    eprintln!("kseal: {summary}");
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
fn plan(args: &RotateArgs, config: Option<&Config>) -> Result<Vec<(PathBuf, CertSource)>> {
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
    } else {
        scan::collect_files(&args.paths, Walk::Manifests)?
    };
    let only_cert = config.map(Config::certs).filter(|c| c.len() == 1);
    files
        .into_iter()
        .map(|file| {
            if let Some(c) = &args.cert {
                return Ok((file, CertSource::parse(c, None)));
            }
            let config = config.ok_or_else(|| no_cert(&file))?;
            let configured = outputs
                .iter()
                .find(|o| same_file(&o.path, &file))
                .and_then(|o| o.cert.clone())
                .or_else(|| only_cert.as_ref().map(|c| c[0].clone()))
                .ok_or_else(|| no_cert(&file))?;
            Ok((file, CertSource::parse(&configured, Some(&config.dir))))
        })
        .collect()
}

fn no_cert(file: &Path) -> Failure {
    Failure::usage(format!(
        "no certificate to re-seal {} to",
        file.display()
    ))
    .hint("pass --cert NEW.pem (the cluster's newest, from `kubeseal --fetch-cert`), or name the file as an `output:` with a `cert:` in kseal.yaml")
}

fn same_file(a: &Path, b: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs(a) == abs(b)
}

fn rotate_file(
    file: &Path,
    target: &Fingerprint,
    resealer: Option<&dyn Resealer>,
    mode: Mode,
    tally: &mut Tally,
    out: &mut String,
) -> Result<()> {
    let shown = file.display().to_string();
    // Rows in document order; a re-sealed row is only final once the file is edited.
    let mut rows: Vec<(usize, Status, String, String)> = Vec::new();
    let mut row = |order: usize, status: Status, place: &str, detail: &str| {
        rows.push((order, status, place.to_owned(), detail.to_owned()));
    };
    let Ok(text) = String::from_utf8(io::read_input(Some(file))?) else {
        row(0, Status::Failed, &shown, "not UTF-8 text");
        finish(rows, mode, tally, out);
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
        row(0, Status::Failed, &shown, &error);
        finish(rows, mode, tally, out);
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
        let place = format!("{shown}: {}", doc.describe());
        let current = doc.value["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION].as_str();
        if current == Some(target.as_str()) {
            row(order, Status::UpToDate, &place, target.as_str());
            continue;
        }
        let from = current.unwrap_or("an unknown key (no annotation)");
        if mode == Mode::Check {
            row(
                order,
                Status::Stale,
                &place,
                &format!("sealed to {from}, not {target}"),
            );
            continue;
        }
        if doc.item.is_some() {
            row(
                order,
                Status::Failed,
                &place,
                "inside a kind: List, which cannot be edited in place; split the List into documents",
            );
            continue;
        }
        let Some(resealer) = resealer else {
            row(
                order,
                Status::Resealed,
                &place,
                &format!("{from} -> {target}"),
            );
            continue;
        };
        let sealed: SealedSecret = match serde_json::from_value(doc.value.clone()) {
            Ok(s) => s,
            Err(e) => {
                let message = format!(
                    "not a valid SealedSecret: {}",
                    kseal_core::manifest::scrub_parser_message(&e.to_string())
                );
                row(order, Status::Failed, &place, &message);
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
                    "no items".to_owned()
                } else {
                    from.join(", ")
                };
                pending.push((order, place, format!("{from} -> {}", resealer.target())));
                edits.push(DocEdit {
                    segment: doc.segment,
                    items: resealed.items,
                    annotations: vec![(
                        KEY_FINGERPRINT_ANNOTATION.to_owned(),
                        resealer.target().to_string(),
                    )],
                });
            }
            Err(e) => {
                if matches!(e, ResealError::Decrypt(_)) {
                    tally.decrypt_failures += 1;
                }
                row(order, Status::Failed, &place, &e.to_string());
            }
        }
    }
    if !edits.is_empty() {
        match merge::edit_stream(&text, &stream, &edits) {
            Ok(edited) => {
                if mode == Mode::Write {
                    io::write_atomic(file, edited.as_bytes(), 0o644)?;
                    tally.written += 1;
                }
                for (order, place, detail) in &pending {
                    row(*order, Status::Resealed, place, detail);
                }
            }
            Err(e) => {
                for (order, place, _) in &pending {
                    row(
                        *order,
                        Status::Failed,
                        place,
                        &format!("cannot update the file in place: {e}"),
                    );
                }
            }
        }
    }
    finish(rows, mode, tally, out);
    Ok(())
}

/// Prints a file's rows in document order and counts them.
fn finish(
    mut rows: Vec<(usize, Status, String, String)>,
    mode: Mode,
    tally: &mut Tally,
    out: &mut String,
) {
    rows.sort_by_key(|r| r.0);
    for (_, status, place, detail) in rows {
        let word = match (status, mode) {
            (Status::UpToDate, _) => "up to date",
            (Status::Resealed, Mode::Write) => "re-sealed",
            (Status::Resealed, _) => "would re-seal",
            (Status::Stale, _) => "stale",
            (Status::Failed, _) => "failed",
        };
        out.push_str(&format!("{word:<13} {place}: {detail}\n"));
        match status {
            Status::UpToDate => tally.up_to_date += 1,
            Status::Resealed => tally.resealed += 1,
            Status::Stale => tally.stale += 1,
            Status::Failed => tally.failed += 1,
        }
    }
}
