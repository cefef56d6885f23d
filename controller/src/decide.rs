//! The controller's pure decision: given the Secret a SealedSecret asks for and the Secret
//! that exists now, what to write ([`plan`]: create, update, nothing, or refuse;
//! `docs/controller-compat.md` §4.1, the `managed` / `patch` / ownership rules). No API calls,
//! no clock, no logging.
//!
//! The Secret a SealedSecret asks for is [`SealedSecret::unseal`] (crate `kseal-crds`), shared
//! with `kseal unseal`; the reconciler calls it, then [`plan`], and applies the result.

use std::collections::BTreeMap;

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kseal_crds::{
    MANAGED_ANNOTATION, PATCH_ANNOTATION, SealedSecret, annotation_is_true, unseal::merge_maps,
};

/// What to do about the target Secret.
#[derive(Clone, PartialEq)]
pub enum Plan {
    /// No Secret of that name exists: create this one.
    Create(Secret),
    /// The Secret exists and differs: replace it with this one (carries `resourceVersion`).
    Update(Secret),
    /// The Secret exists and already is what the SealedSecret asks for: write nothing.
    Unchanged,
    /// The Secret exists and is immutable, and its data differs. The API would reject an update,
    /// and retrying cannot help.
    Immutable,
    /// The Secret exists and belongs to someone else: it is neither controlled by this
    /// SealedSecret nor annotated `managed` or `patch`.
    Unmanaged,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the Secret itself: its Debug prints the plaintext.
        f.write_str(match self {
            Self::Create(_) => "Create",
            Self::Update(_) => "Update",
            Self::Unchanged => "Unchanged",
            Self::Immutable => "Immutable",
            Self::Unmanaged => "Unmanaged",
        })
    }
}

