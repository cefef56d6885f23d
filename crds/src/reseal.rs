//! Sealing an opened item again (`/v1/rotate`, `kseal rotate --key`) in the format it was sealed
//! in: a `pq-hybrid` item must not silently become an RSA one when it moves to a new key.

use kseal_core::{Certificate, Encryption, Scope, SecretKeyName};

/// A `pq-hybrid` item cannot be re-sealed for a certificate without an X-Wing key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "item {item:?} is sealed as pq-hybrid, but the certificate to re-seal it for has no post-quantum (X-Wing) key; renew the key so that its certificate carries one"
)]
pub struct NoPqKeyFor {
    /// The item's name.
    pub item: String,
}

/// `plaintext` (the opened value of item `item`, whose sealed text was `previous`) sealed for
/// `cert` under `scope` in the format `previous` has ([`Encryption::of_base64`]).
pub fn reseal_item(
    cert: &Certificate,
    scope: &Scope,
    item: &str,
    previous: &str,
    plaintext: &[u8],
) -> Result<String, NoPqKeyFor> {
    let no_key = || NoPqKeyFor {
        item: item.to_owned(),
    };
    match Encryption::of_base64(previous) {
        Encryption::Rsa => Ok(kseal_core::seal_base64(cert, scope, plaintext)),
        Encryption::PqHybrid => {
            // It opened, so its name is a valid Secret key (opening checks that first).
            let name = SecretKeyName::parse(item).map_err(|_| no_key())?;
            Encryption::PqHybrid
                .seal_base64(cert, scope, &name, plaintext)
                .map_err(|_| no_key())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use kseal_core::{CertParams, KeySet, KeySize, ScopeKind, keys::generate_with_pq};

    use super::*;
    use crate::fixtures::{cert, seal_into, seal_pq_into, sealed};

    #[test]
    fn items_keep_their_format() {
        let (key, pq_cert) = generate_with_pq(&CertParams {
            key_size: KeySize::Rsa2048,
            not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            validity: Duration::from_secs(86_400),
            common_name: String::new(),
            serial: [3; 16],
        })
        .unwrap();
        let mut ss = sealed("ns", "app", &[], 0);
        let scope = ss.scope().unwrap();
        assert_eq!(scope.kind(), ScopeKind::Strict);
        seal_into(&mut ss, &scope, &[("RSA", b"r")], 0);
        seal_pq_into(&mut ss, &scope, &[("PQ", b"q")], 0);
        let text = |name: &str| {
            ss.spec
                .encrypted_data
                .get(name)
                .and_then(|v| v.as_sealed())
                .unwrap()
                .to_owned()
        };
        let (rsa, pq) = (text("RSA"), text("PQ"));

        let new_keys: KeySet = [key].into_iter().collect();
        let rsa_again = reseal_item(&pq_cert, &scope, "RSA", &rsa, b"r").unwrap();
        assert_eq!(Encryption::of_base64(&rsa_again), Encryption::Rsa);
        let pq_again = reseal_item(&pq_cert, &scope, "PQ", &pq, b"q").unwrap();
        assert_eq!(Encryption::of_base64(&pq_again), Encryption::PqHybrid);
        let item = SecretKeyName::parse("PQ").unwrap();
        let opened = kseal_core::pq::open_any_base64(&new_keys, &scope, &item, &pq_again, None);
        assert_eq!(opened.unwrap().plaintext.expose(), b"q");

        // A certificate without an X-Wing key cannot take a pq-hybrid item; RSA ones still move.
        assert_eq!(
            reseal_item(&cert(1), &scope, "PQ", &pq, b"q").unwrap_err(),
            NoPqKeyFor { item: "PQ".into() }
        );
        assert!(reseal_item(&cert(1), &scope, "RSA", &rsa, b"r").is_ok());
    }
}
