//! The reconcile shell: fetch, call [`decide`], apply, record status, events and metrics.
//!
//! Triggers (`controller-compat.md` §5.1, with §14's fixes):
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

use std::{
    collections::{HashMap, HashSet},
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{Stream, StreamExt};
use k8s_openapi::{
    api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp,
};
use kseal_crds::{
    CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, SealedSecret,
    SealedSecretStatus,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, PartialObjectMeta, PostParams},
    runtime::{
        Controller, PredicateConfig, WatchStreamExt,
        controller::Action,
        reflector::ObjectRef,
        watcher::{self, watcher},
    },
};
use tracing::{Instrument as _, debug, info, instrument, warn};

use crate::{
    decide::{self, Plan, UnsealOptions},
    error::ReconcileError,
    events::{
        ERR_UNSEAL_FAILED, ERR_UPDATE_FAILED, EventType, Recorder, UNSEALED, UNSEALED_MESSAGE,
    },
    keys::KeyRegistry,
    metrics::Metrics,
    restart::RestartNotifier,
};

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
}

/// What one successful reconcile verified, to skip the RSA work when a trigger (our own Secret
/// write, a status write) changed nothing that matters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verified {
    spec_hash: u64,
    secret_resource_version: Option<String>,
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
    failures: Mutex<HashMap<ObjectRef<SealedSecret>, u32>>,
    verified: Mutex<HashMap<ObjectRef<SealedSecret>, Verified>>,
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
            failures: Mutex::default(),
            verified: Mutex::default(),
        }
    }

    fn failing(&self) -> Vec<ObjectRef<SealedSecret>> {
        lock(&self.failures).keys().cloned().collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What decides whether a SealedSecret must be unsealed again: its identity, generation (spec)
/// and the annotations that change decryption. Bitnami ignores annotation edits; kseal does not
/// (`controller-compat.md` §14).
fn spec_hash(ss: &SealedSecret) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ss.metadata.uid.hash(&mut h);
    ss.metadata.generation.hash(&mut h);
    let a = ss.metadata.annotations.as_ref();
    for key in [
        CLUSTER_WIDE_ANNOTATION,
        NAMESPACE_WIDE_ANNOTATION,
        KEY_FINGERPRINT_ANNOTATION,
    ] {
        a.and_then(|a| a.get(key)).hash(&mut h);
    }
    h.finish()
}

/// Reconciles one SealedSecret.
#[instrument(skip_all, fields(namespace, name))]
pub async fn reconcile(ss: Arc<SealedSecret>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let span = tracing::Span::current();
    span.record("namespace", namespace.as_str());
    span.record("name", name.as_str());
    let oref = ObjectRef::from_obj(&*ss);

    if ss.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing = secrets.get_opt(&name).await.map_err(ReconcileError::Fetch);
    let existing = match existing {
        Ok(e) => e,
        Err(e) => return finish(&ss, &ctx, Err(e), false).await,
    };

    // Skip the RSA work when nothing that matters changed since the last successful reconcile.
    let hash = spec_hash(&ss);
    let current = Verified {
        spec_hash: hash,
        secret_resource_version: existing
            .as_ref()
            .and_then(|s| s.metadata.resource_version.clone()),
    };
    let synced_now = ss
        .status
        .as_ref()
        .and_then(SealedSecretStatus::synced)
        .is_some_and(|c| c.is_true())
        && ss
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            .unwrap_or(0)
            == ss.metadata.generation.unwrap_or(0);
    if existing.is_some()
        && (synced_now || !ctx.options.update_status)
        && lock(&ctx.verified).get(&oref) == Some(&current)
    {
        debug!("unchanged since the last reconcile");
        return Ok(Action::await_change());
    }

    ctx.metrics.unseal_requests.inc();
    let keys = ctx.keys.snapshot();
    let options = UnsealOptions {
        accept_v1_data: ctx.options.accept_v1_data,
    };
    let task_ss = ss.clone();
    let unsealed =
        tokio::task::spawn_blocking(move || decide::unseal(&task_ss, &keys.keys, options))
            .await
            .map_err(|e| ReconcileError::Task(e.to_string()));
    let result = match unsealed {
        Err(e) => Err(e),
        Ok(Err(e)) => Err(ReconcileError::Unseal(e)),
        Ok(Ok(unsealed)) => {
            ctx.metrics
                .rsa_operations
                .inc_by(unsealed.rsa_operations as u64);
            debug!(
                items = ?decide::data_keys(&unsealed.secret),
                keys = ?unsealed.keys_used.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "unsealed"
            );
            apply(
                &ss,
                &ctx,
                &secrets,
                unsealed.secret,
                existing.as_ref(),
                hash,
            )
            .await
        }
    };
    let wrote = matches!(result, Ok(true));
    finish(&ss, &ctx, result.map(|_| ()), wrote).await
}

