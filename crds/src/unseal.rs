//! Opening a SealedSecret: the one way from a SealedSecret and private keys to its plaintexts
//! ([`SealedSecret::open_items`]) and to the Secret it asks for ([`SealedSecret::unseal`]).
//! The controller (reconcile, `/v1/verify`, `/v1/rotate`) and the CLI (`kseal unseal`,
//! `kseal rotate --key`) call these and nothing else, so `kseal unseal` prints the Secret the
//! controller writes (`docs/architecture.md` §1).
//!
//! **Legacy `spec.data`** (`docs/wire-format.md` §7.2): decrypted read-only when
//! [`UnsealOptions::accept_v1_data`] is on (the default, like Bitnami): its plaintext is a whole
//! JSON Secret whose `data`, `stringData`, labels and annotations are used under `spec.template`.
//! kseal never writes the format. Setting both `encryptedData` and `data` is an error with
//! Bitnami's wording.
//!
//! Pure: no API calls, no clock, no logging. `spec.template.data` is rendered by the caller's
//! [`Renderer`] (the controller's sandbox, or `kseal_template::InProcess`).

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kseal_core::{
    Encryption, Fingerprint, KeySet, MAX_SECRET_DATA, OpenError, Opened, Scope, SecretBytes,
    SecretKeyName, sealed,
};
use kseal_template::{Plaintexts, Renderer};

use crate::{EncryptedValue, SealedSecret};

mod error;

pub use error::{NO_KEY_COULD_DECRYPT, UnsealError};

/// Options that change how a SealedSecret opens.
#[derive(Debug, Clone, Copy)]
pub struct UnsealOptions {
    /// `--accept-deprecated-v1-data`.
    pub accept_v1_data: bool,
}

impl Default for UnsealOptions {
    fn default() -> Self {
        Self {
            accept_v1_data: true,
        }
    }
}

/// The plaintexts of a SealedSecret, opened but not interpreted: what
/// [`SealedSecret::open_items`] returns.
///
/// Every plaintext is a [`SecretBytes`] (zeroized on drop, redacted under `Debug`).
#[derive(Debug)]
pub struct OpenedItems {
    /// `spec.encryptedData` items in document order (empty for a legacy `spec.data` object).
    pub items: Vec<(String, SecretBytes)>,
    /// The plaintext of the legacy `spec.data` blob: a JSON Secret, not parsed here.
    pub legacy: Option<SecretBytes>,
    /// Fingerprints of the keys that opened the items, each once.
    pub keys_used: Vec<Fingerprint>,
    /// RSA private-key operations spent.
    pub rsa_operations: usize,
    /// X-Wing decapsulations spent on `pq-hybrid` items.
    pub pq_operations: usize,
}

impl OpenedItems {
    /// Records which key opened `o` and what it cost; returns the plaintext.
    fn count(&mut self, o: Opened) -> SecretBytes {
        self.rsa_operations += o.rsa_operations;
        self.pq_operations += o.pq_operations;
        if !self.keys_used.contains(&o.key) {
            self.keys_used.push(o.key);
        }
        o.plaintext
    }
}

/// A SealedSecret that unsealed: the Secret it asks for, and which keys opened it.
///
/// The Secret holds plaintext: never `Debug`-print it (k8s-openapi's `ByteString` prints bytes),
/// which is why this type's `Debug` shows key names only.
pub struct Unsealed {
    /// The desired Secret: name, namespace, labels, annotations, finalizers, ownerReferences,
    /// type, immutable and data.
    pub secret: Secret,
    /// Fingerprints of the keys that opened the items (for the key-usage log line).
    pub keys_used: Vec<Fingerprint>,
    /// RSA private-key operations spent.
    pub rsa_operations: usize,
    /// X-Wing decapsulations spent on `pq-hybrid` items.
    pub pq_operations: usize,
}

impl std::fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealed")
            .field("name", &self.secret.metadata.name)
            .field("items", &data_keys(&self.secret))
            .field("keys_used", &self.keys_used)
            .finish_non_exhaustive()
    }
}

/// The data key names of a Secret, for logs.
pub fn data_keys(secret: &Secret) -> Vec<&str> {
    secret
        .data
        .iter()
        .flat_map(|d| d.keys())
        .map(String::as_str)
        .collect()
}

