//! `kseal verify`: offline checks of sealed files, without private keys. What they prove and
//! what they cannot is the command's long help (`VERIFY_ABOUT` in `args.rs`).

use std::collections::BTreeMap;

use kseal_core::{Fingerprint, NamespaceName, ObjectName, ScopeKind, SecretKeyName};
use kseal_crds::{
    CLUSTER_WIDE_ANNOTATION, EncryptedData, EncryptedValue, KEY_FINGERPRINT_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION, scope_kind_from_annotations,
};
use serde_json::{Value, json};

use crate::{
    args::VerifyArgs,
    certs::{KnownCert, load_certs},
    cluster::Session,
    exit::{Code, Failure, Result},
    inspect::{Summary, ValueFacts, describe_problem, inspect_value},
    io,
    output::API_VERSION,
    say,
    scan::{self, SealedStream, Walk},
};

/// Kubernetes refuses a Secret whose data adds up to more than this (`MaxSecretSize`).
pub(crate) const MAX_SECRET_BYTES: usize = kseal_core::MAX_SECRET_DATA;

/// Client-side `kubectl apply` copies the whole object into the
/// `last-applied-configuration` annotation, and all annotations together are limited to this.
pub(crate) const MAX_ANNOTATION_BYTES: usize = 256 << 10;

pub(crate) fn run(args: VerifyArgs) -> Result<()> {
    let config = args.config.load()?;
    let certs = load_certs(&args.certs, config.as_ref())?;
    let paths = scan::default_paths(&args.paths, config.as_ref());
    let files = scan::collect_files(&paths, Walk::Manifests)?;
    // With --cluster: one session per cluster, through the context kseal.yaml names for each
    // file (the current one for the others).
    let mut sessions: Vec<(Option<String>, Session)> = Vec::new();
    let mut totals = Totals::default();
    for file in &files {
        let named = args.paths.contains(file);
        let session = if args.cluster {
            let context = config
                .as_ref()
                .and_then(|c| c.output_for(file))
                .and_then(|o| o.context);
            let index = match sessions.iter().position(|(c, _)| *c == context) {
                Some(i) => i,
                None => {
                    let controller = args.controller.controller().in_context(context.as_deref());
                    sessions.push((context, controller.connect()?));
                    sessions.len() - 1
                }
            };
            Some(&sessions[index].1)
        } else {
            None
        };
        verify_file(file, named, &certs, session, &mut totals)?;
    }
    if totals.documents == 0 && totals.errors == 0 {
        return Err(Failure::input(format!(
            "no SealedSecret found in {}",
            scan::show_paths(&paths)
        ))
        .hint("pass the sealed files or the directories that hold them"));
    }
    let outcome = conclude(&args, &certs, &totals, sessions.first().map(|(_, s)| s));
    if args.report.json() {
        io::write_json(&json!({
            "documents": totals.records,
            "fileErrors": totals.file_errors,
            "summary": {
                "files": totals.files,
                "documents": totals.documents,
                "errors": totals.errors,
                "warnings": totals.warnings,
                "certificatesChecked": !certs.is_empty(),
                "clusterUnseals": args.cluster.then_some(totals.cluster_ok),
                "clusterRefuses": args.cluster.then_some(totals.cluster_refused),
                "passed": outcome.is_ok(),
            },
        }))?;
    }
    outcome
}

/// The summary line and the exit code.
fn conclude(
    args: &VerifyArgs,
    certs: &[KnownCert],
    totals: &Totals,
    session: Option<&Session>,
) -> Result<()> {
    if certs.is_empty() {
        say::hint(
            "no certificate given (--cert, or cert: in kseal.yaml): key sizes and fingerprints were not checked",
        );
    }
    let mut summary = format!(
        "checked {} SealedSecret(s) in {} file(s): {} error(s), {} warning(s)",
        totals.documents, totals.files, totals.errors, totals.warnings
    );
    if let Some(session) = session {
        summary.push_str(&format!(
            "; {} of {} unseal with the keys of {}",
            totals.cluster_ok,
            totals.documents,
            session.service()
        ));
    }
    if totals.cluster_refused > 0 {
        return Err(Failure::new(
            Code::Decrypt,
            format!(
                "{} SealedSecret(s) do not unseal with the cluster's keys: {summary}",
                totals.cluster_refused
            ),
        )
        .hint("sealed for another cluster, another namespace/name, with a deleted key, or altered: seal them again from their source"));
    }
    if totals.errors > 0 || (args.strict && totals.warnings > 0) {
        let mut failure = Failure::new(
            Code::Check,
            format!("verification found problems: {summary}"),
        );
        if totals.errors == 0 {
            failure = failure.hint("--strict counts warnings as problems");
        }
        return Err(failure);
    }
    say::note(&summary);
    Ok(())
}

