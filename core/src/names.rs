//! Kubernetes names as types that can only be built by parsing.
//!
//! The rules mirror apimachinery's `pkg/util/validation` (see `docs/dotenv.md` §6): a value of
//! [`SecretKeyName`], [`ObjectName`] or [`NamespaceName`] is valid for the API server by
//! construction, so code that holds one never re-checks it. Names are public, so errors quote them.

use std::{fmt, str::FromStr};

/// Which kind of name failed to parse; part of [`NameError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// A key of `Secret.data` (`IsConfigMapKey`).
    SecretKey,
    /// An object name: a DNS-1123 subdomain.
    Object,
    /// A namespace: a DNS-1123 label.
    Namespace,
    /// A label or annotation key: an optional DNS-1123 subdomain prefix, `/`, and a name.
    QualifiedKey,
    /// A label value.
    LabelValue,
}

impl NameKind {
    fn noun(self) -> &'static str {
        match self {
            Self::SecretKey => "Secret data key",
            Self::Object => "object name",
            Self::Namespace => "namespace",
            Self::QualifiedKey => "label or annotation key",
            Self::LabelValue => "label value",
        }
    }
}

/// A name that breaks the Kubernetes rules for its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {noun} '{name}': {reason}", noun = kind.noun())]
pub struct NameError {
    /// The kind of name.
    pub kind: NameKind,
    /// The rejected text (names are public, so it is safe to show).
    pub name: String,
    /// Which rule it breaks, phrased as the rule.
    pub reason: &'static str,
}

const MAX_SUBDOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

fn fail(kind: NameKind, name: &str, reason: &'static str) -> NameError {
    NameError {
        kind,
        name: name.to_owned(),
        reason,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 bytes.
fn check_dns1123_label(kind: NameKind, full: &str, s: &str) -> Result<(), NameError> {
    const RULE: &str = "must consist of lower case alphanumeric characters or '-', \
                        and must start and end with an alphanumeric character";
    if s.is_empty() {
        return Err(fail(kind, full, "must not be empty"));
    }
    if s.len() > MAX_LABEL {
        return Err(fail(kind, full, "must be no more than 63 characters"));
    }
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) || !b.iter().all(|&c| alnum(c) || c == b'-') {
        return Err(fail(kind, full, RULE));
    }
    Ok(())
}

/// Dot-separated DNS-1123 labels, at most 253 bytes.
fn check_dns1123_subdomain(kind: NameKind, full: &str, s: &str) -> Result<(), NameError> {
    if s.len() > MAX_SUBDOMAIN {
        return Err(fail(kind, full, "must be no more than 253 characters"));
    }
    if s.is_empty() {
        return Err(fail(kind, full, "must not be empty"));
    }
    for part in s.split('.') {
        check_dns1123_label(kind, full, part).map_err(|mut e| {
            e.reason = "must consist of lower case alphanumeric characters, '-' or '.', \
                        and must start and end with an alphanumeric character";
            e
        })?;
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $parse:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(String);

        impl $ty {
            /// Parses `s`, checking every rule for this kind of name.
            pub fn parse(s: &str) -> Result<Self, NameError> {
                let check: fn(&str) -> Result<(), NameError> = $parse;
                check(s)?;
                Ok(Self(s.to_owned()))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }
    };
}

name_type!(
    /// A key of `Secret.data`: `[-._a-zA-Z0-9]+`, at most 253 bytes, not `.`, `..` or `..*`
    /// (apimachinery `IsConfigMapKey`).
    SecretKeyName,
    |s| {
        let k = NameKind::SecretKey;
        if s.is_empty() {
            return Err(fail(k, s, "must not be empty"));
        }
        if s.len() > MAX_SUBDOMAIN {
            return Err(fail(k, s, "must be no more than 253 characters"));
        }
        if !s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')) {
            return Err(fail(k, s, "must consist of alphanumeric characters, '-', '_' or '.'"));
        }
        if s == "." || s == ".." {
            return Err(fail(k, s, "must not be '.' or '..'"));
        }
        if s.starts_with("..") {
            return Err(fail(k, s, "must not start with '..'"));
        }
        Ok(())
    }
);

impl SecretKeyName {
    /// Whether the key is also a portable environment variable name, `[A-Za-z_][A-Za-z0-9_]*`:
    /// `envFrom` imports it on every cluster version (`docs/dotenv.md` §6.2).
    pub fn is_env_var_name(&self) -> bool {
        is_portable_env_name(&self.0)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name every shell, dotenv library and cluster accepts.
pub fn is_portable_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

name_type!(
    /// The name of a namespaced object such as a Secret or SealedSecret: a DNS-1123 subdomain.
    ObjectName,
    |s| check_dns1123_subdomain(NameKind::Object, s, s)
);

name_type!(
    /// A namespace name: a DNS-1123 label.
    NamespaceName,
    |s| check_dns1123_label(NameKind::Namespace, s, s)
);

name_type!(
    /// A label or annotation key: `[prefix/]name`, the prefix a DNS-1123 subdomain and the name
    /// at most 63 characters of `[A-Za-z0-9._-]` starting and ending alphanumeric.
    QualifiedKey,
    |s| {
        let k = NameKind::QualifiedKey;
        let (prefix, name) = match s.split_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, s),
        };
        if let Some(p) = prefix {
            check_dns1123_subdomain(k, s, p).map_err(|mut e| {
                e.reason = "prefix must be a DNS subdomain (lower case alphanumerics, '-', '.')";
                e
            })?;
        }
        check_qualified_name_part(k, s, name)
    }
);

fn check_qualified_name_part(k: NameKind, full: &str, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(fail(k, full, "name part must not be empty"));
    }
    if name.len() > MAX_LABEL {
        return Err(fail(
            k,
            full,
            "name part must be no more than 63 characters",
        ));
    }
    let b = name.as_bytes();
    let ok_inner = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if !ok_inner || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Err(fail(
            k,
            full,
            "must consist of alphanumeric characters, '-', '_' or '.', \
             and must start and end with an alphanumeric character",
        ));
    }
    Ok(())
}