/// Whether `secret` is controlled by the SealedSecret with this UID.
pub fn is_controlled_by(secret: &ObjectMeta, uid: &str) -> bool {
    secret
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

/// kseal's annotation on a Secret it wrote **without** ownerReferences
/// (`skip-set-owner-references`): the UID of the SealedSecret that wrote it. Without an owner
/// reference, this is what lets that SealedSecret, and no other, update the Secret later. It is
/// kseal's own key: a template cannot set it (it is overwritten or removed), and Bitnami ignores
/// it, so a rollback is unaffected.
pub const SEALED_SECRET_UID_ANNOTATION: &str = "kseal.dev/sealed-secret-uid";

/// The desired Secret with [`SEALED_SECRET_UID_ANNOTATION`] set to `uid` when it carries no
/// ownerReferences, and removed otherwise (the owner reference already binds it).
fn bind_to_uid(mut desired: Secret, uid: &str) -> Secret {
    let ownerless = desired
        .metadata
        .owner_references
        .as_ref()
        .is_none_or(Vec::is_empty);
    let mut annotations = desired.metadata.annotations.take().unwrap_or_default();
    if ownerless && !uid.is_empty() {
        annotations.insert(SEALED_SECRET_UID_ANNOTATION.into(), uid.into());
    } else {
        annotations.remove(SEALED_SECRET_UID_ANNOTATION);
    }
    desired.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    desired
}

/// Whether `secret` has no ownerReferences and kseal recorded this SealedSecret UID on it: the
/// Secret this SealedSecret wrote with `skip-set-owner-references`.
pub fn is_bound_to(secret: &ObjectMeta, uid: &str) -> bool {
    !uid.is_empty()
        && secret.owner_references.as_ref().is_none_or(Vec::is_empty)
        && secret
            .annotations
            .as_ref()
            .and_then(|a| a.get(SEALED_SECRET_UID_ANNOTATION))
            .is_some_and(|v| v == uid)
}

/// Decides what to write, given the desired Secret ([`SealedSecret::unseal`]) and the Secret
/// that exists.
///
/// An existing Secret is adopted only by Bitnami's documented rules (`managed`, `patch`, or an
/// owner reference to this SealedSecret's UID), or when kseal recorded this SealedSecret's UID on
/// it ([`SEALED_SECRET_UID_ANNOTATION`]). The `skip-set-owner-references` annotation alone never
/// makes a Secret ours: any SealedSecret of that name could otherwise take it over.
///
/// | existing | result |
/// |---|---|
/// | none | create (ownerless: with [`SEALED_SECRET_UID_ANNOTATION`]) |
/// | controlled by this SealedSecret (ownerReference with its UID, `controller: true`) | data, type, labels, annotations and ownerReferences replaced wholesale |
/// | no ownerReferences, [`SEALED_SECRET_UID_ANNOTATION`] = this SealedSecret's UID | replaced wholesale |
/// | annotated `managed` | replaced wholesale (taken over) |
/// | annotated `patch` | keys, labels and annotations merged in; ownerReferences (and the UID annotation) replaced only if also `managed` |
/// | anything else, including ownerless with `skip-set-owner-references` but no (or another) recorded UID, or controlled by another UID | refused ([`Plan::Unmanaged`]) |
///
/// `immutable` is only set on create. Nothing is written when the result equals what exists.
pub fn plan(ss: &SealedSecret, desired: Secret, existing: Option<&Secret>) -> Plan {
    let uid = ss.metadata.uid.as_deref().unwrap_or_default();
    let desired = bind_to_uid(desired, uid);
    let Some(current) = existing else {
        return Plan::Create(desired);
    };
    let cur_annotations = current.metadata.annotations.as_ref();
    let controlled = is_controlled_by(&current.metadata, uid);
    let managed = annotation_is_true(cur_annotations, MANAGED_ANNOTATION);
    let patch = annotation_is_true(cur_annotations, PATCH_ANNOTATION);
    let bound = is_bound_to(&current.metadata, uid);
    if !(controlled || managed || patch || bound) {
        return Plan::Unmanaged;
    }

    let mut next = current.clone();
    if patch {
        let mut data = current.data.clone().unwrap_or_default();
        data.extend(desired.data.unwrap_or_default());
        next.data = Some(data);
        next.metadata.labels = merge_maps(current.metadata.labels.clone(), desired.metadata.labels);
        let mut annotations = desired.metadata.annotations;
        if !managed {
            // Merging into someone else's Secret does not make it ours.
            if let Some(a) = annotations.as_mut() {
                a.remove(SEALED_SECRET_UID_ANNOTATION);
            }
        }
        next.metadata.annotations = merge_maps(current.metadata.annotations.clone(), annotations);
        if managed {
            next.metadata.owner_references = desired.metadata.owner_references;
        }
    } else {
        next.data = desired.data;
        next.type_ = desired.type_;
        next.metadata.labels = desired.metadata.labels;
        next.metadata.annotations = desired.metadata.annotations;
        next.metadata.owner_references = desired.metadata.owner_references;
    }
    // stringData is write-only; a Secret read back never has it.
    next.string_data = None;

    let same_data = normalized(&next.data) == normalized(&current.data);
    if current.immutable == Some(true) && !same_data {
        return Plan::Immutable;
    }
    let same = same_data
        && next.type_.as_deref().unwrap_or("Opaque")
            == current.type_.as_deref().unwrap_or("Opaque")
        && normalized(&next.metadata.labels) == normalized(&current.metadata.labels)
        && normalized(&next.metadata.annotations) == normalized(&current.metadata.annotations)
        && next.metadata.owner_references.clone().unwrap_or_default()
            == current
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default();
    if same {
        Plan::Unchanged
    } else {
        Plan::Update(next)
    }
}

/// `None` and an empty map are the same to the API server (Go's `omitempty`).
fn normalized<V: Clone>(map: &Option<BTreeMap<String, V>>) -> BTreeMap<String, V> {
    map.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod ownership_tests;