/// Writes the Secret as [`decide::plan`] says; returns whether anything was written.
async fn apply(
    ss: &SealedSecret,
    ctx: &Context,
    secrets: &Api<Secret>,
    desired: Secret,
    existing: Option<&Secret>,
    hash: u64,
) -> Result<bool, ReconcileError> {
    let name = ss.name_any();
    let oref = ObjectRef::from_obj(ss);
    let plan = decide::plan(ss, desired, existing);
    let (written, rv) = match plan {
        Plan::Create(secret) => {
            let created = secrets
                .create(&PostParams::default(), &secret)
                .await
                .map_err(ReconcileError::Update)?;
            info!("created Secret");
            ctx.metrics
                .secret_writes
                .get_or_create(&vec![("operation".into(), "create".into())])
                .inc();
            (true, created.metadata.resource_version)
        }
        Plan::Update(secret) => {
            let updated = secrets
                .replace(&name, &PostParams::default(), &secret)
                .await
                .map_err(|e| immutable_or_update(&name, e))?;
            info!("updated Secret");
            ctx.metrics
                .secret_writes
                .get_or_create(&vec![("operation".into(), "update".into())])
                .inc();
            (true, updated.metadata.resource_version)
        }
        Plan::Unchanged => (
            false,
            existing.and_then(|s| s.metadata.resource_version.clone()),
        ),
        Plan::Immutable => return Err(immutable_message(&name)),
        Plan::Unmanaged => return Err(ReconcileError::Unmanaged(name)),
    };
    lock(&ctx.verified).insert(
        oref,
        Verified {
            spec_hash: hash,
            secret_resource_version: rv,
        },
    );
    if written && let Some(restarts) = &ctx.restarts {
        restarts.secret_changed(&ss.namespace().unwrap_or_default(), &name);
    }
    Ok(written)
}

fn immutable_message(name: &str) -> ReconcileError {
    ReconcileError::Immutable(format!(
        "Secret {name:?} is immutable and its data differs from the SealedSecret; delete the Secret so the controller can recreate it"
    ))
}

fn immutable_or_update(name: &str, e: kube::Error) -> ReconcileError {
    if e.to_string()
        .contains("field is immutable when `immutable` is set")
    {
        immutable_message(name)
    } else {
        ReconcileError::Update(e)
    }
}