name_type!(
    /// A label value: empty, or at most 63 characters of `[A-Za-z0-9._-]` starting and ending
    /// alphanumeric.
    LabelValue,
    |s| {
        if s.is_empty() {
            return Ok(());
        }
        check_qualified_name_part(NameKind::LabelValue, s, s)
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for ok in [
            "DATABASE_URL",
            "a",
            "tls.crt",
            "my-key",
            "-x",
            ".hidden",
            "a..b",
        ] {
            SecretKeyName::parse(ok).unwrap();
        }
        for bad in ["", ".", "..", "..x", "a b", "a/b", "ä", &"x".repeat(254)] {
            assert!(
                SecretKeyName::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(
            SecretKeyName::parse("DATABASE_URL")
                .unwrap()
                .is_env_var_name()
        );
        assert!(!SecretKeyName::parse("tls.crt").unwrap().is_env_var_name());
    }

    #[test]
    fn object_and_namespace_names() {
        ObjectName::parse("app-env").unwrap();
        ObjectName::parse("a.b-c.d").unwrap();
        for bad in ["", "App", "-a", "a-", "a..b", "a_b", &"a".repeat(254)] {
            assert!(ObjectName::parse(bad).is_err(), "{bad:?}");
        }
        NamespaceName::parse("kube-system").unwrap();
        for bad in ["a.b", "", "A", &"a".repeat(64)] {
            assert!(NamespaceName::parse(bad).is_err(), "{bad:?}");
        }
        let e = NamespaceName::parse("My_NS").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid namespace 'My_NS': must consist of lower case alphanumeric characters \
             or '-', and must start and end with an alphanumeric character"
        );
    }

    #[test]
    fn qualified_keys_and_values() {
        for ok in ["app", "app.kubernetes.io/name", "example.com/A_b.c"] {
            QualifiedKey::parse(ok).unwrap();
        }
        for bad in ["", "/a", "Example.com/a", "a/", "a/-b", "a/b/c"] {
            assert!(QualifiedKey::parse(bad).is_err(), "{bad:?}");
        }
        LabelValue::parse("").unwrap();
        LabelValue::parse("v1.2_3").unwrap();
        assert!(LabelValue::parse("a b").is_err());
    }
}
