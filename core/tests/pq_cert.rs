//! The X-Wing key in the certificate (`docs/pq-format.md` §5.2): a key made with
//! `generate_with_pq` carries its public key in a non-critical `subjectAltPublicKeyInfo`
//! extension that kseal reads back, and the certificate still works for RSA sealing.
//! (That Go's parser, so kubeseal, still takes it is checked in `cli/tests/kubeseal_offline.rs`.)

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime},
};

use kseal_core::{
    CertParams, Certificate, KeySet, KeySize, NamespaceName, ObjectName, PrivateKey, Scope,
    SecretKeyName, keys, pq,
    pq::encoding::{ALT_PUBLIC_KEY_EXTENSION, ID_XWING},
};
use x509_cert::der::{Decode as _, DecodePem as _};

fn params() -> CertParams {
    CertParams {
        key_size: KeySize::Rsa2048,
        not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        validity: Duration::from_secs(86_400),
        common_name: "kseal-pq-test".into(),
        serial: [5; 16],
    }
}

/// One generated key with its X-Wing part, and its certificate as PEM.
fn generated() -> &'static (PrivateKey, String) {
    static KEY: OnceLock<(PrivateKey, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let (key, cert) = keys::generate_with_pq(&params()).unwrap();
        (key, cert.to_pem())
    })
}

fn scope() -> Scope {
    Scope::Strict {
        namespace: NamespaceName::parse("shop").unwrap(),
        name: ObjectName::parse("app").unwrap(),
    }
}

#[test]
fn the_certificate_carries_the_key_it_was_made_with() {
    let (key, pem) = generated();
    let cert = Certificate::from_pem(pem.as_bytes()).unwrap();
    let pq_key = key.pq().expect("generate_with_pq keeps the X-Wing key");
    assert_eq!(cert.pq_public_key(), Some(pq_key.public_key()));
    assert_eq!(cert.fingerprint(), key.fingerprint());
    assert!(format!("{cert:?}").contains("X-Wing"));

    // The extension as any X.509 parser sees it: 2.5.29.72, not critical, an id-XWing SPKI.
    let x509 = x509_cert::Certificate::from_pem(pem.as_bytes()).unwrap();
    let extensions = x509.tbs_certificate.extensions.unwrap();
    let ours: Vec<_> = extensions
        .iter()
        .filter(|e| e.extn_id == ALT_PUBLIC_KEY_EXTENSION)
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(!ours[0].critical);
    let spki =
        x509_cert::spki::SubjectPublicKeyInfoRef::from_der(ours[0].extn_value.as_bytes()).unwrap();
    assert_eq!(spki.algorithm.oid, ID_XWING);
    assert_eq!(spki.algorithm.parameters, None);
    assert_eq!(
        spki.subject_public_key.raw_bytes(),
        pq_key.public_key().to_bytes()
    );
}

#[test]
fn the_certificate_still_seals_rsa_and_pq() {
    let (key, pem) = generated();
    let cert = Certificate::from_pem(pem.as_bytes()).unwrap();
    let keyset: KeySet = [PrivateKey::from_pem(key.to_pkcs1_pem().expose().as_bytes())
        .unwrap()
        .with_pq(
            pq::keys::PqPrivateKey::from_pkcs8_pem(
                key.pq().unwrap().to_pkcs8_pem().expose().as_bytes(),
            )
            .unwrap(),
        )]
    .into_iter()
    .collect();
    let rsa = kseal_core::seal(&cert, &scope(), b"rsa value");
    assert_eq!(
        kseal_core::open(&keyset, &scope(), &rsa, None)
            .unwrap()
            .plaintext
            .expose(),
        b"rsa value"
    );
    let item = SecretKeyName::parse("A").unwrap();
    let sealed = pq::seal(cert.pq_public_key().unwrap(), &scope(), &item, b"pq value");
    assert_eq!(
        pq::open(&keyset, &scope(), &item, &sealed, None)
            .unwrap()
            .plaintext
            .expose(),
        b"pq value"
    );
}

#[test]
fn bitnami_shaped_certificates_have_no_pq_key() {
    let (_, cert) = keys::generate(&params()).unwrap();
    assert_eq!(cert.pq_public_key(), None);
    let der = cert.der().to_vec();
    let back = Certificate::from_der(&der).unwrap();
    assert_eq!(back.pq_public_key(), None);
    let x509 = x509_cert::Certificate::from_der(&der).unwrap();
    assert!(
        x509.tbs_certificate
            .extensions
            .unwrap_or_default()
            .iter()
            .all(|e| e.extn_id != ALT_PUBLIC_KEY_EXTENSION)
    );
}