#[derive(Debug, Default)]
struct Totals {
    files: usize,
    documents: usize,
    errors: usize,
    warnings: usize,
    /// Documents `/v1/verify` accepted (200) and refused (409).
    cluster_ok: usize,
    cluster_refused: usize,
    /// `-o json`: one object per document, and the files that could not be checked.
    records: Vec<Value>,
    file_errors: Vec<Value>,
}

fn verify_file(
    file: &std::path::Path,
    named: bool,
    certs: &[KnownCert],
    session: Option<&Session>,
    totals: &mut Totals,
) -> Result<()> {
    let shown = crate::io::display_name(Some(file));
    let sealed = SealedStream::read(file, named)?;
    if let Some(problem) = &sealed.problem {
        say::error(format_args!("{shown}: {problem}"));
        totals.errors += 1;
        totals
            .file_errors
            .push(json!({"file": shown, "message": problem}));
    }
    let docs = sealed.docs();
    if docs.is_empty() {
        return Ok(());
    }
    totals.files += 1;
    for doc in docs {
        totals.documents += 1;
        let findings = check_document(doc.value, certs);
        let place = format!("{shown}: {}", doc.describe());
        for e in &findings.errors {
            say::error(format_args!("{place}: {e}"));
        }
        for w in &findings.warnings {
            say::warning(format_args!("{place}: {w}"));
        }
        totals.errors += findings.errors.len();
        totals.warnings += findings.warnings.len();
        let summary = Summary::of(doc.value);
        let mut record = json!({
            "file": shown,
            "document": doc.number,
            "listItem": doc.item.map(|i| i + 1),
            "name": summary.name,
            "namespace": summary.namespace,
            "errors": findings.errors,
            "warnings": findings.warnings,
            "cluster": null,
        });
        if let Some(session) = session {
            let body = serde_json::to_vec(doc.value)
                .map_err(|e| Failure::runtime(format!("{place}: cannot encode it: {e}")))?;
            let reply = session.post_json("/v1/verify", &body)?;
            match reply.status {
                200 => {
                    totals.cluster_ok += 1;
                    record["cluster"] = "unseals".into();
                }
                409 => {
                    say::error(format_args!(
                        "{place}: does not unseal with the cluster's keys"
                    ));
                    totals.cluster_refused += 1;
                    record["cluster"] = "refused".into();
                }
                400 | 500 => {
                    let message: String = String::from_utf8_lossy(&reply.body)
                        .trim()
                        .chars()
                        .take(300)
                        .collect();
                    say::error(format_args!(
                        "{place}: the controller cannot read it: {message}"
                    ));
                    totals.errors += 1;
                    record["cluster"] = "unreadable".into();
                }
                _ => return Err(session.unexpected("POST", "/v1/verify", &reply)),
            }
        }
        totals.records.push(record);
    }
    Ok(())
}

/// What is wrong with one document; messages name fields and items, never values.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) errors: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

impl Findings {
    fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }
}

