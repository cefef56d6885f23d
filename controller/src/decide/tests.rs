use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kseal_core::Scope;
use kseal_crds::{
    CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, SKIP_SET_OWNER_REFERENCES_ANNOTATION,
    SealedSecret,
};

use super::*;
use crate::{
    fixtures::{cert, keyset, seal_into, seal_v1, sealed},
    template::InProcess,
};

const CANARY: &[u8] = b"canary-7f3a9c-do-not-log";

fn data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn unsealed(ss: &SealedSecret) -> Secret {
    crate::fixtures::unseal(ss, &keyset(&[2, 1, 0]))
        .unwrap()
        .secret
}

#[test]
fn produces_the_bitnami_secret() {
    let mut ss = sealed("ns", "app", &[("B", b"two"), ("A", CANARY)], 0);
    ss.spec.template.type_ = Some("kubernetes.io/basic-auth".into());
    ss.spec.template.immutable = Some(true);
    ss.spec.template.metadata = Some(ObjectMeta {
        name: Some("ignored".into()),
        namespace: Some("ignored".into()),
        labels: Some(map(&[("team", "a")])),
        annotations: Some(map(&[("note", "x")])),
        ..ObjectMeta::default()
    });
    let u = crate::fixtures::unseal(&ss, &keyset(&[2, 1, 0])).unwrap();
    let s = &u.secret;
    assert_eq!(s.metadata.name.as_deref(), Some("app"));
    assert_eq!(s.metadata.namespace.as_deref(), Some("ns"));
    assert_eq!(s.metadata.labels, Some(map(&[("team", "a")])));
    assert_eq!(s.metadata.annotations, Some(map(&[("note", "x")])));
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(s.immutable, Some(true));
    assert_eq!(
        data(s),
        BTreeMap::from([("A".into(), CANARY.to_vec()), ("B".into(), b"two".to_vec())])
    );
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str()
        ),
        ("bitnami.com/v1alpha1", "SealedSecret", "app", "uid-app")
    );
    assert_eq!(owner.controller, Some(true));
    assert_eq!(owner.block_owner_deletion, None);
    // Oldest key last in the try order: 3 RSA operations per item without a hint.
    assert_eq!(u.rsa_operations, 6);
    assert!(!format!("{u:?}").contains("canary"));
}

#[test]
fn fingerprint_hint_goes_first() {
    let mut ss = sealed("ns", "app", &[("A", b"1"), ("B", b"2")], 0);
    ss.metadata.annotations = Some(map(&[(
        KEY_FINGERPRINT_ANNOTATION,
        cert(0).fingerprint().as_str(),
    )]));
    let u = crate::fixtures::unseal(&ss, &keyset(&[2, 1, 0])).unwrap();
    assert_eq!(u.rsa_operations, 2);
    assert_eq!(u.keys_used, [cert(0).fingerprint().clone()]);
    // A forged hint only costs an extra attempt.
    ss.metadata.annotations = Some(map(&[(
        KEY_FINGERPRINT_ANNOTATION,
        cert(1).fingerprint().as_str(),
    )]));
    assert!(crate::fixtures::unseal(&ss, &keyset(&[2, 1, 0])).is_ok());
}

#[test]
fn default_type_is_opaque_and_no_template_means_no_labels() {
    let s = unsealed(&sealed("ns", "app", &[("A", b"1")], 2));
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    assert_eq!(s.metadata.labels, None);
    assert_eq!(s.metadata.annotations, None);
    assert_eq!(s.immutable, None);
}

#[test]
fn wrong_key_is_one_coarse_error_naming_items() {
    let ss = sealed("ns", "app", &[("A", CANARY), ("B", b"2")], 0);
    let e = crate::fixtures::unseal(&ss, &keyset(&[1, 2])).unwrap_err();
    assert_eq!(e.to_string(), "no key could decrypt secret (A, B)");
    // Wrong scope: the same object under another name.
    let mut moved = ss.clone();
    moved.metadata.name = Some("other".into());
    let e = crate::fixtures::unseal(&moved, &keyset(&[0])).unwrap_err();
    assert_eq!(e.to_string(), "no key could decrypt secret (A, B)");
    // No keys at all.
    let e = crate::fixtures::unseal(&ss, &keyset(&[])).unwrap_err();
    assert_eq!(e.to_string(), "no key could decrypt secret (A, B)");
}

