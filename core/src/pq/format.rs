//! The byte layout of a `pq-hybrid` sealed value, its AEAD key schedule and its associated data
//! (`docs/pq-format.md` §3–§4).
//!
//! ```text
//! offset  size  field
//! 0       6     MAGIC = 92 c7 9a 94 f4 35 (base64 "ksealPQ1")
//! 6       1120  X-Wing ciphertext: ML-KEM-768 ciphertext (1088) ‖ X25519 ephemeral key (32)
//! 1126    n     AES-256-GCM ciphertext of the plaintext
//! 1126+n  16    GCM tag
//! ```
//! Read as the RSA format's u16 length prefix, the magic says 37575: far above any RSA block
//! (at most 1024 bytes), so no RSA value starts with it and Bitnami's controller fails on it.

use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

use crate::{error::OpenError, names::SecretKeyName, sealed::TAG_LEN};

use super::keys::{CIPHERTEXT_LEN, SHARED_SECRET_LEN};

/// The first six bytes of every `pq-hybrid` value; its base64 text starts with `ksealPQ1`.
pub const MAGIC: [u8; 6] = [0x92, 0xc7, 0x9a, 0x94, 0xf4, 0x35];

/// Bytes before the AEAD part.
pub const HEADER_LEN: usize = MAGIC.len() + CIPHERTEXT_LEN;

/// HKDF-SHA256 `info` for the AEAD key and nonce; the version is part of it.
const KDF_INFO: &[u8] = b"kseal pq-hybrid v1 aes-256-gcm key and nonce";
/// Prefix of the associated data; domain-separates it from anything else kseal authenticates.
const AAD_CONTEXT: &[u8] = b"kseal pq-hybrid v1";

/// AES-256 key length.
pub const AEAD_KEY_LEN: usize = 32;
/// GCM nonce length.
pub const NONCE_LEN: usize = 12;

/// A parsed `pq-hybrid` value: borrowed views of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PqSealedValue<'a> {
    /// The 1120-byte X-Wing ciphertext.
    pub kem_ciphertext: &'a [u8],
    /// AES-GCM ciphertext followed by the 16-byte tag (at least 16 bytes).
    pub aead: &'a [u8],
}

impl<'a> PqSealedValue<'a> {
    /// Splits a binary value. Fails (with the one coarse error) unless it starts with [`MAGIC`]
    /// and is long enough for the X-Wing ciphertext and a GCM tag.
    pub fn parse(blob: &'a [u8]) -> Result<Self, OpenError> {
        let rest = blob.strip_prefix(&MAGIC[..]).ok_or(OpenError)?;
        if rest.len() < CIPHERTEXT_LEN + TAG_LEN {
            return Err(OpenError);
        }
        let (kem_ciphertext, aead) = rest.split_at(CIPHERTEXT_LEN);
        Ok(Self {
            kem_ciphertext,
            aead,
        })
    }

    /// The binary form; `parse(v.to_bytes())` gives back `v`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + self.kem_ciphertext.len() + self.aead.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(self.kem_ciphertext);
        out.extend_from_slice(self.aead);
        out
    }
}

/// Whether `blob` is in the `pq-hybrid` format (starts with [`MAGIC`]). Anything else is read
/// as the RSA format.
pub fn is_pq_hybrid(blob: &[u8]) -> bool {
    blob.starts_with(&MAGIC)
}

/// Binary length of a `pq-hybrid` value holding `plaintext_len` bytes.
pub fn sealed_len(plaintext_len: usize) -> usize {
    HEADER_LEN + plaintext_len + TAG_LEN
}

/// Base64 length of a `pq-hybrid` value holding `plaintext_len` bytes.
pub fn sealed_base64_len(plaintext_len: usize) -> usize {
    sealed_len(plaintext_len).div_ceil(3) * 4
}

