//! Containers for secret bytes.
//!
//! Every plaintext value, data key and private key in kseal lives in one of these types. They
//! zeroize their memory on drop, print `<redacted; N bytes>` under `Debug`, and deliberately have
//! no `Display`, `Clone` or `Serialize`: the only way to the bytes is [`SecretBytes::expose`],
//! which makes each use visible in review.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

/// Secret bytes (a plaintext value, a decrypted key), zeroized on drop.
#[derive(Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

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

/// A secret UTF-8 string, zeroized on drop.
#[derive(Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

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
    fn string_into_bytes_keeps_content() {
        let t = SecretString::new("abc".into());
        assert_eq!(t.into_bytes().expose(), b"abc");
    }
}
