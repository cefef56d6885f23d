//! `kseal rotate`: re-encryption of sealed files to the newest certificate (`docs/cli.md`, "Rotation": not
//! key renewal, not credential rotation). Which documents are stale is decided from the
//! `kseal.dev/key-fingerprint` annotation alone; only stale documents are touched, through the
//! line editor in `merge.rs`, and only files that change are written.
//!
//! The re-encryption itself sits behind [`Resealer`]: [`OfflineResealer`] decrypts with private
//! keys given on the command line; a cluster-backed one (the controller's `/v1/rotate`) can take
//! its place without changing how files are found, edited and reported.

mod report;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::SystemTime,
};

use kseal_core::{Certificate, Fingerprint, KeySet, seal_base64};
use kseal_crds::{KEY_FINGERPRINT_ANNOTATION, SealedSecret, UnsealError, UnsealOptions};

use crate::{
    args::RotateArgs,
    certs::CertSource,
    cluster::Session,
    cmd::unseal::load_keys,
    config::Config,
    exit::{Failure, Result},
    io,
    merge::{self, DocEdit},
    scan::{self, Stream, Walk},
};

use self::report::{Mode, Progress, Report, Status, Tally, conclude, finish};

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
    /// Items opened with none of the keys (wrong key, wrong scope or damaged: one coarse
    /// error, `docs/wire-format.md` §6), in Bitnami's words ([`UnsealError::Decrypt`]).
    Decrypt(UnsealError),
    /// The document cannot be re-sealed as it is.
    Invalid(String),
    /// The controller refused it (its message names items, never values).
    Refused(String),
    /// Nothing more can be re-sealed (the cluster is unreachable, or keeps limiting us).
    Abort(Failure),
}

impl std::fmt::Display for ResealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Decrypt(e) => e.fmt(f),
            Self::Invalid(message) => f.write_str(message),
            Self::Refused(message) => write!(f, "the controller cannot re-seal it: {message}"),
            Self::Abort(failure) => f.write_str(&failure.message),
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
        let opened = doc
            .open_items(self.keys, UnsealOptions::default())
            .map_err(|e| match e {
                UnsealError::Decrypt { .. } => ResealError::Decrypt(e),
                other => ResealError::Invalid(other.to_string()),
            })?;
        let scope = doc
            .scope()
            .map_err(|e| ResealError::Invalid(e.to_string()))?;
        // The plaintexts live in zeroizing buffers, dropped with `opened`.
        let items = opened
            .items
            .iter()
            .map(|(name, plaintext)| {
                let sealed = seal_base64(self.cert, &scope, plaintext.expose());
                (name.clone(), sealed)
            })
            .collect();
        Ok(Resealed {
            items,
            opened_with: opened.keys_used,
        })
    }
}

/// Re-seals through the controller's `POST /v1/rotate`: the private keys never leave the
/// cluster. The answer is checked before it is used: the same item names, each value a sealed
/// value for the target certificate's key size, the fingerprint annotation (when the
/// controller sets it) the target's.
pub(crate) struct ClusterResealer<'a> {
    pub(crate) session: &'a Session,
    /// The controller's newest certificate, fetched at the start.
    pub(crate) cert: &'a Certificate,
}

impl Resealer for ClusterResealer<'_> {
    fn target(&self) -> &Fingerprint {
        self.cert.fingerprint()
    }

    fn reseal(&self, doc: &SealedSecret) -> std::result::Result<Resealed, ResealError> {
        let body = serde_json::to_vec(doc)
            .map_err(|e| ResealError::Invalid(format!("cannot encode it: {e}")))?;
        let reply = self
            .session
            .post_json("/v1/rotate", &body)
            .map_err(ResealError::Abort)?;
        match reply.status {
            200 => {}
            400 | 409 | 422 | 500 => {
                let message = String::from_utf8_lossy(&reply.body)
                    .trim()
                    .chars()
                    .take(300)
                    .collect::<String>();
                return Err(
                    if message.starts_with(kseal_crds::unseal::NO_KEY_COULD_DECRYPT) {
                        ResealError::Decrypt(UnsealError::Decrypt {
                            failed: doc.spec.encrypted_data.names().map(str::to_owned).collect(),
                            bad_base64: Vec::new(),
                        })
                    } else {
                        ResealError::Refused(message)
                    },
                );
            }
            _ => {
                return Err(ResealError::Abort(self.session.unexpected(
                    "POST",
                    "/v1/rotate",
                    &reply,
                )));
            }
        }
        check_answer(doc, &reply.body, self.cert).map_err(|problem| {
            ResealError::Refused(format!("unexpected answer from /v1/rotate: {problem}"))
        })
    }
}

