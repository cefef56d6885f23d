//! The `pq-hybrid` value format: X-Wing (ML-KEM-768 + X25519) wraps a per-value AES-256-GCM key,
//! and the associated data binds the scope label and the item key (`docs/pq-format.md`).
//!
//! A value sealed this way stays confidential if either ML-KEM-768 or X25519 holds, so
//! ciphertext committed to git today survives a future quantum computer. Bitnami's controller
//! cannot open it; it fails loudly on the [`format::MAGIC`] prefix instead of misreading it.

pub mod encoding;
pub mod format;
pub mod keys;

use std::fmt;

use aes_gcm::{
    Aes256Gcm, Key, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use rand_core::CryptoRngCore;

use crate::{
    error::OpenError,
    hybrid::{self, Opened},
    keys::{Certificate, Fingerprint, KeySet},
    names::SecretKeyName,
    scope::Scope,
    sealed,
    secret::SecretBytes,
};

use self::{
    format::{AEAD_KEY_LEN, PqSealedValue},
    keys::{PqPrivateKey, PqPublicKey},
};

/// Which value format a SealedSecret item uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encryption {
    /// RSA-OAEP + AES-256-GCM, byte-compatible with Bitnami (the default).
    #[default]
    Rsa,
    /// X-Wing + AES-256-GCM, bound to scope and item key; kseal only.
    PqHybrid,
}

impl Encryption {
    /// Both formats, default first.
    pub const ALL: [Self; 2] = [Self::Rsa, Self::PqHybrid];

    /// The spelling of `--encryption` and `kseal.yaml`: `rsa`, `pq-hybrid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::PqHybrid => "pq-hybrid",
        }
    }

    /// Parses that spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The format of a binary sealed value, from its first bytes alone.
    pub fn of(blob: &[u8]) -> Self {
        if format::is_pq_hybrid(blob) {
            Self::PqHybrid
        } else {
            Self::Rsa
        }
    }

    /// The format of a value as `spec.encryptedData` holds it (base64 text); text that is not
    /// base64 is read as the RSA format, as opening does.
    pub fn of_base64(text: &str) -> Self {
        sealed::decode_base64(text).map_or(Self::Rsa, |blob| Self::of(&blob))
    }

    /// Seals `plaintext` for `cert` in this format, as padded base64: the RSA format (which
    /// binds `scope`) or `pq-hybrid` to the X-Wing key the certificate carries (which binds
    /// `scope` and `item`). The one place that picks between the two, for sealing and for
    /// re-sealing an item in the format it had.
    pub fn seal_base64(
        self,
        cert: &Certificate,
        scope: &Scope,
        item: &SecretKeyName,
        plaintext: &[u8],
    ) -> Result<String, NoPqKey> {
        match self {
            Self::Rsa => Ok(hybrid::seal_base64(cert, scope, plaintext)),
            Self::PqHybrid => {
                let public = cert.pq_public_key().ok_or(NoPqKey)?;
                Ok(seal_base64(public, scope, item, plaintext))
            }
        }
    }
}

/// A certificate without an X-Wing key (Bitnami's, or a kseal key made before kseal issued
/// one) was asked to seal `pq-hybrid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the certificate has no post-quantum (X-Wing) key; renew the key to get one")]
pub struct NoPqKey;

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seals `plaintext` for `public` under `scope` for the data key `item`; randomness from
/// AWS-LC's OS-seeded CSPRNG.
pub fn seal(
    public: &PqPublicKey,
    scope: &Scope,
    item: &SecretKeyName,
    plaintext: &[u8],
) -> Vec<u8> {
    seal_with_fill(public, scope, item, plaintext, &mut |buf| {
        aws_lc_rs::rand::fill(buf).expect("invariant: the system CSPRNG is available");
    })
}

/// [`seal`] with `rng` supplying the 64 bytes of X-Wing encapsulation randomness: a seeded RNG
/// gives byte-identical output. For test vectors and fixtures only.
pub fn seal_with_rng(
    public: &PqPublicKey,
    scope: &Scope,
    item: &SecretKeyName,
    plaintext: &[u8],
    rng: &mut dyn CryptoRngCore,
) -> Vec<u8> {
    seal_with_fill(public, scope, item, plaintext, &mut |buf| {
        rng.fill_bytes(buf)
    })
}

