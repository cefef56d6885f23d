//! `kseal unseal`: offline recovery with backup keys, printing the Secrets the controller would
//! write.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use kseal_core::{Fingerprint, KeySet, SecretString, open_base64};
use kseal_crds::SealedSecret;
use serde_json::Value;

use crate::{
    args::{FormatArg, UnsealArgs},
    exit::{Code, Failure, Result},
    io, say,
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
    let mut out = SecretString::default();
    for (name, docs) in &inputs {
        unseal_file(&keys, name, docs, args.format, &mut out)?;
    }
    io::write_stdout(out.expose().as_bytes())
}

fn unseal_file(
    keys: &KeySet,
    name: &str,
    docs: &[SealedSecret],
    format: FormatArg,
    out: &mut SecretString,
) -> Result<()> {
    for (index, doc) in docs.iter().enumerate() {
        let secret = unseal_doc(keys, doc).map_err(|msg| {
            let what = format!("{name}: document {}", index + 1);
            Failure::new(Code::Decrypt, format!("{what}: {msg}"))
                .hint("pass every backup key with --key (comma-separated); keys from `kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` work as they are")
        })?;
        let rendered = match format {
            FormatArg::Yaml => {
                let mut y = String::from("---\n");
                y.push_str(
                    &serde_yaml::to_string(&secret)
                        .expect("invariant: JSON values serialise as YAML"),
                );
                y
            }
            FormatArg::Json => {
                let mut j = serde_json::to_string_pretty(&secret)
                    .expect("invariant: JSON values serialise");
                j.push('\n');
                j
            }
        };
        *out = SecretString::new(format!("{}{rendered}", out.expose()));
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

/// Opens one SealedSecret the way the controller does (`docs/wire-format.md` §5–§6): the scope comes
/// from the outer annotations only, every item must open, and the key hint is tried first.
fn unseal_doc(keys: &KeySet, doc: &SealedSecret) -> std::result::Result<Value, String> {
    let scope = doc.scope().map_err(|e| e.to_string())?;
    let hint = doc.key_fingerprint_hint().and_then(Fingerprint::parse);
    if let Some(problem) = doc.spec.problems().first() {
        return Err(problem.to_string());
    }
    let mut data = serde_json::Map::new();
    let mut failed = Vec::new();
    for (key, value) in doc.spec.encrypted_data.iter() {
        match value
            .as_sealed()
            .map(|v| open_base64(keys, &scope, v, hint.as_ref()))
        {
            Some(Ok(opened)) => {
                let b64 =
                    base64::engine::general_purpose::STANDARD.encode(opened.plaintext.expose());
                data.insert(key.to_owned(), Value::String(b64));
            }
            _ => failed.push(key.to_owned()),
        }
    }
    if !failed.is_empty() {
        return Err(format!(
            "no key could decrypt secret ({})",
            failed.join(", ")
        ));
    }
    let template = &doc.spec.template;
    let meta = template.metadata.clone().unwrap_or_default();
    let mut out_meta = serde_json::Map::new();
    out_meta.insert(
        "name".into(),
        Value::String(doc.metadata.name.clone().unwrap_or_default()),
    );
    if let Some(ns) = &doc.metadata.namespace {
        out_meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    for (field, map) in [("labels", meta.labels), ("annotations", meta.annotations)] {
        if let Some(m) = map.filter(|m| !m.is_empty()) {
            out_meta.insert(
                field.into(),
                serde_json::to_value(m).expect("maps serialise"),
            );
        }
    }
    let mut secret = serde_json::Map::new();
    secret.insert("apiVersion".into(), Value::String("v1".into()));
    secret.insert("kind".into(), Value::String("Secret".into()));
    secret.insert("metadata".into(), Value::Object(out_meta));
    secret.insert(
        "type".into(),
        Value::String(template.type_.clone().unwrap_or_else(|| "Opaque".into())),
    );
    if let Some(immutable) = template.immutable {
        secret.insert("immutable".into(), Value::Bool(immutable));
    }
    secret.insert("data".into(), Value::Object(data));
    if template.data.as_ref().is_some_and(|d| !d.is_empty()) {
        say::warning(format_args!(
            "{}: spec.template.data templates are not rendered offline; only encryptedData items are shown",
            doc.metadata.name.as_deref().unwrap_or("")
        ));
    }
    Ok(Value::Object(secret))
}