/// The ownerReference every produced Secret carries (unless `skip-set-owner-references`):
/// `controller: true`, and no `blockOwnerDeletion`, exactly as Bitnami's `NewControllerRef`.
pub fn owner_reference(ss: &SealedSecret) -> OwnerReference {
    OwnerReference {
        api_version: "bitnami.com/v1alpha1".into(),
        kind: "SealedSecret".into(),
        name: ss.metadata.name.clone().unwrap_or_default(),
        uid: ss.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

/// `base` with `over`'s entries on top; `None` when the result is empty (Go's `omitempty`).
pub fn merge_maps(
    base: Option<BTreeMap<String, String>>,
    over: Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    let mut map = base.unwrap_or_default();
    map.extend(over.unwrap_or_default());
    (!map.is_empty()).then_some(map)
}

impl SealedSecret {
    /// Decrypts every item with `keys`, and nothing more: no template is rendered and no
    /// plaintext is parsed, so the outcome depends only on the object's structure, its scope
    /// and whether each ciphertext opens with `keys`. This is all `/v1/verify`, `/v1/rotate` and
    /// `kseal rotate --key` do, and the first step of [`SealedSecret::unseal`].
    ///
    /// The scope comes from the outer annotations only, and the key named by the fingerprint
    /// hint is tried first (`docs/wire-format.md` §5–§6). Every item is attempted and all
    /// failures are reported together, naming the items. A wrong key, wrong scope and tampering
    /// give Bitnami's single message `no key could decrypt secret (a, b)`.
    ///
    /// Each item is opened in its own format ([`Encryption::of`]), so one SealedSecret may mix
    /// them: the Bitnami RSA format, bound to the scope, and `pq-hybrid` (`docs/pq-format.md`),
    /// bound to the scope and the item key, opened with the post-quantum part of the keys. A
    /// `pq-hybrid` value under another item key fails like a wrong key. The legacy `spec.data`
    /// blob has no item key and is read in the RSA format only.
    pub fn open_items(
        &self,
        keys: &KeySet,
        options: UnsealOptions,
    ) -> Result<OpenedItems, UnsealError> {
        let problems = self.spec.problems();
        if !problems.is_empty() {
            return Err(UnsealError::Spec(problems));
        }
        let scope = self.scope().map_err(UnsealError::Scope)?;
        let hint = self.key_fingerprint_hint().and_then(Fingerprint::parse);
        let mut opened = OpenedItems {
            items: Vec::with_capacity(self.spec.encrypted_data.len()),
            legacy: None,
            keys_used: Vec::new(),
            rsa_operations: 0,
            pq_operations: 0,
        };
        if let Some(blob) = self.spec.data.as_deref().filter(|d| !d.is_empty()) {
            if !self.spec.encrypted_data.is_empty() {
                return Err(UnsealError::BothFormats);
            }
            if !options.accept_v1_data {
                return Err(UnsealError::V1Disabled);
            }
            let o = kseal_core::open_base64(keys, &scope, blob, hint.as_ref()).map_err(|_| {
                UnsealError::Decrypt {
                    failed: vec!["data".into()],
                    bad_base64: Vec::new(),
                }
            })?;
            opened.legacy = Some(opened.count(o));
            return Ok(opened);
        }

        let mut failed = Vec::new();
        let mut bad_base64 = Vec::new();
        for (name, value) in self.spec.encrypted_data.iter() {
            let EncryptedValue::Sealed(text) = value else {
                // Reported by `problems()` above; unreachable for a checked spec.
                continue;
            };
            let Ok(blob) = sealed::decode_base64(text) else {
                bad_base64.push(name.to_owned());
                continue;
            };
            match open_item(keys, &scope, name, &blob, hint.as_ref()) {
                Ok(o) => {
                    let plaintext = opened.count(o);
                    opened.items.push((name.to_owned(), plaintext));
                }
                Err(_) => failed.push(name.to_owned()),
            }
        }
        if !failed.is_empty() || !bad_base64.is_empty() {
            return Err(UnsealError::Decrypt { failed, bad_base64 });
        }
        Ok(opened)
    }

    /// Decrypts every item ([`SealedSecret::open_items`]) and builds the Secret this
    /// SealedSecret asks for (`docs/controller-compat.md` §4): `spec.template.data` rendered by
    /// `renderer` (a rendered key wins over an item of the same name), `spec.template`'s labels,
    /// annotations, finalizers, type and immutable, the legacy `spec.data` Secret's metadata
    /// under them, and the owner reference unless `skip-set-owner-references`.
    ///
    /// No partial Secret is produced: any item that does not open fails the whole SealedSecret.
    pub fn unseal(
        &self,
        keys: &KeySet,
        options: UnsealOptions,
        renderer: &dyn Renderer,
    ) -> Result<Unsealed, UnsealError> {
        let opened = self.open_items(keys, options)?;
        let (keys_used, rsa_operations, pq_operations) = (
            opened.keys_used,
            opened.rsa_operations,
            opened.pq_operations,
        );
        let mut items = Plaintexts::new();
        let mut v1_meta = None;
        if let Some(blob) = opened.legacy {
            let inner: Secret =
                serde_json::from_slice(blob.expose()).map_err(|_| UnsealError::V1NotASecret)?;
            // Plain copies: k8s-openapi parses the inner Secret's values into `ByteString` and
            // `String`; they move into zeroizing buffers here and are dropped with `inner`.
            for (k, v) in inner.data.unwrap_or_default() {
                items.insert(k, SecretBytes::new(v.0));
            }
            for (k, v) in inner.string_data.unwrap_or_default() {
                items.insert(k, SecretBytes::from(v));
            }
            v1_meta = Some((inner.metadata, inner.type_));
        }
        for (name, plaintext) in opened.items {
            items.insert(name, plaintext);
        }

        if let Some(templates) = self.spec.template.data.as_ref().filter(|t| !t.is_empty()) {
            // Rendered keys are written after the decrypted items: a template wins on collision.
            let rendered = renderer
                .render(templates, &items)
                .map_err(UnsealError::Template)?;
            items.extend(rendered);
        }
        let size: usize = items.values().map(SecretBytes::len).sum();
        if size > MAX_SECRET_DATA {
            return Err(UnsealError::TooLarge { bytes: size });
        }

        let template_meta = self.spec.template.metadata.clone().unwrap_or_default();
        let (mut labels, mut annotations, mut type_) = (None, None, None);
        if let Some((meta, t)) = v1_meta {
            labels = meta.labels;
            annotations = meta.annotations;
            type_ = t;
        }
        let labels = merge_maps(labels, template_meta.labels);
        let annotations = merge_maps(annotations, template_meta.annotations);
        let owner_references =
            (!self.skips_owner_references()).then(|| vec![owner_reference(self)]);
        let secret = Secret {
            metadata: ObjectMeta {
                // name and namespace are forced: the template's are ignored, for security
                // (Bitnami #1547).
                name: self.metadata.name.clone(),
                namespace: self.metadata.namespace.clone(),
                labels,
                annotations,
                finalizers: template_meta.finalizers.filter(|f| !f.is_empty()),
                owner_references,
                ..ObjectMeta::default()
            },
            type_: Some(
                self.spec
                    .template
                    .type_
                    .clone()
                    .filter(|t| !t.is_empty())
                    .or(type_)
                    .unwrap_or_else(|| "Opaque".into()),
            ),
            immutable: self.spec.template.immutable,
            // The one plain copy of the values: k8s-openapi's `ByteString` is a `Vec<u8>`, and
            // the Secret lives until the caller has written it (the API client, or `kseal
            // unseal`'s output).
            data: Some(
                items
                    .into_iter()
                    .map(|(k, v)| (k, ByteString(v.expose().to_vec())))
                    .collect(),
            ),
            string_data: None,
        };
        Ok(Unsealed {
            secret,
            keys_used,
            rsa_operations,
            pq_operations,
        })
    }
}

/// Opens one binary item value in the format its first bytes name. A `pq-hybrid` value is bound
/// to its item key; an item name that is not a valid Secret key cannot have been sealed as one,
/// so it fails with the same coarse error as every other failure.
fn open_item(
    keys: &KeySet,
    scope: &Scope,
    item: &str,
    blob: &[u8],
    hint: Option<&Fingerprint>,
) -> Result<Opened, OpenError> {
    match Encryption::of(blob) {
        Encryption::Rsa => kseal_core::open(keys, scope, blob, hint),
        Encryption::PqHybrid => {
            let item = SecretKeyName::parse(item).map_err(|_| OpenError)?;
            kseal_core::pq::open(keys, scope, &item, blob, hint)
        }
    }
}

#[cfg(test)]
mod pq_tests;
#[cfg(test)]
mod tests;
