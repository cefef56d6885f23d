//! The pure heart of the controller: from a SealedSecret, the keys and the Secret that exists
//! now, decide what to write. No API calls, no clock, no logging; the reconciler fetches, calls
//! these two functions and applies the result.
//!
//! - [`open_items`]: SealedSecret + keys → the plaintexts ([`OpenedItems`]), decrypt only: no
//!   template, no parsing. The one open loop; `/v1/verify` and `/v1/rotate` use nothing else.
//! - [`unseal`]: SealedSecret + keys → the Secret it asks for ([`Unsealed`]), or why not
//!   ([`UnsealError`]). Opens every item ([`open_items`]), renders `spec.template.data`, applies
//!   `spec.template` (`docs/controller-compat.md` §4).
//! - [`plan`]: that Secret + the existing one → [`Plan`]: create, update, nothing, or refuse
//!   (`docs/controller-compat.md` §4.1, the `managed` / `patch` / ownership rules).
//!
//! **Legacy `spec.data`** (`docs/wire-format.md` §7.2): decrypted read-only when
//! `--accept-deprecated-v1-data` is on (the default, like Bitnami): its plaintext is a whole JSON
//! Secret whose `data`, `stringData`, labels and annotations are used under `spec.template`.
//! kseal never writes the format. Setting both `encryptedData` and `data` is an error with
//! Bitnami's wording.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kseal_core::{Fingerprint, KeySet, SecretBytes, sealed};
use kseal_crds::{
    EncryptedValue, MANAGED_ANNOTATION, PATCH_ANNOTATION, SealedSecret, annotation_is_true,
};

use zeroize::Zeroize as _;

use crate::{error::UnsealError, template::Renderer};

/// The largest Secret the API server stores: the sum of all values may not exceed 1 MiB.
pub const MAX_SECRET_DATA: usize = 1 << 20;

/// Options that change how a SealedSecret unseals.
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

/// What to do about the target Secret.
#[derive(Clone, PartialEq)]
pub enum Plan {
    /// No Secret of that name exists: create this one.
    Create(Secret),
    /// The Secret exists and differs: replace it with this one (carries `resourceVersion`).
    Update(Secret),
    /// The Secret exists and already is what the SealedSecret asks for: write nothing.
    Unchanged,
    /// The Secret exists and is immutable, and its data differs. The API would reject an update,
    /// and retrying cannot help.
    Immutable,
    /// The Secret exists and belongs to someone else: it is neither controlled by this
    /// SealedSecret nor annotated `managed` or `patch`.
    Unmanaged,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the Secret itself: its Debug prints the plaintext.
        f.write_str(match self {
            Self::Create(_) => "Create",
            Self::Update(_) => "Update",
            Self::Unchanged => "Unchanged",
            Self::Immutable => "Immutable",
            Self::Unmanaged => "Unmanaged",
        })
    }
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

/// The plaintexts of a SealedSecret, opened but not interpreted: what [`open_items`] returns.
///
/// Every plaintext is a [`SecretBytes`] (zeroized on drop, redacted under `Debug`).
#[derive(Debug)]
pub struct OpenedItems {
    /// `spec.encryptedData` items in document order, or the one legacy `spec.data` blob under
    /// [`OpenedItems::legacy`].
    pub items: Vec<(String, SecretBytes)>,
    /// The plaintext of the legacy `spec.data` blob: a JSON Secret, not parsed here.
    pub legacy: Option<SecretBytes>,
    /// Fingerprints of the keys that opened the items, each once.
    pub keys_used: Vec<Fingerprint>,
    /// RSA private-key operations spent.
    pub rsa_operations: usize,
}

impl OpenedItems {
    /// Records which key opened `o` and what it cost; returns the plaintext.
    fn count(&mut self, o: kseal_core::Opened) -> SecretBytes {
        self.rsa_operations += o.rsa_operations;
        if !self.keys_used.contains(&o.key) {
            self.keys_used.push(o.key);
        }
        o.plaintext
    }
}

