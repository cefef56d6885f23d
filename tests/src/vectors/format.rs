//! The vector file format: [`Vector`], its parser and writer, and the scope rules a header
//! describes.
//!
//! One case per file, named after the case (no extension). Header lines `field: value`, one
//! blank line, then the body: the base64 sealed value exactly as it would appear in
//! `spec.encryptedData`, byte for byte, with no newline added at the end (a body may contain
//! `\r\n` line breaks on purpose, R9). Header fields, in the order the generator writes them:
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `expect` | yes | one of [`Expect`]: `success`, `open failure`, `too short`, `base64 failure` |
//! | `source` | no | who produced the body when it was not this generator, e.g. `kubeseal v0.36.0 (…)` |
//! | `scope` | yes | the scope the *decryptor* uses: `strict`, `namespace-wide` or `cluster-wide` |
//! | `namespace` | for strict and namespace-wide | the SealedSecret's `metadata.namespace` |
//! | `name` | for strict | the SealedSecret's `metadata.name` |
//! | `annotations` | no | the SealedSecret's outer `metadata.annotations` that decide the scope (§5), as `key=value` pairs separated by `, `; present but empty means "none". When present, §5 applied to them must give `scope` |
//! | `key` | yes | private key file in `tests/fixtures/keys/`; for `success`, the key that must open the value |
//! | `keys` | no | the decryptor's whole key set, in try order, separated by `, `; it must contain `key`. Absent means just `key` |
//! | `plaintext-sha256` | for `success` | lowercase hex SHA-256 of the plaintext |
//! | `comment` | yes | one line saying what the case pins, with its §8 id |
//!
//! Every failure expectation ends in the same error text, `no key could decrypt secret`
//! ([`super::COARSE_ERROR`]); the expectation only says at which stage it must fail, which the runner
//! checks with the core's lower-level functions.

use std::fmt::Write as _;

use kseal_core::{NamespaceName, ObjectName, Scope, ScopeKind};

/// What opening the body must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Base64 decoding fails (§3: missing padding, URL-safe alphabet, spaces).
    Base64Failure,
    /// The base64 decodes and the blob splits, but no key opens it: wrong key, wrong label,
    /// a flipped bit, a missing tag (§6 step 3).
    OpenFailure,
    /// It opens with `key`, giving a plaintext whose SHA-256 is `plaintext-sha256`.
    Success,
    /// The base64 decodes but the blob is shorter than 2 bytes or than its length prefix
    /// claims (§6 step 1, Bitnami `ErrTooShort`).
    TooShort,
}

impl Expect {
    /// All expectations, in the order the README lists them.
    pub const ALL: [Self; 4] = [
        Self::Success,
        Self::OpenFailure,
        Self::TooShort,
        Self::Base64Failure,
    ];

    /// The header spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base64Failure => "base64 failure",
            Self::OpenFailure => "open failure",
            Self::Success => "success",
            Self::TooShort => "too short",
        }
    }

    /// Parses the header spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// One parsed vector file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    /// `expect:`.
    pub expect: Expect,
    /// `source:`; `None` for vectors this module generates.
    pub source: Option<String>,
    /// `scope:`, the decryptor's scope kind.
    pub scope: ScopeKind,
    /// `namespace:`, empty when absent.
    pub namespace: String,
    /// `name:`, empty when absent.
    pub name: String,
    /// `annotations:`; `None` when the header is absent.
    pub annotations: Option<Vec<(String, String)>>,
    /// `key:`.
    pub key: String,
    /// `keys:`; empty when absent (the set is then just `key`).
    pub keys: Vec<String>,
    /// `plaintext-sha256:`.
    pub plaintext_sha256: Option<String>,
    /// `comment:`.
    pub comment: String,
    /// Everything after the blank line.
    pub body: Vec<u8>,
}

