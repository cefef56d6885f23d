//! Key Secrets with a post-quantum part (`docs/pq-format.md` §5.2): written with `xwing.key`,
//! loaded into keys that open `pq-hybrid` values, and refused when the parts do not belong
//! together. Key Secrets without it (Bitnami's) keep loading as RSA-only keys.

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime},
};

use k8s_openapi::ByteString;
use kseal_core::{
    CertParams, KeySize, PqPrivateKey, Scope, SecretKeyName, keys::generate_with_pq,
    pq::encoding::KEY_SECRET_FIELD,
};

use super::*;

/// One generated key with its X-Wing part, as the controller writes it.
fn pq_key_secret() -> &'static Secret {
    static SECRET: OnceLock<Secret> = OnceLock::new();
    SECRET.get_or_init(|| {
        let (key, cert) = generate_with_pq(&CertParams {
            key_size: KeySize::Rsa2048,
            not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            validity: Duration::from_secs(86_400),
            common_name: String::new(),
            serial: [9; 16],
        })
        .unwrap();
        let mut s = key_secret(
            "sealed-secrets-key",
            "kube-system",
            &key,
            &cert,
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        s.metadata.name = Some("sealed-secrets-keypq".into());
        s
    })
}

#[test]
fn writes_and_loads_the_post_quantum_part() {
    let secret = pq_key_secret();
    let data = secret.data.as_ref().unwrap();
    assert_eq!(
        data.keys().map(String::as_str).collect::<Vec<_>>(),
        ["tls.crt", "tls.key", KEY_SECRET_FIELD]
    );
    assert!(
        data[KEY_SECRET_FIELD]
            .0
            .starts_with(b"-----BEGIN PRIVATE KEY-----\n")
    );

    let (entry, key) = parse_key_secret(secret).unwrap();
    let public = entry
        .certificate
        .pq_public_key()
        .expect("the certificate carries it");
    assert_eq!(key.pq().map(PqPrivateKey::public_key), Some(public));

    // Through the registry: the snapshot's key opens a value sealed to the certificate.
    let registry = KeyRegistry::new("sealed-secrets-key", KeyOrderPriority::CertNotBefore);
    assert!(matches!(registry.apply(secret, true), KeyChange::Loaded(_)));
    let snapshot = registry.snapshot();
    let scope = Scope::Strict {
        namespace: "ns".parse().unwrap(),
        name: "app".parse().unwrap(),
    };
    let item = SecretKeyName::parse("A").unwrap();
    let sealed = kseal_core::pq::seal(public, &scope, &item, b"v");
    let opened = kseal_core::pq::open(&snapshot.keys, &scope, &item, &sealed, None).unwrap();
    assert_eq!(opened.plaintext.expose(), b"v");
    assert_eq!(&opened.key, entry.certificate.fingerprint());

    // The backup carries it, and kseal's key-file reader (`unseal --key`) attaches it.
    let (body, _) = registry.backup("kube-system").unwrap();
    let keys: KeySet = kseal_core::manifest::parse_private_keys(body.expose())
        .unwrap()
        .into_iter()
        .collect();
    assert!(kseal_core::pq::open(&keys, &scope, &item, &sealed, None).is_ok());
}

#[test]
fn parts_that_do_not_belong_together_are_refused() {
    let mut other = pq_key_secret().clone();
    other.data.as_mut().unwrap().insert(
        KEY_SECRET_FIELD.into(),
        ByteString(
            PqPrivateKey::from_seed(&[3; 32])
                .unwrap()
                .to_pkcs8_pem()
                .expose()
                .as_bytes()
                .to_vec(),
        ),
    );
    assert_eq!(
        parse_key_secret(&other).unwrap_err(),
        KeySecretError::PqMismatch
    );

    let mut junk = pq_key_secret().clone();
    junk.data
        .as_mut()
        .unwrap()
        .insert(KEY_SECRET_FIELD.into(), ByteString(b"not a key".to_vec()));
    let e = parse_key_secret(&junk).unwrap_err();
    assert!(matches!(e, KeySecretError::PqKey(_)), "{e}");
    assert!(e.to_string().starts_with("data.xwing.key: "), "{e}");
}

#[test]
fn bitnami_key_secrets_load_rsa_only() {
    // The fixture keys are Bitnami-shaped: no xwing.key, no extension.
    let (entry, key) =
        parse_key_secret(&super::tests::key_secret_for(0, "k", Some("active"))).unwrap();
    assert!(entry.certificate.pq_public_key().is_none());
    assert!(key.pq().is_none());
    // Without the extension, a key Secret's xwing.key is still loaded (it opens values).
    let mut with_pq = super::tests::key_secret_for(0, "k", Some("active"));
    with_pq.data.as_mut().unwrap().insert(
        KEY_SECRET_FIELD.into(),
        ByteString(
            PqPrivateKey::from_seed(&[4; 32])
                .unwrap()
                .to_pkcs8_pem()
                .expose()
                .as_bytes()
                .to_vec(),
        ),
    );
    assert!(parse_key_secret(&with_pq).unwrap().1.pq().is_some());
}
