//! The `SealedSecret` resource (`bitnami.com/v1alpha1`) and how its scope is read.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_core::{NameError, NamespaceName, ObjectName, Scope, ScopeKind};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    EncryptedData, SealedSecretStatus, SpecProblem,
    annotations::{
        KEY_FINGERPRINT_ANNOTATION, SKIP_SET_OWNER_REFERENCES_ANNOTATION, annotation_is_true,
    },
    schema,
};

/// `spec` of a SealedSecret; the generated [`SealedSecret`] wraps it with metadata and status.
///
/// Field order is kubeseal's YAML order (alphabetical), so serialized objects diff cleanly
/// against kubeseal output. Every schema description below is Bitnami's text, so
/// `kubectl explain` reads the same with either controller.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "bitnami.com",
    version = "v1alpha1",
    kind = "SealedSecret",
    plural = "sealedsecrets",
    singular = "sealedsecret",
    namespaced,
    status = "SealedSecretStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "SealedSecret is the K8s representation of a \"sealed Secret\" - a\nregular k8s Secret that has been sealed (encrypted) using the\ncontroller's key.",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[0].message"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[0].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "SealedSecretSpec is the specification of a SealedSecret.")]
pub struct SealedSecretSpec {
    /// Legacy v1 format (before Bitnami v0.7): one sealed blob whose plaintext is a whole JSON
    /// Secret (`docs/wire-format.md` §7.2). Read-only compatibility: kseal never writes it.
    ///
    /// Kept as the raw base64 text rather than decoded bytes, so that decoding follows the
    /// Go-compatible base64 rules of `docs/wire-format.md` §3 in kseal-core, and a bad blob fails
    /// unsealing instead of making the whole object unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "schema::byte_string",
        description = "Data is deprecated and will be removed eventually. Use per-value EncryptedData instead."
    )]
    pub data: Option<String>,

    /// Item name → sealed value, in document order. Required by the schema, but a missing,
    /// `null` or malformed field still deserializes; see [`EncryptedData`] and
    /// [`SealedSecretSpec::problems`].
    // An empty description: Bitnami's schema has none for this field.
    #[schemars(description = "")]
    pub encrypted_data: EncryptedData,

    /// The shape of the Secret the controller writes.
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "SecretTemplate::is_empty"
    )]
    #[schemars(
        description = "Template defines the structure of the Secret that will be\ncreated from this sealed secret."
    )]
    pub template: SecretTemplate,
}

/// `spec.template`: what the produced Secret looks like apart from its decrypted data
/// (`docs/controller-compat.md` §4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplate {
    /// Template strings (Go `text/template` with sprig) rendered with the decrypted items as
    /// context; a rendered key overrides a decrypted item of the same name. Plaintext in git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(description = "Keys that should be templated using decrypted data.")]
    pub data: Option<BTreeMap<String, String>>,

    /// `immutable` of the Secret; applied on create only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "bool",
        description = "Immutable, if set to true, ensures that data stored in the Secret cannot\nbe updated (only object metadata can be modified).\nIf not set to true, the field can be modified at any time.\nDefaulted to nil."
    )]
    pub immutable: Option<bool>,

    /// Labels, annotations and finalizers for the Secret. `name` and `namespace` here are
    /// ignored: the Secret always takes the SealedSecret's own. kubeseal copies the input
    /// Secret's metadata here, scope annotations included; they have no effect on unsealing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "schema::template_metadata",
        description = "Standard object's metadata.\nMore info: https://git.k8s.io/community/contributors/devel/api-conventions.md#metadata"
    )]
    pub metadata: Option<ObjectMeta>,

    /// `type` of the Secret (e.g. `Opaque`, `kubernetes.io/tls`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "String",
        description = "Used to facilitate programmatic handling of secret data."
    )]
    pub type_: Option<String>,
}

/// Why a SealedSecret's scope cannot be turned into an OAEP label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// Strict scope binds the name, and `metadata.name` is missing or empty.
    #[error("strict scope needs metadata.name, and the SealedSecret has none")]
    MissingName,
    /// Strict and namespace-wide scopes bind the namespace, and `metadata.namespace` is missing
    /// or empty.
    #[error("{scope} scope needs metadata.namespace, and the SealedSecret has none")]
    MissingNamespace {
        /// The scope that needs it.
        scope: ScopeKind,
    },
    /// `metadata.name` is not a valid object name.
    #[error("metadata.name: {0}")]
    InvalidName(NameError),
    /// `metadata.namespace` is not a valid namespace name.
    #[error("metadata.namespace: {0}")]
    InvalidNamespace(NameError),
}

