//! Where the post-quantum keys travel (`docs/pq-format.md` §5.2): the private key as PEM PKCS#8
//! in the key Secret's `xwing.key` field, the public key in a non-critical
//! `subjectAltPublicKeyInfo` extension of the RSA certificate users already commit.
//!
//! Both use the X-Wing draft's encodings: algorithm `id-XWing` with no parameters, the 32-byte
//! seed as the PKCS#8 `privateKey` octets, the 1216-byte public key as the `SubjectPublicKeyInfo`
//! bit string. One home for the rule, so the controller (which writes them) and the CLI (which
//! reads them) cannot drift apart.

use rsa::pkcs8::{
    AlgorithmIdentifierRef, PrivateKeyInfo, SubjectPublicKeyInfoRef,
    der::{Decode as _, Encode as _, asn1::BitStringRef, pem::LineEnding},
};
use x509_cert::{der::asn1::ObjectIdentifier, ext::Extension};

use crate::{
    error::KeyError,
    secret::{SecretBytes, SecretString},
};

use super::keys::{PqPrivateKey, PqPublicKey};

/// `id-XWing` (draft-connolly-cfrg-xwing-kem): the algorithm of both encodings.
pub const ID_XWING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.62253.25722");

/// `id-ce-subjectAltPublicKeyInfo` (ITU-T X.509 (2019) §9.8): an alternative public key of the
/// certificate's subject, as a `SubjectPublicKeyInfo`. Its arcs are small enough for every
/// X.509 parser that matters here (Go's, which kubeseal uses, refuses arcs above 2^31).
pub const ALT_PUBLIC_KEY_EXTENSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.72");

/// The extension's OID as rcgen spells it.
const ALT_PUBLIC_KEY_ARCS: [u64; 4] = [2, 5, 29, 72];

/// The data field of a key Secret that holds the post-quantum private key, next to `tls.crt`
/// and `tls.key`. Bitnami's controller ignores it.
pub const KEY_SECRET_FIELD: &str = "xwing.key";

const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";

fn algorithm() -> AlgorithmIdentifierRef<'static> {
    AlgorithmIdentifierRef {
        oid: ID_XWING,
        parameters: None,
    }
}

impl PqPrivateKey {
    /// PEM `PRIVATE KEY` (PKCS#8 v1, `id-XWing`, the seed as `privateKey`): what `xwing.key`
    /// holds.
    pub fn to_pkcs8_pem(&self) -> SecretString {
        let seed = self.to_seed();
        let der = SecretBytes::new(
            PrivateKeyInfo::new(algorithm(), seed.expose())
                .to_der()
                .expect("invariant: encoding a 32-byte PKCS#8 structure cannot fail"),
        );
        let pem =
            x509_cert::der::pem::encode_string(PRIVATE_KEY_LABEL, LineEnding::LF, der.expose())
                .expect("invariant: PEM-encoding bytes cannot fail");
        SecretString::new(pem)
    }

    /// Parses what [`Self::to_pkcs8_pem`] writes. Anything else (another label or algorithm,
    /// parameters, a seed that is not 32 bytes, an embedded public key that does not match) is
    /// [`KeyError::BadPqPrivateKey`], which never contains key material.
    pub fn from_pkcs8_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let (label, der) =
            x509_cert::der::pem::decode_vec(pem).map_err(|_| KeyError::BadPqPrivateKey)?;
        let der = SecretBytes::new(der);
        if label != PRIVATE_KEY_LABEL {
            return Err(KeyError::BadPqPrivateKey);
        }
        let info = PrivateKeyInfo::try_from(der.expose()).map_err(|_| KeyError::BadPqPrivateKey)?;
        if info.algorithm != algorithm() {
            return Err(KeyError::BadPqPrivateKey);
        }
        let key = Self::from_seed(info.private_key)?;
        if info
            .public_key
            .is_some_and(|pk| pk != key.public_key().to_bytes().as_slice())
        {
            return Err(KeyError::BadPqPrivateKey);
        }
        Ok(key)
    }
}

impl PqPublicKey {
    /// DER `SubjectPublicKeyInfo { id-XWing, the 1216 bytes }`: the certificate extension's
    /// value.
    pub fn to_spki_der(&self) -> Vec<u8> {
        let bytes = self.to_bytes();
        SubjectPublicKeyInfoRef {
            algorithm: algorithm(),
            subject_public_key: BitStringRef::from_bytes(&bytes)
                .expect("invariant: 1216 bytes fit a BIT STRING"),
        }
        .to_der()
        .expect("invariant: encoding an SPKI of 1216 bytes cannot fail")
    }

