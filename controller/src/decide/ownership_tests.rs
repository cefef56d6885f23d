//! One test per row of [`plan`]'s ownership table (issue 14: ownership by annotation).

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kseal_crds::{
    SKIP_SET_OWNER_REFERENCES_ANNOTATION, SealedSecret, SealedSecretSpec, unseal::owner_reference,
};

use super::*;

const UID: &str = "uid-app";

fn ss(skip_owner_references: bool) -> SealedSecret {
    let mut ss = SealedSecret::new("app", SealedSecretSpec::default());
    ss.metadata.namespace = Some("ns".into());
    ss.metadata.uid = Some(UID.into());
    if skip_owner_references {
        ss.spec.template.metadata = Some(ObjectMeta {
            annotations: Some(annotations(&[(
                SKIP_SET_OWNER_REFERENCES_ANNOTATION,
                "true",
            )])),
            ..ObjectMeta::default()
        });
    }
    ss
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What `unseal` produces for [`ss`]: one item, the template's annotations, an owner reference
/// unless the SealedSecret skips it.
fn desired(ss: &SealedSecret, value: &[u8]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some("app".into()),
            namespace: Some("ns".into()),
            annotations: ss
                .spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.annotations.clone()),
            owner_references: (!ss.skips_owner_references()).then(|| vec![owner_reference(ss)]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([("A".into(), ByteString(value.to_vec()))])),
        ..Secret::default()
    }
}

/// An existing Secret named `app` with `value`, these annotations and owner references.
fn existing(value: &[u8], pairs: &[(&str, &str)], owner_uid: Option<&str>) -> Secret {
    let mut s = Secret {
        metadata: ObjectMeta {
            name: Some("app".into()),
            namespace: Some("ns".into()),
            resource_version: Some("42".into()),
            annotations: (!pairs.is_empty()).then(|| annotations(pairs)),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([("A".into(), ByteString(value.to_vec()))])),
        ..Secret::default()
    };
    if let Some(uid) = owner_uid {
        let mut owner = owner_reference(&ss(false));
        owner.uid = uid.into();
        s.metadata.owner_references = Some(vec![owner]);
    }
    s
}

fn recorded_uid(s: &Secret) -> Option<&str> {
    s.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SEALED_SECRET_UID_ANNOTATION))
        .map(String::as_str)
}

fn value(s: &Secret) -> &[u8] {
    &s.data.as_ref().unwrap()["A"].0
}

#[test]
fn row_none_creates_and_records_the_uid_only_when_ownerless() {
    let owned = ss(false);
    let Plan::Create(created) = plan(&owned, desired(&owned, b"new"), None) else {
        panic!("expected a create");
    };
    assert!(is_controlled_by(&created.metadata, UID));
    assert_eq!(recorded_uid(&created), None);

    let ownerless = ss(true);
    let Plan::Create(created) = plan(&ownerless, desired(&ownerless, b"new"), None) else {
        panic!("expected a create");
    };
    assert_eq!(created.metadata.owner_references, None);
    assert_eq!(recorded_uid(&created), Some(UID));

    // A template cannot choose the recorded UID: kseal overwrites it, or drops it when an owner
    // reference binds the Secret anyway.
    for (ss, want) in [(ownerless, Some(UID)), (owned, None)] {
        let mut forged = desired(&ss, b"new");
        forged
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(SEALED_SECRET_UID_ANNOTATION.into(), "uid-victim".into());
        let Plan::Create(created) = plan(&ss, forged, None) else {
            panic!("expected a create");
        };
        assert_eq!(recorded_uid(&created), want);
    }
}

#[test]
fn row_controlled_by_this_uid_is_replaced_wholesale() {
    let ss = ss(false);
    let current = existing(b"old", &[("theirs", "x")], Some(UID));
    let Plan::Update(next) = plan(&ss, desired(&ss, b"new"), Some(&current)) else {
        panic!("expected an update");
    };
    assert_eq!(value(&next), b"new");
    assert_eq!(next.metadata.annotations, None, "replaced wholesale");
    assert!(is_controlled_by(&next.metadata, UID));
}