/// Every offline check of one SealedSecret document. With no `certs`, key sizes are only
/// checked to be plausible and fingerprints are not checked.
pub(crate) fn check_document(v: &Value, certs: &[KnownCert]) -> Findings {
    let mut f = Findings::default();
    if v["apiVersion"] != API_VERSION {
        f.error(format!(
            "apiVersion is {}, expected {API_VERSION}",
            describe_scalar(&v["apiVersion"])
        ));
    }
    let meta = &v["metadata"];
    let name = string_field(&mut f, meta, "name", "metadata.name");
    match &name {
        None => f.error("metadata.name is missing"),
        Some(n) => {
            if let Err(e) = ObjectName::parse(n) {
                f.error(format!("metadata.name: {e}"));
            }
        }
    }
    let namespace = string_field(&mut f, meta, "namespace", "metadata.namespace");
    if let Some(ns) = &namespace
        && let Err(e) = NamespaceName::parse(ns)
    {
        f.error(format!("metadata.namespace: {e}"));
    }
    let annotations = string_map(&mut f, &meta["annotations"], "metadata.annotations");

    // Scope: only the outer annotations count, only the exact value "true" (wire-format §5).
    let kind = scope_kind_from_annotations(&annotations);
    for key in [CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION] {
        if let Some(value) = annotations.get(key)
            && value != "true"
        {
            f.warn(format!(
                "annotation {key} is {}; only \"true\" counts, so it is ignored",
                describe_scalar(&Value::String(value.clone()))
            ));
        }
    }
    if annotations.get(CLUSTER_WIDE_ANNOTATION).map(String::as_str) == Some("true")
        && annotations
            .get(NAMESPACE_WIDE_ANNOTATION)
            .map(String::as_str)
            == Some("true")
    {
        f.warn("both scope annotations are \"true\"; cluster-wide wins");
    }
    if kind != ScopeKind::ClusterWide && namespace.is_none() {
        f.warn(format!(
            "the {kind} scope binds the namespace, and metadata.namespace is missing: the values unseal only if the object is applied to the namespace they were sealed for"
        ));
    }

    // The template describes the same object; its scope annotations have no effect.
    let template_meta = &v["spec"]["template"]["metadata"];
    for (field, outer) in [("name", &name), ("namespace", &namespace)] {
        if let Some(inner) = template_meta[field].as_str()
            && !inner.is_empty()
            && Some(inner) != outer.as_deref()
        {
            f.error(format!(
                "spec.template.metadata.{field} is '{inner}' but metadata.{field} is {}; the Secret always takes the SealedSecret's {field}",
                outer.as_deref().map_or("missing".to_owned(), |o| format!("'{o}'"))
            ));
        }
    }
    for key in [CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION] {
        if template_meta["annotations"][key] == "true"
            && annotations.get(key).map(String::as_str) != Some("true")
        {
            f.warn(format!(
                "spec.template.metadata.annotations has {key}: \"true\" but metadata.annotations does not; the controller ignores the template's, so the values must be sealed {kind}"
            ));
        }
    }

    // Which certificate sealed it, by the annotation (else any of the given ones).
    let mut expected: Option<Vec<&KnownCert>> = None;
    match annotations.get(KEY_FINGERPRINT_ANNOTATION) {
        None => f.warn(format!(
            "no {KEY_FINGERPRINT_ANNOTATION} annotation: cannot tell which key sealed it (kubeseal does not write one; `kseal rotate` adds it)"
        )),
        Some(text) => match Fingerprint::parse(text) {
            None => f.error(format!(
                "annotation {KEY_FINGERPRINT_ANNOTATION} is not a key fingerprint (SHA256: and 43 base64 characters)"
            )),
            Some(fp) if !certs.is_empty() => {
                match certs.iter().find(|c| *c.cert.fingerprint() == fp) {
                    Some(c) => expected = Some(vec![c]),
                    None => f.error(format!(
                        "sealed to key {fp}, which is none of the given certificates ({})",
                        certs.iter().map(describe).collect::<Vec<_>>().join("; ")
                    )),
                }
            }
            Some(_) => {}
        },
    }
    if expected.is_none()
        && !certs.is_empty()
        && !annotations.contains_key(KEY_FINGERPRINT_ANNOTATION)
    {
        expected = Some(certs.iter().collect());
    }

    // Items.
    let spec = &v["spec"];
    if !spec.is_object() {
        f.error("spec is missing");
        return f;
    }
    let items: EncryptedData =
        serde_json::from_value(spec["encryptedData"].clone()).unwrap_or_default();
    let legacy = spec["data"].as_str().filter(|s| !s.is_empty());
    for problem in items.problems() {
        f.error(describe_problem(&problem));
    }
    if !items.is_empty() && legacy.is_some() {
        f.error(
            "spec.encryptedData and the legacy spec.data are both set; the controller refuses that",
        );
    }
    if items.is_empty() && legacy.is_none() && items.problems().is_empty() {
        f.warn("spec.encryptedData has no items");
    }
    let mut plaintext_total = 0usize;
    let values = items
        .iter()
        .filter_map(|(k, v)| match v {
            EncryptedValue::Sealed(s) => Some((k.to_owned(), s.as_str())),
            EncryptedValue::Invalid(_) => None,
        })
        .chain(legacy.map(|l| ("spec.data".to_owned(), l)));
    for (item, text) in values {
        let label = if item == "spec.data" {
            "spec.data (legacy v1 format)".to_owned()
        } else {
            if let Err(e) = SecretKeyName::parse(&item) {
                f.error(format!(
                    "item {item}: not a valid Secret data key: {}",
                    e.reason
                ));
            }
            format!("item {item}")
        };
        match inspect_value(text) {
            Err(problem) => f.error(format!("{label}: {problem}")),
            Ok(facts) => {
                if !facts.canonical {
                    f.warn(format!(
                        "{label}: base64 is not in canonical form (line breaks or non-zero trailing bits); the controller accepts it, but no sealer writes it"
                    ));
                }
                if let Some(expected) = &expected {
                    check_value_fits(&mut f, &label, &facts, expected);
                }
                plaintext_total += facts.plaintext_len;
            }
        }
    }
    if plaintext_total > MAX_SECRET_BYTES {
        f.error(format!(
            "the Secret would hold {plaintext_total} bytes of data; Kubernetes refuses Secrets over 1 MiB ({MAX_SECRET_BYTES} bytes)"
        ));
    }
    let object_size = serde_json::to_vec(v).map_or(0, |b| b.len());
    if object_size > MAX_ANNOTATION_BYTES {
        f.warn(format!(
            "the SealedSecret is {object_size} bytes as JSON; client-side `kubectl apply` copies it into an annotation limited to {MAX_ANNOTATION_BYTES} bytes (use `kubectl apply --server-side`)"
        ));
    }
    f
}