/// The new items from a `/v1/rotate` answer, in the document's order, after checking them.
fn check_answer(
    doc: &SealedSecret,
    body: &[u8],
    cert: &Certificate,
) -> std::result::Result<Resealed, String> {
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "not JSON".to_owned())?;
    let Some(data) = answer["spec"]["encryptedData"].as_object() else {
        if doc.spec.encrypted_data.is_empty() {
            return Ok(Resealed {
                items: Vec::new(),
                opened_with: Vec::new(),
            });
        }
        return Err("no spec.encryptedData".to_owned());
    };
    let asked: Vec<&str> = doc.spec.encrypted_data.iter().map(|(n, _)| n).collect();
    let mut got: Vec<&str> = data.keys().map(String::as_str).collect();
    let mut wanted = asked.clone();
    got.sort_unstable();
    wanted.sort_unstable();
    if got != wanted {
        return Err(format!(
            "items {} instead of {}",
            got.join(", "),
            wanted.join(", ")
        ));
    }
    let want_len = cert.modulus_len();
    let mut items = Vec::new();
    for name in asked {
        let value = data[name]
            .as_str()
            .ok_or_else(|| format!("item {name} is not a string"))?;
        let facts =
            crate::inspect::inspect_value(value).map_err(|e| format!("item {name}: {e}"))?;
        if facts.rsa_len != want_len {
            return Err(format!(
                "item {name} is sealed for a {}-bit key, but the newest certificate has {} bits (did the key change during the run? run again)",
                facts.rsa_len * 8,
                want_len * 8
            ));
        }
        items.push((name.to_owned(), value.to_owned()));
    }
    if let Some(fp) = answer["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION].as_str()
        && fp != cert.fingerprint().as_str()
    {
        return Err(format!(
            "sealed to {fp}, not the newest certificate {} (did the key change during the run? run again)",
            cert.fingerprint()
        ));
    }
    Ok(Resealed {
        items,
        opened_with: Vec::new(),
    })
}

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
        eprintln!(
            "kseal: hint: no cluster configured (KUBECONFIG, ~/.kube/config): comparing with the cert files kseal.yaml names, as --offline does"
        );
        offline = true;
    }
    if !offline {
        // Each cluster kseal.yaml names a context for is rotated through that context; a
        // cluster that fails does not stop the others, and every failure is reported.
        let mut errors = Vec::new();
        let mut summaries = Vec::new();
        for group in by_context(args, config, plan) {
            let controller = args
                .controller
                .controller()
                .in_context(group.context.as_deref());
            let result = run_cluster(mode, config, group.files, &controller, report);
            if let Ok(summary) = &result {
                summaries.push(summary.clone());
            }
            if let Err(e) = result {
                let unreachable = e.message.starts_with("no cluster configured")
                    || e.message.starts_with("cannot reach the API server");
                let e = if unreachable && mode == Mode::Write {
                    e.hint("or re-seal offline with the old private keys: kseal rotate --key BACKUP_KEYS")
                } else {
                    e
                };
                errors.push(e);
            }
        }
        // The files of every cluster are written together, and only when every cluster
        // succeeded: a failure leaves every file as it was.
        let Some(last) = errors.pop() else {
            report.write_staged()?;
            for summary in summaries {
                eprintln!("kseal: {summary}");
            }
            return Ok(());
        };
        for e in errors {
            e.print();
        }
        return Err(report.nothing_written(last));
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
            slot.insert(source.load(SystemTime::now(), allow_expired)?);
        }
    }
    let keys = if args.keys.is_empty() {
        None
    } else {
        Some(load_keys(&args.keys)?)
    };

    let mut tally = Tally::default();
    let mut progress = Progress::new(&plan, keys.is_some() && mode != Mode::Check);
    for (file, source) in &plan {
        let cert = &certs[&source_key(source)];
        let resealer = keys.as_ref().map(|keys| OfflineResealer { keys, cert });
        rotate_file(
            file,
            cert.fingerprint(),
            resealer.as_ref().map(|r| r as &dyn Resealer),
            mode,
            &mut progress,
            &mut tally,
            report,
        )?;
    }
    progress.clear();
    report.flush()?;
    let summary = conclude(
        report,
        &tally,
        mode,
        &plan.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        "re-seal them with `kseal rotate` (through the controller) or `kseal rotate --key BACKUP_KEYS`, then commit the result",
        "pass every backup key with --key (files or a directory); keys from `kseal backup` or `kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` work as they are",
    )
    .map_err(|e| report.nothing_written(e))?;
    report.write_staged()?;
    eprintln!("kseal: {summary}");
    Ok(())
}

