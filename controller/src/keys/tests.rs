use std::time::{Duration, SystemTime};

use k8s_openapi::{ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Time};

use super::*;
use crate::fixtures::{cert, key_pems, private_key};

pub(super) fn key_secret_for(i: usize, name: &str, label: Option<&str>) -> Secret {
    let (cert_pem, key_pem) = &key_pems()[i];
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: label
                .map(|v| BTreeMap::from([(SEALED_SECRETS_KEY_LABEL.to_owned(), v.to_owned())])),
            creation_timestamp: Some(Time(
                k8s_openapi::jiff::Timestamp::from_second(1_800_000_000 - i as i64 * 1000).unwrap(),
            )),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(BTreeMap::from([
            ("tls.crt".into(), ByteString(cert_pem.clone().into_bytes())),
            ("tls.key".into(), ByteString(key_pem.clone().into_bytes())),
        ])),
        ..Secret::default()
    }
}

#[test]
fn parses_pkcs1_and_pkcs8() {
    let s = key_secret_for(0, "k0", Some("active"));
    let (entry, key) = parse_key_secret(&s).unwrap();
    assert_eq!(entry.certificate.fingerprint(), key.fingerprint());
    let mut s8 = s.clone();
    s8.data.as_mut().unwrap().insert(
        "tls.key".into(),
        ByteString(private_key(0).to_pkcs8_pem().expose().as_bytes().to_vec()),
    );
    assert!(parse_key_secret(&s8).is_ok());
}

#[test]
fn bad_key_secrets_are_reported_not_fatal() {
    let mut missing = key_secret_for(0, "k", Some("active"));
    missing.data.as_mut().unwrap().remove("tls.key");
    assert_eq!(
        parse_key_secret(&missing).unwrap_err(),
        KeySecretError::Missing("tls.key")
    );
    let mut garbage = key_secret_for(0, "k", Some("active"));
    garbage
        .data
        .as_mut()
        .unwrap()
        .insert("tls.crt".into(), ByteString(b"junk".to_vec()));
    assert!(matches!(
        parse_key_secret(&garbage),
        Err(KeySecretError::Certificate(_))
    ));
    let mut mixed = key_secret_for(0, "k", Some("active"));
    mixed.data.as_mut().unwrap().insert(
        "tls.key".into(),
        ByteString(key_pems()[1].1.clone().into_bytes()),
    );
    assert_eq!(
        parse_key_secret(&mixed).unwrap_err(),
        KeySecretError::Mismatch
    );
    let msg = parse_key_secret(&mixed).unwrap_err().to_string();
    assert!(!msg.contains("PRIVATE"));

    let registry = KeyRegistry::new("sealed-secrets-key", KeyOrderPriority::CertNotBefore);
    assert!(matches!(
        registry.apply(&garbage, true),
        KeyChange::Invalid(_)
    ));
    assert_eq!(registry.invalid().len(), 1);
    assert!(registry.snapshot().keys.is_empty());
}

#[test]
fn newest_first_and_live_changes() {
    let registry = KeyRegistry::new("sealed-secrets-key", KeyOrderPriority::CertNotBefore);
    let rx = registry.subscribe();
    for (i, name) in [(1, "k1"), (0, "k0"), (2, "k2")] {
        registry.apply(&key_secret_for(i, name, Some("active")), false);
    }
    registry.rebuild();
    assert!(rx.has_changed().unwrap());
    let snap = registry.snapshot();
    let order: Vec<&str> = snap
        .certificates
        .iter()
        .map(|c| c.secret_name.as_str())
        .collect();
    assert_eq!(order, ["k2", "k1", "k0"]);
    assert_eq!(snap.latest().unwrap().fingerprint(), cert(2).fingerprint());
    let fps: Vec<_> = snap.keys.iter().map(|k| k.fingerprint().clone()).collect();
    assert_eq!(fps[0], *cert(2).fingerprint());

    // Relabelled away from "active": removed.
    assert_eq!(
        registry.apply(&key_secret_for(2, "k2", Some("compromised")), true),
        KeyChange::Removed
    );
    assert_eq!(
        registry.snapshot().latest().unwrap().fingerprint(),
        cert(1).fingerprint()
    );
    // Deleted.
    assert!(registry.remove("k1", true));
    assert_eq!(registry.snapshot().keys.len(), 1);
    // Re-applying the same Secret changes nothing.
    assert_eq!(
        registry.apply(&key_secret_for(0, "k0", Some("active")), true),
        KeyChange::Unchanged
    );
    // The legacy Secret (named exactly the prefix) loads without a label.
    assert!(matches!(
        registry.apply(&key_secret_for(1, "sealed-secrets-key", None), true),
        KeyChange::Loaded(_)
    ));
    assert_eq!(registry.snapshot().keys.len(), 2);
}

#[test]
fn secret_creation_order() {
    let registry = KeyRegistry::new("p", KeyOrderPriority::SecretCreationTimestamp);
    for i in 0..3 {
        registry.apply(&key_secret_for(i, &format!("k{i}"), Some("active")), false);
    }
    registry.rebuild();
    // key_secret_for gives key 0 the newest creationTimestamp.
    assert_eq!(registry.snapshot().certificates[0].secret_name, "k0");
}

