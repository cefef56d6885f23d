//! X-Wing key pairs for the `pq-hybrid` format (`docs/pq-format.md` §2).
//!
//! An X-Wing private key is a 32-byte seed; ML-KEM-768 and X25519 keys are expanded from it with
//! SHAKE256 by the `x-wing` crate, exactly as the CFRG draft specifies. The public key is the
//! 1216-byte concatenation of the ML-KEM-768 encapsulation key and the X25519 public key.

use std::{convert::Infallible, fmt};

use sha2::{Digest as _, Sha256};
use x_wing::{
    DecapsulationKeyRejectNonContrib, EncapsulationKey, KeyExport as _, TryDecapsulate as _,
    kem::{
        Encapsulate as _,
        common::rand_core::{TryCryptoRng, TryRng},
    },
};
use zeroize::{Zeroize as _, Zeroizing};

use crate::{error::KeyError, secret::SecretBytes};

/// Length of an X-Wing public (encapsulation) key.
pub const PUBLIC_KEY_LEN: usize = x_wing::ENCAPSULATION_KEY_SIZE;
/// Length of an X-Wing private (decapsulation) key: the seed everything else is expanded from.
pub const SEED_LEN: usize = x_wing::DECAPSULATION_KEY_SIZE;
/// Length of an X-Wing ciphertext (ML-KEM-768 ciphertext ‖ X25519 ephemeral public key).
pub const CIPHERTEXT_LEN: usize = x_wing::CIPHERTEXT_SIZE;
/// Length of the X-Wing shared secret.
pub const SHARED_SECRET_LEN: usize = 32;
/// Random bytes one encapsulation consumes (32 for ML-KEM, then 32 for the X25519 ephemeral key).
pub const ENCAPSULATION_SEED_LEN: usize = x_wing::ENCAPSULATION_RANDOMNESS_SIZE;

/// An X-Wing public key: what a certificate carries and what sealing needs.
#[derive(Clone, PartialEq, Eq)]
pub struct PqPublicKey {
    key: EncapsulationKey,
}

impl PqPublicKey {
    /// Parses the 1216-byte encoding. The ML-KEM-768 half must pass the FIPS 203 §7.2
    /// encapsulation-key check (every coefficient reduced mod q), as the draft requires.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != PUBLIC_KEY_LEN {
            return Err(KeyError::BadPqPublicKey(format!(
                "{} bytes, expected {PUBLIC_KEY_LEN}",
                bytes.len()
            )));
        }
        let key = EncapsulationKey::try_from(bytes).map_err(|_| {
            KeyError::BadPqPublicKey("the ML-KEM-768 key fails the FIPS 203 key check".into())
        })?;
        Ok(Self { key })
    }

    /// The 1216-byte encoding (`pk_M ‖ pk_X`).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.key.to_bytes().to_vec()
    }

    /// SHA-256 of the encoding, in hex: a public name for the key in messages and `Debug`.
    pub fn sha256_hex(&self) -> String {
        Sha256::digest(self.key.to_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// X-Wing `EncapsulateDerand`: the ciphertext and shared secret for `eseed`'s 64 bytes,
    /// drawn from `fill` (which must give uniformly random bytes outside of test vectors).
    pub(crate) fn encapsulate(
        &self,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> ([u8; CIPHERTEXT_LEN], Zeroizing<[u8; SHARED_SECRET_LEN]>) {
        let (ct, mut ss) = self.key.encapsulate_with_rng(&mut FillRng(fill));
        let mut shared = Zeroizing::new([0u8; SHARED_SECRET_LEN]);
        shared.copy_from_slice(&ss);
        ss.zeroize();
        let mut ciphertext = [0u8; CIPHERTEXT_LEN];
        ciphertext.copy_from_slice(&ct);
        (ciphertext, shared)
    }
}

impl fmt::Debug for PqPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PqPublicKey")
            .field("algorithm", &"X-Wing")
            .field("sha256", &self.sha256_hex())
            .finish()
    }
}

/// An X-Wing private key. The seed is held in zeroizing memory (and the `x-wing` crate wipes
/// its own copy and the expanded keys on drop); `Debug` shows the public key's digest only.
pub struct PqPrivateKey {
    seed: Zeroizing<[u8; SEED_LEN]>,
    /// Rejects an all-zero X25519 shared secret (a non-contributory `ct_X`): honest sealers
    /// never produce one, so refusing it costs nothing and matches the strictest reading.
    decapsulator: DecapsulationKeyRejectNonContrib,
    public: PqPublicKey,
}

