//! `plan`: what to write given the desired Secret and the one that exists. The desired Secret
//! itself (`SealedSecret::unseal`) is tested in `crds/src/unseal/tests.rs`.

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kseal_crds::SKIP_SET_OWNER_REFERENCES_ANNOTATION;

use super::*;
use crate::fixtures::{data, map, sealed, unsealed};

#[test]
fn skip_owner_references() {
    let mut ss = sealed("ns", "app", &[("A", b"1")], 0);
    ss.spec.template.metadata = Some(ObjectMeta {
        annotations: Some(map(&[(SKIP_SET_OWNER_REFERENCES_ANNOTATION, "true")])),
        ..ObjectMeta::default()
    });
    let s = unsealed(&ss);
    assert_eq!(s.metadata.owner_references, None);
    // The ownerless Secret kseal created is still recognised as ours on the next reconcile: it
    // carries this SealedSecret's UID.
    let Plan::Create(mut existing) = plan(&ss, s.clone(), None) else {
        panic!("expected a create");
    };
    existing.metadata.resource_version = Some("1".into());
    assert_eq!(plan(&ss, s.clone(), Some(&existing)), Plan::Unchanged);
    // Issue 14: the skip-set-owner-references annotation alone (no recorded UID) no longer
    // makes an ownerless Secret ours.
    let mut unbound = s.clone();
    unbound.metadata.resource_version = Some("1".into());
    assert_eq!(plan(&ss, s, Some(&unbound)), Plan::Unmanaged);
}

fn existing(name: &str, pairs: &[(&str, &[u8])], annotations: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            resource_version: Some("42".into()),
            annotations: (!annotations.is_empty()).then(|| map(annotations)),
            labels: Some(map(&[("keep", "label")])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

#[test]
fn plan_create_unchanged_update() {
    let ss = sealed("ns", "app", &[("A", b"1")], 0);
    let desired = unsealed(&ss);
    assert!(matches!(plan(&ss, desired.clone(), None), Plan::Create(_)));

    // What the API server returns after create: same content plus server fields.
    let mut current = desired.clone();
    current.metadata.resource_version = Some("7".into());
    current.metadata.uid = Some("secret-uid".into());
    assert_eq!(plan(&ss, desired.clone(), Some(&current)), Plan::Unchanged);

    // Tampered data is restored, keeping the resourceVersion for optimistic concurrency.
    let mut tampered = current.clone();
    tampered
        .data
        .as_mut()
        .unwrap()
        .insert("A".into(), ByteString(b"evil".to_vec()));
    tampered
        .data
        .as_mut()
        .unwrap()
        .insert("EXTRA".into(), ByteString(b"x".to_vec()));
    let Plan::Update(next) = plan(&ss, desired.clone(), Some(&tampered)) else {
        panic!("expected an update");
    };
    assert_eq!(data(&next), BTreeMap::from([("A".into(), b"1".to_vec())]));
    assert_eq!(next.metadata.resource_version.as_deref(), Some("7"));
    assert_eq!(next.metadata.uid.as_deref(), Some("secret-uid"));
}

#[test]
fn plan_refuses_unmanaged() {
    let ss = sealed("ns", "app", &[("A", b"1")], 0);
    let current = existing("app", &[("A", b"theirs")], &[]);
    assert_eq!(plan(&ss, unsealed(&ss), Some(&current)), Plan::Unmanaged);
    // Controlled by a different SealedSecret (another UID) is not ours either.
    let mut other = unsealed(&ss);
    other.metadata.owner_references.as_mut().unwrap()[0].uid = "someone-else".into();
    assert_eq!(plan(&ss, unsealed(&ss), Some(&other)), Plan::Unmanaged);
    // "True" is not "true".
    let current = existing("app", &[], &[(MANAGED_ANNOTATION, "True")]);
    assert_eq!(plan(&ss, unsealed(&ss), Some(&current)), Plan::Unmanaged);
}

#[test]
fn plan_managed_takeover() {
    let ss = sealed("ns", "app", &[("A", b"1")], 0);
    let current = existing("app", &[("OLD", b"x")], &[(MANAGED_ANNOTATION, "true")]);
    let Plan::Update(next) = plan(&ss, unsealed(&ss), Some(&current)) else {
        panic!("expected an update");
    };
    assert_eq!(data(&next), BTreeMap::from([("A".into(), b"1".to_vec())]));
    // Replaced wholesale: the managed annotation and the old labels are gone, we own it.
    assert_eq!(next.metadata.annotations, None);
    assert_eq!(next.metadata.labels, None);
    assert!(is_controlled_by(&next.metadata, "uid-app"));
}

#[test]
fn plan_patch_merges() {
    let mut ss = sealed("ns", "app", &[("A", b"1")], 0);
    ss.spec.template.metadata = Some(ObjectMeta {
        labels: Some(map(&[("new", "label")])),
        ..ObjectMeta::default()
    });
    let current = existing(
        "app",
        &[("OLD", b"x"), ("A", b"0")],
        &[(PATCH_ANNOTATION, "true")],
    );
    let Plan::Update(next) = plan(&ss, unsealed(&ss), Some(&current)) else {
        panic!("expected an update");
    };
    assert_eq!(
        data(&next),
        BTreeMap::from([("A".into(), b"1".to_vec()), ("OLD".into(), b"x".to_vec())])
    );
    assert_eq!(
        next.metadata.labels,
        Some(map(&[("keep", "label"), ("new", "label")]))
    );
    assert_eq!(
        next.metadata.annotations,
        Some(map(&[(PATCH_ANNOTATION, "true")]))
    );
    // patch alone does not take ownership…
    assert_eq!(next.metadata.owner_references, None);
    // …patch plus managed does.
    let current = existing(
        "app",
        &[("OLD", b"x")],
        &[(PATCH_ANNOTATION, "true"), (MANAGED_ANNOTATION, "true")],
    );
    let Plan::Update(next) = plan(&ss, unsealed(&ss), Some(&current)) else {
        panic!("expected an update");
    };
    assert!(is_controlled_by(&next.metadata, "uid-app"));
    assert!(data(&next).contains_key("OLD"));
    // Merging again changes nothing.
    let mut after = next.clone();
    after.metadata.resource_version = Some("43".into());
    assert_eq!(plan(&ss, unsealed(&ss), Some(&after)), Plan::Unchanged);
}

#[test]
fn plan_immutable() {
    let ss = sealed("ns", "app", &[("A", b"1")], 0);
    let mut current = unsealed(&ss);
    current.immutable = Some(true);
    current
        .data
        .as_mut()
        .unwrap()
        .insert("A".into(), ByteString(b"old".to_vec()));
    assert_eq!(plan(&ss, unsealed(&ss), Some(&current)), Plan::Immutable);
    // Same data: fine, even if metadata changes (labels may change on immutable Secrets).
    let mut same = unsealed(&ss);
    same.immutable = Some(true);
    same.metadata.labels = Some(map(&[("x", "y")]));
    assert!(matches!(
        plan(&ss, unsealed(&ss), Some(&same)),
        Plan::Update(_)
    ));
}
