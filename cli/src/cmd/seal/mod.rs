//! `kseal seal`: `.env` files and Secret manifests in, SealedSecrets out.
//!
//! One run is: [`Plan`] (flags and kseal.yaml, typed and checked) → read the input into
//! [`Target`]s (`input.rs`) → seal them for each certificate → write every output, all or
//! none (`write.rs`).

use std::{collections::BTreeMap, path::PathBuf, time::SystemTime};

use kseal_core::{
    Encryption, NamespaceName, ObjectName, Scope, ScopeKind, SecretBytes, SecretKeyName, manifest,
};
use kseal_crds::{CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};

use crate::{
    args::{FormatArg, SealArgs},
    exit::{Failure, Result},
    io,
    output::SealedDoc,
    say,
};

mod input;
mod plan;
pub(crate) mod sealer;
mod write;

use self::{
    plan::{Plan, make_scope},
    sealer::Sealer,
};

/// One Secret to seal, with everything resolved.
struct Target {
    name: ObjectName,
    namespace: Option<NamespaceName>,
    scope: Scope,
    type_: String,
    immutable: Option<bool>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    items: Vec<(SecretKeyName, SecretBytes)>,
}

pub(crate) fn run(args: SealArgs) -> Result<()> {
    let mut plan = Plan::new(args)?;
    if plan.args.raw {
        return run_raw(&plan);
    }
    let bytes = io::read_input_of(plan.input.as_deref(), "a .env file or Secret manifests")?;
    let is_manifest = manifest::looks_like_manifest(&bytes);
    plan.check_missing(!is_manifest)?;
    let targets = read_targets(&plan, &bytes, is_manifest)?;
    let cert_targets = plan.cert_targets()?;
    let destinations = write::destinations(&plan, &cert_targets)?;
    // Load every certificate before writing anything: one bad cert writes no file.
    let certs = cert_targets
        .iter()
        .map(|t| {
            t.source
                .load(SystemTime::now(), plan.args.unsafe_allow_expired_cert)
        })
        .collect::<Result<Vec<_>>>()?;
    let sealers = cert_targets
        .iter()
        .zip(&certs)
        .map(|(t, cert)| Sealer::new(cert, plan.encryption, &t.source.describe()))
        .collect::<Result<Vec<_>>>()?;
    let format = plan.format;
    let render = |sealer: &Sealer<'_>| {
        let mut out = String::new();
        for t in &targets {
            let doc = seal_target(t, sealer);
            out.push_str(&match format {
                FormatArg::Yaml => doc.to_yaml(),
                FormatArg::Json => doc.to_json(),
            });
        }
        out
    };
    // Every certificate gives SealedSecrets of the same size (the same key sizes aside).
    if let Some(sealer) = sealers.first() {
        for t in &targets {
            let json_len = seal_target(t, sealer).to_json().len();
            sealer::warn_size(t.name.as_str(), json_len, plan.encryption);
        }
    }
    let item_count = targets.iter().map(|t| t.items.len()).sum::<usize>();
    let several = cert_targets.len() > 1;

    // Every file's new content first; then all of them are written, or none.
    let mut stdout = String::new();
    // (path, content, what to say once it is written)
    let mut files: Vec<(PathBuf, String, (&str, String))> = Vec::new();
    for ((target, sealer), destination) in cert_targets.iter().zip(&sealers).zip(destinations) {
        let cert = sealer.cert();
        let Some(path) = destination else {
            stdout.push_str(&render(sealer));
            continue;
        };
        // --only onto a file that exists merges into it: the items it does not name stay.
        let existing = match plan.merge_file.take() {
            Some(existing) => Some(existing),
            None if !plan.args.only.is_empty() && path.exists() => {
                Some(write::Existing::read(&path)?)
            }
            None => None,
        };
        let (text, verb) = match &existing {
            Some(existing) => (
                write::merged(existing, &targets, target, sealer, &plan.args)?,
                "updated",
            ),
            None => (render(sealer), "wrote"),
        };
        let about = if several {
            format!(
                "{item_count} item(s), {} {}",
                target.name,
                cert.fingerprint()
            )
        } else {
            format!("{item_count} item(s)")
        };
        files.push((path, text, (verb, about)));
    }
    let writes: Vec<io::FileWrite<'_>> = files
        .iter()
        .map(|(path, text, _)| io::FileWrite {
            path,
            bytes: text.as_bytes(),
            mode: io::Mode::KeepOr(0o644),
        })
        .collect();
    io::write_files(&writes)?;
    for (path, _, (verb, about)) in &files {
        say::note(format_args!("{verb} {} ({about})", path.display()));
    }
    if stdout.is_empty() {
        Ok(())
    } else {
        io::write_stdout(stdout.as_bytes())
    }
}

