//! `SealedSecret::open_items` and `unseal` on `pq-hybrid` items (`docs/pq-format.md`): both
//! formats through the one opening path, the item key bound, one coarse error for every failure.

use std::collections::BTreeMap;

use kseal_core::{Encryption, ScopeKind, sealed};

use crate::{
    SealedSecret, SealedSecretSpec, UnsealOptions,
    fixtures::{data, keyset, keyset_pq, seal_into, seal_pq_into},
    set_scope_annotations,
};

const CANARY: &[u8] = b"canary-pq-5e1d-do-not-log";

/// An empty SealedSecret `ns/app` in scope `kind`.
fn empty(kind: ScopeKind) -> SealedSecret {
    let mut ss = SealedSecret::new("app", SealedSecretSpec::default());
    ss.metadata.namespace = Some("ns".into());
    ss.metadata.uid = Some("uid-app".into());
    set_scope_annotations(&mut ss.metadata, kind);
    ss
}

/// The error `open_items` gives; a success fails the test without showing any plaintext.
fn open_err(ss: &SealedSecret, keys: &kseal_core::KeySet) -> String {
    match ss.open_items(keys, UnsealOptions::default()) {
        Ok(opened) => panic!("{} item(s) opened, which must not", opened.items.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn round_trip_in_every_scope() {
    for kind in [
        ScopeKind::Strict,
        ScopeKind::NamespaceWide,
        ScopeKind::ClusterWide,
    ] {
        let mut ss = empty(kind);
        let scope = ss.scope().unwrap();
        seal_pq_into(&mut ss, &scope, &[("A", CANARY), ("b.key", b"")], 1);
        let text = ss
            .spec
            .encrypted_data
            .get("A")
            .unwrap()
            .as_sealed()
            .unwrap();
        assert!(text.starts_with("ksealPQ1"), "{kind:?}");
        assert_eq!(
            Encryption::of(&sealed::decode_base64(text).unwrap()),
            Encryption::PqHybrid
        );

        let opened = ss
            .open_items(&keyset_pq(&[2, 1, 0]), UnsealOptions::default())
            .unwrap();
        assert_eq!(opened.keys_used.len(), 1, "{kind:?}");
        assert_eq!(
            (opened.rsa_operations, opened.pq_operations),
            (0, 4),
            "{kind:?}"
        );
        let items: BTreeMap<_, _> = opened
            .items
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(items, BTreeMap::from([("A", CANARY), ("b.key", &b""[..])]));

        // The controller and `kseal unseal` build their Secret from the same items.
        let u = crate::fixtures::unseal(&ss, &keyset_pq(&[1])).unwrap();
        assert_eq!(data(&u.secret)["A"], CANARY, "{kind:?}");
        assert_eq!(u.pq_operations, 2);
        assert!(!format!("{u:?}").contains("canary"));
    }
}

#[test]
fn a_value_moved_to_another_item_does_not_open() {
    let mut ss = empty(ScopeKind::Strict);
    let scope = ss.scope().unwrap();
    seal_pq_into(&mut ss, &scope, &[("A", CANARY), ("B", b"2")], 0);
    let a = ss.spec.encrypted_data.get("A").unwrap().clone();
    ss.spec.encrypted_data.insert("B", a.as_sealed().unwrap());
    // The same value under a key that is not a valid Secret key cannot be for it either.
    ss.spec
        .encrypted_data
        .insert("not a key!", a.as_sealed().unwrap());
    let e = open_err(&ss, &keyset_pq(&[0]));
    assert_eq!(e, "no key could decrypt secret (B, not a key!)");
    assert!(!e.contains("canary"));
}

#[test]
fn failures_are_the_one_coarse_error() {
    let mut ss = empty(ScopeKind::Strict);
    let scope = ss.scope().unwrap();
    seal_pq_into(&mut ss, &scope, &[("A", CANARY)], 0);
    let expected = "no key could decrypt secret (A)";
    // Another key's post-quantum part, and keys with no post-quantum part at all.
    assert_eq!(open_err(&ss, &keyset_pq(&[1, 2])), expected);
    assert_eq!(open_err(&ss, &keyset(&[0, 1, 2])), expected);
    // Another scope: the same object under another name, and namespace-wide.
    let mut moved = ss.clone();
    moved.metadata.name = Some("other".into());
    assert_eq!(open_err(&moved, &keyset_pq(&[0])), expected);
    let mut wider = ss.clone();
    set_scope_annotations(&mut wider.metadata, ScopeKind::NamespaceWide);
    assert_eq!(open_err(&wider, &keyset_pq(&[0])), expected);
    // A changed byte and a truncation behind the marker.
    let blob = sealed::decode_base64(
        ss.spec
            .encrypted_data
            .get("A")
            .unwrap()
            .as_sealed()
            .unwrap(),
    )
    .unwrap();
    for broken in [
        {
            let mut b = blob.clone();
            b[blob.len() / 2] ^= 0x01;
            b
        },
        blob[..blob.len() - 1].to_vec(),
        blob[..8].to_vec(),
    ] {
        let mut t = ss.clone();
        t.spec
            .encrypted_data
            .insert("A", sealed::encode_base64(&broken));
        assert_eq!(open_err(&t, &keyset_pq(&[0])), expected);
    }
}

#[test]
fn rsa_and_pq_items_mix_in_one_sealed_secret() {
    let mut ss = empty(ScopeKind::Strict);
    let scope = ss.scope().unwrap();
    seal_into(&mut ss, &scope, &[("RSA", b"r")], 0);
    seal_pq_into(&mut ss, &scope, &[("PQ", CANARY)], 2);
    let opened = ss
        .open_items(&keyset_pq(&[2, 0]), UnsealOptions::default())
        .unwrap();
    // RSA: key 2 is tried first (a wrong modulus-sized block costs an RSA operation), then 0.
    assert_eq!((opened.rsa_operations, opened.pq_operations), (2, 1));
    assert_eq!(opened.keys_used.len(), 2);
    let d = data(
        &crate::fixtures::unseal(&ss, &keyset_pq(&[2, 0]))
            .unwrap()
            .secret,
    );
    assert_eq!(
        d,
        BTreeMap::from([
            ("PQ".into(), CANARY.to_vec()),
            ("RSA".into(), b"r".to_vec())
        ])
    );
    // Without key 2's post-quantum part only the pq item fails, by name.
    let mut no_pq = keyset(&[2]);
    no_pq.push(crate::fixtures::private_key(0));
    assert_eq!(open_err(&ss, &no_pq), "no key could decrypt secret (PQ)");
}
