//! Sealing an opened item again (`/v1/rotate`, `kseal rotate --key`) in the format it was sealed
//! in: a `pq-hybrid` item must not silently become an RSA one when it moves to a new key. Only
//! `kseal rotate --encryption` (offline with `--key`, or through `/v1/rotate?encryption=`) asks
//! for another format (migrating files).

use kseal_core::{Certificate, Encryption, Scope, SecretKeyName};

/// An item cannot be re-sealed as `pq-hybrid` (keeping that format, or asked to) for a
/// certificate without an X-Wing key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "item {item:?} cannot be sealed as pq-hybrid: the certificate to re-seal it for has no post-quantum (X-Wing) key; renew the key so that its certificate carries one"
)]
pub struct NoPqKeyFor {
    /// The item's name.
    pub item: String,
}

/// `plaintext` (the opened value of item `item`, whose sealed text was `previous`) sealed for
/// `cert` under `scope` in the format `to`, or, without one, in the format `previous` has
/// ([`Encryption::of_base64`]).
pub fn reseal_item(
    cert: &Certificate,
    scope: &Scope,
    item: &str,
    previous: &str,
    plaintext: &[u8],
    to: Option<Encryption>,
) -> Result<String, NoPqKeyFor> {
    let no_key = || NoPqKeyFor {
        item: item.to_owned(),
    };
    match to.unwrap_or_else(|| Encryption::of_base64(previous)) {
        Encryption::Rsa => Ok(kseal_core::seal_base64(cert, scope, plaintext)),
        Encryption::PqHybrid => {
            // It opened, so its name is a valid Secret key (opening checks that first for both
            // formats).
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
        let rsa_again = reseal_item(&pq_cert, &scope, "RSA", &rsa, b"r", None).unwrap();
        assert_eq!(Encryption::of_base64(&rsa_again), Encryption::Rsa);
        let pq_again = reseal_item(&pq_cert, &scope, "PQ", &pq, b"q", None).unwrap();
        assert_eq!(Encryption::of_base64(&pq_again), Encryption::PqHybrid);
        let item = SecretKeyName::parse("PQ").unwrap();
        let opened = kseal_core::pq::open_any_base64(&new_keys, &scope, &item, &pq_again, None);
        assert_eq!(opened.unwrap().plaintext.expose(), b"q");

        // A certificate without an X-Wing key cannot take a pq-hybrid item; RSA ones still move.
        assert_eq!(
            reseal_item(&cert(1), &scope, "PQ", &pq, b"q", None).unwrap_err(),
            NoPqKeyFor { item: "PQ".into() }
        );
        assert!(reseal_item(&cert(1), &scope, "RSA", &rsa, b"r", None).is_ok());
    }

    #[test]
    fn a_chosen_format_replaces_the_items_format() {
        let (key, pq_cert) = generate_with_pq(&CertParams {
            key_size: KeySize::Rsa2048,
            not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            validity: Duration::from_secs(86_400),
            common_name: String::new(),
            serial: [4; 16],
        })
        .unwrap();
        let keys: KeySet = [key].into_iter().collect();
        let ss = sealed("ns", "app", &[], 0);
        let scope = ss.scope().unwrap();
        let item = SecretKeyName::parse("A").unwrap();
        let rsa = kseal_core::seal_base64(&pq_cert, &scope, b"v");
        let pq = Encryption::PqHybrid
            .seal_base64(&pq_cert, &scope, &item, b"v")
            .unwrap();

        let to_pq = reseal_item(
            &pq_cert,
            &scope,
            "A",
            &rsa,
            b"v",
            Some(Encryption::PqHybrid),
        );
        let to_pq = to_pq.unwrap();
        assert_eq!(Encryption::of_base64(&to_pq), Encryption::PqHybrid);
        let opened = kseal_core::pq::open_any_base64(&keys, &scope, &item, &to_pq, None).unwrap();
        assert_eq!(opened.plaintext.expose(), b"v");

        let to_rsa = reseal_item(&pq_cert, &scope, "A", &pq, b"v", Some(Encryption::Rsa)).unwrap();
        assert_eq!(Encryption::of_base64(&to_rsa), Encryption::Rsa);

        // Asking for pq-hybrid from a certificate without an X-Wing key is an error, never RSA.
        assert_eq!(
            reseal_item(
                &cert(1),
                &scope,
                "A",
                &rsa,
                b"v",
                Some(Encryption::PqHybrid)
            )
            .unwrap_err(),
            NoPqKeyFor { item: "A".into() }
        );
    }
}
