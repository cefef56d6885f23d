//! Where `kseal seal` puts its output, and how it merges into a file that is already sealed.
//!
//! Every destination is decided and every file's new content computed before anything is
//! written; the files are then written all or none ([`crate::io::write_files`]).

use std::path::{Path, PathBuf};

use kseal_core::Certificate;
use kseal_crds::{KEY_FINGERPRINT_ANNOTATION, scope_kind_from_annotations};

use super::{
    Target,
    plan::{CertTarget, Plan},
    seal_target,
    sealer::Sealer,
};
use crate::{
    args::{FormatArg, SealArgs},
    exit::{Failure, Result},
    inspect::inspect_value,
    io,
    merge::{Identity, SealedFile},
};

/// A sealed file that already exists and is merged into.
pub(super) struct Existing {
    path: PathBuf,
    file: SealedFile,
    pub(super) identity: Identity,
}

impl Existing {
    pub(super) fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::runtime(format!(
                "cannot read {}: {}",
                path.display(),
                io::io_reason(&e)
            ))
        })?;
        let (file, identity) = SealedFile::parse(text)
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            identity,
        })
    }
}

/// Where each certificate's output goes: a file, or stdout (`None`). Decided for all targets
/// before anything is sealed, so that a missing output writes no file at all.
pub(super) fn destinations(plan: &Plan, targets: &[CertTarget]) -> Result<Vec<Option<PathBuf>>> {
    let args = &plan.args;
    let out_dir = args.out_dir.clone().or_else(|| match &args.write {
        Some(Some(p)) if targets.len() > 1 && is_dir_like(p) => Some(p.clone()),
        _ => None,
    });
    if targets.len() > 1 || out_dir.is_some() {
        return multi_destinations(args, targets, out_dir.as_deref(), plan.format)
            .map(|paths| paths.into_iter().map(Some).collect());
    }
    let [target] = targets else {
        unreachable!("invariant: Plan::cert_targets returns at least one target")
    };
    if let Some(path) = &args.merge_into {
        return Ok(vec![Some(path.clone())]);
    }
    Ok(vec![match &args.write {
        None => None,
        Some(Some(path)) => Some(path.clone()),
        Some(None) => match (&target.output, &plan.settings.output) {
            (Some(output), _) | (None, Some(output)) => Some(output.clone()),
            (None, None) => return Err(no_output(&plan.input_name)),
        },
    }])
}

/// `-w` without a FILE and nowhere to write.
pub(super) fn no_output(input_name: &str) -> Failure {
    Failure::usage(format!(
        "-w without a FILE needs an `output:` for {input_name} in kseal.yaml"
    ))
    .hint("pass -w FILE, or add `output: path/to/sealed.yaml` to the kseal.yaml entry")
}

fn multi_destinations(
    args: &SealArgs,
    targets: &[CertTarget],
    out_dir: Option<&Path>,
    format: FormatArg,
) -> Result<Vec<PathBuf>> {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    if args.merge_into.is_some() {
        return Err(Failure::usage(format!(
            "--merge-into updates one file; {} certificates were given ({})",
            targets.len(),
            names.join(", ")
        )));
    }
    let extension = match format {
        FormatArg::Yaml => "yaml",
        FormatArg::Json => "json",
    };
    targets
        .iter()
        .map(|t| match (out_dir, &args.write) {
            (Some(dir), _) => Ok(dir.join(format!("{}.{extension}", t.name))),
            (None, Some(None)) => t.output.clone().ok_or_else(|| {
                Failure::usage(format!("-w: no output for {} in kseal.yaml", t.name)).hint(
                    "add `output:` to every `clusters:` item, or pass --out-dir DIR",
                )
            }),
            (None, Some(Some(file))) => Err(Failure::usage(format!(
                "-w {} names one file, but there are {} targets ({})",
                file.display(),
                targets.len(),
                names.join(", ")
            ))
            .hint("pass a directory (-w DIR/ or --out-dir DIR) to get one file per target")),
            (None, None) => Err(Failure::usage(format!(
                "{} targets ({}); refusing to print several clusters' SealedSecrets to stdout",
                targets.len(),
                names.join(", ")
            ))
            .hint("pass --out-dir DIR (one NAME.yaml per target), or -w to write each cluster's `output:` from kseal.yaml")),
        })
        .collect()
}

fn is_dir_like(path: &Path) -> bool {
    path.is_dir() || path.to_string_lossy().ends_with('/')
}

