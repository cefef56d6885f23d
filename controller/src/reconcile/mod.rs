//! The reconcile shell: fetch, call [`decide`](crate::decide), apply, record status, events and
//! metrics.
//!
//! Triggers (`docs/controller-compat.md` §5.1, with §14's fixes):
//! - a SealedSecret is added, or its generation or scope/fingerprint annotations change
//!   (status writes and other metadata edits do not re-trigger);
//! - an owned Secret changes or is deleted (metadata-only watch): it is restored or recreated
//!   unless `--skip-recreate`;
//! - the key set changes: every SealedSecret that is currently failing is retried;
//! - retries: exponential backoff for `--max-unseal-retries` attempts, then a slow periodic
//!   requeue (`--failed-requeue-period`) instead of Bitnami's "forget forever".
//!
//! RSA work runs on tokio's blocking pool; several SealedSecrets reconcile in parallel
//! (`--workers`).
//!
//! The pieces (`docs/architecture.md`, "controller internals"): the decisions are pure and
//! tested without an API server — [`status`] (the Synced condition, clock passed in),
//! [`conflict`] (409s and write errors), [`outcome`] (which event, retry or wait),
//! [`retry`] (backoff). The I/O around them: [`shell`] (one reconcile), [`write`] (the Secret
//! write), [`run`] (watches and deletion), [`secret_index`] and [`memory`] (what the watches
//! and past reconciles already know).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use kseal_crds::SealedSecret;
use kube::{Client, ResourceExt};

use crate::{
    events::Recorder, keys::KeyRegistry, metrics::Metrics, protected::TrustedSecrets,
    restart::RestartNotifier,
};

mod conflict;
mod memory;
mod outcome;
mod retry;
mod run;
mod secret_index;
mod shell;
mod status;
mod write;

pub use retry::{backoff, error_policy};
pub use run::run;
pub use secret_index::{Lookup, SecretIndex};
pub use shell::reconcile;

/// Options of the reconciler, from the flags.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// `--update-status`.
    pub update_status: bool,
    /// `--accept-deprecated-v1-data`.
    pub accept_v1_data: bool,
    /// `--max-unseal-retries`.
    pub max_retries: u32,
    /// `--failed-requeue-period`.
    pub failed_requeue: Duration,
    /// `--skip-recreate`.
    pub skip_recreate: bool,
    /// `--old-gc-behavior`.
    pub old_gc: bool,
    /// `--label-selector` (empty: none).
    pub label_selector: String,
    /// `--workers`.
    pub workers: u16,
    /// The Secrets the controller trusts and never writes for a SealedSecret.
    pub trusted: TrustedSecrets,
}

/// Shared state of all reconciles.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The live keys.
    pub keys: Arc<KeyRegistry>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Options.
    pub options: ReconcileOptions,
    /// Restart-on-change hook: told about every Secret written.
    pub restarts: Option<RestartNotifier>,
    /// What the Secret watch knows about produced Secrets (existence, resourceVersion).
    pub secrets: SecretIndex,
    /// Failure counts and what past reconciles verified.
    memory: memory::Memory,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context with no failure history.
    pub fn new(
        client: Client,
        keys: Arc<KeyRegistry>,
        metrics: Arc<Metrics>,
        recorder: Recorder,
        options: ReconcileOptions,
        restarts: Option<RestartNotifier>,
    ) -> Self {
        Self {
            client,
            keys,
            metrics,
            recorder,
            options,
            restarts,
            secrets: SecretIndex::default(),
            memory: memory::Memory::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `ss_app_kubernetes_io_instance` label of a SealedSecret's `condition_info` series.
fn instance_label(ss: &SealedSecret) -> String {
    ss.labels()
        .get("app.kubernetes.io/instance")
        .cloned()
        .unwrap_or_default()
}