impl PqPrivateKey {
    /// A new key from AWS-LC's OS-seeded CSPRNG.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        aws_lc_rs::rand::fill(&mut *seed).expect("invariant: the system CSPRNG is available");
        Self::from_array(&seed)
    }

    /// X-Wing `GenerateKeyPairDerand`: the key whose 32-byte seed is `seed`.
    pub fn from_seed(seed: &[u8]) -> Result<Self, KeyError> {
        let seed: &[u8; SEED_LEN] = seed.try_into().map_err(|_| KeyError::BadPqPrivateKey)?;
        Ok(Self::from_array(seed))
    }

    fn from_array(seed: &[u8; SEED_LEN]) -> Self {
        let decapsulator = DecapsulationKeyRejectNonContrib::from(*seed);
        let public = PqPublicKey {
            key: x_wing::Decapsulator::encapsulation_key(&decapsulator).clone(),
        };
        Self {
            seed: Zeroizing::new(*seed),
            decapsulator,
            public,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PqPublicKey {
        &self.public
    }

    /// The 32-byte seed, for export to a key Secret or backup. Keep it out of every output
    /// other than the one it is exported for.
    pub fn to_seed(&self) -> SecretBytes {
        SecretBytes::copy_from(&*self.seed)
    }

    /// X-Wing `Decapsulate`; `None` for a ciphertext of the wrong length or with a
    /// non-contributory X25519 share. A ciphertext for another key gives a pseudorandom secret
    /// (ML-KEM implicit rejection), which the AEAD tag then refuses.
    pub(crate) fn decapsulate(
        &self,
        ciphertext: &[u8],
    ) -> Option<Zeroizing<[u8; SHARED_SECRET_LEN]>> {
        let ct = x_wing::Ciphertext::try_from(ciphertext).ok()?;
        let mut ss = self.decapsulator.try_decapsulate(&ct).ok()?;
        let mut shared = Zeroizing::new([0u8; SHARED_SECRET_LEN]);
        shared.copy_from_slice(&ss);
        ss.zeroize();
        Some(shared)
    }
}

impl fmt::Debug for PqPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PqPrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Adapts a fill function to the `rand_core` 0.10 traits the `x-wing` crate takes, so the same
/// path serves AWS-LC's CSPRNG, a seeded test RNG and the draft's fixed `eseed` vectors.
struct FillRng<'a>(&'a mut dyn FnMut(&mut [u8]));

impl TryRng for FillRng<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        (self.0)(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        (self.0)(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        (self.0)(dst);
        Ok(())
    }
}

impl TryCryptoRng for FillRng<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The draft's known-answer vectors (data only; see the file's `_source`).
    const VECTORS: &str = include_str!("../../tests/data/x-wing-draft-vectors.json");

    fn hex(field: &serde_json::Value) -> Vec<u8> {
        let text = field.as_str().expect("vector fields are hex strings");
        assert!(text.len().is_multiple_of(2));
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    /// Hands out `bytes` in order, as the draft's `EncapsulateDerand` consumes `eseed`.
    fn replay(bytes: &[u8]) -> impl FnMut(&mut [u8]) + '_ {
        let mut rest = bytes;
        move |dst| {
            let (now, later) = rest.split_at(dst.len());
            dst.copy_from_slice(now);
            rest = later;
        }
    }

    #[test]
    fn draft_known_answer_vectors() {
        let file: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let vectors = file["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 3, "the draft publishes three vectors");
        for (i, v) in vectors.iter().enumerate() {
            let (seed, sk, pk) = (hex(&v["seed"]), hex(&v["sk"]), hex(&v["pk"]));
            let (eseed, ct, ss) = (hex(&v["eseed"]), hex(&v["ct"]), hex(&v["ss"]));
            assert_eq!(eseed.len(), ENCAPSULATION_SEED_LEN);

            let key = PqPrivateKey::from_seed(&seed).unwrap();
            assert_eq!(key.to_seed().expose(), sk, "vector {i}: sk");
            assert_eq!(key.public_key().to_bytes(), pk, "vector {i}: pk");
            let public = PqPublicKey::from_bytes(&pk).unwrap();
            assert_eq!(&public, key.public_key());

            let mut consumed = 0;
            let mut fill = replay(&eseed);
            let (ciphertext, shared) = public.encapsulate(&mut |dst: &mut [u8]| {
                consumed += dst.len();
                fill(dst);
            });
            assert_eq!(consumed, ENCAPSULATION_SEED_LEN, "vector {i}: all of eseed");
            assert_eq!(&ciphertext[..], ct, "vector {i}: ct");
            assert_eq!(&shared[..], ss, "vector {i}: ss (encapsulate)");
            assert_eq!(
                &key.decapsulate(&ct).unwrap()[..],
                ss,
                "vector {i}: ss (decapsulate)"
            );
        }
    }

    #[test]
    fn rejects_malformed_keys_and_ciphertexts() {
        assert_eq!(
            PqPrivateKey::from_seed(&[0; 31]).unwrap_err(),
            KeyError::BadPqPrivateKey
        );
        assert!(matches!(
            PqPublicKey::from_bytes(&[0; PUBLIC_KEY_LEN - 1]),
            Err(KeyError::BadPqPublicKey(_))
        ));
        // All-ones coefficients are ≥ q = 3329: the FIPS 203 encapsulation-key check fails.
        assert!(matches!(
            PqPublicKey::from_bytes(&[0xff; PUBLIC_KEY_LEN]),
            Err(KeyError::BadPqPublicKey(_))
        ));
        let key = PqPrivateKey::from_seed(&[1; SEED_LEN]).unwrap();
        assert!(key.decapsulate(&[0; CIPHERTEXT_LEN - 1]).is_none());
        // A zero X25519 share (non-contributory) is refused outright.
        let mut ct = [3u8; CIPHERTEXT_LEN];
        ct[CIPHERTEXT_LEN - 32..].fill(0);
        assert!(key.decapsulate(&ct).is_none());
    }

    #[test]
    fn debug_shows_no_secret() {
        let key = PqPrivateKey::from_seed(&[0x5a; SEED_LEN]).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("X-Wing"), "{shown}");
        assert!(!shown.contains("5a5a"), "{shown}");
        assert!(!shown.contains("90, 90"), "{shown}");
    }
}
