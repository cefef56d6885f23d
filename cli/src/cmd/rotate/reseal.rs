//! The re-encryption of one document, behind [`Resealer`]: [`OfflineResealer`] decrypts with
//! private keys given on the command line; [`ClusterResealer`] asks the controller
//! (`POST /v1/rotate`), so that no private key leaves the cluster.

use kseal_core::{Certificate, Encryption, Fingerprint, KeySet};
use kseal_crds::{
    KEY_FINGERPRINT_ANNOTATION, SealedSecret, UnsealError, UnsealOptions, reseal::reseal_item,
};

use crate::{cluster::Session, exit::Failure};

/// Re-encrypts one SealedSecret to a target key.
pub(crate) trait Resealer {
    /// The key every re-sealed document is sealed to.
    fn target(&self) -> &Fingerprint;

    /// New `spec.encryptedData` items for `doc`: every item re-encrypted to [`Self::target`]
    /// under the document's own scope (from its outer annotations, name and namespace), in the
    /// same order. All items or none.
    fn reseal(&self, doc: &SealedSecret) -> std::result::Result<Resealed, ResealError>;
}

/// A re-sealed document's new items.
#[derive(Debug)]
pub(crate) struct Resealed {
    pub(crate) items: Vec<(String, String)>,
    /// The keys that opened the old items (for the summary), without duplicates.
    pub(crate) opened_with: Vec<Fingerprint>,
}

/// Why a document was not re-sealed. Messages name items, never values.
#[derive(Debug)]
pub(crate) enum ResealError {
    /// Items opened with none of the keys (wrong key, wrong scope or damaged: one coarse
    /// error, `docs/wire-format.md` §6), in Bitnami's words ([`UnsealError::Decrypt`]).
    Decrypt(UnsealError),
    /// The document cannot be re-sealed as it is.
    Invalid(String),
    /// The controller refused it (its message names items, never values).
    Refused(String),
    /// Nothing more can be re-sealed (the cluster is unreachable, or keeps limiting us).
    Abort(Failure),
}

impl std::fmt::Display for ResealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Decrypt(e) => e.fmt(f),
            Self::Invalid(message) => f.write_str(message),
            Self::Refused(message) => write!(f, "the controller cannot re-seal it: {message}"),
            Self::Abort(failure) => f.write_str(&failure.message),
        }
    }
}

/// Decrypts with private keys held in this process and seals to a certificate, each item in its
/// own format or, with `encryption`, all in that one (`kseal rotate --encryption`).
#[derive(Debug)]
pub(crate) struct OfflineResealer<'a> {
    pub(crate) keys: &'a KeySet,
    pub(crate) cert: &'a Certificate,
    pub(crate) encryption: Option<Encryption>,
}

impl Resealer for OfflineResealer<'_> {
    fn target(&self) -> &Fingerprint {
        self.cert.fingerprint()
    }

    fn reseal(&self, doc: &SealedSecret) -> std::result::Result<Resealed, ResealError> {
        if doc.spec.data.as_deref().is_some_and(|d| !d.is_empty()) {
            return Err(ResealError::Invalid(
                "uses the legacy v1 spec.data, which kseal does not write; seal it again from its source".into(),
            ));
        }
        let opened = doc
            .open_items(self.keys, UnsealOptions::default())
            .map_err(|e| match e {
                UnsealError::Decrypt { .. } => ResealError::Decrypt(e),
                other => ResealError::Invalid(other.to_string()),
            })?;
        let scope = doc
            .scope()
            .map_err(|e| ResealError::Invalid(e.to_string()))?;
        // The plaintexts live in zeroizing buffers, dropped with `opened`.
        let items = opened
            .items
            .iter()
            .map(|(name, plaintext)| {
                let previous = doc
                    .spec
                    .encrypted_data
                    .get(name)
                    .and_then(|v| v.as_sealed());
                reseal_item(
                    self.cert,
                    &scope,
                    name,
                    previous.unwrap_or(""),
                    plaintext.expose(),
                    self.encryption,
                )
                .map(|sealed| (name.clone(), sealed))
                .map_err(|e| ResealError::Invalid(e.to_string()))
            })
            .collect::<std::result::Result<_, _>>()?;
        Ok(Resealed {
            items,
            opened_with: opened.keys_used,
        })
    }
}

