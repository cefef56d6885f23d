//! Test fixtures (feature `test-fixtures`, and this crate's own tests): a few generated keys
//! (made once per test binary) and SealedSecret builders. Not for production code: the keys are
//! throwaway test keys, and every value is sealed with a fixed-seed generator.

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime},
};

use crate::{SealedSecret, SealedSecretSpec};
use kseal_core::{
    CertParams, Certificate, KeySet, KeySize, PqPrivateKey, PrivateKey, Scope, SecretKeyName,
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};

/// Three RSA-2048 keys as (certificate PEM, PKCS#1 key PEM); key `i` has NotBefore
/// 2024-01-0(i+1), so key 2 is the newest.
pub fn key_pems() -> &'static [(String, String)] {
    static KEYS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..3u64)
            .map(|i| {
                let params = CertParams {
                    key_size: KeySize::Rsa2048,
                    not_before: SystemTime::UNIX_EPOCH
                        + Duration::from_secs(1_704_067_200 + i * 86_400),
                    validity: Duration::from_secs(10 * 365 * 86_400),
                    common_name: String::new(),
                    serial: [i as u8 + 1; 16],
                };
                let (key, cert) = kseal_core::keys::generate(&params).unwrap();
                (cert.to_pem(), key.to_pkcs1_pem().expose().to_owned())
            })
            .collect()
    })
}

/// Certificate `i` of [`key_pems`].
pub fn cert(i: usize) -> Certificate {
    Certificate::from_pem(key_pems()[i].0.as_bytes()).unwrap()
}

/// Private key `i` of [`key_pems`].
pub fn private_key(i: usize) -> PrivateKey {
    PrivateKey::from_pem(key_pems()[i].1.as_bytes()).unwrap()
}

/// The private keys `indices` of [`key_pems`], in that order.
pub fn keyset(indices: &[usize]) -> KeySet {
    indices.iter().map(|&i| private_key(i)).collect()
}

/// The X-Wing key that belongs to key `i` of [`key_pems`] (a fixed, public test seed).
pub fn pq_key(i: usize) -> PqPrivateKey {
    let seed = [0x50 + u8::try_from(i).expect("invariant: a handful of fixture keys"); 32];
    PqPrivateKey::from_seed(&seed).expect("invariant: 32 bytes are a valid X-Wing seed")
}

/// The private keys `indices` of [`key_pems`], each with its post-quantum part [`pq_key`].
pub fn keyset_pq(indices: &[usize]) -> KeySet {
    indices
        .iter()
        .map(|&i| private_key(i).with_pq(pq_key(i)))
        .collect()
}

/// Seals `items` as `pq-hybrid` to the post-quantum part of key `key` under `scope` into
/// `ss.spec.encryptedData`, each bound to its item key.
pub fn seal_pq_into(ss: &mut SealedSecret, scope: &Scope, items: &[(&str, &[u8])], key: usize) {
    let public = pq_key(key).public_key().clone();
    for (k, v) in items {
        let item = SecretKeyName::parse(k).expect("fixture item keys are valid Secret keys");
        let blob = kseal_core::pq::seal_with_rng(&public, scope, &item, v, &mut rng());
        ss.spec
            .encrypted_data
            .insert(*k, kseal_core::sealed::encode_base64(&blob));
    }
}

/// The fixed-seed generator every fixture seals with.
pub fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(7)
}

/// A strict-scope SealedSecret `ns/name` (uid `uid-<name>`) with `items` sealed to key `key`.
pub fn sealed(ns: &str, name: &str, items: &[(&str, &[u8])], key: usize) -> SealedSecret {
    let mut ss = SealedSecret::new(name, SealedSecretSpec::default());
    ss.metadata.namespace = Some(ns.into());
    ss.metadata.uid = Some(format!("uid-{name}"));
    ss.metadata.generation = Some(1);
    let scope = ss.scope().unwrap();
    seal_into(&mut ss, &scope, items, key);
    ss
}

/// Seals `items` to key `key` under `scope` into `ss.spec.encryptedData`.
pub fn seal_into(ss: &mut SealedSecret, scope: &Scope, items: &[(&str, &[u8])], key: usize) {
    let cert = cert(key);
    for (k, v) in items {
        ss.spec.encrypted_data.insert(
            *k,
            kseal_core::seal_base64_with_rng(&cert, scope, v, &mut rng()),
        );
    }
}

/// Seals `inner` (a JSON Secret) to key `key` into the legacy v1 `spec.data` blob of `ss`.
pub fn seal_v1(ss: &mut SealedSecret, inner: &serde_json::Value, key: usize) {
    let scope = ss.scope().unwrap();
    ss.spec.data = Some(kseal_core::seal_base64_with_rng(
        &cert(key),
        &scope,
        inner.to_string().as_bytes(),
        &mut rng(),
    ));
}

/// The data of a Secret as byte vectors (plaintext: for assertions only).
pub fn data(
    secret: &k8s_openapi::api::core::v1::Secret,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// A string map from pairs (labels, annotations, templates).
pub fn map(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The Secret [`unseal`] builds for `ss` with keys 2, 1 and 0 (all of them, newest first).
pub fn unsealed(ss: &SealedSecret) -> k8s_openapi::api::core::v1::Secret {
    unseal(ss, &keyset(&[2, 1, 0])).unwrap().secret
}

/// [`SealedSecret::unseal`] with the default options and the in-process renderer, as most
/// tests call it.
pub fn unseal(ss: &SealedSecret, keys: &KeySet) -> Result<crate::Unsealed, crate::UnsealError> {
    ss.unseal(
        keys,
        crate::UnsealOptions::default(),
        &kseal_template::InProcess,
    )
}