#[test]
fn generated_key_secret_has_bitnami_shape() {
    let extra = BTreeMap::from([
        (
            SEALED_SECRETS_KEY_LABEL.to_owned(),
            "compromised".to_owned(),
        ),
        ("team".to_owned(), "x".to_owned()),
    ]);
    let s = key_secret(
        "sealed-secrets-key",
        "kube-system",
        &private_key(0),
        &cert(0),
        &extra,
        &BTreeMap::new(),
    );
    assert_eq!(
        s.metadata.generate_name.as_deref(),
        Some("sealed-secrets-key")
    );
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
    let labels = s.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[SEALED_SECRETS_KEY_LABEL], "active");
    assert_eq!(labels["team"], "x");
    let key = &s.data.as_ref().unwrap()["tls.key"].0;
    assert!(key.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    let mut named = s.clone();
    named.metadata.name = Some("sealed-secrets-keyabcde".into());
    assert!(parse_key_secret(&named).is_ok());
}

#[test]
fn renewal_rules() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let day = Duration::from_secs(86_400);
    assert_eq!(renewal(None, day, None, t0), Renewal::Now);
    assert_eq!(
        renewal(Some(t0), day, None, t0 + day / 2),
        Renewal::After(day / 2)
    );
    assert_eq!(renewal(Some(t0), day, None, t0 + day), Renewal::Now);
    assert_eq!(
        renewal(Some(t0), Duration::ZERO, None, t0 + day * 99),
        Renewal::Never
    );
    assert_eq!(
        renewal(Some(t0), Duration::ZERO, Some(t0 + day), t0),
        Renewal::Now
    );
    assert_eq!(renewal(Some(t0), day, Some(t0), t0), Renewal::After(day));
}

/// Issue 14 (key injection): a key whose certificate is not valid yet is never served as the
/// newest, whatever `--key-order-priority` says; it still decrypts. The fixture keys have
/// NotBefore 2024-01-01, -02 and -03 (00:00 UTC).
#[test]
fn a_key_not_valid_yet_is_never_the_newest() {
    let day = |d: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200 + d * 86_400);
    let registry = KeyRegistry::new("sealed-secrets-key", KeyOrderPriority::CertNotBefore);
    for i in 0..3 {
        registry.apply(&key_secret_for(i, &format!("k{i}"), Some("active")), false);
    }
    registry.rebuild();
    let snap = registry.snapshot();
    assert_eq!(snap.keys.len(), 3, "every key decrypts");
    // Midday on the 2nd: key 2 (NotBefore the 3rd) lies 12 h ahead.
    let noon = day(1) + Duration::from_secs(12 * 3600);
    assert_eq!(
        snap.latest_at(noon).unwrap().fingerprint(),
        cert(1).fingerprint()
    );
    assert_eq!(snap.newest_at(noon), Some(day(1)));
    let pending: Vec<&str> = snap
        .not_yet_valid(noon)
        .map(|c| c.secret_name.as_str())
        .collect();
    assert_eq!(pending, ["k2"]);
    // Within the allowed skew it counts as valid; beyond it, not.
    let skew = NOT_BEFORE_SKEW;
    assert!(servable(&cert(2), day(2) - skew));
    assert!(!servable(&cert(2), day(2) - skew - Duration::from_secs(1)));
    assert_eq!(
        snap.latest_at(day(2) - skew).unwrap().fingerprint(),
        cert(2).fingerprint()
    );
    assert_eq!(snap.not_yet_valid(day(2)).count(), 0);
    // Renewal looks again when key 2 becomes servable: 12 h minus the skew after noon.
    assert_eq!(
        snap.next_validity_change(noon),
        Some(Duration::from_secs(12 * 3600) - skew)
    );
    assert_eq!(snap.next_validity_change(day(2)), None);
    // Before every key: nothing to serve (renewal then generates a key valid now).
    assert!(snap.latest_at(day(0) - Duration::from_secs(3600)).is_none());
    assert_eq!(snap.newest_at(day(0) - Duration::from_secs(3600)), None);
}

#[test]
fn a_key_not_valid_yet_is_never_the_newest_by_creation_time_either() {
    let day = |d: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200 + d * 86_400);
    let registry = KeyRegistry::new(
        "sealed-secrets-key",
        KeyOrderPriority::SecretCreationTimestamp,
    );
    // key_secret_for gives key 0 the newest creationTimestamp; k2 is made the newest of all.
    let mut planted = key_secret_for(2, "k2", Some("active"));
    planted.metadata.creation_timestamp = Some(Time(
        k8s_openapi::jiff::Timestamp::from_second(1_900_000_000).unwrap(),
    ));
    registry.apply(&planted, false);
    for i in 0..2 {
        registry.apply(&key_secret_for(i, &format!("k{i}"), Some("active")), false);
    }
    registry.rebuild();
    let snap = registry.snapshot();
    assert_eq!(snap.certificates[0].secret_name, "k2", "newest by creation");
    // On the 2nd, k2's certificate (NotBefore the 3rd) is not valid yet: the next newest is
    // served, and renewal counts from it.
    let noon = day(1) + Duration::from_secs(12 * 3600);
    assert_eq!(
        snap.latest_at(noon).unwrap().fingerprint(),
        cert(0).fingerprint()
    );
    assert_eq!(snap.newest_at(noon), Some(snap.certificates[1].order_time));
    assert_eq!(
        registry.not_before("k2"),
        Some(day(2)),
        "the NotBefore the watch reports"
    );
    // From the 3rd on, k2 is served.
    assert_eq!(
        snap.latest_at(day(2)).unwrap().fingerprint(),
        cert(2).fingerprint()
    );
}