/// The existing file's text with the target's items merged in. Refused, with nothing written,
/// when the result would not unseal as one Secret: the file names another object or scope, or
/// its items are sealed to another key than `cert` (unless `--reseal-all` seals them all again).
pub(super) fn merged(
    existing: &Existing,
    targets: &[Target],
    cert: &CertTarget,
    sealer: &Sealer<'_>,
    args: &SealArgs,
) -> Result<String> {
    let loaded = sealer.cert();
    let path = &existing.path;
    let [target] = targets else {
        return Err(Failure::usage(format!(
            "merging into {} takes one Secret; the input has {}",
            path.display(),
            targets.len()
        )));
    };
    if !args.labels.is_empty() || !args.annotations.is_empty() || args.type_.is_some() {
        return Err(Failure::usage(format!(
            "merging into {} changes only encryptedData items; --label, --annotation and --type cannot be combined with it",
            path.display()
        )));
    }
    let identity = &existing.identity;
    check_identity(path, identity, target)?;
    check_key(path, identity, cert, loaded, args.reseal_all)?;
    let doc = seal_target(target, sealer);
    let mut annotations = Vec::new();
    if args.reseal_all {
        let missing: Vec<&str> = identity
            .items
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !doc.items.iter().any(|(k, _)| k == name))
            .collect();
        if !missing.is_empty() {
            return Err(Failure::usage(format!(
                "--reseal-all: {} has item(s) the input does not: {}",
                path.display(),
                missing.join(", ")
            ))
            .hint("every item is sealed again, so the input must hold all of them"));
        }
        annotations.push((
            KEY_FINGERPRINT_ANNOTATION.to_owned(),
            loaded.fingerprint().to_string(),
        ));
    }
    existing.file.merge(&doc.items, &annotations).map_err(|e| {
        Failure::input(format!("cannot update {} in place: {e}", path.display()))
            .hint("re-seal the whole file with -w, or reformat it as `kseal seal` writes it")
    })
}

/// The file's metadata decides the OAEP label the controller will use; sealing the new items to
/// anything else would produce values that never unseal.
fn check_identity(path: &Path, identity: &Identity, target: &Target) -> Result<()> {
    let file_kind = scope_kind_from_annotations(&identity.annotations);
    let mismatch = |field: &str, ours: &str, theirs: &str| {
        Failure::usage(format!(
            "--merge-into {}: {field} is '{theirs}' in the file but '{ours}' here",
            path.display()
        ))
        .hint(
            "the file's metadata decides how the controller unseals it; fix the flags or kseal.yaml",
        )
    };
    if target.scope.kind() != file_kind {
        return Err(mismatch(
            "scope",
            target.scope.kind().as_str(),
            file_kind.as_str(),
        ));
    }
    if identity.name.as_deref() != Some(target.name.as_str()) {
        return Err(mismatch(
            "metadata.name",
            target.name.as_str(),
            identity.name.as_deref().unwrap_or(""),
        ));
    }
    let ours_ns = target.namespace.as_ref().map(|n| n.as_str()).unwrap_or("");
    let theirs_ns = identity.namespace.as_deref().unwrap_or("");
    if file_kind != kseal_core::ScopeKind::ClusterWide && theirs_ns != ours_ns {
        return Err(mismatch("metadata.namespace", ours_ns, theirs_ns));
    }
    Ok(())
}

/// The items already in the file must be sealed to `loaded`: its `kseal.dev/key-fingerprint`
/// annotation names that certificate and every item's RSA block has that key's size. Otherwise
/// the file would hold items for two keys, of which one cluster can open only some.
fn check_key(
    path: &Path,
    identity: &Identity,
    cert: &CertTarget,
    loaded: &Certificate,
    reseal_all: bool,
) -> Result<()> {
    if reseal_all {
        return Ok(());
    }
    let ours = loaded.fingerprint().as_str();
    let shown = cert.source.describe();
    let reseal_hint = "or pass --reseal-all with an input that holds every item, to seal the whole file to this certificate";
    match identity.annotations.get(KEY_FINGERPRINT_ANNOTATION) {
        Some(theirs) if theirs == ours => {}
        Some(theirs) => {
            return Err(Failure::usage(format!(
                "{} is sealed to key {theirs}, but the certificate {shown} is {ours}; merging would mix items for two keys",
                path.display()
            ))
            .hint("seal with the certificate the file is sealed to (the `cert:` kseal.yaml names for this `output:`)")
            .hint(reseal_hint));
        }
        None if identity.items.is_empty() => {}
        None => {
            return Err(Failure::usage(format!(
                "{} has no {KEY_FINGERPRINT_ANNOTATION} annotation, so kseal cannot tell which key its items are sealed to",
                path.display()
            ))
            .hint(format!("`kseal rotate {} --cert CERT` re-seals it and records the key", path.display()))
            .hint(reseal_hint));
        }
    }
    for (name, value) in &identity.items {
        let size = value.as_deref().and_then(|v| inspect_value(v).ok());
        if let Some(rsa_len) = size.and_then(|facts| facts.rsa_len)
            && rsa_len != loaded.modulus_len()
        {
            return Err(Failure::input(format!(
                "{}: item {name} is sealed for a {}-bit key, but {shown} is a {}-bit key: the {KEY_FINGERPRINT_ANNOTATION} annotation does not match the items",
                path.display(),
                rsa_len * 8,
                loaded.modulus_len() * 8
            ))
            .hint(reseal_hint));
        }
    }
    Ok(())
}

/// `--raw`: one value sealed, its base64 printed or written to `-w FILE`.
pub(super) fn write_raw(args: &SealArgs, sealed: &str) -> Result<()> {
    match &args.write {
        None => io::write_stdout(sealed.as_bytes()),
        Some(None) => Err(Failure::usage(
            "--raw -w needs a FILE: kseal.yaml's `output:` is a SealedSecret file, not a raw value",
        )
        .hint("pass -w FILE, or leave out -w to print the value")),
        Some(Some(path)) => {
            io::write_atomic(path, sealed.as_bytes(), 0o644)?;
            crate::say::note(format_args!("wrote {} (one sealed value)", path.display()));
            Ok(())
        }
    }
}
