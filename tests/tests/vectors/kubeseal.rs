//! The vectors recorded with the real kubeseal (`tests/vectors/kubeseal/`, made once by its
//! `record.sh`). kubeseal's output is randomized, so they are checked by opening them: the raw
//! values go through the same checks as the generator's (`check.rs`), and each SealedSecret
//! document through the shared `SealedSecret::unseal` (kseal-crds, the controller's path), whose Secret must hold exactly what the
//! Secret kubeseal read held. Under any other label (name, namespace, scope) and with any other
//! key every item fails with the one coarse error.
//!
//! Failure messages name items and cases, never values: the expected plaintext is test data,
//! but a check that printed it would be a pattern for one that prints real secrets.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::PathBuf,
};

use k8s_openapi::api::core::v1::Secret;
use kseal_core::MAX_SECRET_DATA;
use kseal_core::{KeySet, ScopeKind, sealed, sealed::SealedValue};
use kseal_crds::{SealedSecret, set_scope_annotations};
use kseal_crds::{UnsealError, UnsealOptions, Unsealed};
use kseal_template::InProcess;
use kseal_test_support::secret_values;
use kseal_tests::vectors::{self, COARSE_ERROR, Vector};
use libtest_mimic::{Failed, Trial};

use crate::check;

/// The kubeseal release every recording must come from.
const KUBESEAL: &str = "kubeseal v0.36.0 ";

/// What `record.sh` writes: `raw/<case>`.
const RAW: [&str; 9] = [
    "strict-rsa2048",
    "namespace-wide-rsa2048",
    "cluster-wide-rsa2048",
    "strict-rsa4096",
    "namespace-wide-rsa4096",
    "cluster-wide-rsa4096",
    "empty-rsa4096",
    "all-bytes-rsa2048",
    "utf8-rsa4096",
];

/// What `record.sh` writes: `sealed/<case>.yaml`, sealed from `secrets/<input>.yaml` for the
/// fixture key `<bits>-a` (`<case>` = `<input>-<bits>`).
const DOCUMENTS: [&str; 7] = [
    "strict-rsa2048",
    "namespace-wide-rsa2048",
    "cluster-wide-rsa2048",
    "strict-rsa4096",
    "namespace-wide-rsa4096",
    "cluster-wide-rsa4096",
    "large-rsa4096",
];

/// Keys none of the recordings is sealed to.
const WRONG_KEYS: [&str; 2] = ["rsa2048-b.key", "rsa2048-c.key"];

/// `tests/vectors/kubeseal/raw/`: `kubeseal --raw` output as vector files.
pub(crate) fn raw_dir() -> PathBuf {
    vectors::kubeseal_dir().join("raw")
}

fn sealed_path(case: &str) -> PathBuf {
    vectors::kubeseal_dir()
        .join("sealed")
        .join(format!("{case}.yaml"))
}

fn secret_path(input: &str) -> PathBuf {
    vectors::kubeseal_dir()
        .join("secrets")
        .join(format!("{input}.yaml"))
}

/// `recordings_are_complete` and one `kubeseal::document::<case>` per recorded document.
pub(crate) fn trials() -> Vec<Trial> {
    let mut trials = vec![Trial::test(
        "kubeseal::recordings_are_complete",
        recordings_are_complete,
    )];
    for case in DOCUMENTS {
        trials.push(Trial::test(
            format!("kubeseal::document::{case}"),
            move || check_document(case).map_err(|e| Failed::from(format!("{case}: {e}"))),
        ));
    }
    trials
}

