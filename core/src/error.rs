//! Errors of the crypto core.
//!
//! Decryption has exactly one error, [`OpenError`], on purpose: a wrong key, a wrong scope label,
//! a flipped bit, a truncated blob and malformed base64 must be indistinguishable to whoever
//! submitted the ciphertext (`docs/wire-format.md` §6, "one coarse error"). Key and certificate
//! errors are about public or local inputs and may be specific.

/// A sealed value could not be opened. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no key could decrypt secret")]
pub struct OpenError;

/// A certificate, public key or private key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The input holds no PEM block of the expected kind.
    #[error("no {expected} found in the input")]
    NoPem {
        /// What was looked for, e.g. `"CERTIFICATE block"`.
        expected: &'static str,
    },
    /// The certificate's DER does not parse.
    #[error("certificate is not valid X.509: {0}")]
    BadCertificate(String),
    /// The key in the certificate is not RSA.
    #[error("certificate key is not RSA (algorithm {0}); Bitnami sealed-secrets only uses RSA")]
    NotRsa(String),
    /// The RSA key size is outside what kseal supports.
    #[error("unsupported RSA key size of {0} bits; use 2048, 3072 or 4096 bits")]
    KeySize(usize),
    /// The certificate's validity ended before the given time.
    #[error("certificate expired on {expired}; fetch the cluster's current certificate")]
    Expired {
        /// `NotAfter`, formatted as RFC 3339.
        expired: String,
    },
    /// The private key does not parse. The message never contains key material.
    #[error("private key is not a valid RSA key in PKCS#1 or PKCS#8 form")]
    BadPrivateKey,
    /// A post-quantum (X-Wing) public key does not parse.
    #[error("post-quantum (X-Wing) public key is invalid: {0}")]
    BadPqPublicKey(String),
    /// A post-quantum (X-Wing) private key is not PKCS#8 `id-XWing` with a 32-byte seed. Never
    /// contains key material.
    #[error(
        "post-quantum (X-Wing) private key is not a PEM PRIVATE KEY (PKCS#8, id-XWing) with a 32-byte seed"
    )]
    BadPqPrivateKey,
    /// Key generation or certificate signing failed inside the crypto library.
    #[error("key generation failed: {0}")]
    Generate(String),
}
