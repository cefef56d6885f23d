//! Round trips, wrong labels and malformed input for the hybrid format (`docs/wire-format.md` §8).

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime},
};

use kseal_core::{
    CertParams, Certificate, KeySet, KeySize, NamespaceName, ObjectName, OpenError, PrivateKey,
    Scope, keys, open, open_base64, seal, seal_base64, seal_with_rng, sealed,
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};

struct Pair {
    key_pem: String,
    cert: Certificate,
}

fn params(size: KeySize) -> CertParams {
    CertParams {
        key_size: size,
        not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        validity: keys::DEFAULT_KEY_TTL,
        common_name: String::new(),
        serial: [0xab; 16],
    }
}

fn pair(size: KeySize) -> &'static Pair {
    static P2048: OnceLock<Pair> = OnceLock::new();
    static P4096: OnceLock<Pair> = OnceLock::new();
    let cell = match size {
        KeySize::Rsa2048 => &P2048,
        _ => &P4096,
    };
    cell.get_or_init(|| {
        let (key, cert) = keys::generate(&params(size)).unwrap();
        Pair {
            key_pem: key.to_pkcs1_pem().expose().to_owned(),
            cert,
        }
    })
}

fn keyset(size: KeySize) -> KeySet {
    [PrivateKey::from_pem(pair(size).key_pem.as_bytes()).unwrap()]
        .into_iter()
        .collect()
}

fn ns(s: &str) -> NamespaceName {
    NamespaceName::parse(s).unwrap()
}

fn strict(n: &str, name: &str) -> Scope {
    Scope::Strict {
        namespace: ns(n),
        name: ObjectName::parse(name).unwrap(),
    }
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(7)
}

const SIZES: [KeySize; 2] = [KeySize::Rsa2048, KeySize::Rsa4096];

fn scopes() -> Vec<Scope> {
    vec![
        strict("myns", "myname"),
        Scope::NamespaceWide {
            namespace: ns("myns"),
        },
        Scope::ClusterWide,
    ]
}

#[test]
fn round_trip_every_scope_and_key_size() {
    for size in SIZES {
        let keys = keyset(size);
        for scope in scopes() {
            let text = seal_base64(&pair(size).cert, &scope, b"postgres://u:p@db/app");
            let prefix = if size == KeySize::Rsa2048 { "AQ" } else { "Ag" };
            assert!(text.starts_with(prefix), "{size:?} prefix");
            let opened = open_base64(&keys, &scope, &text, None).unwrap();
            assert_eq!(opened.plaintext.expose(), b"postgres://u:p@db/app");
            assert_eq!(opened.rsa_operations, 1);
            assert_eq!(&opened.key, pair(size).cert.fingerprint());
        }
    }
}

#[test]
fn empty_binary_and_large_values() {
    let keys = keyset(KeySize::Rsa4096);
    let cert = &pair(KeySize::Rsa4096).cert;
    let scope = Scope::ClusterWide;
    // R4: an empty value is a 530-byte blob, 708 base64 characters.
    let empty = seal_base64(cert, &scope, b"");
    assert_eq!(empty.len(), 708);
    assert!(
        open_base64(&keys, &scope, &empty, None)
            .unwrap()
            .plaintext
            .is_empty()
    );
    // R5: every byte value.
    let all: Vec<u8> = (0..=255).collect();
    let blob = seal(cert, &scope, &all);
    assert_eq!(
        open(&keys, &scope, &blob, None).unwrap().plaintext.expose(),
        &all[..]
    );
    // R6: just under 1 MiB.
    let big = vec![0x5a; (1 << 20) - 1];
    let blob = seal(cert, &scope, &big);
    assert_eq!(blob.len(), sealed::sealed_len(512, big.len()));
    assert_eq!(
        open(&keys, &scope, &blob, None).unwrap().plaintext.expose(),
        &big[..]
    );
}

#[test]
fn wrong_label_for_every_pair_of_scopes() {
    let keys = keyset(KeySize::Rsa2048);
    let cert = &pair(KeySize::Rsa2048).cert;
    let all = vec![
        strict("ns", "a"),
        strict("ns", "b"),
        strict("other", "a"),
        Scope::NamespaceWide {
            namespace: ns("ns"),
        },
        Scope::NamespaceWide {
            namespace: ns("other"),
        },
        // The plain concatenation the upstream crypto doc wrongly describes: label "nsa".
        Scope::NamespaceWide {
            namespace: ns("nsa"),
        },
        Scope::ClusterWide,
    ];
    for sealed_as in &all {
        let text = seal_base64(cert, sealed_as, b"v");
        for opened_as in &all {
            let result = open_base64(&keys, opened_as, &text, None);
            if sealed_as == opened_as {
                assert!(result.is_ok(), "{sealed_as} must open as itself");
            } else {
                assert_eq!(
                    result.unwrap_err(),
                    OpenError,
                    "{sealed_as} opened as {opened_as}"
                );
            }
        }
    }
}