/// Records the outcome: status (when it flipped, the generation moved or the message changed),
/// an event (on change only), metrics; returns what the controller should do next.
async fn finish(
    ss: &SealedSecret,
    ctx: &Context,
    result: Result<(), ReconcileError>,
    wrote: bool,
) -> Result<Action, ReconcileError> {
    let namespace = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let oref = ObjectRef::from_obj(ss);
    let instance = ss
        .labels()
        .get("app.kubernetes.io/instance")
        .cloned()
        .unwrap_or_default();

    let message = result.as_ref().err().map(status_message);
    let old = ss.status.clone().unwrap_or_default();
    let old_condition = old.synced().cloned();
    let mut status = old.clone();
    let now = Time(Timestamp::now());
    let flipped_or_generation = status.record_sync(
        message.as_deref().map_or(Ok(()), Err),
        now,
        ss.metadata.generation,
    );
    let message_changed = old_condition.as_ref().and_then(|c| c.message.clone()) != message
        && old_condition.is_some();
    let changed = flipped_or_generation || message_changed;

    if ctx.options.update_status && changed {
        let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), &namespace);
        let mut body = ss.clone();
        body.status = Some(status);
        body.metadata.managed_fields = None;
        if let Err(e) = api
            .replace_status(&name, &PostParams::default(), &body)
            .await
        {
            warn!(error = %e, "cannot update status");
            ctx.metrics.unseal_error("status", &namespace);
            // Status conflicts resolve on the next attempt with a fresh object.
            return Err(ReconcileError::Status(e));
        }
    }

    match result {
        Ok(()) => {
            lock(&ctx.failures).remove(&oref);
            ctx.metrics.condition(&namespace, &name, &instance, 1);
            if wrote || changed {
                ctx.recorder
                    .publish(ss, EventType::Normal, UNSEALED, UNSEALED_MESSAGE)
                    .await;
            }
            Ok(Action::await_change())
        }
        Err(e) => {
            ctx.metrics.unseal_error(e.metric_label(), &namespace);
            ctx.metrics.condition(&namespace, &name, &instance, -1);
            lock(&ctx.verified).remove(&oref);
            let (reason, text) = match &e {
                ReconcileError::Unseal(_) | ReconcileError::Task(_) => (
                    ERR_UNSEAL_FAILED,
                    format!("Failed to unseal: {}", status_message(&e)),
                ),
                _ => (ERR_UPDATE_FAILED, status_message(&e)),
            };
            warn!(reason, error = %text, "reconcile failed");
            if changed || old_condition.is_none() {
                ctx.recorder
                    .publish(ss, EventType::Warning, reason, &text)
                    .await;
            }
            if matches!(e, ReconcileError::Immutable(_)) {
                // Retrying cannot help; a spec change or a deleted Secret triggers again.
                lock(&ctx.failures).remove(&oref);
                return Ok(Action::await_change());
            }
            Err(e)
        }
    }
}

/// The text for the status condition (Bitnami writes the bare error, without "Failed to unseal").
fn status_message(e: &ReconcileError) -> String {
    match e {
        ReconcileError::Unseal(u) => u.to_string(),
        other => other.to_string(),
    }
}

/// Backoff after a failure: 1 s doubling to 5 min for `--max-unseal-retries` attempts, then
/// `--failed-requeue-period`, so a failing object is never forgotten. A failure of the API
/// server itself (unreachable, 5xx, 429, a write conflict) says nothing about the object, so it
/// never drops to the slow requeue: it retries at the last fast step, and an outage longer than
/// the fast retries does not leave objects waiting `--failed-requeue-period` after it ends.
pub fn error_policy(ss: Arc<SealedSecret>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let oref = ObjectRef::from_obj(&*ss);
    let mut failures = lock(&ctx.failures);
    let n = failures.entry(oref).or_insert(0);
    *n += 1;
    let attempt = if error.is_transient() {
        (*n).min(ctx.options.max_retries.max(1))
    } else {
        *n
    };
    Action::requeue(backoff(
        attempt,
        ctx.options.max_retries,
        ctx.options.failed_requeue,
    ))
}

/// The delay before retry number `attempt` (1-based).
pub fn backoff(attempt: u32, max_retries: u32, slow: Duration) -> Duration {
    if attempt > max_retries {
        slow
    } else {
        Duration::from_secs(1u64 << attempt.saturating_sub(1).min(8)).min(Duration::from_secs(300))
    }
}