    /// Parses [`Self::to_spki_der`]'s form; the key must pass the checks of
    /// [`PqPublicKey::from_bytes`].
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::BadPqPublicKey(format!("SubjectPublicKeyInfo: {e}")))?;
        if spki.algorithm != algorithm() {
            return Err(KeyError::BadPqPublicKey(format!(
                "algorithm {} with{} parameters, expected id-XWing ({ID_XWING}) without",
                spki.algorithm.oid,
                if spki.algorithm.parameters.is_some() {
                    ""
                } else {
                    "out"
                }
            )));
        }
        let bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::BadPqPublicKey("public key has unused bits".into()))?;
        Self::from_bytes(bytes)
    }
}

/// The post-quantum public key a certificate carries, if any: the value of its
/// `subjectAltPublicKeyInfo` extension. A certificate with two of them, or one that does not
/// hold an X-Wing key, is refused (only kseal writes it, and its signature covers it).
pub(crate) fn from_extensions(
    extensions: Option<&[Extension]>,
) -> Result<Option<PqPublicKey>, KeyError> {
    let mut found = extensions
        .unwrap_or_default()
        .iter()
        .filter(|e| e.extn_id == ALT_PUBLIC_KEY_EXTENSION);
    let Some(extension) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(KeyError::BadCertificate(
            "more than one subjectAltPublicKeyInfo extension".into(),
        ));
    }
    PqPublicKey::from_spki_der(extension.extn_value.as_bytes()).map(Some)
}

/// The non-critical extension that carries `public` in a certificate rcgen issues.
pub(crate) fn extension(public: &PqPublicKey) -> rcgen::CustomExtension {
    let mut extension =
        rcgen::CustomExtension::from_oid_content(&ALT_PUBLIC_KEY_ARCS, public.to_spki_der());
    // Non-critical: Go's X.509 parser (kubeseal) and Bitnami's controller skip it.
    extension.set_criticality(false);
    extension
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_agree() {
        let arcs: Vec<u64> = ALT_PUBLIC_KEY_EXTENSION.arcs().map(u64::from).collect();
        assert_eq!(arcs, ALT_PUBLIC_KEY_ARCS);
    }

    #[test]
    fn private_key_round_trip_and_redaction() {
        let key = PqPrivateKey::from_seed(&[0x5a; 32]).unwrap();
        let pem = key.to_pkcs8_pem();
        assert!(pem.expose().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = PqPrivateKey::from_pkcs8_pem(pem.expose().as_bytes()).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(back.to_seed().expose(), key.to_seed().expose());
        // PKCS#8 v1: SEQUENCE { INTEGER 0 (3), SEQUENCE { OID (13) } (15), OCTET STRING (34) }.
        let (_, der) = x509_cert::der::pem::decode_vec(pem.expose().as_bytes()).unwrap();
        assert_eq!(der.len(), 2 + 3 + 15 + 34);
        assert_eq!(&der[der.len() - 32..], &[0x5a; 32]);
    }

    #[test]
    fn private_key_rejects_other_keys() {
        let rsa_like = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        for bad in [&b"junk"[..], rsa_like.as_bytes()] {
            assert_eq!(
                PqPrivateKey::from_pkcs8_pem(bad).unwrap_err(),
                KeyError::BadPqPrivateKey
            );
        }
        // A 31-byte seed, and another algorithm.
        let short = PrivateKeyInfo::new(algorithm(), &[1; 31]).to_der().unwrap();
        let other = AlgorithmIdentifierRef {
            oid: ObjectIdentifier::new_unwrap("1.3.101.110"),
            parameters: None,
        };
        let x25519 = PrivateKeyInfo::new(other, &[1; 32]).to_der().unwrap();
        for der in [short, x25519] {
            let pem =
                x509_cert::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &der).unwrap();
            assert_eq!(
                PqPrivateKey::from_pkcs8_pem(pem.as_bytes()).unwrap_err(),
                KeyError::BadPqPrivateKey
            );
        }
    }

    #[test]
    fn public_key_spki_round_trip() {
        let key = PqPrivateKey::from_seed(&[7; 32]).unwrap();
        let der = key.public_key().to_spki_der();
        // SEQUENCE (4) { SEQUENCE { OID (13) } (15), BIT STRING (4 + 1 + 1216) }.
        assert_eq!(der.len(), 4 + 15 + 4 + 1 + 1216);
        assert_eq!(&PqPublicKey::from_spki_der(&der).unwrap(), key.public_key());
        assert!(matches!(
            PqPublicKey::from_spki_der(&der[..der.len() - 1]),
            Err(KeyError::BadPqPublicKey(_))
        ));
    }
}