/// Decrypts every item of `ss` with `keys`, and nothing more: no template is rendered and no
/// plaintext is parsed, so the outcome depends only on the object's structure, its scope and
/// whether each ciphertext opens with `keys`. This is all `/v1/verify` and `/v1/rotate` do, and
/// the first step of [`unseal`].
///
/// Every item is attempted and all failures are reported together, naming the items. A wrong
/// key, wrong scope and tampering give Bitnami's single message
/// `no key could decrypt secret (a, b)`.
pub fn open_items(
    ss: &SealedSecret,
    keys: &KeySet,
    options: UnsealOptions,
) -> Result<OpenedItems, UnsealError> {
    let problems = ss.spec.problems();
    if !problems.is_empty() {
        return Err(UnsealError::Spec(problems));
    }
    let scope = ss.scope().map_err(UnsealError::Scope)?;
    let hint = ss.key_fingerprint_hint().and_then(Fingerprint::parse);
    let mut opened = OpenedItems {
        items: Vec::with_capacity(ss.spec.encrypted_data.len()),
        legacy: None,
        keys_used: Vec::new(),
        rsa_operations: 0,
    };
    if let Some(blob) = ss.spec.data.as_deref().filter(|d| !d.is_empty()) {
        if !ss.spec.encrypted_data.is_empty() {
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
    for (name, value) in ss.spec.encrypted_data.iter() {
        let EncryptedValue::Sealed(text) = value else {
            // Reported by `problems()` above; unreachable for a checked spec.
            continue;
        };
        if sealed::decode_base64(text).is_err() {
            bad_base64.push(name.to_owned());
            continue;
        }
        match kseal_core::open_base64(keys, &scope, text, hint.as_ref()) {
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

/// Decrypts every item of `ss` with `keys` ([`open_items`]) and builds the Secret it asks for;
/// `spec.template.data` is rendered by `renderer` (the controller passes a
/// [`crate::template::Sandbox`], tests and pure callers [`crate::template::InProcess`]).
///
/// No partial Secret is produced: any item that does not open fails the whole SealedSecret.
pub fn unseal(
    ss: &SealedSecret,
    keys: &KeySet,
    options: UnsealOptions,
    renderer: &dyn Renderer,
) -> Result<Unsealed, UnsealError> {
    let opened = open_items(ss, keys, options)?;
    let (keys_used, rsa_operations) = (opened.keys_used, opened.rsa_operations);
    let mut items = Plaintexts::default();
    let mut v1_meta = None;
    if let Some(blob) = opened.legacy {
        let inner: Secret =
            serde_json::from_slice(blob.expose()).map_err(|_| UnsealError::V1NotASecret)?;
        for (k, v) in inner.data.unwrap_or_default() {
            items.insert(k, v.0);
        }
        for (k, v) in inner.string_data.unwrap_or_default() {
            items.insert(k, v.into_bytes());
        }
        v1_meta = Some((inner.metadata, inner.type_));
    }
    for (name, plaintext) in opened.items {
        items.insert(name, plaintext.expose().to_vec());
    }

    // Rendered keys are written after the decrypted items: a template wins on collision.
    let mut data = Plaintexts(items.0.clone());
    if let Some(templates) = ss.spec.template.data.as_ref().filter(|t| !t.is_empty()) {
        for (key, value) in renderer
            .render(templates, &items.0)
            .map_err(UnsealError::Template)?
        {
            data.insert(key, value);
        }
    }
    let size: usize = data.0.values().map(Vec::len).sum();
    if size > MAX_SECRET_DATA {
        return Err(UnsealError::TooLarge { bytes: size });
    }

    let template_meta = ss.spec.template.metadata.clone().unwrap_or_default();
    let (mut labels, mut annotations, mut type_) = (None, None, None);
    if let Some((meta, t)) = v1_meta {
        labels = meta.labels;
        annotations = meta.annotations;
        type_ = t;
    }
    let labels = merge_maps(labels, template_meta.labels);
    let annotations = merge_maps(annotations, template_meta.annotations);
    let owner_references = (!ss.skips_owner_references()).then(|| vec![owner_reference(ss)]);
    let secret = Secret {
        metadata: ObjectMeta {
            // name and namespace are forced: the template's are ignored, for security (#1547).
            name: ss.metadata.name.clone(),
            namespace: ss.metadata.namespace.clone(),
            labels,
            annotations,
            finalizers: template_meta.finalizers.filter(|f| !f.is_empty()),
            owner_references,
            ..ObjectMeta::default()
        },
        type_: Some(
            ss.spec
                .template
                .type_
                .clone()
                .filter(|t| !t.is_empty())
                .or(type_)
                .unwrap_or_else(|| "Opaque".into()),
        ),
        immutable: ss.spec.template.immutable,
        // The one copy that is not zeroized: k8s-openapi's `ByteString` is a plain `Vec<u8>`,
        // and the Secret lives until the API client has written it.
        data: Some(
            std::mem::take(&mut data.0)
                .into_iter()
                .map(|(k, v)| (k, ByteString(v)))
                .collect(),
        ),
        string_data: None,
    };
    Ok(Unsealed {
        secret,
        keys_used,
        rsa_operations,
    })
}

/// Decrypted (or rendered) values on their way into the Secret, zeroized when dropped, also on
/// every error path; a value replaced by `insert` is zeroized too.
#[derive(Default)]
struct Plaintexts(BTreeMap<String, Vec<u8>>);

impl Plaintexts {
    fn insert(&mut self, key: String, value: Vec<u8>) {
        if let Some(mut old) = self.0.insert(key, value) {
            old.zeroize();
        }
    }
}

impl Drop for Plaintexts {
    fn drop(&mut self) {
        for value in self.0.values_mut() {
            value.zeroize();
        }
    }
}

fn merge_maps(
    base: Option<BTreeMap<String, String>>,
    over: Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    let mut map = base.unwrap_or_default();
    map.extend(over.unwrap_or_default());
    (!map.is_empty()).then_some(map)
}

/// Whether `secret` is controlled by the SealedSecret with this UID.
pub fn is_controlled_by(secret: &ObjectMeta, uid: &str) -> bool {
    secret
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

/// kseal's annotation on a Secret it wrote **without** ownerReferences
/// (`skip-set-owner-references`): the UID of the SealedSecret that wrote it. Without an owner
/// reference, this is what lets that SealedSecret, and no other, update the Secret later. It is
/// kseal's own key: a template cannot set it (it is overwritten or removed), and Bitnami ignores
/// it, so a rollback is unaffected.
pub const SEALED_SECRET_UID_ANNOTATION: &str = "kseal.dev/sealed-secret-uid";

/// The desired Secret with [`SEALED_SECRET_UID_ANNOTATION`] set to `uid` when it carries no
/// ownerReferences, and removed otherwise (the owner reference already binds it).
fn bind_to_uid(mut desired: Secret, uid: &str) -> Secret {
    let ownerless = desired
        .metadata
        .owner_references
        .as_ref()
        .is_none_or(Vec::is_empty);
    let mut annotations = desired.metadata.annotations.take().unwrap_or_default();
    if ownerless && !uid.is_empty() {
        annotations.insert(SEALED_SECRET_UID_ANNOTATION.into(), uid.into());
    } else {
        annotations.remove(SEALED_SECRET_UID_ANNOTATION);
    }
    desired.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    desired
}

/// Whether `secret` has no ownerReferences and kseal recorded this SealedSecret UID on it: the
/// Secret this SealedSecret wrote with `skip-set-owner-references`.
pub fn is_bound_to(secret: &ObjectMeta, uid: &str) -> bool {
    !uid.is_empty()
        && secret.owner_references.as_ref().is_none_or(Vec::is_empty)
        && secret
            .annotations
            .as_ref()
            .and_then(|a| a.get(SEALED_SECRET_UID_ANNOTATION))
            .is_some_and(|v| v == uid)
}

/// Decides what to write, given the desired Secret from [`unseal`] and the Secret that exists.
///
/// An existing Secret is adopted only by Bitnami's documented rules (`managed`, `patch`, or an
/// owner reference to this SealedSecret's UID), or when kseal recorded this SealedSecret's UID on
/// it ([`SEALED_SECRET_UID_ANNOTATION`]). The `skip-set-owner-references` annotation alone never
/// makes a Secret ours: any SealedSecret of that name could otherwise take it over.
///
/// | existing | result |
/// |---|---|
/// | none | create (ownerless: with [`SEALED_SECRET_UID_ANNOTATION`]) |
/// | controlled by this SealedSecret (ownerReference with its UID, `controller: true`) | data, type, labels, annotations and ownerReferences replaced wholesale |
/// | no ownerReferences, [`SEALED_SECRET_UID_ANNOTATION`] = this SealedSecret's UID | replaced wholesale |
/// | annotated `managed` | replaced wholesale (taken over) |
/// | annotated `patch` | keys, labels and annotations merged in; ownerReferences (and the UID annotation) replaced only if also `managed` |
/// | anything else, including ownerless with `skip-set-owner-references` but no (or another) recorded UID, or controlled by another UID | refused ([`Plan::Unmanaged`]) |
///
/// `immutable` is only set on create. Nothing is written when the result equals what exists.
pub fn plan(ss: &SealedSecret, desired: Secret, existing: Option<&Secret>) -> Plan {
    let uid = ss.metadata.uid.as_deref().unwrap_or_default();
    let desired = bind_to_uid(desired, uid);
    let Some(current) = existing else {
        return Plan::Create(desired);
    };
    let cur_annotations = current.metadata.annotations.as_ref();
    let controlled = is_controlled_by(&current.metadata, uid);
    let managed = annotation_is_true(cur_annotations, MANAGED_ANNOTATION);
    let patch = annotation_is_true(cur_annotations, PATCH_ANNOTATION);
    let bound = is_bound_to(&current.metadata, uid);
    if !(controlled || managed || patch || bound) {
        return Plan::Unmanaged;
    }

    let mut next = current.clone();
    if patch {
        let mut data = current.data.clone().unwrap_or_default();
        data.extend(desired.data.unwrap_or_default());
        next.data = Some(data);
        next.metadata.labels = merge_maps(current.metadata.labels.clone(), desired.metadata.labels);
        let mut annotations = desired.metadata.annotations;
        if !managed {
            // Merging into someone else's Secret does not make it ours.
            if let Some(a) = annotations.as_mut() {
                a.remove(SEALED_SECRET_UID_ANNOTATION);
            }
        }
        next.metadata.annotations = merge_maps(current.metadata.annotations.clone(), annotations);
        if managed {
            next.metadata.owner_references = desired.metadata.owner_references;
        }
    } else {
        next.data = desired.data;
        next.type_ = desired.type_;
        next.metadata.labels = desired.metadata.labels;
        next.metadata.annotations = desired.metadata.annotations;
        next.metadata.owner_references = desired.metadata.owner_references;
    }
    // stringData is write-only; a Secret read back never has it.
    next.string_data = None;

    let same_data = normalized(&next.data) == normalized(&current.data);
    if current.immutable == Some(true) && !same_data {
        return Plan::Immutable;
    }
    let same = same_data
        && next.type_.as_deref().unwrap_or("Opaque")
            == current.type_.as_deref().unwrap_or("Opaque")
        && normalized(&next.metadata.labels) == normalized(&current.metadata.labels)
        && normalized(&next.metadata.annotations) == normalized(&current.metadata.annotations)
        && next.metadata.owner_references.clone().unwrap_or_default()
            == current
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default();
    if same {
        Plan::Unchanged
    } else {
        Plan::Update(next)
    }
}

/// `None` and an empty map are the same to the API server (Go's `omitempty`).
fn normalized<V: Clone>(map: &Option<BTreeMap<String, V>>) -> BTreeMap<String, V> {
    map.clone().unwrap_or_default()
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod ownership_tests;