/// The AES-256-GCM key and nonce: HKDF-SHA256 with an empty salt, the X-Wing shared secret as
/// input keying material and [`KDF_INFO`], 44 bytes split 32 ‖ 12.
pub(crate) fn aead_key_and_nonce(
    shared_secret: &[u8; SHARED_SECRET_LEN],
) -> Zeroizing<[u8; AEAD_KEY_LEN + NONCE_LEN]> {
    struct Len;
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            AEAD_KEY_LEN + NONCE_LEN
        }
    }
    let mut out = Zeroizing::new([0u8; AEAD_KEY_LEN + NONCE_LEN]);
    hkdf::Salt::new(hkdf::HKDF_SHA256, &[])
        .extract(shared_secret)
        .expand(&[KDF_INFO], Len)
        .and_then(|okm| okm.fill(&mut *out))
        .expect("invariant: 44 bytes is within HKDF-SHA256's 8160-byte limit");
    out
}

/// The associated data: [`AAD_CONTEXT`], then the scope label and the item key, each preceded
/// by its length as u16 big-endian, so no two (label, item) pairs give the same bytes.
pub(crate) fn associated_data(label: &[u8], item: &SecretKeyName) -> Vec<u8> {
    let item = item.as_str().as_bytes();
    let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + 4 + label.len() + item.len());
    aad.extend_from_slice(AAD_CONTEXT);
    for field in [label, item] {
        let len = u16::try_from(field.len())
            .expect("invariant: a scope label (≤ 317 bytes) and a data key (≤ 253) fit a u16");
        aad.extend_from_slice(&len.to_be_bytes());
        aad.extend_from_slice(field);
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::{SealedValue, decode_base64};

    #[test]
    fn magic_is_the_documented_base64_text() {
        assert_eq!(decode_base64("ksealPQ1").unwrap(), MAGIC);
    }

    #[test]
    fn magic_is_no_rsa_length_prefix() {
        let as_rsa_len = usize::from(u16::from_be_bytes([MAGIC[0], MAGIC[1]]));
        assert_eq!(as_rsa_len, 37575);
        assert!(
            as_rsa_len > 1024,
            "longer than any RSA block (8192-bit key)"
        );
        // A minimal pq value is shorter than the length its prefix claims, so Bitnami's
        // parser reports "too short" instead of trying a key.
        let blob = [&MAGIC[..], &[0u8; CIPHERTEXT_LEN + TAG_LEN]].concat();
        assert_eq!(SealedValue::parse(&blob), Err(OpenError));
    }

    #[test]
    fn parse_bounds() {
        assert_eq!(PqSealedValue::parse(&[]), Err(OpenError));
        assert_eq!(PqSealedValue::parse(&MAGIC), Err(OpenError));
        let short = [&MAGIC[..], &[0u8; CIPHERTEXT_LEN + TAG_LEN - 1]].concat();
        assert_eq!(PqSealedValue::parse(&short), Err(OpenError));
        let empty_plaintext = [&MAGIC[..], &[7u8; CIPHERTEXT_LEN + TAG_LEN]].concat();
        let v = PqSealedValue::parse(&empty_plaintext).unwrap();
        assert_eq!(v.kem_ciphertext.len(), CIPHERTEXT_LEN);
        assert_eq!(v.aead.len(), TAG_LEN);
        assert_eq!(v.to_bytes(), empty_plaintext);
        let mut wrong_magic = empty_plaintext.clone();
        wrong_magic[5] ^= 1;
        assert_eq!(PqSealedValue::parse(&wrong_magic), Err(OpenError));
        assert!(!is_pq_hybrid(&wrong_magic));
    }

    #[test]
    fn associated_data_is_unambiguous() {
        let item = SecretKeyName::parse("password").unwrap();
        let other = SecretKeyName::parse("swordpass").unwrap();
        let a = associated_data(b"myns/myname", &item);
        assert_eq!(
            a,
            [
                &b"kseal pq-hybrid v1"[..],
                &[0, 11],
                b"myns/myname",
                &[0, 8],
                b"password"
            ]
            .concat()
        );
        assert_ne!(a, associated_data(b"myns", &item));
        assert_ne!(a, associated_data(b"myns/myname", &other));
        assert_ne!(associated_data(b"", &item), associated_data(b"p", &item));
    }

    #[test]
    fn sizes() {
        assert_eq!(sealed_len(0), 1142);
        assert_eq!(sealed_base64_len(0), 1524);
        assert_eq!(sealed_base64_len(1 << 20), 1_399_624);
    }
}