/// Re-seals through the controller's `POST /v1/rotate`: the private keys never leave the
/// cluster. The answer is checked before it is used: the same item names, each value a sealed
/// value for the target certificate's key size, the fingerprint annotation (when the
/// controller sets it) the target's.
pub(crate) struct ClusterResealer<'a> {
    pub(crate) session: &'a Session,
    /// The controller's newest certificate, fetched at the start.
    pub(crate) cert: &'a Certificate,
    /// `--encryption`: asked of `/v1/rotate` as `?encryption=`, and checked in its answer (a
    /// controller that ignores the parameter, Bitnami's, answers in each item's old format).
    pub(crate) encryption: Option<Encryption>,
}

impl Resealer for ClusterResealer<'_> {
    fn target(&self) -> &Fingerprint {
        self.cert.fingerprint()
    }

    fn reseal(&self, doc: &SealedSecret) -> std::result::Result<Resealed, ResealError> {
        let body = serde_json::to_vec(doc)
            .map_err(|e| ResealError::Invalid(format!("cannot encode it: {e}")))?;
        let path = match self.encryption {
            Some(e) => format!("/v1/rotate?encryption={}", e.as_str()),
            None => "/v1/rotate".to_owned(),
        };
        let reply = self
            .session
            .post_json(&path, &body)
            .map_err(ResealError::Abort)?;
        match reply.status {
            200 => {}
            400 | 409 | 422 | 500 => {
                let message = String::from_utf8_lossy(&reply.body)
                    .trim()
                    .chars()
                    .take(300)
                    .collect::<String>();
                return Err(
                    if message.starts_with(kseal_crds::unseal::NO_KEY_COULD_DECRYPT) {
                        ResealError::Decrypt(UnsealError::Decrypt {
                            failed: doc.spec.encrypted_data.names().map(str::to_owned).collect(),
                            bad_base64: Vec::new(),
                        })
                    } else {
                        ResealError::Refused(message)
                    },
                );
            }
            _ => {
                return Err(ResealError::Abort(self.session.unexpected(
                    "POST",
                    "/v1/rotate",
                    &reply,
                )));
            }
        }
        check_answer(doc, &reply.body, self.cert, self.encryption).map_err(|problem| {
            ResealError::Refused(format!("unexpected answer from /v1/rotate: {problem}"))
        })
    }
}

crate::exit::message_error!(
    /// What is wrong with a `/v1/rotate` answer (item names and key sizes, never values).
    BadAnswer
);

