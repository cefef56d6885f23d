//! Secret manifests as sealing input, and private-key files for recovery.
//!
//! Input is what `kubectl create secret … --dry-run=client -o yaml|json` prints, or a hand-written
//! Secret: YAML (several documents allowed) or JSON (one object or a stream of them), with `data`
//! (base64) and/or `stringData` (text), read with [`crate::documents`] (its limits and error
//! places). Values are moved straight into zeroizing buffers; the YAML
//! and JSON scanners' own scratch memory is outside our control.

use std::{collections::BTreeMap, fmt};

use base64::Engine as _;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};

use crate::{
    documents::{self, DocumentError, Limits, ReadError},
    error::KeyError,
    keys::PrivateKey,
    names::{NameError, NamespaceName, ObjectName, QualifiedKey, SecretKeyName},
    secret::{SecretBytes, SecretString},
};

/// Metadata fields kubeseal drops when it copies a Secret's metadata into the template: server
/// state, and the last-applied annotations, which hold a plaintext copy of the Secret.
const STRIPPED_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// One Secret read from a manifest, ready to seal.
#[derive(Debug)]
pub struct SecretInput {
    /// 1-based position of the document in the input stream.
    pub document: usize,
    /// `metadata.name`.
    pub name: Option<ObjectName>,
    /// `metadata.namespace`.
    pub namespace: Option<NamespaceName>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`, without the last-applied annotations.
    pub annotations: BTreeMap<String, String>,
    /// `type`; kubeseal copies it, `Opaque` when absent.
    pub type_: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// Items in document order: `data` first, then `stringData` (a `stringData` key overrides the
    /// `data` key of the same name, as the API server merges them).
    pub items: Vec<(SecretKeyName, SecretBytes)>,
}

/// A manifest that cannot be sealed. Messages name the document and field, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The input cannot be read at all (too large, too many documents, not UTF-8).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A document is not YAML/JSON of the expected shape (`L:C: document N: …`).
    #[error(transparent)]
    Syntax(#[from] DocumentError),
    /// A document is not a `v1` Secret.
    #[error("document {document}: expected apiVersion v1, kind Secret; found {found}")]
    NotASecret {
        /// 1-based document index.
        document: usize,
        /// `apiVersion/kind` as found.
        found: String,
    },
    /// A name in the document breaks Kubernetes rules.
    #[error("document {document}: {field}: {source}")]
    Name {
        /// 1-based document index.
        document: usize,
        /// The field, e.g. `metadata.name` or `data`.
        field: String,
        /// The rule broken.
        #[source]
        source: NameError,
    },
    /// A `data` value is not base64.
    #[error("document {document}: data.{key}: value is not valid base64")]
    Base64 {
        /// 1-based document index.
        document: usize,
        /// The item key.
        key: String,
    },
    /// The input has no Secret at all.
    #[error("input contains no Secret manifest")]
    Empty,
}

/// A secret text field: deserialised straight into a zeroizing string.
struct SecretField(SecretString);

impl<'de> Deserialize<'de> for SecretField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Never include the value in an error: serde's default messages quote it.
        let text = String::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a string value"))?;
        Ok(Self(SecretString::new(text)))
    }
}

impl fmt::Debug for SecretField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    name: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSecret {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    metadata: RawMeta,
    #[serde(rename = "type")]
    type_: Option<String>,
    immutable: Option<bool>,
    #[serde(default)]
    data: Option<IndexMap<String, SecretField>>,
    #[serde(default)]
    string_data: Option<IndexMap<String, SecretField>>,
}

/// Whether `text` looks like Kubernetes manifests rather than a `.env` file: JSON, a YAML
/// document marker, or a top-level `apiVersion:`/`kind:` line. A `.env` file can contain none of
/// these in strict mode (`KEY: value` is E014), so the check cannot misread one for the other.
pub fn looks_like_manifest(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    let mut lines = text.lines().map(|l| l.trim_start_matches('\u{feff}'));
    let first = lines
        .by_ref()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some(first) = first else { return false };
    if first.starts_with('{') || first.starts_with('[') || first.starts_with("---") {
        return true;
    }
    std::iter::once(first)
        .chain(lines)
        .any(|l| l.starts_with("apiVersion:") || l.starts_with("kind:"))
}

/// Parses every Secret in a YAML or JSON manifest stream.
pub fn parse_secrets(text: &[u8]) -> Result<Vec<SecretInput>, ManifestError> {
    let mut out = Vec::new();
    for doc in documents::read::<RawSecret>(text, &Limits::FILES)?.documents {
        out.push(convert(doc.number, doc.value?)?);
    }
    if out.is_empty() {
        return Err(ManifestError::Empty);
    }
    Ok(out)
}

fn convert(document: usize, raw: RawSecret) -> Result<SecretInput, ManifestError> {
    let api = raw.api_version.as_deref().unwrap_or("");
    let kind = raw.kind.as_deref().unwrap_or("");
    if api != "v1" || kind != "Secret" {
        return Err(ManifestError::NotASecret {
            document,
            found: format!("{api}/{kind}"),
        });
    }
    let name_err = |field: &str| {
        let field = field.to_owned();
        move |source| ManifestError::Name {
            document,
            field,
            source,
        }
    };
    let name = raw
        .metadata
        .name
        .as_deref()
        .map(ObjectName::parse)
        .transpose()
        .map_err(name_err("metadata.name"))?;
    let namespace = raw
        .metadata
        .namespace
        .as_deref()
        .map(NamespaceName::parse)
        .transpose()
        .map_err(name_err("metadata.namespace"))?;
    for key in raw.metadata.labels.keys() {
        QualifiedKey::parse(key).map_err(name_err("metadata.labels"))?;
    }
    let mut annotations = raw.metadata.annotations;
    for stripped in STRIPPED_ANNOTATIONS {
        annotations.remove(stripped);
    }
    for key in annotations.keys() {
        QualifiedKey::parse(key).map_err(name_err("metadata.annotations"))?;
    }

    let mut items: Vec<(SecretKeyName, SecretBytes)> = Vec::new();
    for (key, value) in raw.data.into_iter().flatten() {
        let key_name = SecretKeyName::parse(&key).map_err(name_err("data"))?;
        let bytes = decode_data_value(value.0.expose()).ok_or(ManifestError::Base64 {
            document,
            key: key.clone(),
        })?;
        items.push((key_name, bytes));
    }
    for (key, value) in raw.string_data.into_iter().flatten() {
        let key_name = SecretKeyName::parse(&key).map_err(name_err("stringData"))?;
        let bytes = value.0.into_bytes();
        match items.iter_mut().find(|(k, _)| *k == key_name) {
            Some(slot) => slot.1 = bytes,
            None => items.push((key_name, bytes)),
        }
    }
    Ok(SecretInput {
        document,
        name,
        namespace,
        labels: raw.metadata.labels,
        annotations,
        type_: raw.type_,
        immutable: raw.immutable,
        items,
    })
}

/// `Secret.data` values: standard base64 as the API server accepts it (padding required).
fn decode_data_value(text: &str) -> Option<SecretBytes> {
    let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let cleaned = SecretString::new(cleaned);
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.expose())
        .ok()
        .map(SecretBytes::new)
}

/// A key file that cannot be read. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// PEM key that does not parse.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Manifest that does not parse.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A Secret without a usable `tls.key`.
    #[error("document {document}: Secret has no data.tls.key")]
    NoTlsKey {
        /// 1-based document index.
        document: usize,
    },
    /// Nothing that looks like a private key.
    #[error("no private key found (expected PEM, a Secret with data.tls.key, or a List of them)")]
    Empty,
}

#[derive(Deserialize)]
struct RawKeyDoc {
    kind: Option<String>,
    #[serde(default)]
    items: Vec<RawKeyDoc>,
    #[serde(default)]
    data: IndexMap<String, SecretField>,
}

/// Reads private keys in every shape kubeseal's `--recovery-private-key` accepts: PEM
/// (PKCS#1 or PKCS#8, several blocks allowed), a Secret manifest with `data.tls.key` (YAML or
/// JSON, several documents allowed), or a `List` of such Secrets. A key Secret's
/// `data.xwing.key` (`docs/pq-format.md` §5.2) becomes the post-quantum part of its key.
pub fn parse_private_keys(text: &[u8]) -> Result<Vec<PrivateKey>, KeyFileError> {
    if contains(text, b"-----BEGIN") {
        return pem_keys(text);
    }
    let docs = documents::read::<RawKeyDoc>(text, &Limits::FILES).map_err(ManifestError::from)?;
    let mut keys = Vec::new();
    for doc in docs.documents {
        let value = doc.value.map_err(ManifestError::from)?;
        collect_keys(doc.number, value, &mut keys)?;
    }
    if keys.is_empty() {
        return Err(KeyFileError::Empty);
    }
    Ok(keys)
}

fn collect_keys(
    document: usize,
    doc: RawKeyDoc,
    out: &mut Vec<PrivateKey>,
) -> Result<(), KeyFileError> {
    if doc.kind.as_deref() == Some("List") || !doc.items.is_empty() {
        for item in doc.items {
            collect_keys(document, item, out)?;
        }
        return Ok(());
    }
    let field = |name: &str| {
        doc.data
            .get(name)
            .and_then(|v| decode_data_value(v.0.expose()))
    };
    let pem = field("tls.key").ok_or(KeyFileError::NoTlsKey { document })?;
    let mut keys = pem_keys(pem.expose())?;
    if let Some(pq) = field(crate::pq::encoding::KEY_SECRET_FIELD) {
        // A key Secret holds one RSA key; its X-Wing key belongs to that one.
        let pq = crate::PqPrivateKey::from_pkcs8_pem(pq.expose())?;
        // `pem_keys` returns at least one key or an error.
        let first = keys.remove(0);
        keys.insert(0, first.with_pq(pq));
    }
    out.extend(keys);
    Ok(())
}

fn pem_keys(text: &[u8]) -> Result<Vec<PrivateKey>, KeyFileError> {
    // Split at each BEGIN line so that a file with several keys yields all of them.
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = find(rest, b"-----BEGIN") {
        let block = &rest[start..];
        let next = find(&block[10..], b"-----BEGIN")
            .map(|i| i + 10)
            .unwrap_or(block.len());
        let chunk = &block[..next];
        if contains(chunk, b"PRIVATE KEY-----") {
            keys.push(PrivateKey::from_pem(chunk)?);
        }
        rest = &block[next..];
    }
    if keys.is_empty() {
        return Err(KeyFileError::Empty);
    }
    Ok(keys)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_YAML: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: app-env
  namespace: shop
  labels: {app: shop}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":\"CANARY\"}'
    team: payments
type: Opaque
data:
  DATABASE_URL: Q0FOQVJZLWRi
  B: eA==
stringData:
  A: CANARY-text
  B: y
";

    #[test]
    fn reads_data_and_string_data_in_order() {
        let secrets = parse_secrets(SECRET_YAML.as_bytes()).unwrap();
        assert_eq!(secrets.len(), 1);
        let s = &secrets[0];
        assert_eq!(s.name.as_ref().unwrap().as_str(), "app-env");
        assert_eq!(s.namespace.as_ref().unwrap().as_str(), "shop");
        let keys: Vec<&str> = s.items.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["DATABASE_URL", "B", "A"]);
        assert_eq!(s.items[0].1.expose(), b"CANARY-db");
        assert_eq!(s.items[1].1.expose(), b"y", "stringData overrides data");
        assert_eq!(
            s.annotations.len(),
            1,
            "last-applied annotation is stripped"
        );
        assert!(!format!("{s:?}").contains("CANARY"));
    }

    #[test]
    fn multi_document_yaml_and_json_stream() {
        let two = format!(
            "{SECRET_YAML}---\n{}",
            SECRET_YAML.replace("app-env", "other")
        );
        assert_eq!(parse_secrets(two.as_bytes()).unwrap().len(), 2);
        let json = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"},"stringData":{"K":"v"}}
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"},"data":{"K":"dg=="}}"#;
        let secrets = parse_secrets(json.as_bytes()).unwrap();
        assert_eq!(secrets[1].items[0].1.expose(), b"v");
    }

    #[test]
    fn errors_name_the_place_not_the_value() {
        let bad_b64 = SECRET_YAML.replace("Q0FOQVJZLWRi", "CANARY!!");
        let e = parse_secrets(bad_b64.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "document 1: data.DATABASE_URL: value is not valid base64"
        );
        let cm = "apiVersion: v1\nkind: ConfigMap\n";
        assert_eq!(
            parse_secrets(cm.as_bytes()).unwrap_err().to_string(),
            "document 1: expected apiVersion v1, kind Secret; found v1/ConfigMap"
        );
        let bad_key = SECRET_YAML.replace("  A: CANARY-text", "  \"a b\": CANARY-text");
        assert!(
            parse_secrets(bad_key.as_bytes())
                .unwrap_err()
                .to_string()
                .starts_with("document 1: stringData: invalid Secret data key 'a b'")
        );
        let not_string = SECRET_YAML.replace("  A: CANARY-text", "  A: [CANARY]");
        let e = parse_secrets(not_string.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(!e.contains("CANARY"), "{e}");
        assert!(e.starts_with("15:"), "{e}");
    }

    #[test]
    fn detection() {
        assert!(looks_like_manifest(SECRET_YAML.as_bytes()));
        assert!(looks_like_manifest(b"# c\n---\nkind: Secret\n"));
        assert!(looks_like_manifest(b"{\"kind\":\"Secret\"}"));
        assert!(!looks_like_manifest(
            b"# comment\nDATABASE_URL=postgres://x\n"
        ));
        assert!(!looks_like_manifest(b""));
    }
}