/// [`seal`], then padded standard base64; the text starts with `ksealPQ1`.
pub fn seal_base64(
    public: &PqPublicKey,
    scope: &Scope,
    item: &SecretKeyName,
    plaintext: &[u8],
) -> String {
    sealed::encode_base64(&seal(public, scope, item, plaintext))
}

fn seal_with_fill(
    public: &PqPublicKey,
    scope: &Scope,
    item: &SecretKeyName,
    plaintext: &[u8],
    fill: &mut dyn FnMut(&mut [u8]),
) -> Vec<u8> {
    let (kem_ciphertext, shared) = public.encapsulate(fill);
    let (cipher, nonce) = aead(&shared);
    let aad = format::associated_data(&scope.label(), item);
    let aead = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("invariant: AES-GCM encryption of under 64 GiB cannot fail");
    PqSealedValue {
        kem_ciphertext: &kem_ciphertext,
        aead: &aead,
    }
    .to_bytes()
}

fn aead(shared: &[u8; keys::SHARED_SECRET_LEN]) -> (Aes256Gcm, [u8; format::NONCE_LEN]) {
    let okm = format::aead_key_and_nonce(shared);
    let (key, nonce) = okm.split_at(AEAD_KEY_LEN);
    let nonce: [u8; format::NONCE_LEN] = nonce
        .try_into()
        .expect("invariant: the key schedule yields 32 + 12 bytes");
    (Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)), nonce)
}

/// Opens a binary `pq-hybrid` value for data key `item` with the post-quantum part of the first
/// key that can, trying the key named by `hint` first, then the set in order. Keys without a
/// post-quantum part are skipped.
///
/// Every failure is the same [`OpenError`]: not this format, wrong key, wrong scope, another
/// item, tampering, truncation.
pub fn open(
    keys: &KeySet,
    scope: &Scope,
    item: &SecretKeyName,
    blob: &[u8],
    hint: Option<&Fingerprint>,
) -> Result<Opened, OpenError> {
    let value = PqSealedValue::parse(blob)?;
    let aad = format::associated_data(&scope.label(), item);
    let mut pq_operations = 0;
    for key in keys.try_order(hint) {
        let Some(pq) = key.pq() else { continue };
        pq_operations += 1;
        if let Some(plaintext) = open_with(pq, &value, &aad) {
            return Ok(Opened {
                plaintext,
                key: key.fingerprint().clone(),
                rsa_operations: 0,
                pq_operations,
            });
        }
    }
    Err(OpenError)
}

/// Opens a value of either format: `pq-hybrid` by its marker (bound to `item`), anything else
/// as the Bitnami RSA format (which binds the scope only, so `item` is not used there).
pub fn open_any(
    keys: &KeySet,
    scope: &Scope,
    item: &SecretKeyName,
    blob: &[u8],
    hint: Option<&Fingerprint>,
) -> Result<Opened, OpenError> {
    match Encryption::of(blob) {
        Encryption::PqHybrid => open(keys, scope, item, blob, hint),
        Encryption::Rsa => hybrid::open(keys, scope, blob, hint),
    }
}

/// [`open_any`] on the base64 text of `spec.encryptedData` (Go-compatible decoding).
pub fn open_any_base64(
    keys: &KeySet,
    scope: &Scope,
    item: &SecretKeyName,
    text: &str,
    hint: Option<&Fingerprint>,
) -> Result<Opened, OpenError> {
    open_any(keys, scope, item, &sealed::decode_base64(text)?, hint)
}

fn open_with(key: &PqPrivateKey, value: &PqSealedValue<'_>, aad: &[u8]) -> Option<SecretBytes> {
    let shared = key.decapsulate(value.kem_ciphertext)?;
    let (cipher, nonce) = aead(&shared);
    // aes-gcm checks the tag before it decrypts, so no unauthenticated plaintext exists.
    cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: value.aead,
                aad,
            },
        )
        .ok()
        .map(SecretBytes::new)
}