/// Every recording named above exists, nothing else does (a file that no case checks would be
/// dead weight), each says it came from the stated kubeseal, and the large document is at the
/// Secret size limit.
fn recordings_are_complete() -> Result<(), Failed> {
    let mut problems = Vec::new();
    let raw: BTreeSet<String> = vectors::vector_files(&raw_dir())?
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    let want: BTreeSet<String> = RAW.iter().map(|c| (*c).to_owned()).collect();
    if raw != want {
        problems.push(format!("raw/ holds {raw:?}, expected {want:?}"));
    }
    for case in RAW {
        let bytes = fs::read(raw_dir().join(case)).map_err(|e| format!("raw/{case}: {e}"))?;
        let source = Vector::parse(&bytes)
            .map_err(|e| format!("raw/{case}: {e}"))?
            .source
            .unwrap_or_default();
        if !source.starts_with(KUBESEAL) {
            problems.push(format!(
                "raw/{case}: source {source:?}, expected {KUBESEAL}…"
            ));
        }
    }
    let sealed: BTreeSet<String> = fs::read_dir(vectors::kubeseal_dir().join("sealed"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_owned))
        .collect();
    let want: BTreeSet<String> = DOCUMENTS.iter().map(|c| format!("{c}.yaml")).collect();
    if sealed != want {
        problems.push(format!("sealed/ holds {sealed:?}, expected {want:?}"));
    }
    let readme = fs::read_to_string(vectors::kubeseal_dir().join("README.md"))
        .map_err(|e| format!("README.md: {e}"))?;
    if !readme.contains(KUBESEAL.trim_end()) {
        problems.push(format!("README.md does not name {KUBESEAL}"));
    }
    let large = load_secret("large")?;
    let size: usize = secret_values(&large).values().map(Vec::len).sum();
    if size != MAX_SECRET_DATA {
        problems.push(format!(
            "secrets/large.yaml holds {size} bytes, expected the limit {MAX_SECRET_DATA}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.push("re-record with tests/vectors/kubeseal/record.sh --rerecord".into());
        Err(problems.join("\n").into())
    }
}

fn load_secret(input: &str) -> Result<Secret, String> {
    let text = fs::read_to_string(secret_path(input)).map_err(|e| format!("{input}: {e}"))?;
    serde_yaml::from_str(&text).map_err(|e| format!("secrets/{input}.yaml: {e}"))
}

/// The names of the items whose values differ (or exist on one side only).
fn differing(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    a.keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .cloned()
        .collect()
}

fn check_document(case: &str) -> Result<(), String> {
    let (input, bits) = case.rsplit_once('-').ok_or("case is not <input>-<bits>")?;
    let key_file = format!("{bits}-a.key");
    let key = vectors::load_key(&key_file)?;
    let keys = vectors::load_key_set([key_file.as_str()])?;
    let text = fs::read_to_string(sealed_path(case)).map_err(|e| e.to_string())?;
    let ss: SealedSecret = serde_yaml::from_str(&text).map_err(|e| format!("parse: {e}"))?;
    let secret = load_secret(input)?;
    let expected = secret_values(&secret);

    // The object kubeseal wrote: same name and namespace, one item per value.
    if ss.metadata.name != secret.metadata.name
        || ss.metadata.namespace != secret.metadata.namespace
    {
        return Err("name or namespace differs from the input Secret".into());
    }
    let names: Vec<&str> = ss.spec.encrypted_data.names().collect();
    let sorted: BTreeSet<&str> = names.iter().copied().collect();
    if !sorted
        .iter()
        .copied()
        .eq(expected.keys().map(String::as_str))
    {
        return Err(format!(
            "items {sorted:?}, the input has {:?}",
            expected.keys()
        ));
    }

    // Each value: u16 length = k ‖ RSA block ‖ AES-GCM ciphertext ‖ tag, nothing else.
    for (item, value) in ss.spec.encrypted_data.iter() {
        let text = value.as_sealed().ok_or(format!("{item}: not a string"))?;
        let bytes = sealed::decode_base64(text).map_err(|_| format!("{item}: not base64"))?;
        let parsed = SealedValue::parse(&bytes).map_err(|_| format!("{item}: too short"))?;
        if parsed.to_bytes() != bytes {
            return Err(format!("{item}: parse then to_bytes changed the bytes"));
        }
        if parsed.rsa_block.len() != key.modulus_len() {
            return Err(format!(
                "{item}: RSA block is not {key_file}'s modulus size"
            ));
        }
        let want = sealed::sealed_len(key.modulus_len(), expected[item].len());
        if bytes.len() != want {
            return Err(format!("{item}: {} bytes, expected {want}", bytes.len()));
        }
    }

    // The controller's path: the whole Secret, exactly the input's values, type and labels.
    let unsealed = ss
        .unseal(&keys, UnsealOptions::default(), &InProcess)
        .map_err(|e| format!("does not unseal: {e}"))?;
    let got = kseal_crds::fixtures::data(&unsealed.secret);
    let diff = differing(&got, &expected);
    if !diff.is_empty() {
        return Err(format!("unsealed items differ from the input: {diff:?}"));
    }
    let want_type = secret.type_.clone().unwrap_or_else(|| "Opaque".into());
    if unsealed.secret.type_.as_deref() != Some(want_type.as_str()) {
        return Err(format!(
            "type {:?}, the input has {want_type:?}",
            unsealed.secret.type_
        ));
    }
    if unsealed.secret.metadata.labels != secret.metadata.labels {
        return Err("labels differ from the input Secret's".into());
    }
    if unsealed.keys_used != [key.fingerprint().clone()] {
        return Err(format!(
            "opened by {:?}, expected {key_file}",
            unsealed.keys_used
        ));
    }

    // Label binding (`docs/wire-format.md` §4): another name, namespace or scope annotation.
    // Where the label changes every item fails with the one error; where it does not (the name
    // of a namespace-wide object) the object still opens to the same Secret.
    let label = ss.scope().map_err(|e| e.to_string())?.label();
    for (what, other) in relabelled(&ss) {
        let other_label = other.scope().map_err(|e| format!("{what}: {e}"))?.label();
        let result = other.unseal(&keys, UnsealOptions::default(), &InProcess);
        if other_label == label {
            let opened = result.map_err(|e| format!("{what}: same label, but {e}"))?;
            if !differing(&kseal_crds::fixtures::data(&opened.secret), &expected).is_empty() {
                return Err(format!("{what}: same label, other values"));
            }
        } else {
            expect_all_items_fail(&other, &keys, result).map_err(|e| format!("{what}: {e}"))?;
        }
    }
    // Any other key, alone or together.
    let wrong = vectors::load_key_set(WRONG_KEYS)?;
    let result = ss.unseal(&wrong, UnsealOptions::default(), &InProcess);
    expect_all_items_fail(&ss, &wrong, result).map_err(|e| format!("wrong keys: {e}"))
}

/// The document under another name, another namespace, and each scope's annotations.
fn relabelled(ss: &SealedSecret) -> Vec<(String, SealedSecret)> {
    let mut out = Vec::new();
    let mut other = ss.clone();
    other.metadata.name = other.metadata.name.map(|n| format!("{n}-other"));
    out.push(("another name".to_owned(), other));
    let mut other = ss.clone();
    other.metadata.namespace = other.metadata.namespace.map(|n| format!("{n}-other"));
    out.push(("another namespace".to_owned(), other));
    for kind in ScopeKind::ALL {
        let mut other = ss.clone();
        set_scope_annotations(&mut other.metadata, kind);
        out.push((format!("annotated {kind}"), other));
    }
    out
}

/// `decide::unseal` failed on every item with Bitnami's message, and each item alone fails
/// with exactly the one coarse error.
fn expect_all_items_fail(
    ss: &SealedSecret,
    keys: &KeySet,
    result: Result<Unsealed, UnsealError>,
) -> Result<(), String> {
    let names: Vec<String> = ss.spec.encrypted_data.names().map(str::to_owned).collect();
    let error = match result {
        Ok(_) => return Err("opened, expected every item to fail".into()),
        Err(e) => e,
    };
    let all_failed = matches!(&error, UnsealError::Decrypt { failed, bad_base64 }
        if *failed == names && bad_base64.is_empty());
    let want = format!("{COARSE_ERROR} ({})", names.join(", "));
    if !all_failed || error.to_string() != want {
        return Err(format!("error {:?}, expected {want:?}", error.to_string()));
    }
    let scope = ss.scope().map_err(|e| e.to_string())?;
    for (item, value) in ss.spec.encrypted_data.iter() {
        let text = value.as_sealed().ok_or(format!("{item}: not a string"))?;
        check::expect_coarse_error(keys, &scope, text, "the key set")
            .map_err(|e| format!("{item}: {e}"))?;
    }
    Ok(())
}