#[test]
fn row_ownerless_with_this_recorded_uid_is_ours() {
    let ss = ss(true);
    let Plan::Create(mut current) = plan(&ss, desired(&ss, b"old"), None) else {
        panic!("expected a create");
    };
    current.metadata.resource_version = Some("1".into());
    let Plan::Update(next) = plan(&ss, desired(&ss, b"new"), Some(&current)) else {
        panic!("expected an update");
    };
    assert_eq!(value(&next), b"new");
    assert_eq!(recorded_uid(&next), Some(UID));
    assert_eq!(next.metadata.owner_references, None);
    assert_eq!(
        plan(&ss, desired(&ss, b"old"), Some(&current)),
        Plan::Unchanged
    );
}

#[test]
fn row_managed_is_taken_over_and_bound_to_this_uid() {
    // Bitnami's documented opt-in: whoever can annotate the Secret hands it over, even one kseal
    // wrote for an earlier SealedSecret of that name.
    for ss in [ss(false), ss(true)] {
        let current = existing(
            b"old",
            &[
                (MANAGED_ANNOTATION, "true"),
                (SEALED_SECRET_UID_ANNOTATION, "uid-earlier"),
            ],
            None,
        );
        let Plan::Update(next) = plan(&ss, desired(&ss, b"new"), Some(&current)) else {
            panic!("expected an update");
        };
        assert_eq!(value(&next), b"new");
        if ss.skips_owner_references() {
            assert_eq!(recorded_uid(&next), Some(UID));
        } else {
            assert!(is_controlled_by(&next.metadata, UID));
            assert_eq!(recorded_uid(&next), None);
        }
    }
}

#[test]
fn row_patch_merges_without_claiming_the_secret() {
    let ss = ss(true);
    let current = existing(b"old", &[(PATCH_ANNOTATION, "true")], None);
    let Plan::Update(next) = plan(&ss, desired(&ss, b"new"), Some(&current)) else {
        panic!("expected an update");
    };
    assert_eq!(value(&next), b"new");
    assert_eq!(
        recorded_uid(&next),
        None,
        "patch alone does not bind it to us"
    );
    // patch + managed: ownership (here: the recorded UID) is replaced too.
    let current = existing(
        b"old",
        &[(PATCH_ANNOTATION, "true"), (MANAGED_ANNOTATION, "true")],
        None,
    );
    let Plan::Update(next) = plan(&ss, desired(&ss, b"new"), Some(&current)) else {
        panic!("expected an update");
    };
    assert_eq!(recorded_uid(&next), Some(UID));
}

#[test]
fn row_anything_else_is_refused() {
    for ss in [ss(false), ss(true)] {
        let d = || desired(&ss, b"evil");
        // The issue 14 takeover: ownerless, skip-set-owner-references, no recorded UID.
        let victim = existing(
            b"victim",
            &[(SKIP_SET_OWNER_REFERENCES_ANNOTATION, "true")],
            None,
        );
        assert_eq!(plan(&ss, d(), Some(&victim)), Plan::Unmanaged);
        // Ownerless, bound to another SealedSecret's UID (one deleted and recreated, or another).
        let other = existing(
            b"victim",
            &[
                (SKIP_SET_OWNER_REFERENCES_ANNOTATION, "true"),
                (SEALED_SECRET_UID_ANNOTATION, "uid-other"),
            ],
            None,
        );
        assert_eq!(plan(&ss, d(), Some(&other)), Plan::Unmanaged);
        // Controlled by another SealedSecret, even when our UID is written on it.
        let owned = existing(
            b"victim",
            &[(SEALED_SECRET_UID_ANNOTATION, UID)],
            Some("uid-other"),
        );
        assert_eq!(plan(&ss, d(), Some(&owned)), Plan::Unmanaged);
        // A plain Secret.
        assert_eq!(
            plan(&ss, d(), Some(&existing(b"victim", &[], None))),
            Plan::Unmanaged
        );
    }
    // A SealedSecret without a UID (never from the API server) matches no recorded UID.
    let mut no_uid = ss(true);
    no_uid.metadata.uid = None;
    let blank = existing(b"victim", &[(SEALED_SECRET_UID_ANNOTATION, "")], None);
    assert_eq!(
        plan(&no_uid, desired(&no_uid, b"evil"), Some(&blank)),
        Plan::Unmanaged
    );
}
