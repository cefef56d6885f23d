//! Certificates (public keys for sealing), private keys (for opening), key sets and key
//! generation in the shape of Bitnami's controller (`docs/controller-compat.md` §3).

use std::{
    fmt,
    time::{Duration, SystemTime},
};

use rsa::{
    BigUint, RsaPublicKey,
    pkcs8::{DecodePublicKey, EncodePublicKey},
    traits::PublicKeyParts,
};
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, DecodePem, Encode, pem::LineEnding};

use crate::{
    error::KeyError,
    oaep,
    pq::{
        encoding,
        keys::{PqPrivateKey, PqPublicKey},
    },
    secret::{SecretBytes, SecretString},
};

/// The OID of `rsaEncryption`, the only key algorithm sealed-secrets uses.
const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// Largest modulus accepted (8192 bits); the `rsa` crate's default cap is 4096.
const MAX_MODULUS_BITS: usize = 8192;

/// The SHA-256 fingerprint of an RSA public key, in the form Bitnami's key registry uses as key
/// identifier (`ssh.FingerprintSHA256`): `SHA256:` and unpadded base64 of the digest of the
/// key's SSH wire encoding. `ssh-keygen -l` prints the same string for the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Computes the fingerprint of a public key.
    pub fn of(key: &RsaPublicKey) -> Self {
        use base64::Engine as _;
        let mut wire = Vec::new();
        ssh_string(&mut wire, b"ssh-rsa");
        ssh_mpint(&mut wire, &key.e().to_bytes_be());
        ssh_mpint(&mut wire, &key.n().to_bytes_be());
        let digest = Sha256::digest(&wire);
        Self(format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
        ))
    }

    /// Parses the textual form, checking only its shape (`SHA256:` and 43 base64 characters).
    pub fn parse(text: &str) -> Option<Self> {
        let b64 = text.strip_prefix("SHA256:")?;
        let ok = b64.len() == 43
            && b64
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/');
        ok.then(|| Self(text.to_owned()))
    }

    /// The textual form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("invariant: SSH fields here are < 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// An SSH `mpint`: big-endian, with a zero byte in front when the top bit is set (RFC 4251 §5).
fn ssh_mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let trimmed = match magnitude.iter().position(|&b| b != 0) {
        Some(i) => &magnitude[i..],
        None => &[][..],
    };
    if trimmed.first().is_some_and(|&b| b & 0x80 != 0) {
        let mut padded = Vec::with_capacity(trimmed.len() + 1);
        padded.push(0);
        padded.extend_from_slice(trimmed);
        ssh_string(out, &padded);
    } else {
        ssh_string(out, trimmed);
    }
}

/// A sealing certificate: the first certificate of a PEM chain, with its RSA public key.
///
/// Any KeyUsage is accepted (Bitnami's own certificates say `EncipherOnly`). Expiry is checked
/// only when the caller asks, against a time it passes in.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    public_key: RsaPublicKey,
    /// The same key parsed once into AWS-LC, for production sealing.
    encrypt: oaep::EncryptingKey,
    not_before: SystemTime,
    not_after: SystemTime,
    fingerprint: Fingerprint,
    /// The X-Wing key of its `subjectAltPublicKeyInfo` extension (`docs/pq-format.md` §5.2).
    pq: Option<PqPublicKey>,
}