/// One active key of the cluster, from `GET /v1/certs`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterCert {
    pub(crate) fingerprint: String,
    #[serde(default)]
    pub(crate) secret_name: String,
    #[serde(default)]
    pub(crate) created: Option<String>,
    #[serde(default)]
    pub(crate) latest: bool,
}

#[derive(Debug, serde::Deserialize)]
struct ClusterCerts {
    certificates: Vec<ClusterCert>,
}

/// The cluster's active keys, newest first: `/v1/certs`, or only the newest when the
/// controller does not serve that list (Bitnami's).
pub(crate) fn cluster_certs(session: &Session, newest: &Certificate) -> Result<Vec<ClusterCert>> {
    let reply = session.request_get("/v1/certs")?;
    match reply.status {
        200 => {
            let list: ClusterCerts = serde_json::from_slice(&reply.body).map_err(|e| {
                Failure::runtime(format!(
                    "GET /v1/certs on {}: unexpected answer: {e}",
                    session.service()
                ))
            })?;
            Ok(list.certificates)
        }
        404 => Ok(vec![ClusterCert {
            fingerprint: newest.fingerprint().to_string(),
            secret_name: String::new(),
            created: None,
            latest: true,
        }]),
        _ => Err(session.unexpected("GET", "/v1/certs", &reply)),
    }
}

/// The controller's newest certificate (`/v1/cert.pem`).
pub(crate) fn cluster_newest(session: &Session) -> Result<Certificate> {
    let pem = session.get("/v1/cert.pem")?;
    Certificate::from_pem(&pem).map_err(|e| {
        Failure::runtime(format!(
            "{} served an unusable certificate: {e}",
            session.service()
        ))
    })
}

/// `kseal rotate` through the controller: the target is its newest certificate, stale
/// documents go through `/v1/rotate`, committed cert files are refreshed.
/// The files of one cluster: the kubeconfig context kseal.yaml names for it (`None`: the
/// current one), and the plan's entries for it.
struct ClusterGroup {
    context: Option<String>,
    files: Vec<(PathBuf, Option<CertSource>)>,
}

/// The plan split by the context of each file's cluster, in the plan's order. `--context` puts
/// every file in one group.
fn by_context(
    args: &RotateArgs,
    config: Option<&Config>,
    plan: Vec<(PathBuf, Option<CertSource>)>,
) -> Vec<ClusterGroup> {
    let mut groups: Vec<ClusterGroup> = Vec::new();
    for (file, source) in plan {
        let context = match (config, &args.controller.access.context) {
            (Some(config), None) => config.output_for(&file).and_then(|o| o.context),
            _ => None,
        };
        match groups.iter_mut().find(|g| g.context == context) {
            Some(group) => group.files.push((file, source)),
            None => groups.push(ClusterGroup {
                context,
                files: vec![(file, source)],
            }),
        }
    }
    if groups.is_empty() {
        groups.push(ClusterGroup {
            context: None,
            files: Vec::new(),
        });
    }
    groups
}

