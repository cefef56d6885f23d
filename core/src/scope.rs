//! Sealing scopes and the OAEP label each one binds a value to (`docs/wire-format.md` §4).

use std::fmt;

use crate::names::{NamespaceName, ObjectName};

/// Where a sealed value may be unsealed. The scope becomes the RSA-OAEP label, which is the only
/// thing that ties a ciphertext to a namespace and name; item names are not bound (§3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Only in a Secret of exactly this name and namespace. Label `"<namespace>/<name>"`.
    Strict {
        /// The namespace.
        namespace: NamespaceName,
        /// The Secret (and SealedSecret) name.
        name: ObjectName,
    },
    /// In any Secret of this namespace. Label `"<namespace>"`.
    NamespaceWide {
        /// The namespace.
        namespace: NamespaceName,
    },
    /// Anywhere in the cluster. Empty label.
    ClusterWide,
}

impl Scope {
    /// The OAEP label bytes. Strict joins with a slash: Bitnami's crypto.md says plain
    /// concatenation, but its code (`EncryptionLabel`) and tests use `ns + "/" + name` (§4).
    pub fn label(&self) -> Vec<u8> {
        match self {
            Self::Strict { namespace, name } => format!("{namespace}/{name}").into_bytes(),
            Self::NamespaceWide { namespace } => namespace.as_str().as_bytes().to_vec(),
            Self::ClusterWide => Vec::new(),
        }
    }

    /// The kind of scope without its names.
    pub fn kind(&self) -> ScopeKind {
        match self {
            Self::Strict { .. } => ScopeKind::Strict,
            Self::NamespaceWide { .. } => ScopeKind::NamespaceWide,
            Self::ClusterWide => ScopeKind::ClusterWide,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Strict { namespace, name } => write!(f, "strict ({namespace}/{name})"),
            Self::NamespaceWide { namespace } => write!(f, "namespace-wide ({namespace})"),
            Self::ClusterWide => f.write_str("cluster-wide"),
        }
    }
}

/// The three scope kinds, as named by kubeseal's `--scope` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ScopeKind {
    /// `strict`: bound to namespace and name (the default).
    #[default]
    Strict,
    /// `namespace-wide`: bound to the namespace.
    NamespaceWide,
    /// `cluster-wide`: not bound.
    ClusterWide,
}

impl ScopeKind {
    /// All kinds, in kubeseal's order.
    pub const ALL: [Self; 3] = [Self::Strict, Self::NamespaceWide, Self::ClusterWide];

    /// The kubeseal spelling: `strict`, `namespace-wide`, `cluster-wide`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::NamespaceWide => "namespace-wide",
            Self::ClusterWide => "cluster-wide",
        }
    }

    /// Parses the kubeseal spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let namespace = NamespaceName::parse("myns").unwrap();
        let name = ObjectName::parse("myname").unwrap();
        let strict = Scope::Strict {
            namespace: namespace.clone(),
            name,
        };
        assert_eq!(strict.label(), b"myns/myname");
        assert_eq!(Scope::NamespaceWide { namespace }.label(), b"myns");
        assert!(Scope::ClusterWide.label().is_empty());
        assert_eq!(
            ScopeKind::parse("namespace-wide"),
            Some(ScopeKind::NamespaceWide)
        );
        assert_eq!(ScopeKind::parse("Strict"), None);
    }
}
