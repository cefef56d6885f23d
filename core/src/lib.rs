//! The pure core of kseal.
//!
//! kseal seals Kubernetes Secret values into SealedSecrets that are byte-compatible with
//! Bitnami sealed-secrets. This crate holds everything that needs no cluster, file system,
//! environment or clock: the sealed-value format, the hybrid RSA-OAEP + AES-256-GCM construction,
//! the post-quantum `pq-hybrid` format ([`pq`]: X-Wing + AES-256-GCM), certificates and private keys, the strict `.env` parser and Kubernetes name rules. Time is a
//! parameter. Randomness is a parameter everywhere except [`seal`], [`pq::seal`] (and key
//! generation), which draw from AWS-LC's OS-seeded CSPRNG; [`seal_with_rng`] and
//! [`pq::seal_with_rng`] are the deterministic twins for test vectors.
#![deny(missing_docs)]

pub mod documents;
pub mod dotenv;
pub mod error;
pub mod hybrid;
pub mod keys;
pub mod manifest;
pub mod names;
mod oaep;
pub mod pq;
pub mod scope;
pub mod sealed;
pub mod secret;

pub use error::{KeyError, OpenError};
pub use hybrid::{
    Opened, open, open_base64, seal, seal_base64, seal_base64_with_rng, seal_with_rng,
};
pub use keys::{CertParams, Certificate, Fingerprint, KeySet, KeySize, PrivateKey};
pub use names::{NameError, NamespaceName, ObjectName, SecretKeyName};
pub use pq::{
    Encryption,
    keys::{PqPrivateKey, PqPublicKey},
};
pub use scope::{Scope, ScopeKind};
pub use secret::{MAX_SECRET_DATA, SecretBytes, SecretString, SecretWriter};
