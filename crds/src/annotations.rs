//! Annotation and label keys shared with Bitnami (`docs/controller-compat.md` §2), kseal's own
//! fingerprint hint, and the scope rules that read and write them (`docs/wire-format.md` §5).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_core::ScopeKind;

/// Seals with the empty OAEP label: the value unseals in any namespace under any name. Read from
/// the SealedSecret's **outer** `metadata.annotations`; wins over [`NAMESPACE_WIDE_ANNOTATION`].
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";

/// Seals with the namespace as OAEP label: the value unseals under any name in that namespace.
/// Read from the SealedSecret's **outer** `metadata.annotations`.
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";

/// On an existing target Secret: the controller may take it over, overwrite it and set itself as
/// owner (`docs/controller-compat.md` §4.1).
pub const MANAGED_ANNOTATION: &str = "sealedsecrets.bitnami.com/managed";

/// On an existing target Secret: merge the unsealed keys, labels and annotations into it instead
/// of replacing it; ownership changes only if [`MANAGED_ANNOTATION`] is also set.
pub const PATCH_ANNOTATION: &str = "sealedsecrets.bitnami.com/patch";

/// In `spec.template.metadata.annotations`: the produced Secret gets no ownerReferences, so
/// deleting the SealedSecret leaves the Secret in place.
pub const SKIP_SET_OWNER_REFERENCES_ANNOTATION: &str =
    "sealedsecrets.bitnami.com/skip-set-owner-references";

/// Label on the controller's key Secrets; the value `active` means "load this key"
/// (`docs/controller-compat.md` §3).
pub const SEALED_SECRETS_KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// kseal's own annotation on the outer metadata: the SHA-256 fingerprint of the public key of the
/// certificate that sealed the object, written by `kseal seal`.
///
/// It is only a hint. The controller tries the matching key first so fresh objects cost one RSA
/// operation, but still falls back to every key, because the hint lives outside the ciphertext and
/// can be stale or forged (`docs/wire-format.md` §6). Bitnami ignores it, so it does not hinder a
/// rollback.
pub const KEY_FINGERPRINT_ANNOTATION: &str = "kseal.dev/key-fingerprint";

/// Whether `key` is set to exactly `"true"`.
///
/// Bitnami compares with `== "true"`, so `"True"`, `"yes"`, `"1"` and `""` all count as unset
/// (`docs/controller-compat.md` §2). Every boolean annotation in this crate goes through here.
pub fn annotation_is_true(annotations: Option<&BTreeMap<String, String>>, key: &str) -> bool {
    annotations
        .and_then(|a| a.get(key))
        .is_some_and(|v| v == "true")
}

/// The scope kind that these annotations select, by Bitnami's rules (`docs/wire-format.md` §5): only
/// the exact value `"true"` counts, cluster-wide wins when both are set, and anything else
/// (including a `sealedsecrets.bitnami.com/scope` annotation, which was never implemented) means
/// strict.
///
/// Pass the SealedSecret's outer `metadata.annotations`, never `spec.template.metadata`: kubeseal
/// copies the scope annotations into the template too, but they have no effect there.
pub fn scope_kind_from_annotations(annotations: &BTreeMap<String, String>) -> ScopeKind {
    if annotation_is_true(Some(annotations), CLUSTER_WIDE_ANNOTATION) {
        ScopeKind::ClusterWide
    } else if annotation_is_true(Some(annotations), NAMESPACE_WIDE_ANNOTATION) {
        ScopeKind::NamespaceWide
    } else {
        ScopeKind::Strict
    }
}