impl Vector {
    /// Parses a vector file. Unknown or repeated header fields are errors, so a typo cannot
    /// silently drop a check.
    pub fn parse(file: &[u8]) -> Result<Self, String> {
        let split = file
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or("no blank line between header and body")?;
        let header = std::str::from_utf8(&file[..split]).map_err(|_| "header is not UTF-8")?;
        let body = file[split + 2..].to_vec();

        let mut fields: Vec<(&str, &str)> = Vec::new();
        for line in header.split('\n') {
            let (field, value) = line
                .split_once(':')
                .ok_or_else(|| format!("header line without ':': {line:?}"))?;
            let value = value.strip_prefix(' ').unwrap_or(value);
            if fields.iter().any(|(f, _)| *f == field) {
                return Err(format!("header field {field:?} repeated"));
            }
            fields.push((field, value));
        }
        let take = |field: &str| {
            fields
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, v)| (*v).to_owned())
        };
        const KNOWN: [&str; 10] = [
            "expect",
            "source",
            "scope",
            "namespace",
            "name",
            "annotations",
            "key",
            "keys",
            "plaintext-sha256",
            "comment",
        ];
        if let Some((unknown, _)) = fields.iter().find(|(f, _)| !KNOWN.contains(f)) {
            return Err(format!("unknown header field {unknown:?}"));
        }
        let required =
            |field: &str| take(field).ok_or_else(|| format!("missing header field {field:?}"));

        let expect = required("expect")?;
        let expect =
            Expect::parse(&expect).ok_or_else(|| format!("unknown expectation {expect:?}"))?;
        let scope = required("scope")?;
        let scope = ScopeKind::parse(&scope).ok_or_else(|| format!("unknown scope {scope:?}"))?;
        let annotations = take("annotations")
            .map(|a| parse_annotations(&a))
            .transpose()?;
        let keys = take("keys").map(|k| split_list(&k)).unwrap_or_default();
        let vector = Self {
            expect,
            source: take("source"),
            scope,
            namespace: take("namespace").unwrap_or_default(),
            name: take("name").unwrap_or_default(),
            annotations,
            key: required("key")?,
            keys,
            plaintext_sha256: take("plaintext-sha256"),
            comment: required("comment")?,
            body,
        };
        if expect == Expect::Success && vector.plaintext_sha256.is_none() {
            return Err("a success vector needs plaintext-sha256".into());
        }
        if !vector.keys.is_empty() && !vector.keys.contains(&vector.key) {
            return Err("keys must contain key".into());
        }
        Ok(vector)
    }

    /// The file bytes; `Vector::parse(&v.to_bytes()) == Ok(v)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = String::new();
        let mut line = |field: &str, value: &str| {
            // Writing to a String cannot fail. An empty value gets no trailing space.
            let _ = if value.is_empty() {
                writeln!(header, "{field}:")
            } else {
                writeln!(header, "{field}: {value}")
            };
        };
        line("expect", self.expect.as_str());
        if let Some(source) = &self.source {
            line("source", source);
        }
        line("scope", self.scope.as_str());
        if !self.namespace.is_empty() {
            line("namespace", &self.namespace);
        }
        if !self.name.is_empty() {
            line("name", &self.name);
        }
        if let Some(annotations) = &self.annotations {
            let pairs: Vec<String> = annotations
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            line("annotations", &pairs.join(", "));
        }
        line("key", &self.key);
        if !self.keys.is_empty() {
            line("keys", &self.keys.join(", "));
        }
        if let Some(digest) = &self.plaintext_sha256 {
            line("plaintext-sha256", digest);
        }
        line("comment", &self.comment);
        let mut out = header.into_bytes();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    /// The decryptor's scope, built from `scope`, `namespace` and `name`.
    pub fn decrypt_scope(&self) -> Result<Scope, String> {
        scope_of(self.scope, &self.namespace, &self.name)
    }

    /// The decryptor's key files in try order.
    pub fn key_files(&self) -> Vec<&str> {
        if self.keys.is_empty() {
            vec![self.key.as_str()]
        } else {
            self.keys.iter().map(String::as_str).collect()
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_annotations(s: &str) -> Result<Vec<(String, String)>, String> {
    split_list(s)
        .into_iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("annotation without '=': {pair:?}"))
        })
        .collect()
}