/// The new items from a `/v1/rotate` answer, in the document's order, after checking them.
fn check_answer(
    doc: &SealedSecret,
    body: &[u8],
    cert: &Certificate,
    encryption: Option<Encryption>,
) -> std::result::Result<Resealed, BadAnswer> {
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "not JSON".to_owned())?;
    let Some(data) = answer["spec"]["encryptedData"].as_object() else {
        if doc.spec.encrypted_data.is_empty() {
            return Ok(Resealed {
                items: Vec::new(),
                opened_with: Vec::new(),
            });
        }
        return Err(BadAnswer("no spec.encryptedData".to_owned()));
    };
    let asked: Vec<&str> = doc.spec.encrypted_data.iter().map(|(n, _)| n).collect();
    let mut got: Vec<&str> = data.keys().map(String::as_str).collect();
    let mut wanted = asked.clone();
    got.sort_unstable();
    wanted.sort_unstable();
    if got != wanted {
        return Err(BadAnswer(format!(
            "items {} instead of {}",
            got.join(", "),
            wanted.join(", ")
        )));
    }
    let want_len = cert.modulus_len();
    let mut items = Vec::new();
    for name in asked {
        let value = data[name]
            .as_str()
            .ok_or_else(|| format!("item {name} is not a string"))?;
        let facts =
            crate::inspect::inspect_value(value).map_err(|e| format!("item {name}: {e}"))?;
        let got = Encryption::of_base64(value);
        if let Some(wanted) = encryption
            && got != wanted
        {
            return Err(BadAnswer(format!(
                "item {name} came back as {} although {} was asked (a controller that does not know ?encryption=, such as Bitnami's, keeps each item's format; rotate offline with --key instead)",
                got.as_str(),
                wanted.as_str()
            )));
        }
        match facts.rsa_len {
            Some(rsa_len) if rsa_len != want_len => {
                return Err(BadAnswer(format!(
                    "item {name} is sealed for a {}-bit key, but the newest certificate has {} bits (did the key change during the run? run again)",
                    rsa_len * 8,
                    want_len * 8
                )));
            }
            // pq-hybrid stays pq-hybrid (`kseal_crds::reseal`): only for a certificate that
            // carries an X-Wing key.
            None if cert.pq_public_key().is_none() => {
                return Err(BadAnswer(format!(
                    "item {name} is pq-hybrid, but the newest certificate has no post-quantum key"
                )));
            }
            _ => {}
        }
        items.push((name.to_owned(), value.to_owned()));
    }
    if let Some(fp) = answer["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION].as_str()
        && fp != cert.fingerprint().as_str()
    {
        return Err(BadAnswer(format!(
            "sealed to {fp}, not the newest certificate {} (did the key change during the run? run again)",
            cert.fingerprint()
        )));
    }
    Ok(Resealed {
        items,
        opened_with: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> Certificate {
        Certificate::from_pem(include_bytes!("../../../tests/fixtures/test.pem")).unwrap()
    }

    /// A structurally valid sealed value for a `rsa_len`-byte key (not decryptable).
    fn blob(rsa_len: usize) -> String {
        let mut b = u16::try_from(rsa_len).unwrap().to_be_bytes().to_vec();
        b.resize(kseal_core::sealed::sealed_len(rsa_len, 4), 7);
        kseal_core::sealed::encode_base64(&b)
    }

    fn doc(items: &[&str]) -> SealedSecret {
        let data: serde_json::Map<String, serde_json::Value> = items
            .iter()
            .map(|n| ((*n).to_owned(), blob(256).into()))
            .collect();
        serde_json::from_value(serde_json::json!({
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": "app", "namespace": "shop"},
            "spec": {"encryptedData": data, "template": {"metadata": {"name": "app", "namespace": "shop"}}},
        }))
        .unwrap()
    }

    fn answer(items: &[(&str, String)], fingerprint: Option<&str>) -> Vec<u8> {
        let data: serde_json::Map<String, serde_json::Value> = items
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone().into()))
            .collect();
        let mut v = serde_json::json!({
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": "app", "namespace": "shop"},
            "spec": {"encryptedData": data},
        });
        if let Some(fp) = fingerprint {
            v["metadata"]["annotations"] = serde_json::json!({ KEY_FINGERPRINT_ANNOTATION: fp });
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn a_good_answer_gives_the_items_in_the_documents_order() {
        let cert = cert();
        let fp = cert.fingerprint().to_string();
        let (b, a) = (blob(256), blob(256));
        let body = answer(&[("B", b.clone()), ("A", a.clone())], Some(&fp));
        let resealed = check_answer(&doc(&["A", "B"]), &body, &cert, None).unwrap();
        assert_eq!(resealed.items, vec![("A".into(), a), ("B".into(), b)]);
    }

    #[test]
    fn a_bad_answer_is_refused() {
        let cert = cert();
        let d = doc(&["A", "B"]);
        let missing = answer(&[("A", blob(256))], None);
        assert!(
            check_answer(&d, &missing, &cert, None)
                .unwrap_err()
                .0
                .contains("items A instead of A, B")
        );
        let wrong_size = answer(&[("A", blob(256)), ("B", blob(512))], None);
        assert!(
            check_answer(&d, &wrong_size, &cert, None)
                .unwrap_err()
                .0
                .contains("4096-bit key")
        );
        let not_sealed = answer(&[("A", blob(256)), ("B", "cGxhaW4=".into())], None);
        assert!(
            check_answer(&d, &not_sealed, &cert, None)
                .unwrap_err()
                .0
                .starts_with("item B:")
        );
        let other_key = answer(
            &[("A", blob(256)), ("B", blob(256))],
            Some("SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        );
        assert!(
            check_answer(&d, &other_key, &cert, None)
                .unwrap_err()
                .0
                .contains("not the newest certificate")
        );
        assert!(check_answer(&d, b"<html>", &cert, None).is_err());
        // Asked for pq-hybrid, answered in RSA (a controller that ignores ?encryption=).
        let rsa = answer(&[("A", blob(256)), ("B", blob(256))], None);
        assert!(
            check_answer(&d, &rsa, &cert, Some(Encryption::PqHybrid))
                .unwrap_err()
                .0
                .starts_with("item A came back as rsa although pq-hybrid was asked")
        );
        assert!(check_answer(&d, &rsa, &cert, Some(Encryption::Rsa)).is_ok());
    }
}