#[test]
fn malformed_items_are_named() {
    let mut ss = sealed("ns", "app", &[("GOOD", b"1")], 0);
    ss.spec.encrypted_data.insert("B64", "not base64!");
    ss.spec.encrypted_data.insert("SHORT", "AAA=");
    let e = crate::fixtures::unseal(&ss, &keyset(&[0])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "item \"B64\": value is not valid base64; no key could decrypt secret (SHORT)"
    );
    let ss: SealedSecret = serde_json::from_value(serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "app", "namespace": "ns"},
        "spec": {"encryptedData": {"NUM": 42}}
    }))
    .unwrap();
    let e = crate::fixtures::unseal(&ss, &keyset(&[0])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "item \"NUM\": value is a number, not a string"
    );
}

#[test]
fn scope_errors_and_cluster_wide() {
    let mut ss = sealed("ns", "app", &[], 0);
    ss.metadata.namespace = None;
    let e = crate::fixtures::unseal(&ss, &keyset(&[0])).unwrap_err();
    assert!(e.to_string().contains("metadata.namespace"), "{e}");

    let mut ss = sealed("ns", "app", &[], 0);
    ss.metadata.annotations = Some(map(&[(CLUSTER_WIDE_ANNOTATION, "true")]));
    seal_into(&mut ss, &Scope::ClusterWide, &[("A", b"x")], 1);
    assert_eq!(data(&unsealed(&ss))["A"], b"x");
}

#[test]
fn huge_values_are_refused() {
    let big = vec![b'x'; MAX_SECRET_DATA / 2 + 1];
    let ss = sealed("ns", "app", &[("A", &big), ("B", &big)], 0);
    let e = crate::fixtures::unseal(&ss, &keyset(&[0])).unwrap_err();
    assert!(e.to_string().contains("over the 1 MiB limit"), "{e}");
}

#[test]
fn template_data_renders_and_wins() {
    let mut ss = sealed("ns", "app", &[("user", b"admin"), ("pass", CANARY)], 0);
    ss.spec.template.data = Some(map(&[
        ("url", "postgres://{{ .user }}:{{ .pass }}@db"),
        ("user", "{{ .user | upper }}"),
    ]));
    let d = data(&unsealed(&ss));
    assert_eq!(d["user"], b"ADMIN");
    assert_eq!(
        d["url"],
        [b"postgres://admin:".as_slice(), CANARY, b"@db"].concat()
    );
    assert_eq!(d["pass"], CANARY);

    ss.spec.template.data = Some(map(&[("x", "{{ .pass | htpasswd .user }}")]));
    let e = crate::fixtures::unseal(&ss, &keyset(&[0])).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("template \"x\": function \"htpasswd\""),
        "{e}"
    );
    assert!(!e.to_string().contains("canary"));
}

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

#[test]
fn legacy_v1_data() {
    let mut ss = sealed("ns", "app", &[], 0);
    let inner = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "app", "labels": {"from": "v1"}},
        "type": "Opaque",
        "data": {"A": "MQ=="},
        "stringData": {"B": "two"}
    });
    seal_v1(&mut ss, &inner, 0);
    let s = unsealed(&ss);
    assert_eq!(
        data(&s),
        BTreeMap::from([("A".into(), b"1".to_vec()), ("B".into(), b"two".to_vec())])
    );
    assert_eq!(s.metadata.labels, Some(map(&[("from", "v1")])));
    let e = unseal(
        &ss,
        &keyset(&[0]),
        UnsealOptions {
            accept_v1_data: false,
        },
        &InProcess,
    )
    .unwrap_err();
    assert_eq!(e, UnsealError::V1Disabled);
    ss.spec.encrypted_data.insert("X", "AgA=");
    let e = crate::fixtures::unseal(&ss, &keyset(&[0])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
    );
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