#[test]
fn malformed_input_gets_the_one_coarse_error() {
    let keys = keyset(KeySize::Rsa4096);
    let scope = strict("ns", "a");
    let good = seal(&pair(KeySize::Rsa4096).cert, &scope, b"CANARY-value");
    let flip = |i: usize| {
        let mut b = good.clone();
        b[i] ^= 1;
        b
    };
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("M1 tag bit", flip(good.len() - 1)),
        ("M2 ciphertext bit", flip(2 + 512)),
        ("M3 RSA block bit", flip(2 + 100)),
        ("M4 truncated by one", good[..good.len() - 1].to_vec()),
        ("M4 truncated into RSA block", good[..2 + 511].to_vec()),
        ("M5 tag removed", good[..good.len() - 16].to_vec()),
        ("M8 empty", vec![]),
        ("M8 one byte", vec![0x02]),
    ];
    let mut prefix_too_large = good.clone();
    prefix_too_large[0] = 0xff;
    cases.push(("M6 prefix larger than data", prefix_too_large));
    let mut prefix_small = good.clone();
    prefix_small[0] = 0x01;
    cases.push(("M7 prefix smaller than the modulus", prefix_small));
    for (name, blob) in cases {
        let err = open(&keys, &scope, &blob, None).unwrap_err();
        assert_eq!(err.to_string(), "no key could decrypt secret", "{name}");
    }
    let text = sealed::encode_base64(&good);
    let b64_cases = [
        ("M9 unpadded", text.trim_end_matches('=').to_owned() + "A"),
        ("M10 URL-safe", text.replace('+', "-").replace('/', "_")),
        ("M11 space", format!("{} {}", &text[..10], &text[10..])),
    ];
    for (name, text) in b64_cases {
        if text == sealed::encode_base64(&good) {
            continue; // the random text happened to contain no character the mutation changes
        }
        assert_eq!(
            open_base64(&keys, &scope, &text, None).unwrap_err(),
            OpenError,
            "{name}"
        );
    }
    // R9: line breaks inside the base64 are skipped, as Go does.
    let wrapped: String = text
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    assert!(open_base64(&keys, &scope, &wrapped, None).is_ok());
}

#[test]
fn key_set_order_hint_and_fallback() {
    // R8: three keys, value sealed to the oldest; the outcome does not depend on order.
    let (k1, c1) = keys::generate(&params(KeySize::Rsa2048)).unwrap();
    let (k2, _) = keys::generate(&params(KeySize::Rsa2048)).unwrap();
    let k4096 = PrivateKey::from_pem(pair(KeySize::Rsa4096).key_pem.as_bytes()).unwrap();
    let fp1 = k1.fingerprint().clone();
    let scope = Scope::ClusterWide;
    let blob = seal(&c1, &scope, b"x");
    let set: KeySet = [k4096, k2, k1].into_iter().collect();
    let opened = open(&set, &scope, &blob, None).unwrap();
    assert_eq!(opened.key, fp1);
    // The 4096-bit key is skipped without an RSA operation (length mismatch); k2 costs one.
    assert_eq!(opened.rsa_operations, 2);
    // With the fingerprint hint the right key is tried first.
    assert_eq!(
        open(&set, &scope, &blob, Some(&fp1))
            .unwrap()
            .rsa_operations,
        1
    );
    // A stale hint falls back to the whole set.
    let stale = pair(KeySize::Rsa4096).cert.fingerprint().clone();
    assert!(open(&set, &scope, &blob, Some(&stale)).is_ok());
}