/// The input's Secrets, with `--only` applied, placeholders warned about, and empty ones
/// refused unless `--allow-empty-data`.
fn read_targets(plan: &Plan, bytes: &[u8], is_manifest: bool) -> Result<Vec<Target>> {
    let input_name = &plan.input_name;
    let mut targets = if is_manifest {
        input::from_manifests(plan, bytes)?
    } else {
        vec![input::from_dotenv(plan, bytes)?]
    };
    let only = &plan.args.only;
    if !only.is_empty() {
        for t in &mut targets {
            for key in only {
                if !t.items.iter().any(|(k, _)| k.as_str() == key) {
                    return Err(Failure::usage(format!(
                        "--only: key '{key}' is not in {input_name}"
                    )));
                }
            }
            t.items
                .retain(|(k, _)| only.iter().any(|o| o == k.as_str()));
        }
    }
    for t in &targets {
        crate::placeholder::warn(
            input_name,
            t.items.iter().map(|(k, v)| (k.as_str(), v.expose())),
        );
        if t.items.is_empty() && !plan.args.allow_empty_data {
            return Err(Failure::input(format!(
                "{input_name}: Secret '{}' has no data to seal",
                t.name
            ))
            .hint("pass --allow-empty-data to seal it anyway"));
        }
    }
    Ok(targets)
}

/// Scope annotations as kubeseal writes them: on the outer metadata (which the controller reads)
/// and, because kubeseal copies the input's metadata, in the template too.
fn scope_annotations(kind: ScopeKind) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    match kind {
        ScopeKind::Strict => {}
        ScopeKind::NamespaceWide => {
            a.insert(NAMESPACE_WIDE_ANNOTATION.to_owned(), "true".to_owned());
        }
        ScopeKind::ClusterWide => {
            a.insert(CLUSTER_WIDE_ANNOTATION.to_owned(), "true".to_owned());
        }
    }
    a
}

fn seal_target(t: &Target, sealer: &Sealer<'_>) -> SealedDoc {
    let cert = sealer.cert();
    let mut annotations = scope_annotations(t.scope.kind());
    annotations.insert(
        KEY_FINGERPRINT_ANNOTATION.to_owned(),
        cert.fingerprint().to_string(),
    );
    let mut template_annotations = t.annotations.clone();
    template_annotations.remove(CLUSTER_WIDE_ANNOTATION);
    template_annotations.remove(NAMESPACE_WIDE_ANNOTATION);
    template_annotations.extend(scope_annotations(t.scope.kind()));
    SealedDoc {
        name: Some(t.name.to_string()),
        namespace: t.namespace.as_ref().map(ToString::to_string),
        annotations,
        template_labels: t.labels.clone(),
        template_annotations,
        type_: t.type_.clone(),
        immutable: t.immutable,
        items: t
            .items
            .iter()
            .map(|(k, v)| (k.to_string(), sealer.seal(&t.scope, k, v.expose())))
            .collect(),
    }
}

fn run_raw(plan: &Plan) -> Result<()> {
    let args = &plan.args;
    if plan.encryption == Encryption::PqHybrid {
        // The format binds the item key, which --raw does not know (docs/pq-format.md §4).
        return Err(Failure::usage(
            "--raw cannot seal --encryption pq-hybrid: that format binds the value to its item key",
        )
        .hint("seal a .env file or a Secret manifest instead, or use --encryption rsa"));
    }
    let source = args.from_file.as_deref().or(args.input.as_deref());
    let value = SecretBytes::new(io::read_input_of(
        source,
        "the value to seal (the terminal shows it as you type; --from-file FILE does not)",
    )?);
    let kind = plan.scope.unwrap_or_default();
    let scope = make_scope(kind, plan.name.as_ref(), plan.namespace.as_ref(), "--raw")?;
    let cert = plan
        .single_cert()?
        .load(SystemTime::now(), args.unsafe_allow_expired_cert)?;
    let sealed = kseal_core::seal_base64(&cert, &scope, value.expose());
    write::write_raw(args, &sealed)?;
    match kind {
        ScopeKind::Strict => {}
        ScopeKind::NamespaceWide => say::hint(format_args!(
            "the SealedSecret that holds this value needs the annotation {NAMESPACE_WIDE_ANNOTATION}: \"true\""
        )),
        ScopeKind::ClusterWide => say::hint(format_args!(
            "the SealedSecret that holds this value needs the annotation {CLUSTER_WIDE_ANNOTATION}: \"true\""
        )),
    }
    Ok(())
}
