//! The byte layout of one sealed value and its base64 form (`docs/wire-format.md` §2–§3).
//!
//! ```text
//! offset  size  field
//! 0       2     L, length of the RSA block, u16 big-endian
//! 2       L     RSA-OAEP ciphertext of the 32-byte data key (L = modulus size in bytes)
//! 2+L     n     AES-256-GCM ciphertext of the plaintext
//! 2+L+n   16    GCM tag
//! ```
//! There is no key identifier, version byte or nonce in the blob.

use base64::{
    Engine as _, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

use crate::error::OpenError;

/// Length of the AES-GCM tag appended to the ciphertext.
pub const TAG_LEN: usize = 16;

/// Standard alphabet, `=` padding required on input and written on output, and, like Go's
/// `base64.StdEncoding`, non-zero unused bits in the last quantum accepted (§3, R13).
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// A parsed sealed value: borrowed views of its two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedValue<'a> {
    /// The RSA-OAEP block (length from the prefix, not assumed).
    pub rsa_block: &'a [u8],
    /// AES-GCM ciphertext followed by the 16-byte tag.
    pub aead: &'a [u8],
}

impl<'a> SealedValue<'a> {
    /// Splits a binary sealed value. Fails on input shorter than 2 bytes or than its prefix
    /// claims (Bitnami `ErrTooShort`); the error is the same coarse one as a failed decryption.
    pub fn parse(blob: &'a [u8]) -> Result<Self, OpenError> {
        let (prefix, rest) = blob.split_first_chunk::<2>().ok_or(OpenError)?;
        let len = usize::from(u16::from_be_bytes(*prefix));
        if rest.len() < len {
            return Err(OpenError);
        }
        let (rsa_block, aead) = rest.split_at(len);
        Ok(Self { rsa_block, aead })
    }

    /// The binary form; `parse(v.to_bytes())` gives back `v` (the format is not malleable).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.rsa_block.len() + self.aead.len());
        let len = u16::try_from(self.rsa_block.len())
            .expect("invariant: an RSA block is at most 1024 bytes (8192-bit key)");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(self.rsa_block);
        out.extend_from_slice(self.aead);
        out
    }
}

/// Encodes as kseal and kubeseal emit: standard alphabet, padded, one line, no newline.
pub fn encode_base64(bytes: &[u8]) -> String {
    ENGINE.encode(bytes)
}

/// Decodes as Go's `base64.StdEncoding.DecodeString` does: `\r` and `\n` anywhere are skipped;
/// padding is required; URL-safe characters, spaces and anything else fail.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, OpenError> {
    if text.contains(['\r', '\n']) {
        let cleaned: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        ENGINE.decode(cleaned).map_err(|_| OpenError)
    } else {
        ENGINE.decode(text).map_err(|_| OpenError)
    }
}

/// Whether `text` is base64 exactly as kseal would write it (no line breaks, canonical final
/// quantum). Used by offline verification to warn about hand-edited values.
pub fn is_canonical_base64(text: &str) -> bool {
    match decode_base64(text) {
        Ok(bytes) => encode_base64(&bytes) == text,
        Err(_) => false,
    }
}

/// Binary length of a sealed value for a key of `modulus_len` bytes (§2.2).
pub fn sealed_len(modulus_len: usize, plaintext_len: usize) -> usize {
    2 + modulus_len + plaintext_len + TAG_LEN
}

/// Base64 length of a sealed value (§2.2).
pub fn sealed_base64_len(modulus_len: usize, plaintext_len: usize) -> usize {
    sealed_len(modulus_len, plaintext_len).div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_serialise_are_inverse() {
        let mut blob = vec![0x00, 0x03, 1, 2, 3];
        blob.extend_from_slice(&[9; 20]);
        let v = SealedValue::parse(&blob).unwrap();
        assert_eq!(v.rsa_block, &[1, 2, 3]);
        assert_eq!(v.aead.len(), 20);
        assert_eq!(v.to_bytes(), blob);
    }

    #[test]
    fn too_short() {
        assert_eq!(SealedValue::parse(&[]), Err(OpenError));
        assert_eq!(SealedValue::parse(&[2]), Err(OpenError));
        assert_eq!(SealedValue::parse(&[0x02, 0x00, 1, 2]), Err(OpenError));
        // A zero-length RSA block parses; it can never decrypt, which `open` decides.
        assert!(SealedValue::parse(&[0, 0]).is_ok());
    }

    #[test]
    fn base64_rules() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\r\nbG8=").unwrap(), b"hello");
        assert_eq!(
            decode_base64("aGVsbG8"),
            Err(OpenError),
            "padding is required"
        );
        assert_eq!(
            decode_base64("-_8="),
            Err(OpenError),
            "URL-safe alphabet is rejected"
        );
        assert_eq!(
            decode_base64("aGVs bG8="),
            Err(OpenError),
            "spaces are rejected"
        );
        assert_eq!(
            decode_base64("aGVsbG9="),
            Ok(b"hello".to_vec()),
            "trailing bits accepted"
        );
        assert!(!is_canonical_base64("aGVsbG9="));
        assert!(is_canonical_base64("aGVsbG8="));
        assert_eq!(encode_base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn size_arithmetic_matches_spec_table() {
        assert_eq!(sealed_len(512, 0), 530);
        assert_eq!(sealed_base64_len(512, 0), 708);
        assert_eq!(sealed_base64_len(256, 0), 368);
        assert_eq!(sealed_base64_len(512, 1024), 2072);
        assert_eq!(sealed_base64_len(256, 1 << 20), 1_398_468);
    }
}