/// Runs a controller over the SealedSecrets of `api` (all namespaces or one) until the future is
/// dropped.
pub async fn run(
    ss_api: Api<SealedSecret>,
    secret_api: Api<PartialObjectMeta<Secret>>,
    ctx: Arc<Context>,
) {
    let mut config = watcher::Config::default();
    if !ctx.options.label_selector.is_empty() {
        config = config.labels(&ctx.options.label_selector);
    }
    let (reader, writer) = kube::runtime::reflector::store();
    let gc_ctx = ctx.clone();
    let stream = watcher(ss_api, config)
        .default_backoff()
        .reflect(writer)
        .then(move |ev| {
            let ctx = gc_ctx.clone();
            async move {
                if let Ok(watcher::Event::Delete(ss)) = &ev {
                    on_deleted(ss, &ctx).await;
                }
                ev
            }
        })
        .touched_objects()
        .predicate_filter(
            |ss: &SealedSecret| Some(spec_hash(ss)),
            PredicateConfig::default(),
        );
    let mut controller = Controller::for_stream(stream, reader).with_config(
        kube::runtime::controller::Config::default().concurrency(ctx.options.workers.max(1)),
    );
    if !ctx.options.skip_recreate {
        let owned = watcher(secret_api, watcher::Config::default())
            .default_backoff()
            .touched_objects();
        controller = controller.owns_stream(owned);
    }
    controller = controller.reconcile_on(key_change_retries(ctx.clone()));
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            // Reconcile failures were logged with their object in `finish`; what remains here
            // are triggers for objects deleted meanwhile and watch hiccups.
            if let Err(error) = result {
                debug!(%error, "controller event");
            }
        })
        .instrument(tracing::info_span!("controller"))
        .await;
}

/// On every key-set change, the SealedSecrets that are failing right now are retried: a key
/// Secret restored or added by hand is used without a restart.
fn key_change_retries(ctx: Arc<Context>) -> impl Stream<Item = ObjectRef<SealedSecret>> + Send {
    let rx = ctx.keys.subscribe();
    futures::stream::unfold((rx, ctx), |(mut rx, ctx)| async move {
        rx.changed().await.ok()?;
        let failing = ctx.failing();
        if !failing.is_empty() {
            info!(
                count = failing.len(),
                "keys changed; retrying failing SealedSecrets"
            );
        }
        Some((futures::stream::iter(failing), (rx, ctx)))
    })
    .flatten()
}

/// A SealedSecret is going away: forget its state; with `--old-gc-behavior`, delete its Secret
/// explicitly (normally owner-reference garbage collection does it).
async fn on_deleted(ss: &SealedSecret, ctx: &Context) {
    let oref = ObjectRef::from_obj(ss);
    lock(&ctx.failures).remove(&oref);
    lock(&ctx.verified).remove(&oref);
    let namespace = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let _ = ctx.metrics.condition_info.remove(&vec![
        ("namespace".into(), namespace.clone()),
        ("name".into(), name.clone()),
        ("condition".into(), "Synced".into()),
        (
            "ss_app_kubernetes_io_instance".into(),
            ss.labels()
                .get("app.kubernetes.io/instance")
                .cloned()
                .unwrap_or_default(),
        ),
    ]);
    if ctx.options.old_gc {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
        if let Ok(Some(secret)) = secrets.get_metadata_opt(&name).await
            && decide::is_controlled_by(&secret.metadata, ss.metadata.uid.as_deref().unwrap_or(""))
        {
            let _ = secrets.delete(&name, &DeleteParams::default()).await;
        }
    }
}

/// Namespaces a scoped controller watches: its own plus `--additional-namespaces`, deduplicated,
/// in order.
pub fn watched_namespaces(own: &str, additional: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    std::iter::once(own)
        .chain(additional.split(','))
        .map(str::trim)
        .filter(|ns| !ns.is_empty())
        .filter(|ns| seen.insert(ns.to_string()))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_then_slow() {
        let slow = Duration::from_secs(600);
        assert_eq!(backoff(1, 5, slow), Duration::from_secs(1));
        assert_eq!(backoff(2, 5, slow), Duration::from_secs(2));
        assert_eq!(backoff(5, 5, slow), Duration::from_secs(16));
        assert_eq!(backoff(6, 5, slow), slow);
        assert_eq!(backoff(60, 100, slow), Duration::from_secs(256));
    }

    #[test]
    fn namespaces() {
        assert_eq!(watched_namespaces("kube-system", ""), ["kube-system"]);
        assert_eq!(watched_namespaces("a", "b, c,a,,b"), ["a", "b", "c"]);
    }
}