#[test]
fn certificates_and_private_keys() {
    let p = pair(KeySize::Rsa2048);
    let pem = p.cert.to_pem();
    let chain = format!("{pem}{}", pair(KeySize::Rsa4096).cert.to_pem());
    let first = Certificate::from_pem(chain.as_bytes()).unwrap();
    assert_eq!(
        first.fingerprint(),
        p.cert.fingerprint(),
        "first certificate of a chain wins"
    );
    assert_eq!(first.modulus_len(), 256);
    let epoch = SystemTime::UNIX_EPOCH;
    assert!(
        first
            .check_not_expired(epoch + Duration::from_secs(1_700_000_000))
            .is_ok()
    );
    let later =
        epoch + Duration::from_secs(1_700_000_000) + keys::DEFAULT_KEY_TTL + Duration::from_secs(1);
    let err = first.check_not_expired(later).unwrap_err();
    assert!(
        err.to_string().starts_with("certificate expired on 2033-"),
        "{err}"
    );
    // PKCS#1 and PKCS#8 give the same key.
    let k1 = PrivateKey::from_pem(p.key_pem.as_bytes()).unwrap();
    let k8 = PrivateKey::from_pem(k1.to_pkcs8_pem().expose().as_bytes()).unwrap();
    assert_eq!(k1.fingerprint(), k8.fingerprint());
    assert_eq!(k1.fingerprint(), p.cert.fingerprint());
    assert!(p.key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    // Debug never shows key material.
    let shown = format!("{k1:?}");
    assert!(
        shown.starts_with("PrivateKey { fingerprint: Fingerprint(\"SHA256:"),
        "{shown}"
    );
    assert!(
        PrivateKey::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .is_err()
    );
    assert!(Certificate::from_pem(b"no pem here").is_err());
}

#[test]
fn item_names_are_not_bound() {
    // R11: the map key is not part of the crypto; the same value opens under any name.
    let keys = keyset(KeySize::Rsa2048);
    let scope = Scope::NamespaceWide {
        namespace: ns("ns"),
    };
    let text = seal_base64(&pair(KeySize::Rsa2048).cert, &scope, b"v");
    assert!(open_base64(&keys, &scope, &text, None).is_ok());
}

/// Opens a binary sealed value with the RustCrypto `rsa` crate and `aes-gcm` directly, so the
/// AWS-LC sealing path is checked against an independent OAEP implementation.
fn open_with_rsa_crate(key_pem: &str, scope: &Scope, blob: &[u8]) -> Vec<u8> {
    use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce, aead::Aead as _};
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    let (_, der) = x509_cert::der::pem::decode_vec(key_pem.as_bytes()).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs1_der(&der).unwrap();
    let len = usize::from(u16::from_be_bytes([blob[0], blob[1]]));
    let (block, aead) = blob[2..].split_at(len);
    let label = String::from_utf8(scope.label()).unwrap();
    let padding = rsa::Oaep::new_with_label::<sha2::Sha256, _>(label);
    let data_key = key
        .decrypt(padding, block)
        .expect("rsa crate: OAEP decryption");
    Aes256Gcm::new_from_slice(&data_key)
        .unwrap()
        .decrypt(Nonce::from_slice(&[0; 12]), aead)
        .expect("aes-gcm: tag check")
}

#[test]
fn aws_lc_sealed_values_open_with_aws_lc_and_the_rsa_crate() {
    for size in SIZES {
        let keys = keyset(size);
        let p = pair(size);
        for scope in scopes() {
            let blob = seal(&p.cert, &scope, b"postgres://u:p@db/app");
            assert_eq!(blob.len(), sealed::sealed_len(p.cert.modulus_len(), 21));
            assert_eq!(
                usize::from(u16::from_be_bytes([blob[0], blob[1]])),
                p.cert.modulus_len(),
                "{size:?} {scope}: RSA block is one modulus long"
            );
            let opened = open(&keys, &scope, &blob, None).unwrap();
            assert!(opened.plaintext.expose() == b"postgres://u:p@db/app");
            let by_rsa_crate = open_with_rsa_crate(&p.key_pem, &scope, &blob);
            assert!(
                by_rsa_crate == b"postgres://u:p@db/app",
                "{size:?} {scope}: rsa crate opened a different plaintext"
            );
        }
    }
}

#[test]
fn seeded_values_open_with_aws_lc_and_the_rsa_crate() {
    for size in SIZES {
        let keys = keyset(size);
        let p = pair(size);
        for scope in scopes() {
            let blob = seal_with_rng(&p.cert, &scope, b"v", &mut rng());
            assert!(open(&keys, &scope, &blob, None).unwrap().plaintext.expose() == b"v");
            assert!(open_with_rsa_crate(&p.key_pem, &scope, &blob) == b"v");
        }
    }
}

#[test]
fn seeded_sealing_is_reproducible_and_production_sealing_is_not() {
    let cert = &pair(KeySize::Rsa2048).cert;
    let scope = strict("myns", "myname");
    assert_eq!(
        seal_with_rng(cert, &scope, b"v", &mut rng()),
        seal_with_rng(cert, &scope, b"v", &mut rng())
    );
    let a = seal(cert, &scope, b"v");
    let b = seal(cert, &scope, b"v");
    // Fresh data key and OAEP seed each time: neither the RSA block nor the AES part repeats.
    let k = cert.modulus_len();
    assert_ne!(a[2..2 + k], b[2..2 + k], "RSA blocks repeat");
    assert_ne!(a[2 + k..], b[2 + k..], "AES parts repeat");
}