impl Certificate {
    /// Parses the first `CERTIFICATE` block of a PEM text; later blocks (a chain) are ignored.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let first = first_pem_block(pem, "CERTIFICATE").ok_or(KeyError::NoPem {
            expected: "CERTIFICATE block",
        })?;
        let cert = x509_cert::Certificate::from_pem(first)
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
        let der = cert
            .to_der()
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
        Self::from_x509(cert, der)
    }

    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
        Self::from_x509(cert, der.to_vec())
    }

    fn from_x509(cert: x509_cert::Certificate, der: Vec<u8>) -> Result<Self, KeyError> {
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        let oid = spki.algorithm.oid.to_string();
        if oid != RSA_ENCRYPTION_OID {
            return Err(KeyError::NotRsa(oid));
        }
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::BadCertificate("public key has unused bits".into()))?;
        let pkcs1 = rsa::pkcs1::RsaPublicKey::from_der(key_bytes)
            .map_err(|e| KeyError::BadCertificate(format!("RSA public key: {e}")))?;
        let public_key = RsaPublicKey::new_with_max_size(
            BigUint::from_bytes_be(pkcs1.modulus.as_bytes()),
            BigUint::from_bytes_be(pkcs1.public_exponent.as_bytes()),
            MAX_MODULUS_BITS,
        )
        .map_err(|e| KeyError::BadCertificate(format!("RSA public key: {e}")))?;
        check_key_size(public_key.size() * 8)?;
        let spki = public_key
            .to_public_key_der()
            .map_err(|e| KeyError::BadCertificate(format!("RSA public key: {e}")))?;
        let encrypt = oaep::EncryptingKey::from_spki_der(spki.as_bytes())?;
        let pq = encoding::from_extensions(tbs.extensions.as_deref())?;
        Ok(Self {
            pq,
            fingerprint: Fingerprint::of(&public_key),
            encrypt,
            not_before: tbs.validity.not_before.to_system_time(),
            not_after: tbs.validity.not_after.to_system_time(),
            public_key,
            der,
        })
    }

    /// Fails if the certificate expired before `now`, as kubeseal does since v0.18.0
    /// (`docs/wire-format.md` §7.4). A certificate that is not yet valid is accepted: clocks skew.
    pub fn check_not_expired(&self, now: SystemTime) -> Result<(), KeyError> {
        if self.not_after < now {
            return Err(KeyError::Expired {
                expired: rfc3339(self.not_after),
            });
        }
        Ok(())
    }

    /// The RSA public key.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    /// The AWS-LC form of the public key.
    pub(crate) fn encrypting_key(&self) -> &oaep::EncryptingKey {
        &self.encrypt
    }

    /// The modulus size in bytes: the length of every RSA block sealed to this certificate.
    pub fn modulus_len(&self) -> usize {
        self.public_key.size()
    }

    /// The public-key fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The post-quantum (X-Wing) public key the certificate carries for `pq-hybrid` sealing;
    /// `None` for certificates of Bitnami keys and keys made before kseal issued it.
    pub fn pq_public_key(&self) -> Option<&PqPublicKey> {
        self.pq.as_ref()
    }

    /// Start of validity (`NotBefore`), Bitnami's default ordering time for "newest key".
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of validity (`NotAfter`).
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding of this one certificate, with a trailing newline.
    pub fn to_pem(&self) -> String {
        x509_cert::der::pem::encode_string("CERTIFICATE", LineEnding::LF, &self.der)
            .expect("invariant: PEM-encoding bytes cannot fail")
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.fingerprint)
            .field("bits", &(self.modulus_len() * 8))
            .field("not_after", &rfc3339(self.not_after))
            .field("pq", &self.pq)
            .finish()
    }
}

/// Formats a time as RFC 3339 in UTC, for messages.
pub fn rfc3339(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{:?}", t))
}

fn check_key_size(bits: usize) -> Result<(), KeyError> {
    if (2048..=MAX_MODULUS_BITS).contains(&bits) && bits.is_multiple_of(8) {
        Ok(())
    } else {
        Err(KeyError::KeySize(bits))
    }
}

/// Returns the first PEM block with `label`, including its armour lines.
fn first_pem_block<'a>(text: &'a [u8], label: &str) -> Option<&'a [u8]> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = find(text, begin.as_bytes())?;
    let stop = start + find(&text[start..], end.as_bytes())? + end.len();
    Some(&text[start..stop])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An RSA private key for opening sealed values. Its material is only reachable through the
/// explicit export functions; `Debug` shows the fingerprint and size only.
pub struct PrivateKey {
    decrypt: oaep::DecryptingKey,
    /// PKCS#8 DER, kept for export to key Secrets and backups.
    pkcs8: SecretBytes,
    public_key: RsaPublicKey,
    fingerprint: Fingerprint,
    /// The X-Wing key kept with this RSA key for `pq-hybrid` values (`docs/pq-format.md` §5).
    pq: Option<PqPrivateKey>,
}

