//! Sealing and opening one value: RSA-OAEP wraps a fresh AES-256-GCM data key
//! (`docs/wire-format.md` §1–§2, §6).

use aes_gcm::{Aes256Gcm, Key, KeyInit as _, Nonce, aead::Aead as _};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::{
    error::OpenError,
    keys::{Certificate, Fingerprint, KeySet, PrivateKey},
    oaep::{self, DATA_KEY_LEN},
    scope::Scope,
    sealed::{self, SealedValue, TAG_LEN},
    secret::SecretBytes,
};

/// The all-zero GCM nonce. Safe only because every data key encrypts exactly one message
/// (§1): each sealed value gets a fresh key from the RNG and the key is never stored.
const ZERO_NONCE: [u8; 12] = [0; 12];

/// Seals `plaintext` for `cert` under `scope`, returning the binary sealed value.
///
/// The data key and the OAEP seed come from AWS-LC's CSPRNG (seeded from the OS), and the RSA
/// block is computed by AWS-LC with the key parsed once per [`Certificate`]. This is the path for
/// every real seal; [`seal_with_rng`] exists for reproducible test vectors.
pub fn seal(cert: &Certificate, scope: &Scope, plaintext: &[u8]) -> Vec<u8> {
    let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    aws_lc_rs::rand::fill(&mut *data_key).expect("invariant: the system CSPRNG is available");
    let rsa_block = cert
        .encrypting_key()
        .encrypt_data_key(&scope.label(), &data_key);
    assemble(&rsa_block, &data_key, plaintext)
}

/// [`seal`], with `rng` supplying the data key and the OAEP seed: the same output format,
/// computed with the pure-Rust `rsa` crate so a seeded RNG gives byte-identical output.
///
/// For test vectors and fixtures only. It is several times slower than [`seal`], and only as
/// secret as `rng` is unpredictable.
pub fn seal_with_rng(
    cert: &Certificate,
    scope: &Scope,
    plaintext: &[u8],
    rng: &mut dyn CryptoRngCore,
) -> Vec<u8> {
    let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    rng.fill_bytes(&mut *data_key);
    let rsa_block =
        oaep::encrypt_data_key_with_rng(cert.public_key(), &scope.label(), &data_key, rng);
    assemble(&rsa_block, &data_key, plaintext)
}

/// `rsa_block ‖ AES-256-GCM(data_key, zero nonce, plaintext)` in the §2 framing.
fn assemble(rsa_block: &[u8], data_key: &[u8; DATA_KEY_LEN], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(data_key));
    let aead = cipher
        .encrypt(Nonce::from_slice(&ZERO_NONCE), plaintext)
        .expect("invariant: AES-GCM encryption of under 64 GiB cannot fail");
    SealedValue {
        rsa_block,
        aead: &aead,
    }
    .to_bytes()
}

/// [`seal`], then padded standard base64 as it appears in `spec.encryptedData`.
pub fn seal_base64(cert: &Certificate, scope: &Scope, plaintext: &[u8]) -> String {
    sealed::encode_base64(&seal(cert, scope, plaintext))
}

/// [`seal_with_rng`], then padded standard base64 (test vectors and fixtures only).
pub fn seal_base64_with_rng(
    cert: &Certificate,
    scope: &Scope,
    plaintext: &[u8],
    rng: &mut dyn CryptoRngCore,
) -> String {
    sealed::encode_base64(&seal_with_rng(cert, scope, plaintext, rng))
}

/// A successfully opened value.
#[derive(Debug)]
pub struct Opened {
    /// The plaintext.
    pub plaintext: SecretBytes,
    /// The key that opened it: whether a file is sealed to the newest key is decided by this.
    pub key: Fingerprint,
    /// RSA private-key operations spent (1 when the first key tried was right).
    pub rsa_operations: usize,
    /// X-Wing decapsulations spent on a `pq-hybrid` value (0 for the RSA format).
    pub pq_operations: usize,
}

/// Opens a binary sealed value with the first key that can, trying the key named by `hint`
/// first (a stale or forged hint only costs one extra attempt), then the set in order.
///
/// Every failure is the same [`OpenError`]: wrong key, wrong scope, tampering, truncation.
pub fn open(
    keys: &KeySet,
    scope: &Scope,
    blob: &[u8],
    hint: Option<&Fingerprint>,
) -> Result<Opened, OpenError> {
    let value = SealedValue::parse(blob)?;
    if value.aead.len() < TAG_LEN {
        return Err(OpenError);
    }
    let label = scope.label();
    let mut rsa_operations = 0;
    for key in keys.try_order(hint) {
        // A block whose length is not this key's modulus size cannot be for this key (§6);
        // skipping it costs no RSA operation.
        if value.rsa_block.len() != key.modulus_len() {
            continue;
        }
        rsa_operations += 1;
        if let Some(plaintext) = open_with(key, &value, &label) {
            return Ok(Opened {
                plaintext,
                key: key.fingerprint().clone(),
                rsa_operations,
                pq_operations: 0,
            });
        }
    }
    Err(OpenError)
}

/// Opens a value from its base64 text (Go-compatible decoding, see [`sealed::decode_base64`]).
pub fn open_base64(
    keys: &KeySet,
    scope: &Scope,
    text: &str,
    hint: Option<&Fingerprint>,
) -> Result<Opened, OpenError> {
    open(keys, scope, &sealed::decode_base64(text)?, hint)
}

fn open_with(key: &PrivateKey, value: &SealedValue<'_>, label: &[u8]) -> Option<SecretBytes> {
    let data_key = key.decrypt_data_key(value.rsa_block, label)?;
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&*data_key));
    // aes-gcm checks the tag before it decrypts, so no unauthenticated plaintext exists.
    cipher
        .decrypt(Nonce::from_slice(&ZERO_NONCE), value.aead)
        .ok()
        .map(SecretBytes::new)
}
