//! What a SealedSecret document shows without any key: who it is for (name, namespace, scope),
//! which key sealed it (the `kseal.dev/key-fingerprint` annotation), its items, and the
//! structure of each sealed value. Shared by `verify`, `ls`, `diff`, `keys`, `guard` and the
//! merge in `seal`; nothing here decrypts or prints a value.

use std::collections::BTreeMap;

use kseal_core::{
    Encryption, Fingerprint, ScopeKind,
    pq::format::HEADER_LEN as PQ_HEADER_LEN,
    sealed::{self, TAG_LEN},
};
use kseal_crds::{KEY_FINGERPRINT_ANNOTATION, scope_kind_from_annotations};
use serde_json::Value;

/// RSA block sizes (modulus bytes) a sealed-secrets key can have: 2048 to 8192 bits.
const RSA_BLOCK_RANGE: std::ops::RangeInclusive<usize> = 256..=1024;

/// The key a document says it is sealed to: its `kseal.dev/key-fingerprint` annotation, when
/// that is a well-formed fingerprint.
pub(crate) fn fingerprint(doc: &Value) -> Option<Fingerprint> {
    doc["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION]
        .as_str()
        .and_then(Fingerprint::parse)
}

/// The string values of `metadata.annotations` (others are left out; `verify` reports them).
pub(crate) fn string_annotations(meta: &Value) -> BTreeMap<String, String> {
    meta["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The `spec.encryptedData` items: names and sealed values (`None` for a value that is not a
/// string), in the document's order.
pub(crate) fn encrypted_items<C: FromIterator<(String, Option<String>)>>(doc: &Value) -> C {
    doc["spec"]["encryptedData"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
        .collect()
}

/// One SealedSecret as `ls` and `diff` show it. Item values are kept as the ciphertext text
/// (public: it is what is committed) so that two versions can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) name: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) scope: ScopeKind,
    /// The annotation's fingerprint; `None` without one (kubeseal) or when malformed.
    pub(crate) fingerprint: Option<String>,
    /// Key sizes in bits, from the length prefix of each well-formed value (sorted, distinct).
    pub(crate) key_bits: Vec<usize>,
    /// Item name and its ciphertext (`None` when the value is not a string). The legacy v1
    /// `spec.data` is one item named `spec.data`.
    pub(crate) items: BTreeMap<String, Option<String>>,
}

/// The legacy v1 format's single value, listed as an item of this name.
pub(crate) const LEGACY_ITEM: &str = "spec.data";

impl Summary {
    pub(crate) fn of(doc: &Value) -> Self {
        let meta = &doc["metadata"];
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let annotations = string_annotations(meta);
        let mut items: BTreeMap<String, Option<String>> = encrypted_items(doc);
        if let Some(legacy) = text(&doc["spec"]["data"]) {
            items.insert(LEGACY_ITEM.to_owned(), Some(legacy));
        }
        let mut key_bits: Vec<usize> = items
            .values()
            .filter_map(|v| inspect_value(v.as_deref()?).ok()?.rsa_len)
            .map(|rsa_len| rsa_len * 8)
            .collect();
        key_bits.sort_unstable();
        key_bits.dedup();
        Self {
            name: text(&meta["name"]),
            namespace: text(&meta["namespace"]),
            scope: scope_kind_from_annotations(&annotations),
            fingerprint: fingerprint(doc).map(|f| f.to_string()),
            key_bits,
            items,
        }
    }

    /// `namespace/name`, `name` (cluster-wide or no namespace), or `<no name>`.
    pub(crate) fn identity(&self) -> String {
        let name = self.name.as_deref().unwrap_or("<no name>");
        match &self.namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        }
    }
}

/// A [`SpecProblem`] in kseal's voice (`item NAME: …`, like every other item message).
pub(crate) fn describe_problem(problem: &kseal_crds::SpecProblem) -> String {
    match problem {
        kseal_crds::SpecProblem::ValueNotAString { item, found } => {
            format!("item {item}: value is {found}, not a string")
        }
        other => other.to_string(),
    }
}

/// What the structure of one sealed value shows, without any key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValueFacts {
    /// The length prefix: the RSA modulus size in bytes of the key it was sealed for; `None`
    /// for a `pq-hybrid` value (`docs/pq-format.md` §3), which names no key size.
    pub(crate) rsa_len: Option<usize>,
    /// Length of the plaintext it holds (`docs/wire-format.md` §2.2: binary − 2 − k − 16;
    /// `pq-hybrid`: binary − 1126 − 16).
    pub(crate) plaintext_len: usize,
    /// Whether the base64 is exactly what a sealer writes.
    pub(crate) canonical: bool,
}

crate::exit::message_error!(
    /// Why a value is not a sealed value: its base64 or its layout, described by character
    /// class and length only (never quoting the text, which may be plaintext pasted into the
    /// wrong place).
    ValueProblem
);

/// Checks one value's base64 (Go's rules, `docs/wire-format.md` §3) and layout (§2): a plausible
/// length prefix and room for the RSA block and the GCM tag. The error describes the problem
/// without quoting the text, which may be plaintext pasted into the wrong place.
pub(crate) fn inspect_value(text: &str) -> std::result::Result<ValueFacts, ValueProblem> {
    let blob = sealed::decode_base64(text).map_err(|_| base64_problem(text))?;
    if Encryption::of(&blob) == Encryption::PqHybrid {
        let minimum = PQ_HEADER_LEN + TAG_LEN;
        return match blob.len().checked_sub(minimum) {
            Some(plaintext_len) => Ok(ValueFacts {
                rsa_len: None,
                plaintext_len,
                canonical: sealed::is_canonical_base64(text),
            }),
            None => Err(ValueProblem(format!(
                "too short: {} bytes, but a pq-hybrid value has at least {minimum}",
                blob.len()
            ))),
        };
    }
    let Some((prefix, _)) = blob.split_first_chunk::<2>() else {
        return Err(ValueProblem(format!(
            "too short to be a sealed value ({} bytes)",
            blob.len()
        )));
    };
    let rsa_len = usize::from(u16::from_be_bytes(*prefix));
    if !RSA_BLOCK_RANGE.contains(&rsa_len) {
        return Err(ValueProblem(format!(
            "not a sealed value: its length prefix says a {}-bit RSA key; sealed-secrets keys have 2048 to 8192 bits",
            rsa_len * 8
        )));
    }
    let minimum = sealed::sealed_len(rsa_len, 0);
    if blob.len() < minimum {
        return Err(ValueProblem(format!(
            "too short: {} bytes, but a value sealed for a {}-bit key has at least {minimum} (2 + {rsa_len} + {TAG_LEN})",
            blob.len(),
            rsa_len * 8
        )));
    }
    Ok(ValueFacts {
        rsa_len: Some(rsa_len),
        plaintext_len: blob.len() - minimum,
        canonical: sealed::is_canonical_base64(text),
    })
}

/// Why `text` is not base64 as the controller reads it, by character class only.
fn base64_problem(text: &str) -> ValueProblem {
    let cleaned: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let reason = if cleaned.is_empty() {
        "it is empty"
    } else if cleaned.contains(['-', '_']) {
        "it uses the URL-safe alphabet ('-', '_')"
    } else if cleaned.contains(char::is_whitespace) {
        "it contains spaces"
    } else if !cleaned
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
    {
        "it contains characters outside the base64 alphabet"
    } else if !cleaned.len().is_multiple_of(4) {
        "it is not padded with '='"
    } else {
        "its padding is malformed"
    };
    ValueProblem(format!(
        "not valid base64 (standard alphabet, '=' padding): {reason}"
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A structurally valid sealed value for a key of `rsa_len` bytes.
    pub(crate) fn blob(rsa_len: usize, plaintext: usize) -> String {
        let mut b = u16::try_from(rsa_len).unwrap().to_be_bytes().to_vec();
        b.resize(2 + rsa_len + plaintext + TAG_LEN, 7);
        sealed::encode_base64(&b)
    }

    #[test]
    fn summary_of_a_document() {
        let doc = serde_json::json!({
            "kind": "SealedSecret",
            "metadata": {"name": "app", "annotations": {
                "sealedsecrets.bitnami.com/cluster-wide": "true",
                KEY_FINGERPRINT_ANNOTATION: "not a fingerprint"}},
            "spec": {"encryptedData": {"B": blob(512, 1), "A": 7}, "data": blob(256, 1)}
        });
        let s = Summary::of(&doc);
        assert_eq!(s.identity(), "app");
        assert_eq!(s.scope, ScopeKind::ClusterWide);
        assert_eq!(s.fingerprint, None, "a malformed annotation names no key");
        assert_eq!(s.key_bits, vec![2048, 4096]);
        let names: Vec<&str> = s.items.keys().map(String::as_str).collect();
        assert_eq!(names, ["A", "B", LEGACY_ITEM]);
        assert_eq!(s.items["A"], None);
    }

    #[test]
    fn value_structure() {
        let facts = inspect_value(&blob(256, 5)).unwrap();
        assert_eq!((facts.rsa_len, facts.plaintext_len), (Some(256), 5));
        // pq-hybrid: the marker, then X-Wing ciphertext, AES-GCM and the tag; no key size.
        let mut pq = kseal_core::pq::format::MAGIC.to_vec();
        pq.resize(PQ_HEADER_LEN + 3 + TAG_LEN, 7);
        let facts = inspect_value(&sealed::encode_base64(&pq)).unwrap();
        assert_eq!((facts.rsa_len, facts.plaintext_len), (None, 3));
        pq.truncate(PQ_HEADER_LEN + TAG_LEN - 1);
        assert!(
            inspect_value(&sealed::encode_base64(&pq))
                .unwrap_err()
                .0
                .ends_with("a pq-hybrid value has at least 1142")
        );
        assert!(facts.canonical);
        let short = sealed::encode_base64(&[1, 0, 9, 9]);
        assert!(
            inspect_value(&short)
                .unwrap_err()
                .0
                .starts_with("too short: 4 bytes")
        );
        assert!(
            inspect_value("cGFzc3dvcmQ=")
                .unwrap_err()
                .0
                .contains("length prefix")
        );
        assert!(
            inspect_value("s3cr3t value")
                .unwrap_err()
                .0
                .ends_with("it contains spaces")
        );
        assert!(
            inspect_value("AgB")
                .unwrap_err()
                .0
                .ends_with("not padded with '='")
        );
        assert!(inspect_value("Ag-_").unwrap_err().0.contains("URL-safe"));
    }
}