impl PrivateKey {
    /// Parses the first private key in a PEM text: `RSA PRIVATE KEY` (PKCS#1, what Bitnami
    /// writes) or `PRIVATE KEY` (PKCS#8, which Bitnami also reads).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let (label, block) = [("RSA PRIVATE KEY", true), ("PRIVATE KEY", false)]
            .into_iter()
            .filter_map(|(label, pkcs1)| {
                first_pem_block(pem, label).map(|b| (pkcs1, (pem_offset(pem, b), b)))
            })
            .min_by_key(|(_, (offset, _))| *offset)
            .map(|(pkcs1, (_, block))| (pkcs1, block))
            .ok_or(KeyError::NoPem {
                expected: "RSA PRIVATE KEY or PRIVATE KEY block",
            })?;
        let (_, der) =
            x509_cert::der::pem::decode_vec(block).map_err(|_| KeyError::BadPrivateKey)?;
        let der = SecretBytes::new(der);
        if label {
            Self::from_pkcs1_der(der.expose())
        } else {
            Self::from_pkcs8_der(der.expose())
        }
    }

    /// Parses PKCS#1 `RSAPrivateKey` DER by wrapping it as PKCS#8.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = rsa::pkcs8::PrivateKeyInfo::new(rsa::pkcs1::ALGORITHM_ID, der);
        let pkcs8 = SecretBytes::new(info.to_der().map_err(|_| KeyError::BadPrivateKey)?);
        Self::from_pkcs8_der(pkcs8.expose())
    }

    /// Parses PKCS#8 `PrivateKeyInfo` DER holding an RSA key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let decrypt = oaep::DecryptingKey::from_pkcs8(der)?;
        check_key_size(decrypt.modulus_len() * 8)?;
        let public_key = RsaPublicKey::from_public_key_der(&decrypt.public_key_spki_der())
            .map_err(|_| KeyError::BadPrivateKey)?;
        Ok(Self {
            fingerprint: Fingerprint::of(&public_key),
            decrypt,
            pkcs8: SecretBytes::copy_from(der),
            public_key,
            pq: None,
        })
    }

    /// This key with `pq` as its post-quantum part (replacing any it had). The pair is named by
    /// the RSA fingerprint, as it lives in the same key Secret.
    pub fn with_pq(mut self, pq: PqPrivateKey) -> Self {
        self.pq = Some(pq);
        self
    }

    /// The post-quantum part, if this key has one (keys adopted from Bitnami have none).
    pub fn pq(&self) -> Option<&PqPrivateKey> {
        self.pq.as_ref()
    }

    /// The matching public key.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    /// The public-key fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The modulus size in bytes.
    pub fn modulus_len(&self) -> usize {
        self.decrypt.modulus_len()
    }

    /// PEM `RSA PRIVATE KEY` (PKCS#1), the form Bitnami writes into `tls.key`.
    pub fn to_pkcs1_pem(&self) -> SecretString {
        let info = rsa::pkcs8::PrivateKeyInfo::try_from(self.pkcs8.expose())
            .expect("invariant: the stored PKCS#8 parsed when the key was built");
        let pem =
            x509_cert::der::pem::encode_string("RSA PRIVATE KEY", LineEnding::LF, info.private_key)
                .expect("invariant: PEM-encoding bytes cannot fail");
        SecretString::new(pem)
    }

    /// PEM `PRIVATE KEY` (PKCS#8).
    pub fn to_pkcs8_pem(&self) -> SecretString {
        let pem =
            x509_cert::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, self.pkcs8.expose())
                .expect("invariant: PEM-encoding bytes cannot fail");
        SecretString::new(pem)
    }

    /// Unwraps a data key; see [`oaep::DecryptingKey::decrypt_data_key`].
    pub(crate) fn decrypt_data_key(
        &self,
        rsa_block: &[u8],
        label: &[u8],
    ) -> Option<zeroize::Zeroizing<[u8; 32]>> {
        self.decrypt.decrypt_data_key(rsa_block, label)
    }
}

fn pem_offset(all: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - all.as_ptr() as usize
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("fingerprint", &self.fingerprint)
            .field("bits", &(self.modulus_len() * 8))
            .field("pq", &self.pq.as_ref().map(|k| k.public_key()))
            .finish_non_exhaustive()
    }
}

/// The private keys a decryptor holds, in the order they are tried (newest first, by the
/// caller's notion of newest). Bitnami tries keys in random order; a deterministic order means a
/// fresh ciphertext costs one RSA operation (`docs/controller-compat.md` §14).
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<PrivateKey>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key at the end of the try order, unless a key with the same fingerprint is
    /// already present. Returns whether it was added.
    pub fn push(&mut self, key: PrivateKey) -> bool {
        if self.find(key.fingerprint()).is_some() {
            return false;
        }
        self.keys.push(key);
        true
    }

    /// The key with this fingerprint.
    pub fn find(&self, fingerprint: &Fingerprint) -> Option<&PrivateKey> {
        self.keys.iter().find(|k| k.fingerprint() == fingerprint)
    }

    /// Keys in try order.
    pub fn iter(&self) -> impl Iterator<Item = &PrivateKey> {
        self.keys.iter()
    }

    /// Keys in the order opening tries them: the key named by `hint` first (a stale or forged
    /// hint only costs one extra attempt), then the rest in set order.
    pub fn try_order<'a>(
        &'a self,
        hint: Option<&'a Fingerprint>,
    ) -> impl Iterator<Item = &'a PrivateKey> {
        let hinted = hint.and_then(|fp| self.find(fp));
        hinted.into_iter().chain(
            self.keys
                .iter()
                .filter(move |k| Some(k.fingerprint()) != hint),
        )
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl FromIterator<PrivateKey> for KeySet {
    fn from_iter<I: IntoIterator<Item = PrivateKey>>(iter: I) -> Self {
        let mut set = Self::new();
        for key in iter {
            set.push(key);
        }
        set
    }
}

