//! `kseal unseal`: offline recovery with backup keys, printing the Secrets the controller would
//! write: the same [`SealedSecret::unseal`] as the controller, templates and legacy
//! `spec.data` included.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use k8s_openapi::api::core::v1::Secret;
use kseal_core::{KeySet, SecretWriter};
use kseal_crds::{SealedSecret, UnsealError, UnsealOptions};
use kseal_template::InProcess;

use crate::{
    args::{FormatArg, UnsealArgs},
    exit::{Code, Failure, Result},
    io,
    scan::{self, Walk},
};

pub(crate) fn run(args: UnsealArgs) -> Result<()> {
    let keys = crate::keys::load(&args.keys)?;
    // Every input, read and parsed before anything is opened. Files found by walking a
    // directory that hold no SealedSecret are skipped; a file named on the command line must
    // hold one.
    let mut inputs: Vec<(String, Vec<SealedSecret>)> = Vec::new();
    let stdin = [PathBuf::from("-")];
    let given = if args.inputs.is_empty() {
        &stdin[..]
    } else {
        &args.inputs[..]
    };
    for input in given {
        let walked = input != Path::new("-") && input.is_dir();
        let files = if walked {
            scan::collect_files(std::slice::from_ref(input), Walk::Manifests)?
        } else {
            vec![input.clone()]
        };
        for file in files {
            let name = io::display_name(Some(&file));
            let text = io::read_input(Some(&file))?;
            let docs = parse_docs(&text).map_err(|e| Failure::input(format!("{name}: {e}")));
            let mentions_sealed = String::from_utf8_lossy(&text).contains("SealedSecret");
            match docs {
                Ok(docs) if !docs.is_empty() => inputs.push((name, docs)),
                // A directory may hold other manifests, including Helm templates that are not
                // YAML; a file that mentions SealedSecret and does not read is still an error.
                Ok(_) if walked => {}
                Err(_) if walked && !mentions_sealed => {}
                Ok(_) => return Err(Failure::input(format!("{name}: no SealedSecret found"))),
                Err(e) => return Err(e),
            }
        }
    }
    if inputs.is_empty() {
        return Err(Failure::input(format!(
            "no SealedSecret found in {}",
            given
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Open everything before printing anything: recovery output is all or nothing.
    let mut out = SecretWriter::default();
    for (name, docs) in &inputs {
        unseal_file(&keys, name, docs, args.format, &mut out)?;
    }
    io::write_stdout(out.expose())
}

fn unseal_file(
    keys: &KeySet,
    name: &str,
    docs: &[SealedSecret],
    format: FormatArg,
    out: &mut SecretWriter,
) -> Result<()> {
    for (index, doc) in docs.iter().enumerate() {
        let mut secret = unseal_doc(keys, doc).map_err(|e| {
            let what = format!("{name}: document {}", index + 1);
            let failure = Failure::new(Code::Decrypt, format!("{what}: {e}"));
            if matches!(e, UnsealError::Decrypt { .. }) {
                failure.hint("pass every backup key with --key (comma-separated); keys from `kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` work as they are")
            } else {
                failure
            }
        })?;
        // Serialized straight into the zeroizing output buffer: no intermediate copy.
        let written = match format {
            FormatArg::Yaml => {
                out.write_all(b"---\n").is_ok() && serde_yaml::to_writer(&mut *out, &secret).is_ok()
            }
            FormatArg::Json => {
                serde_json::to_writer_pretty(&mut *out, &secret).is_ok()
                    && out.write_all(b"\n").is_ok()
            }
        };
        // The Secret's `ByteString`s are plain vectors (k8s-openapi's type): wipe them now
        // that the output buffer, which is zeroized, holds the only copy.
        for value in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
            kseal_core::secret::wipe(&mut value.0);
        }
        if !written {
            return Err(Failure::runtime(format!(
                "{name}: cannot format the Secret"
            )));
        }
    }
    Ok(())
}

fn parse_docs(text: &[u8]) -> std::result::Result<Vec<SealedSecret>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_owned())?;
    let stream = scan::Stream::parse(text);
    if let Some(error) = stream.first_error() {
        return Err(error);
    }
    stream
        .docs()
        .into_iter()
        .filter(scan::Doc::is_sealed_secret)
        .map(|d| {
            serde_json::from_value(d.value.clone()).map_err(|e| format!("{}: {e}", d.describe()))
        })
        .collect()
}

/// Opens one SealedSecret into the Secret the controller would write for it
/// ([`SealedSecret::unseal`], with the controller's default options and the in-process
/// renderer under the same budgets as the controller's). One difference: a SealedSecret
/// without `metadata.uid` (a file, not an object read from the cluster) gets no ownerReference,
/// since the API server refuses one with an empty UID (`docs/cli.md`, `kseal unseal`).
fn unseal_doc(keys: &KeySet, doc: &SealedSecret) -> std::result::Result<Secret, UnsealError> {
    let mut secret = doc
        .unseal(keys, UnsealOptions::default(), &InProcess)?
        .secret;
    if doc.metadata.uid.as_deref().unwrap_or_default().is_empty() {
        secret.metadata.owner_references = None;
    }
    Ok(secret)
}