fn run_cluster(
    mode: Mode,
    config: Option<&Config>,
    plan: Vec<(PathBuf, Option<CertSource>)>,
    controller: &crate::cluster::Controller,
    report: &mut Report,
) -> Result<String> {
    // Several certificates in kseal.yaml: several clusters (or an un-refreshed file).
    let several = config.is_some_and(|c| c.certs().len() > 1);
    if several && let Some((file, _)) = plan.iter().find(|(_, source)| source.is_none()) {
        return Err(Failure::usage(format!(
            "cannot tell which cluster {} belongs to: kseal.yaml names several certificates and none for this file",
            file.display()
        ))
        .hint("name the file as an `output:` (with its cluster's `cert:`) in kseal.yaml, or rotate it offline with --key and --cert"));
    }
    let session = controller.connect()?;
    let newest = cluster_newest(&session)?;
    let active = cluster_certs(&session, &newest)?;
    let is_active = |fp: &Fingerprint| active.iter().any(|c| c.fingerprint == fp.as_str());

    // Which files belong to this cluster, decided from their committed certificate.
    let mut loaded: BTreeMap<String, Option<Certificate>> = BTreeMap::new();
    let mut mine: Vec<(PathBuf, Option<CertSource>)> = Vec::new();
    for (file, source) in plan {
        let Some(source) = source else {
            // Only without several certificates (checked above).
            mine.push((file, None));
            continue;
        };
        let cert = loaded
            .entry(source_key(&source))
            .or_insert_with(|| source.load(SystemTime::now(), true).ok())
            .as_ref();
        match cert {
            Some(c) if is_active(c.fingerprint()) => mine.push((file, Some(source))),
            None if !several => mine.push((file, Some(source))),
            Some(c) if several => report.line(
                "skipped",
                &file.display().to_string(),
                None,
                &format!(
                    "sealed for another cluster: its cert {} ({}) is not a key of {}",
                    source.describe(),
                    c.fingerprint(),
                    session.service()
                ),
            ),
            None => {
                return Err(Failure::usage(format!(
                    "cannot tell which cluster {} belongs to: its cert {} cannot be read",
                    file.display(),
                    source.describe()
                ))
                .hint(
                    "fetch it with `kseal cert -w FILE`, or rotate offline with --key and --cert",
                ));
            }
            Some(c) => {
                return Err(Failure::usage(format!(
                    "{}: its cert {} ({}) is not one of the keys of {}; is your kubeconfig's current context the right cluster?",
                    file.display(),
                    source.describe(),
                    c.fingerprint(),
                    session.service()
                ))
                .hint("switch context (kubectl config use-context), or rotate offline with --key and --cert"));
            }
        }
    }
    if mine.is_empty() {
        report.flush()?;
        return Err(Failure::usage(format!(
            "no file here belongs to the cluster of {}: none of their certs is one of its keys",
            session.service()
        ))
        .hint("switch your kubeconfig's context to the cluster the files are sealed for"));
    }
    if newest.check_not_expired(SystemTime::now()).is_err() {
        eprintln!(
            "kseal: warning: the controller's newest certificate has expired; kubeseal refuses to seal with it"
        );
    }

    let resealer = ClusterResealer {
        session: &session,
        cert: &newest,
    };
    let files: Vec<PathBuf> = mine.iter().map(|(f, _)| f.clone()).collect();
    let mut tally = Tally::default();
    let mut progress = Progress::new(&mine, mode == Mode::Write);
    for file in &files {
        let result = rotate_file(
            file,
            newest.fingerprint(),
            (mode == Mode::Write).then_some(&resealer as &dyn Resealer),
            mode,
            &mut progress,
            &mut tally,
            report,
        );
        if let Err(e) = result {
            progress.clear();
            let _ = report.flush();
            return Err(e);
        }
    }
    progress.clear();

    // The committed cert files of this cluster, refreshed to its newest certificate.
    let mut refreshed: Vec<String> = Vec::new();
    for (_, source) in &mine {
        let Some(CertSource::File(path)) = source else {
            continue;
        };
        let key = source_key(source.as_ref().expect("matched Some"));
        if refreshed.contains(&key) {
            continue;
        }
        refreshed.push(key.clone());
        let current = loaded.get(&key).and_then(Option::as_ref);
        if current.is_some_and(|c| c.fingerprint() == newest.fingerprint()) {
            continue;
        }
        let was = current.map_or_else(|| "missing".to_owned(), |c| c.fingerprint().to_string());
        if mode == Mode::Write {
            report.stage(path, newest.to_pem().into_bytes());
            report.line(
                "refreshed",
                &path.strip_prefix(".").unwrap_or(path).display().to_string(),
                None,
                &format!("{was} -> {}", newest.fingerprint()),
            );
            tally.certs_refreshed += 1;
        } else {
            report.line(
                "stale cert",
                &path.strip_prefix(".").unwrap_or(path).display().to_string(),
                None,
                &format!("is {was}, the cluster's newest is {}", newest.fingerprint()),
            );
            tally.certs_stale += 1;
        }
    }
    report.flush()?;
    conclude(
        report,
        &tally,
        mode,
        &files,
        "re-seal them with `kseal rotate` (it also refreshes the cert files), then commit the result",
        "the controller holds no key that opens them: sealed for another cluster or namespace/name, altered, or sealed to a key that was deleted; re-seal them from their source",
    )
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
            let configured = config
                .output_for(&file)
                .and_then(|o| o.cert)
                .or_else(|| only_cert.as_ref().map(|c| c[0].clone()));
            let source = configured.map(|c| CertSource::parse(&c, Some(&config.dir)));
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

fn rotate_file(
    file: &Path,
    target: &Fingerprint,
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
        if current == Some(target.as_str()) {
            row(order, Status::UpToDate, Some(&place), target.as_str());
            continue;
        }
        let from = current.unwrap_or("an unknown key (no annotation)");
        if mode == Mode::Check {
            row(
                order,
                Status::Stale,
                Some(&place),
                &format!("sealed to {from}, not {target}"),
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> Certificate {
        Certificate::from_pem(include_bytes!("../../../tests/fixtures/test.pem")).unwrap()
    }

    /// A structurally valid sealed value for a `rsa_len`-byte key (not decryptable).
    fn blob(rsa_len: usize) -> String {
        let mut b = u16::try_from(rsa_len).unwrap().to_be_bytes().to_vec();
        b.resize(kseal_core::sealed::sealed_len(rsa_len, 4), 7);
        kseal_core::sealed::encode_base64(&b)
    }

    fn doc(items: &[&str]) -> SealedSecret {
        let data: serde_json::Map<String, serde_json::Value> = items
            .iter()
            .map(|n| ((*n).to_owned(), blob(256).into()))
            .collect();
        serde_json::from_value(serde_json::json!({
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": "app", "namespace": "shop"},
            "spec": {"encryptedData": data, "template": {"metadata": {"name": "app", "namespace": "shop"}}},
        }))
        .unwrap()
    }

    fn answer(items: &[(&str, String)], fingerprint: Option<&str>) -> Vec<u8> {
        let data: serde_json::Map<String, serde_json::Value> = items
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone().into()))
            .collect();
        let mut v = serde_json::json!({
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": "app", "namespace": "shop"},
            "spec": {"encryptedData": data},
        });
        if let Some(fp) = fingerprint {
            v["metadata"]["annotations"] = serde_json::json!({ KEY_FINGERPRINT_ANNOTATION: fp });
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn a_good_answer_gives_the_items_in_the_documents_order() {
        let cert = cert();
        let fp = cert.fingerprint().to_string();
        let (b, a) = (blob(256), blob(256));
        let body = answer(&[("B", b.clone()), ("A", a.clone())], Some(&fp));
        let resealed = check_answer(&doc(&["A", "B"]), &body, &cert).unwrap();
        assert_eq!(resealed.items, vec![("A".into(), a), ("B".into(), b)]);
    }

    #[test]
    fn a_bad_answer_is_refused() {
        let cert = cert();
        let d = doc(&["A", "B"]);
        let missing = answer(&[("A", blob(256))], None);
        assert!(
            check_answer(&d, &missing, &cert)
                .unwrap_err()
                .contains("items A instead of A, B")
        );
        let wrong_size = answer(&[("A", blob(256)), ("B", blob(512))], None);
        assert!(
            check_answer(&d, &wrong_size, &cert)
                .unwrap_err()
                .contains("4096-bit key")
        );
        let not_sealed = answer(&[("A", blob(256)), ("B", "cGxhaW4=".into())], None);
        assert!(
            check_answer(&d, &not_sealed, &cert)
                .unwrap_err()
                .starts_with("item B:")
        );
        let other_key = answer(
            &[("A", blob(256)), ("B", blob(256))],
            Some("SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        );
        assert!(
            check_answer(&d, &other_key, &cert)
                .unwrap_err()
                .contains("not the newest certificate")
        );
        assert!(check_answer(&d, b"<html>", &cert).is_err());
    }
}
