//! `kseal rotate` through the controller: the target is its newest certificate, stale
//! documents go through `/v1/rotate`, committed cert files are refreshed. Each cluster
//! kseal.yaml names a context for is rotated through that context.

use std::{collections::BTreeMap, path::PathBuf, time::SystemTime};

use kseal_core::{Certificate, Encryption, Fingerprint};

use super::{
    Target,
    report::{Mode, Progress, Report, Tally, conclude},
    reseal::{ClusterResealer, Resealer},
    rotate_file, source_key,
};
use crate::{
    args::RotateArgs,
    certs::{CertSource, cluster_certs, cluster_newest},
    config::Config,
    exit::{Failure, Result},
    say,
};

/// Rotates `plan` through the controller of each cluster it names. A cluster that fails does
/// not stop the others, and every failure is reported; the files of every cluster are written
/// together, and only when every cluster succeeded.
pub(super) fn rotate(
    args: &RotateArgs,
    mode: Mode,
    config: Option<&Config>,
    plan: Vec<(PathBuf, Option<CertSource>)>,
    report: &mut Report,
    encryption: Option<Encryption>,
) -> Result<()> {
    let mut errors = Vec::new();
    let mut summaries = Vec::new();
    for group in by_context(args, config, plan) {
        let controller = args
            .controller
            .controller()
            .in_context(group.context.as_deref());
        let result = run_cluster(mode, config, group.files, &controller, report, encryption);
        if let Ok(summary) = &result {
            summaries.push(summary.clone());
        }
        if let Err(e) = result {
            let unreachable = e.message.starts_with("no cluster configured")
                || e.message.starts_with("cannot reach the API server");
            let e = if unreachable && mode == Mode::Write {
                e.hint(
                    "or re-seal offline with the old private keys: kseal rotate --key BACKUP_KEYS",
                )
            } else {
                e
            };
            errors.push(e);
        }
    }
    // A failure leaves every file as it was.
    let Some(last) = errors.pop() else {
        report.write_staged()?;
        for summary in summaries {
            say::note(&summary);
        }
        return Ok(());
    };
    for e in errors {
        e.print();
    }
    Err(report.nothing_written(last))
}

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
    encryption: Option<Encryption>,
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
        say::warning(
            "the controller's newest certificate has expired; kubeseal refuses to seal with it",
        );
    }

    if let Some(encryption) = encryption {
        crate::cmd::seal::sealer::require_pq_key(
            &newest,
            encryption,
            &format!("{} (the controller's newest)", session.service()),
        )?;
    }
    let resealer = ClusterResealer {
        session: &session,
        cert: &newest,
        encryption,
    };
    let files: Vec<PathBuf> = mine.iter().map(|(f, _)| f.clone()).collect();
    let mut tally = Tally::default();
    let mut progress = Progress::new(&mine, mode == Mode::Write);
    for file in &files {
        let target = Target {
            fingerprint: newest.fingerprint(),
            encryption,
        };
        let result = rotate_file(
            file,
            target,
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
        encryption,
        (
            &match encryption {
                Some(e) => format!(
                    "re-seal them with `kseal rotate --encryption {}` (it also refreshes the cert files), then commit the result",
                    e.as_str()
                ),
                None => "re-seal them with `kseal rotate` (it also refreshes the cert files), then commit the result".to_owned(),
            },
            "the controller holds no key that opens them: sealed for another cluster or namespace/name, altered, or sealed to a key that was deleted; re-seal them from their source",
        ),
    )
}
