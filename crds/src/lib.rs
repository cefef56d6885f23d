//! The `SealedSecret` custom resource of Bitnami sealed-secrets (`bitnami.com/v1alpha1`), as
//! Rust types that are the source of truth for kseal's CRD.
//!
//! - [`SealedSecret`] / [`SealedSecretSpec`] / [`SecretTemplate`]: the resource, generated with
//!   `#[derive(CustomResource)]`. Serialized objects have kubeseal's shape; deserialization is
//!   as tolerant as Bitnami's for `spec.encryptedData` (see [`EncryptedData`]).
//! - [`SealedSecret::scope`]: the sealing scope by Bitnami's rules, as a [`kseal_core::Scope`].
//! - [`SealedSecretStatus`]: the `Synced` condition the controller maintains.
//! - Annotation and label keys ([`CLUSTER_WIDE_ANNOTATION`], …) and the scope helpers that read
//!   and write them.
//! - [`crd()`] / [`crd_yaml()`]: the CRD, which the `crdgen` binary prints and the repository
//!   commits as `crds/sealedsecrets.bitnami.com.yaml`.
//! - [`SealedSecret::open_items`] / [`SealedSecret::unseal`] ([`unseal`]): the one way to open
//!   a SealedSecret, into its plaintexts or into the Secret it asks for, shared by the
//!   controller and the CLI; [`UnsealError`] says why not, in Bitnami's words.
//!
//! The crate needs kube's derive only: no client, no runtime, nothing async. The template
//! renderer it calls through is the pure `kseal-template` crate.
#![deny(missing_docs)]

mod annotations;
mod crd;
mod encrypted_data;
pub mod reseal;
mod schema;
mod sealed_secret;
mod status;
pub mod unseal;

#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;

pub use annotations::{
    CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, MANAGED_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION, PATCH_ANNOTATION, SEALED_SECRETS_KEY_LABEL,
    SKIP_SET_OWNER_REFERENCES_ANNOTATION, annotation_is_true, scope_kind_from_annotations,
    set_scope_annotations,
};
pub use crd::{REGENERATE_COMMAND, crd, crd_yaml};
pub use encrypted_data::{EncryptedData, EncryptedValue, SpecProblem, ValueKind};
pub use sealed_secret::{ScopeError, SealedSecret, SealedSecretSpec, SecretTemplate};
pub use status::{SYNCED_CONDITION, SealedSecretCondition, SealedSecretStatus};
pub use unseal::{OpenedItems, UnsealError, UnsealOptions, Unsealed};