impl SealedSecret {
    /// The scope kind selected by the outer `metadata.annotations`; see
    /// [`crate::scope_kind_from_annotations`].
    pub fn scope_kind(&self) -> ScopeKind {
        self.metadata
            .annotations
            .as_ref()
            .map_or(ScopeKind::Strict, crate::scope_kind_from_annotations)
    }

    /// The scope this object's values must have been sealed with, by Bitnami's rules
    /// (`docs/wire-format.md` §5): only the outer `metadata.annotations` count (never
    /// `spec.template.metadata`), only the exact value `"true"`, and cluster-wide wins.
    ///
    /// Objects read from the API always carry a namespace; one read from a file may not, and the
    /// caller then resolves it (flag, kubeconfig) and sets `metadata.namespace` first.
    ///
    /// # Errors
    ///
    /// [`ScopeError`] when the scope binds a namespace or name that is missing, empty or not a
    /// valid Kubernetes name; the error says which.
    pub fn scope(&self) -> Result<Scope, ScopeError> {
        let kind = self.scope_kind();
        if kind == ScopeKind::ClusterWide {
            return Ok(Scope::ClusterWide);
        }
        let namespace = match self.metadata.namespace.as_deref() {
            None | Some("") => return Err(ScopeError::MissingNamespace { scope: kind }),
            Some(ns) => NamespaceName::parse(ns).map_err(ScopeError::InvalidNamespace)?,
        };
        if kind == ScopeKind::NamespaceWide {
            return Ok(Scope::NamespaceWide { namespace });
        }
        let name = match self.metadata.name.as_deref() {
            None | Some("") => return Err(ScopeError::MissingName),
            Some(name) => ObjectName::parse(name).map_err(ScopeError::InvalidName)?,
        };
        Ok(Scope::Strict { namespace, name })
    }

    /// The [`KEY_FINGERPRINT_ANNOTATION`] hint: which key to try first. Never a reason to skip
    /// the other keys.
    pub fn key_fingerprint_hint(&self) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()?
            .get(KEY_FINGERPRINT_ANNOTATION)
            .map(String::as_str)
    }

    /// Whether `spec.template.metadata.annotations` asks for a Secret without ownerReferences
    /// ([`SKIP_SET_OWNER_REFERENCES_ANNOTATION`] set to exactly `"true"`).
    pub fn skips_owner_references(&self) -> bool {
        let template_annotations = self
            .spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref());
        annotation_is_true(template_annotations, SKIP_SET_OWNER_REFERENCES_ANNOTATION)
    }
}

impl SealedSecretSpec {
    /// What deserialization tolerated in this spec (see [`EncryptedData`]); empty for a
    /// well-formed object. The controller reports these on the object instead of failing the
    /// watch.
    pub fn problems(&self) -> Vec<SpecProblem> {
        self.encrypted_data.problems()
    }
}

impl SecretTemplate {
    /// Whether nothing is set, in which case `spec.template` is left out when serializing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use kseal_core::names::NameKind;

