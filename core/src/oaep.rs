//! The RSA backend, kept behind this one small module so it can be swapped (`docs/wire-format.md` §6).
//!
//! * Decryption and key generation go through AWS-LC (`aws-lc-rs`): blinded, constant-time,
//!   and as fast as OpenSSL's private-key operation. The RustCrypto `rsa` crate is not used to
//!   decrypt: RUSTSEC-2023-0071 (Marvin timing side channel) has no fixed release.
//! * Production encryption ([`EncryptingKey`]) also goes through AWS-LC, with its own CSPRNG for
//!   the OAEP seed: at 4096 bits it is several times faster than the pure-Rust `rsa` crate.
//! * Deterministic encryption ([`encrypt_data_key_with_rng`]) goes through the `rsa` crate,
//!   because it takes the caller's RNG: seeded test vectors need reproducible OAEP seeds, which
//!   AWS-LC's API cannot accept. Encryption uses only the public key, so the timing advisory
//!   does not apply. Both paths produce the same format (OAEP, SHA-256, MGF1-SHA-256).

use aws_lc_rs::{
    encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der},
    rsa::{
        OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
        PrivateDecryptingKey, PublicEncryptingKey,
    },
};
use rand_core::CryptoRngCore;
use rsa::{Oaep, RsaPublicKey};
use zeroize::Zeroizing;

use crate::{error::KeyError, keys::KeySize, secret::SecretBytes};

/// Length of the AES-256 data key carried in the RSA block.
pub(crate) const DATA_KEY_LEN: usize = 32;

/// An RSA-OAEP (SHA-256, MGF1-SHA-256) decryption key.
pub(crate) struct DecryptingKey {
    key: OaepPrivateDecryptingKey,
    spki_der: Vec<u8>,
}

impl DecryptingKey {
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let private = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| KeyError::BadPrivateKey)?;
        let spki_der = AsDer::<PublicKeyX509Der>::as_der(&private.public_key())
            .map_err(|_| KeyError::BadPrivateKey)?
            .as_ref()
            .to_vec();
        let key = OaepPrivateDecryptingKey::new(private).map_err(|_| KeyError::BadPrivateKey)?;
        Ok(Self { key, spki_der })
    }

    pub(crate) fn modulus_len(&self) -> usize {
        self.key.key_size_bytes()
    }

    /// The public half as X.509 `SubjectPublicKeyInfo` DER.
    pub(crate) fn public_key_spki_der(&self) -> Vec<u8> {
        self.spki_der.clone()
    }

    /// Unwraps a 32-byte data key. `None` for every failure: a block of the wrong length for
    /// this key (§6: "this key cannot decrypt"), bad padding, a wrong label, or a plaintext that
    /// is not 32 bytes. Callers map `None` to the one coarse error.
    pub(crate) fn decrypt_data_key(
        &self,
        rsa_block: &[u8],
        label: &[u8],
    ) -> Option<Zeroizing<[u8; DATA_KEY_LEN]>> {
        if rsa_block.len() != self.modulus_len() {
            return None;
        }
        let mut out = Zeroizing::new(vec![0u8; self.key.min_output_size()]);
        // An empty label is OAEP's default; passing None avoids relying on how the backend
        // treats a zero-length label buffer.
        let label = (!label.is_empty()).then_some(label);
        let plain = self
            .key
            .decrypt(&OAEP_SHA256_MGF1SHA256, rsa_block, &mut out, label)
            .ok()?;
        let data_key: [u8; DATA_KEY_LEN] = (&*plain).try_into().ok()?;
        Some(Zeroizing::new(data_key))
    }
}

/// An RSA-OAEP (SHA-256, MGF1-SHA-256) encryption key, parsed into AWS-LC once per
/// certificate. The OAEP seed comes from AWS-LC's CSPRNG.
#[derive(Clone)]
pub(crate) struct EncryptingKey {
    key: PublicEncryptingKey,
}

impl EncryptingKey {
    /// Parses an X.509 `SubjectPublicKeyInfo` DER RSA public key.
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = PublicEncryptingKey::from_der(der)
            .map_err(|e| KeyError::BadCertificate(format!("RSA public key: {e}")))?;
        Ok(Self { key })
    }

    /// Wraps a data key under `label`; the block is exactly one modulus long.
    pub(crate) fn encrypt_data_key(&self, label: &[u8], data_key: &[u8; DATA_KEY_LEN]) -> Vec<u8> {
        let key = OaepPublicEncryptingKey::new(self.key.clone())
            .expect("invariant: an RSA public key is a valid OAEP key");
        let mut out = vec![0u8; key.ciphertext_size()];
        // As in decryption: an empty label is OAEP's default and is passed as None.
        let label = (!label.is_empty()).then_some(label);
        let len = key
            .encrypt(&OAEP_SHA256_MGF1SHA256, data_key, &mut out, label)
            .expect(
                "invariant: a 32-byte data key fits OAEP-SHA256 for any key of 2048 bits or more",
            )
            .len();
        out.truncate(len);
        out
    }
}

/// Wraps a data key for `public_key` under `label`, with the caller's RNG for the OAEP seed
/// (the deterministic path, for seeded test vectors).
pub(crate) fn encrypt_data_key_with_rng(
    public_key: &RsaPublicKey,
    label: &[u8],
    data_key: &[u8; DATA_KEY_LEN],
    rng: &mut dyn CryptoRngCore,
) -> Vec<u8> {
    // The `rsa` crate takes the label as a string. Labels are namespace and object names,
    // which are ASCII by construction (names.rs), so this conversion is lossless.
    let label = String::from_utf8(label.to_vec()).expect("invariant: scope labels are ASCII");
    let padding = Oaep::new_with_label::<sha2::Sha256, _>(label);
    public_key
        .encrypt(&mut RngAdapter(rng), padding, data_key)
        .expect("invariant: a 32-byte data key fits OAEP-SHA256 for any key of 2048 bits or more")
}

/// Generates an RSA key with AWS-LC and returns it as PKCS#8 DER.
pub(crate) fn generate_pkcs8(size: KeySize) -> Result<SecretBytes, KeyError> {
    let size = match size {
        KeySize::Rsa2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
        KeySize::Rsa3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
        KeySize::Rsa4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
    };
    let key = PrivateDecryptingKey::generate(size)
        .map_err(|_| KeyError::Generate("RSA key generation failed".into()))?;
    let der = AsDer::<Pkcs8V1Der>::as_der(&key)
        .map_err(|_| KeyError::Generate("encoding the new key failed".into()))?;
    Ok(SecretBytes::copy_from(der.as_ref()))
}

/// `rsa::PublicKey::encrypt` wants a sized `CryptoRngCore`; this adapts a trait object.
struct RngAdapter<'a>(&'a mut dyn CryptoRngCore);

impl rand_core::RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl rand_core::CryptoRng for RngAdapter<'_> {}