/// An RSA value must name the key size of the certificate it was sealed for; a `pq-hybrid`
/// value names none (`facts.rsa_len` is `None`), and that certificate must carry an X-Wing key
/// (`docs/pq-format.md` §5.2), which one without it cannot have sealed.
fn check_value_fits(f: &mut Findings, label: &str, facts: &ValueFacts, expected: &[&KnownCert]) {
    match facts.rsa_len {
        Some(rsa_len) if !expected.iter().any(|c| c.cert.modulus_len() == rsa_len) => {
            let certs: Vec<String> = expected
                .iter()
                .map(|c| format!("{} is {}-bit", describe(c), c.cert.modulus_len() * 8))
                .collect();
            f.error(format!(
                "{label}: length prefix says a {}-bit key, but {}",
                rsa_len * 8,
                certs.join("; ")
            ));
        }
        None if expected.iter().all(|c| c.cert.pq_public_key().is_none()) => {
            let certs: Vec<String> = expected.iter().map(|c| describe(c)).collect();
            f.error(format!(
                "{label}: sealed as pq-hybrid, but {} has no post-quantum (X-Wing) key, so it was not sealed with it (`kseal cert` fetches the controller's newest certificate)",
                certs.join("; ")
            ));
        }
        _ => {}
    }
}

fn describe(c: &KnownCert) -> String {
    format!("{}: {}", c.shown, c.cert.fingerprint())
}

/// A string field of `meta`: `None` when missing, null or empty; an error when not a string.
fn string_field(f: &mut Findings, meta: &Value, key: &str, field: &str) -> Option<String> {
    match &meta[key] {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        _ => {
            f.error(format!("{field} is not a string"));
            None
        }
    }
}

/// A map of strings (annotations); non-string values are errors and left out.
fn string_map(f: &mut Findings, value: &Value, field: &str) -> BTreeMap<String, String> {
    match value {
        Value::Null => BTreeMap::new(),
        Value::Object(map) => map
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                _ => {
                    f.error(format!("{field}: {k} is not a string"));
                    None
                }
            })
            .collect(),
        _ => {
            f.error(format!("{field} is not a map"));
            BTreeMap::new()
        }
    }
}

/// A short public scalar (apiVersion, a scope annotation) for a message: quoted, cut at 40
/// characters.
fn describe_scalar(v: &Value) -> String {
    match v {
        Value::Null => "missing".to_owned(),
        Value::String(s) if s.chars().count() <= 40 => format!("'{s}'"),
        Value::String(_) => "a long string".to_owned(),
        other => kseal_crds::ValueKind::of(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::tests::blob;

    #[test]
    fn document_checks() {
        let good = serde_json::json!({
            "apiVersion": API_VERSION, "kind": "SealedSecret",
            "metadata": {"name": "app", "namespace": "shop",
                "annotations": {KEY_FINGERPRINT_ANNOTATION: "SHA256:OUa/f6hP2IAwGpZavMZLk+HQ0Vgut22tkl+abWBPBDI"}},
            "spec": {"encryptedData": {"A": blob(256, 3)},
                "template": {"metadata": {"name": "app", "namespace": "shop"}}}
        });
        let f = check_document(&good, &[]);
        assert!(f.errors.is_empty() && f.warnings.is_empty(), "{f:?}");

        let mut bad = good.clone();
        bad["metadata"]["annotations"] = serde_json::json!({NAMESPACE_WIDE_ANNOTATION: "True"});
        bad["spec"]["template"]["metadata"]["namespace"] = "other".into();
        bad["spec"]["template"]["metadata"]["annotations"] =
            serde_json::json!({CLUSTER_WIDE_ANNOTATION: "true"});
        bad["spec"]["encryptedData"]["b a d"] = 42.into();
        let f = check_document(&bad, &[]);
        assert_eq!(f.errors.len(), 2, "{f:?}");
        assert!(f.errors[0].starts_with("spec.template.metadata.namespace is 'other'"));
        assert!(f.errors[1].contains("not a string"));
        assert_eq!(f.warnings.len(), 3, "{f:?}");
    }
}
