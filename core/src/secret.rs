//! Containers for secret bytes.
//!
//! Every plaintext value, data key and private key in kseal lives in one of these types. They
//! zeroize their memory on drop, print `<redacted; N bytes>` under `Debug`, and deliberately have
//! no `Display`, `Clone` or `Serialize`: the only way to the bytes is [`SecretBytes::expose`],
//! which makes each use visible in review.

use std::{fmt, io};

use zeroize::{Zeroize, Zeroizing};

/// The largest Secret the API server stores: all values together may not exceed 1 MiB. Every
/// size check on unsealed or rendered data uses this one number.
pub const MAX_SECRET_DATA: usize = 1 << 20;

/// Secret bytes (a plaintext value, a decrypted key), zeroized on drop.
///
/// Equality takes time that depends on the lengths only, never on where the bytes differ
/// (AWS-LC's `CRYPTO_memcmp` through `aws_lc_rs::constant_time`; lengths are not secret here,
/// see [`SecretBytes::len`]).
#[derive(Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl Eq for SecretBytes {}

impl SecretBytes {
    /// Takes ownership of `bytes`; the vector's buffer is wiped when the value is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret buffer. The caller stays responsible for its own copy.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret bytes. Every call site must keep them out of logs, errors and output other
    /// than the one it exists for.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes. Lengths are not secret in this format (the ciphertext reveals them).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy in a new zeroizing buffer. Named, rather than `Clone`, so that copies of secrets
    /// are explicit.
    pub fn duplicate(&self) -> Self {
        Self::copy_from(&self.0)
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<String> for SecretBytes {
    fn from(text: String) -> Self {
        Self::new(text.into_bytes())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted; {} bytes>)", self.0.len())
    }
}

/// A secret UTF-8 string, zeroized on drop. Equality is [`SecretBytes`]'s (constant time).
#[derive(Default)]
pub struct SecretString(Zeroizing<String>);

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), other.0.as_bytes())
            .is_ok()
    }
}

impl Eq for SecretString {}

impl SecretString {
    /// Takes ownership of `text`; its buffer is wiped when the value is dropped.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The secret text; see [`SecretBytes::expose`].
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Converts into secret bytes without copying.
    pub fn into_bytes(mut self) -> SecretBytes {
        // Move the String out, leaving an empty one behind to be (trivially) zeroized.
        let text = std::mem::take(&mut *self.0);
        SecretBytes::new(text.into_bytes())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString(<redacted; {} bytes>)", self.0.len())
    }
}

/// A growing buffer for writing secret bytes (a serializer's output, a rendered template): the
/// buffer is zeroized on drop, and when it grows the old allocation is wiped rather than left
/// to `Vec`'s reallocation.
#[derive(Default)]
pub struct SecretWriter(Zeroizing<Vec<u8>>);

impl SecretWriter {
    /// An empty writer with room for `capacity` bytes before it first grows.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes written so far.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The bytes written, without copying.
    pub fn into_secret(mut self) -> SecretBytes {
        SecretBytes::new(std::mem::take(&mut *self.0))
    }
}

impl io::Write for SecretWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let needed = self.0.len().saturating_add(buf.len());
        if needed > self.0.capacity() {
            let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(2 * self.0.len())));
            grown.extend_from_slice(&self.0);
            // The old allocation is zeroized as it is dropped here.
            self.0 = grown;
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for SecretWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretWriter(<redacted; {} bytes>)", self.0.len())
    }
}

/// Wipes a scratch buffer that held secret material, for code paths that must use plain `Vec`s
/// for an API (a library call that returns `Vec<u8>`).
pub fn wipe(buffer: &mut Vec<u8>) {
    buffer.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::copy_from(b"hunter2-canary");
        let shown = format!("{s:?}");
        assert_eq!(shown, "SecretBytes(<redacted; 14 bytes>)");
        assert!(!shown.contains("hunter2"));
        let t = SecretString::new("hunter2-canary".into());
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn equality_compares_content() {
        assert_eq!(
            SecretBytes::copy_from(b"abc"),
            SecretBytes::copy_from(b"abc")
        );
        assert_ne!(
            SecretBytes::copy_from(b"abc"),
            SecretBytes::copy_from(b"abd")
        );
        assert_ne!(
            SecretBytes::copy_from(b"abc"),
            SecretBytes::copy_from(b"ab")
        );
        assert_eq!(SecretBytes::default(), SecretBytes::new(Vec::new()));
        assert_eq!(SecretString::new("x".into()), SecretString::new("x".into()));
        assert_ne!(SecretString::new("x".into()), SecretString::new("y".into()));
    }

    #[test]
    fn writer_keeps_every_byte_across_growth() {
        use std::io::Write as _;
        let mut w = SecretWriter::with_capacity(1);
        for i in 0..1000u32 {
            w.write_all(&i.to_le_bytes()).unwrap();
        }
        assert_eq!(w.len(), 4000);
        let bytes = w.into_secret();
        assert_eq!(&bytes.expose()[4..8], &1u32.to_le_bytes());
        assert!(!format!("{:?}", SecretWriter::default()).contains('['));
    }

    #[test]
    fn string_into_bytes_keeps_content() {
        let t = SecretString::new("abc".into());
        assert_eq!(t.into_bytes().expose(), b"abc");
    }
}