/// Builds a [`Scope`] from its kind and the SealedSecret's namespace and name.
pub fn scope_of(kind: ScopeKind, namespace: &str, name: &str) -> Result<Scope, String> {
    let namespace_name = || NamespaceName::parse(namespace).map_err(|e| e.to_string());
    Ok(match kind {
        ScopeKind::Strict => Scope::Strict {
            namespace: namespace_name()?,
            name: ObjectName::parse(name).map_err(|e| e.to_string())?,
        },
        ScopeKind::NamespaceWide => Scope::NamespaceWide {
            namespace: namespace_name()?,
        },
        ScopeKind::ClusterWide => Scope::ClusterWide,
    })
}

/// `docs/wire-format.md` §5 applied to a vector's `annotations:` header, through the product's own
/// rule (`kseal_crds::scope_kind_from_annotations`), so the vectors test what the controller
/// and the CLI use.
pub fn scope_from_annotations(annotations: &[(String, String)]) -> ScopeKind {
    let map: std::collections::BTreeMap<String, String> = annotations.iter().cloned().collect();
    kseal_crds::scope_kind_from_annotations(&map)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `key=value` pairs as a vector's `annotations:` header holds them (`Some`, also when empty).
pub fn annotations(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};

    #[test]
    fn header_round_trip() {
        let v = Vector {
            expect: Expect::OpenFailure,
            source: Some("kubeseal v0.36.1".into()),
            scope: ScopeKind::Strict,
            namespace: "ns".into(),
            name: "a".into(),
            annotations: Some(Vec::new()),
            key: "rsa2048-a.key".into(),
            keys: vec!["rsa2048-b.key".into(), "rsa2048-a.key".into()],
            plaintext_sha256: None,
            comment: "c".into(),
            body: b"AQ==\r\n".to_vec(),
        };
        let bytes = v.to_bytes();
        assert!(bytes.starts_with(b"expect: open failure\nsource: kubeseal v0.36.1\n"));
        assert!(String::from_utf8_lossy(&bytes).contains("\nannotations:\n"));
        assert_eq!(Vector::parse(&bytes), Ok(v));
    }

    #[test]
    fn header_errors() {
        assert!(
            Vector::parse(b"expect: success\n").is_err(),
            "no blank line"
        );
        let base = "expect: open failure\nscope: strict\nkey: k\ncomment: c\n";
        assert!(Vector::parse(format!("{base}\nAQ==").as_bytes()).is_ok());
        assert!(
            Vector::parse(format!("{base}colour: red\n\n").as_bytes()).is_err(),
            "unknown field"
        );
        assert!(
            Vector::parse(format!("{base}key: k\n\n").as_bytes()).is_err(),
            "repeated field"
        );
        let success = base.replace("open failure", "success");
        assert!(
            Vector::parse(format!("{success}\n").as_bytes()).is_err(),
            "success needs a digest"
        );
    }

    #[test]
    fn annotations_decide_scope_as_bitnami_does() {
        let a = |pairs: &[(&str, &str)]| annotations(pairs).unwrap();
        assert_eq!(scope_from_annotations(&a(&[])), ScopeKind::Strict);
        assert_eq!(
            scope_from_annotations(&a(&[(NAMESPACE_WIDE_ANNOTATION, "true")])),
            ScopeKind::NamespaceWide
        );
        assert_eq!(
            scope_from_annotations(&a(&[(NAMESPACE_WIDE_ANNOTATION, "True")])),
            ScopeKind::Strict
        );
        let both = a(&[
            (NAMESPACE_WIDE_ANNOTATION, "true"),
            (CLUSTER_WIDE_ANNOTATION, "true"),
        ]);
        assert_eq!(scope_from_annotations(&both), ScopeKind::ClusterWide);
    }
}