/// Writes the annotations that select `kind` on `meta`, as kubeseal's `UpdateScopeAnnotations`
/// does on the sealing side (`docs/wire-format.md` §5.1).
///
/// Both scope annotations are removed first, whatever their value, so a stale `"True"` or a
/// contradicting pair cannot survive. A non-strict kind then gets its annotation set to `"true"`;
/// strict writes nothing. An annotation map left empty is removed, so the object serializes
/// without `annotations: {}`, as Go's `omitempty` does.
pub fn set_scope_annotations(meta: &mut ObjectMeta, kind: ScopeKind) {
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    annotations.remove(CLUSTER_WIDE_ANNOTATION);
    annotations.remove(NAMESPACE_WIDE_ANNOTATION);
    let key = match kind {
        ScopeKind::Strict => None,
        ScopeKind::NamespaceWide => Some(NAMESPACE_WIDE_ANNOTATION),
        ScopeKind::ClusterWide => Some(CLUSTER_WIDE_ANNOTATION),
    };
    if let Some(key) = key {
        annotations.insert(key.to_owned(), "true".to_owned());
    }
    if annotations.is_empty() {
        meta.annotations = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn only_exact_true_counts() {
        for value in ["True", "TRUE", "yes", "1", "", " true", "true "] {
            let a = annotations(&[(NAMESPACE_WIDE_ANNOTATION, value)]);
            assert_eq!(
                scope_kind_from_annotations(&a),
                ScopeKind::Strict,
                "{value:?}"
            );
            let a = annotations(&[(CLUSTER_WIDE_ANNOTATION, value)]);
            assert_eq!(
                scope_kind_from_annotations(&a),
                ScopeKind::Strict,
                "{value:?}"
            );
        }
        let a = annotations(&[(NAMESPACE_WIDE_ANNOTATION, "true")]);
        assert_eq!(scope_kind_from_annotations(&a), ScopeKind::NamespaceWide);
        let a = annotations(&[(CLUSTER_WIDE_ANNOTATION, "true")]);
        assert_eq!(scope_kind_from_annotations(&a), ScopeKind::ClusterWide);
        assert_eq!(
            scope_kind_from_annotations(&BTreeMap::new()),
            ScopeKind::Strict
        );
        assert!(!annotation_is_true(None, MANAGED_ANNOTATION));
    }

    #[test]
    fn cluster_wide_wins() {
        let a = annotations(&[
            (NAMESPACE_WIDE_ANNOTATION, "true"),
            (CLUSTER_WIDE_ANNOTATION, "true"),
        ]);
        assert_eq!(scope_kind_from_annotations(&a), ScopeKind::ClusterWide);
        // A non-"true" cluster-wide value does not shadow a valid namespace-wide one.
        let a = annotations(&[
            (NAMESPACE_WIDE_ANNOTATION, "true"),
            (CLUSTER_WIDE_ANNOTATION, "yes"),
        ]);
        assert_eq!(scope_kind_from_annotations(&a), ScopeKind::NamespaceWide);
    }

    #[test]
    fn the_never_implemented_scope_annotation_is_ignored() {
        let a = annotations(&[("sealedsecrets.bitnami.com/scope", "cluster-wide")]);
        assert_eq!(scope_kind_from_annotations(&a), ScopeKind::Strict);
    }

    #[test]
    fn set_scope_annotations_round_trips() {
        for kind in ScopeKind::ALL {
            let mut meta = ObjectMeta {
                annotations: Some(annotations(&[
                    (CLUSTER_WIDE_ANNOTATION, "True"),
                    (NAMESPACE_WIDE_ANNOTATION, "true"),
                    ("keep", "me"),
                ])),
                ..ObjectMeta::default()
            };
            set_scope_annotations(&mut meta, kind);
            let a = meta.annotations.as_ref().unwrap();
            assert_eq!(scope_kind_from_annotations(a), kind);
            assert_eq!(a.get("keep").map(String::as_str), Some("me"));
            // Exactly one scope annotation for non-strict kinds, none for strict.
            let scope_keys = a
                .keys()
                .filter(|k| k.starts_with("sealedsecrets.bitnami.com/"))
                .count();
            assert_eq!(scope_keys, usize::from(kind != ScopeKind::Strict), "{kind}");
        }
    }

    #[test]
    fn strict_leaves_no_empty_annotation_map() {
        let mut meta = ObjectMeta {
            annotations: Some(annotations(&[(NAMESPACE_WIDE_ANNOTATION, "true")])),
            ..ObjectMeta::default()
        };
        set_scope_annotations(&mut meta, ScopeKind::Strict);
        assert_eq!(meta.annotations, None);
        set_scope_annotations(&mut meta, ScopeKind::NamespaceWide);
        assert_eq!(
            meta.annotations,
            Some(annotations(&[(NAMESPACE_WIDE_ANNOTATION, "true")]))
        );
    }
}
