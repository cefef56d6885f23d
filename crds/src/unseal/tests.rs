//! `SealedSecret::open_items` and `SealedSecret::unseal`: the Secret a SealedSecret asks for,
//! and why not. (What is then written, given the Secret that exists, is the controller's
//! `decide::plan`, tested there.)

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kseal_core::{MAX_SECRET_DATA, Scope};
use kseal_template::InProcess;

use crate::{
    CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, SealedSecret, UnsealError, UnsealOptions,
    fixtures::{cert, data, keyset, map, seal_into, seal_v1, sealed, unsealed},
};

const CANARY: &[u8] = b"canary-7f3a9c-do-not-log";

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
    let e = ss
        .unseal(
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