    use super::*;
    use crate::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};

    fn sealed(
        namespace: Option<&str>,
        name: Option<&str>,
        annotations: &[(&str, &str)],
    ) -> SealedSecret {
        let mut ss = SealedSecret::new(name.unwrap_or_default(), SealedSecretSpec::default());
        ss.metadata.name = name.map(str::to_owned);
        ss.metadata.namespace = namespace.map(str::to_owned);
        if !annotations.is_empty() {
            ss.metadata.annotations = Some(
                annotations
                    .iter()
                    .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            );
        }
        ss
    }

    fn strict(ns: &str, name: &str) -> Scope {
        Scope::Strict {
            namespace: NamespaceName::parse(ns).unwrap(),
            name: ObjectName::parse(name).unwrap(),
        }
    }

    fn ns_wide(ns: &str) -> Scope {
        Scope::NamespaceWide {
            namespace: NamespaceName::parse(ns).unwrap(),
        }
    }

    /// `docs/wire-format.md` §5, one row per rule, and the last two rows of §8.2.
    #[test]
    fn scope_rules() {
        let cases: &[(&[(&str, &str)], Scope)] = &[
            (&[], strict("myns", "app")),
            (&[(NAMESPACE_WIDE_ANNOTATION, "true")], ns_wide("myns")),
            (&[(CLUSTER_WIDE_ANNOTATION, "true")], Scope::ClusterWide),
            // Both "true": cluster-wide wins (R10).
            (
                &[
                    (NAMESPACE_WIDE_ANNOTATION, "true"),
                    (CLUSTER_WIDE_ANNOTATION, "true"),
                ],
                Scope::ClusterWide,
            ),
            // Only the exact string counts (§8.2: "True" or "yes" means strict).
            (
                &[(NAMESPACE_WIDE_ANNOTATION, "True")],
                strict("myns", "app"),
            ),
            (&[(NAMESPACE_WIDE_ANNOTATION, "yes")], strict("myns", "app")),
            (&[(CLUSTER_WIDE_ANNOTATION, "1")], strict("myns", "app")),
            (&[(CLUSTER_WIDE_ANNOTATION, "")], strict("myns", "app")),
            // The never-implemented single annotation is not read.
            (
                &[("sealedsecrets.bitnami.com/scope", "cluster-wide")],
                strict("myns", "app"),
            ),
        ];
        for (annotations, want) in cases {
            let ss = sealed(Some("myns"), Some("app"), annotations);
            assert_eq!(ss.scope().as_ref(), Ok(want), "{annotations:?}");
            assert_eq!(ss.scope_kind(), want.kind());
        }
    }

    /// §8.2 last row: scope annotations in the template have no effect.
    #[test]
    fn template_annotations_are_ignored() {
        let mut ss = sealed(Some("myns"), Some("app"), &[]);
        ss.spec.template.metadata = Some(ObjectMeta {
            annotations: Some(BTreeMap::from([
                (NAMESPACE_WIDE_ANNOTATION.to_owned(), "true".to_owned()),
                (CLUSTER_WIDE_ANNOTATION.to_owned(), "true".to_owned()),
            ])),
            ..ObjectMeta::default()
        });
        assert_eq!(ss.scope(), Ok(strict("myns", "app")));
    }

    #[test]
    fn missing_names() {
        let ss = sealed(None, Some("app"), &[]);
        assert_eq!(
            ss.scope(),
            Err(ScopeError::MissingNamespace {
                scope: ScopeKind::Strict
            })
        );
        assert_eq!(
            ss.scope().unwrap_err().to_string(),
            "strict scope needs metadata.namespace, and the SealedSecret has none"
        );
        let ss = sealed(Some(""), None, &[(NAMESPACE_WIDE_ANNOTATION, "true")]);
        assert_eq!(
            ss.scope().unwrap_err().to_string(),
            "namespace-wide scope needs metadata.namespace, and the SealedSecret has none"
        );
        // Namespace-wide does not need a name.
        assert_eq!(
            sealed(Some("myns"), None, &[(NAMESPACE_WIDE_ANNOTATION, "true")]).scope(),
            Ok(ns_wide("myns"))
        );
        // Cluster-wide needs neither.
        assert_eq!(
            sealed(None, None, &[(CLUSTER_WIDE_ANNOTATION, "true")]).scope(),
            Ok(Scope::ClusterWide)
        );

        let ss = sealed(Some("myns"), None, &[]);
        assert_eq!(ss.scope(), Err(ScopeError::MissingName));
        assert_eq!(
            ss.scope().unwrap_err().to_string(),
            "strict scope needs metadata.name, and the SealedSecret has none"
        );
        assert_eq!(
            sealed(Some("myns"), Some(""), &[]).scope(),
            Err(ScopeError::MissingName)
        );
    }

    #[test]
    fn invalid_names() {
        let Err(ScopeError::InvalidNamespace(e)) = sealed(Some("My_NS"), Some("app"), &[]).scope()
        else {
            panic!("expected an invalid namespace");
        };
        assert_eq!(e.kind, NameKind::Namespace);
        let err = sealed(Some("myns"), Some("App"), &[]).scope().unwrap_err();
        assert!(
            matches!(&err, ScopeError::InvalidName(e) if e.kind == NameKind::Object),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("metadata.name: invalid object name 'App': "),
            "{err}"
        );
    }

    #[test]
    fn hints_from_annotations() {
        let mut ss = sealed(
            Some("myns"),
            Some("app"),
            &[(KEY_FINGERPRINT_ANNOTATION, "SHA256:abc")],
        );
        assert_eq!(ss.key_fingerprint_hint(), Some("SHA256:abc"));
        assert!(!ss.skips_owner_references());
        ss.spec.template.metadata = Some(ObjectMeta {
            annotations: Some(BTreeMap::from([(
                SKIP_SET_OWNER_REFERENCES_ANNOTATION.to_owned(),
                "true".to_owned(),
            )])),
            ..ObjectMeta::default()
        });
        assert!(ss.skips_owner_references());
        // On the outer metadata it means nothing: Bitnami reads it from the template only.
        let ss = sealed(
            Some("myns"),
            Some("app"),
            &[(SKIP_SET_OWNER_REFERENCES_ANNOTATION, "true")],
        );
        assert!(!ss.skips_owner_references());
    }
}
