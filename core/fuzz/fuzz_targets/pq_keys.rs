//! The parsers of where the post-quantum keys travel (`core/src/pq/encoding.rs`,
//! `docs/pq-format.md` §5.2) on arbitrary input.
//!
//! The first byte chooses how the rest is used:
//! - `0`: as the text of a key Secret's `xwing.key` (PEM PKCS#8), through
//!   `PqPrivateKey::from_pkcs8_pem`;
//! - `1`: as the DER inside such a PEM (wrapped here), so mutations reach the PKCS#8 parser;
//! - `2`: as the DER value of the certificate extension (`SubjectPublicKeyInfo`), through
//!   `PqPublicKey::from_spki_der`;
//! - otherwise: as a whole DER certificate, through `Certificate::from_der`, which reads the
//!   extension (seeded with a certificate that carries one, so mutations land in it).
//!
//! Asserts: no panic; a refused private key is the one coarse `BadPqPrivateKey` (no key
//! material in errors); what parses writes an encoding that parses back to the same key; an
//! accepted extension value is exactly its canonical DER; a certificate that yields an X-Wing
//! key holds that key's `SubjectPublicKeyInfo` in its bytes.
#![no_main]

use kseal_core::{Certificate, KeyError, PqPrivateKey, PqPublicKey, sealed};
use libfuzzer_sys::fuzz_target;

fn private_key(pem: &[u8]) {
    match PqPrivateKey::from_pkcs8_pem(pem) {
        Ok(key) => {
            let again = PqPrivateKey::from_pkcs8_pem(key.to_pkcs8_pem().expose().as_bytes())
                .expect("what to_pkcs8_pem writes parses");
            assert_eq!(again.public_key(), key.public_key(), "PKCS#8 round trip");
        }
        Err(e) => assert!(
            matches!(e, KeyError::BadPqPrivateKey),
            "a refused xwing.key is BadPqPrivateKey"
        ),
    }
}

/// PEM `PRIVATE KEY` around `der`, in 64-character lines as RFC 7468 requires.
fn pem(der: &[u8]) -> Vec<u8> {
    let body = sealed::encode_base64(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("invariant: base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out.into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => private_key(rest),
        1 => private_key(&pem(rest)),
        2 => {
            if let Ok(key) = PqPublicKey::from_spki_der(rest) {
                assert_eq!(key.to_spki_der(), rest, "an accepted SPKI is canonical DER");
                assert_eq!(
                    PqPublicKey::from_bytes(&key.to_bytes()).expect("its bytes parse"),
                    key
                );
            }
        }
        _ => {
            if let Ok(cert) = Certificate::from_der(rest)
                && let Some(key) = cert.pq_public_key()
            {
                let spki = key.to_spki_der();
                assert!(
                    rest.windows(spki.len()).any(|w| w == spki),
                    "the X-Wing key read is the one the certificate holds"
                );
            }
        }
    }
});