/// RSA key sizes kseal generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeySize {
    /// 2048 bits.
    Rsa2048,
    /// 3072 bits.
    Rsa3072,
    /// 4096 bits, Bitnami's default.
    #[default]
    Rsa4096,
}

impl KeySize {
    /// Parses a bit count.
    pub fn from_bits(bits: usize) -> Result<Self, KeyError> {
        match bits {
            2048 => Ok(Self::Rsa2048),
            3072 => Ok(Self::Rsa3072),
            4096 => Ok(Self::Rsa4096),
            other => Err(KeyError::KeySize(other)),
        }
    }

    /// The size in bits.
    pub fn bits(self) -> usize {
        match self {
            Self::Rsa2048 => 2048,
            Self::Rsa3072 => 3072,
            Self::Rsa4096 => 4096,
        }
    }
}

/// What a generated certificate looks like; every field has Bitnami's default except the
/// caller-supplied time and serial.
#[derive(Debug, Clone)]
pub struct CertParams {
    /// Key size (`--key-size`, default 4096).
    pub key_size: KeySize,
    /// `NotBefore`; the caller passes "now".
    pub not_before: SystemTime,
    /// Validity (`--key-ttl`, default 87600h = 10 years).
    pub validity: Duration,
    /// Subject and issuer CN (`--my-cn`); empty gives an empty DN, as Bitnami's default does.
    pub common_name: String,
    /// 16 random bytes from the caller; the serial is that number below 2^127 (positive).
    pub serial: [u8; 16],
}

/// Bitnami's default certificate lifetime, `--key-ttl=87600h`.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(87_600 * 3600);

/// Generates a key pair and a self-signed certificate shaped like Bitnami's
/// (`docs/controller-compat.md` §3.2): KeyUsage `EncipherOnly`, CA basic constraints, SHA256WithRSA.
///
/// Prime generation uses AWS-LC's DRBG, which cannot take an external RNG; everything else
/// (time, serial) is a parameter.
pub fn generate(params: &CertParams) -> Result<(PrivateKey, Certificate), KeyError> {
    generate_inner(params, None)
}

/// [`generate`], plus a new X-Wing key pair kept with the RSA key: the private key is the
/// returned key's [`PrivateKey::pq`], and the certificate carries the public key in a
/// non-critical `subjectAltPublicKeyInfo` extension (`docs/pq-format.md` §5.2), signed with the
/// rest. X.509 parsers that do not know the extension (Go's, so kubeseal) skip it.
pub fn generate_with_pq(params: &CertParams) -> Result<(PrivateKey, Certificate), KeyError> {
    let pq = PqPrivateKey::generate();
    let (key, certificate) = generate_inner(params, Some(pq.public_key()))?;
    debug_assert_eq!(certificate.pq_public_key(), Some(pq.public_key()));
    Ok((key.with_pq(pq), certificate))
}

fn generate_inner(
    params: &CertParams,
    pq: Option<&PqPublicKey>,
) -> Result<(PrivateKey, Certificate), KeyError> {
    let pkcs8 = oaep::generate_pkcs8(params.key_size)?;
    let key = PrivateKey::from_pkcs8_der(pkcs8.expose())?;

    let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &pkcs8.expose().to_vec().into(),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| KeyError::Generate(e.to_string()))?;
    let mut cert = rcgen::CertificateParams::default();
    cert.not_before = params.not_before.into();
    cert.not_after = (params.not_before + params.validity).into();
    let mut serial = params.serial;
    serial[0] &= 0x7f;
    cert.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    cert.distinguished_name = rcgen::DistinguishedName::new();
    if !params.common_name.is_empty() {
        cert.distinguished_name
            .push(rcgen::DnType::CommonName, params.common_name.as_str());
    }
    cert.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    cert.key_usages = vec![rcgen::KeyUsagePurpose::EncipherOnly];
    cert.custom_extensions = pq.map(encoding::extension).into_iter().collect();
    let signed = cert
        .self_signed(&signer)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let certificate = Certificate::from_der(signed.der())?;
    debug_assert_eq!(certificate.fingerprint(), key.fingerprint());
    Ok((key, certificate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpint_padding() {
        let mut out = Vec::new();
        ssh_mpint(&mut out, &[0x00, 0x80, 0x01]);
        assert_eq!(out, [0, 0, 0, 3, 0, 0x80, 0x01]);
        out.clear();
        ssh_mpint(&mut out, &[0x01, 0x00, 0x01]);
        assert_eq!(out, [0, 0, 0, 3, 1, 0, 1]);
    }

    #[test]
    fn fingerprint_shape() {
        assert!(Fingerprint::parse("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU").is_some());
        assert!(Fingerprint::parse("SHA256:short").is_none());
        assert!(Fingerprint::parse("MD5:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU").is_none());
    }
}
