//! The reconcile shell: fetch, call [`decide`], apply, record status, events and metrics.
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

use std::{
    collections::{HashMap, HashSet},
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{Stream, StreamExt};
use k8s_openapi::{
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
    jiff::Timestamp,
};
use kseal_crds::{
    CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, SealedSecret,
    SealedSecretStatus, UnsealOptions,
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
    decide::{self, Plan},
    error::ReconcileError,
    events::{
        ERR_UNSEAL_FAILED, ERR_UPDATE_FAILED, EventType, Recorder, UNSEALED, UNSEALED_MESSAGE,
    },
    keys::KeyRegistry,
    metrics::Metrics,
    protected::TrustedSecrets,
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
    /// The Secrets the controller trusts and never writes for a SealedSecret.
    pub trusted: TrustedSecrets,
}

/// What one successful reconcile verified, to skip the RSA work when a trigger (our own Secret
/// write, a status write) changed nothing that matters.
#[derive(Debug, Clone)]
struct Verified {
    spec_hash: u64,
    secret_resource_version: Option<String>,
    /// The SealedSecret's resourceVersion after that reconcile's own status write, if it wrote
    /// one: until the cache holds it, a status that looks behind is only the cache lagging.
    status_resource_version: Option<String>,
}

impl Verified {
    /// Whether this spec was last verified against this very Secret (same resourceVersion).
    fn covers(&self, spec_hash: u64, secret_resource_version: &str) -> bool {
        self.spec_hash == spec_hash
            && self.secret_resource_version.as_deref() == Some(secret_resource_version)
    }
}

/// How long to wait for the cache to catch up with our own status write before looking again.
const STATUS_CATCH_UP: Duration = Duration::from_secs(5);

/// What a reconcile that changes no Secret does about the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusCheck {
    /// The cached status is what this outcome would write.
    Current,
    /// The cached status is behind (e.g. a failed attempt's `Synced=False` seen late): write it.
    Write,
    /// The cached object predates our own last status write: writing now would send a stale
    /// resourceVersion (409 Conflict, then a GET); look again when the cache has caught up.
    WaitForCache,
}

fn status_check(
    ss: &SealedSecret,
    own_status_write: Option<&str>,
    update_status: bool,
) -> StatusCheck {
    if !update_status || !next_status(ss, None, Time(Timestamp::now())).1 {
        return StatusCheck::Current;
    }
    match own_status_write {
        Some(own) if ss.metadata.resource_version.as_deref() != Some(own) => {
            StatusCheck::WaitForCache
        }
        _ => StatusCheck::Write,
    }
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
            secrets: SecretIndex::default(),
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

/// What the metadata-only Secret watch says about one Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The watch has not listed this namespace yet.
    Unknown,
    /// No Secret of a SealedSecret by that name (an unrelated Secret may still exist).
    Absent,
    /// A SealedSecret's Secret with this resourceVersion.
    Present(String),
}

/// An index of the Secrets that belong (or may belong) to SealedSecrets, fed by the
/// metadata-only Secret watch that also triggers reconciles. It holds names and
/// resourceVersions only, and only for Secrets with a SealedSecret owner, a
/// `sealedsecrets.bitnami.com/` annotation or kseal's recorded SealedSecret UID, so unrelated Secrets cost no memory. It saves the
/// Secret GET of a reconcile that changes nothing (our own write echoing back) and the GET that
/// would 404 for a new SealedSecret; it is a hint only: a create that finds the Secret falls
/// back to a GET.
#[derive(Debug)]
pub struct SecretIndex {
    inner: Mutex<IndexInner>,
    /// Whether a Secret watch feeds the index (not with `--skip-recreate`).
    watched: std::sync::atomic::AtomicBool,
    /// Bumped when a scope's list completes.
    listed: tokio::sync::watch::Sender<u64>,
}

impl Default for SecretIndex {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            watched: std::sync::atomic::AtomicBool::new(false),
            listed: tokio::sync::watch::channel(0).0,
        }
    }
}

#[derive(Debug, Default)]
struct IndexInner {
    entries: HashMap<(String, String), String>,
    /// Scopes whose list is complete: a namespace, or "" for all namespaces.
    ready: HashSet<String>,
    /// Entries of a (re-)list in progress, per scope.
    listing: HashMap<String, HashMap<(String, String), String>>,
}

impl SecretIndex {
    fn relevant(meta: &ObjectMeta) -> bool {
        meta.owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "SealedSecret")
            || meta.annotations.iter().flatten().any(|(k, _)| {
                k.starts_with("sealedsecrets.bitnami.com/")
                    || k == decide::SEALED_SECRET_UID_ANNOTATION
            })
    }

    fn key(meta: &ObjectMeta) -> (String, String) {
        (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    }

    /// Feeds one event of the Secret watch over `scope` (a namespace, or "" for all).
    pub fn observe(&self, scope: &str, event: &watcher::Event<PartialObjectMeta<Secret>>) {
        let mut inner = lock(&self.inner);
        match event {
            watcher::Event::Init => {
                inner.listing.insert(scope.to_owned(), HashMap::new());
            }
            watcher::Event::InitApply(s) => {
                if Self::relevant(&s.metadata)
                    && let Some(rv) = s.metadata.resource_version.clone()
                    && let Some(listing) = inner.listing.get_mut(scope)
                {
                    listing.insert(Self::key(&s.metadata), rv);
                }
            }
            watcher::Event::InitDone => {
                let listed = inner.listing.remove(scope).unwrap_or_default();
                inner
                    .entries
                    .retain(|(ns, _), _| !(scope.is_empty() || ns == scope));
                inner.entries.extend(listed);
                inner.ready.insert(scope.to_owned());
                self.listed.send_modify(|n| *n += 1);
            }
            watcher::Event::Apply(s) => {
                let key = Self::key(&s.metadata);
                match s.metadata.resource_version.clone() {
                    Some(rv) if Self::relevant(&s.metadata) => {
                        inner.entries.insert(key, rv);
                    }
                    _ => {
                        inner.entries.remove(&key);
                    }
                }
            }
            watcher::Event::Delete(s) => {
                inner.entries.remove(&Self::key(&s.metadata));
            }
        }
    }

    /// Marks the index as fed by a Secret watch (so [`Self::lookup_when_listed`] waits for it).
    pub fn watch_started(&self) {
        self.watched
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Like [`Self::lookup`], but right after start-up waits (up to `timeout`) for the watch to
    /// finish listing, so the first reconciles do not GET Secrets the list would show absent.
    pub async fn lookup_when_listed(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> Lookup {
        let mut listed = self.listed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let lookup = self.lookup(namespace, name);
            if lookup != Lookup::Unknown || !self.watched.load(std::sync::atomic::Ordering::Relaxed)
            {
                return lookup;
            }
            match tokio::time::timeout_at(deadline, listed.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    // The watch is failing (see its log); stop waiting for it, GET instead.
                    if self
                        .watched
                        .swap(false, std::sync::atomic::Ordering::Relaxed)
                    {
                        warn!("the Secret watch has not listed yet; reading Secrets directly");
                    }
                    return self.lookup(namespace, name);
                }
            }
        }
    }

    /// What the watch says about Secret `namespace/name`.
    pub fn lookup(&self, namespace: &str, name: &str) -> Lookup {
        let inner = lock(&self.inner);
        if !(inner.ready.contains("") || inner.ready.contains(namespace)) {
            return Lookup::Unknown;
        }
        inner
            .entries
            .get(&(namespace.to_owned(), name.to_owned()))
            .map_or(Lookup::Absent, |rv| Lookup::Present(rv.clone()))
    }
}

/// What decides whether a SealedSecret must be unsealed again: its identity, generation (spec)
/// and the annotations that change decryption. Bitnami ignores annotation edits; kseal does not
/// (`docs/controller-compat.md` §14).
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
    // Skip everything when nothing that matters changed since the last complete reconcile
    // (Secret written or found equal, status written): the usual case is our own Secret write
    // or status write echoing back.
    let hash = spec_hash(&ss);
    let verified = lock(&ctx.verified).get(&oref).cloned();
    let lookup = ctx
        .secrets
        .lookup_when_listed(&namespace, &name, Duration::from_secs(10))
        .await;
    if let (Some(v), Lookup::Present(rv)) = (&verified, &lookup)
        && v.covers(hash, rv)
    {
        return unchanged(&ss, &ctx, v).await;
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    // A new SealedSecret whose Secret the watch has never seen: create without a GET first
    // (a Secret that exists after all makes the create fail, and then it is read).
    let known_absent = lookup == Lookup::Absent && verified.is_none();
    let existing = if known_absent {
        None
    } else {
        match secrets.get_opt(&name).await.map_err(ReconcileError::Fetch) {
            Ok(e) => e,
            Err(e) => return finish(&ss, &ctx, Err(e), false, hash).await,
        }
    };
    if let (Some(v), Some(rv)) = (
        &verified,
        existing
            .as_ref()
            .and_then(|s| s.metadata.resource_version.as_deref()),
    ) && v.covers(hash, rv)
    {
        return unchanged(&ss, &ctx, v).await;
    }

    ctx.metrics.unseal_requests.inc();
    let keys = ctx.keys.snapshot();
    let options = UnsealOptions {
        accept_v1_data: ctx.options.accept_v1_data,
    };
    let task_ss = ss.clone();
    let unsealed = tokio::task::spawn_blocking(move || {
        // Templates render in a child process with resource limits (template::sandbox).
        task_ss.unseal(&keys.keys, options, crate::template::Sandbox::shared())
    })
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
                items = ?kseal_crds::unseal::data_keys(&unsealed.secret),
                keys = ?unsealed.keys_used.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "unsealed"
            );
            apply(&ss, &ctx, &secrets, unsealed.secret, existing).await
        }
    };
    let wrote = matches!(result, Ok((true, _)));
    finish(&ss, &ctx, result.map(|(_, rv)| rv), wrote, hash).await
}

/// The Secret is the one this spec was last verified against: no RSA work. The status can still
/// be behind: a failed attempt's `Synced=False` write may reach our cache only after the attempt
/// that fixed the Secret judged the (then still `True`) status current. Only then is the status
/// written again, without unsealing. A status that looks behind only because the cache has not
/// caught up with our own last status write (the usual case when our Secret's watch event arrives
/// before our status write's) is looked at again later, once: the mark is dropped, so a status
/// still behind then is written.
async fn unchanged(
    ss: &Arc<SealedSecret>,
    ctx: &Context,
    verified: &Verified,
) -> Result<Action, ReconcileError> {
    let own_status_write = verified.status_resource_version.as_deref();
    match status_check(ss, own_status_write, ctx.options.update_status) {
        StatusCheck::Current => {
            debug!("unchanged since the last reconcile");
            Ok(Action::await_change())
        }
        StatusCheck::Write => {
            debug!("Secret unchanged since the last reconcile; status behind");
            let rv = verified.secret_resource_version.clone();
            finish(ss, ctx, Ok(rv), false, verified.spec_hash).await
        }
        StatusCheck::WaitForCache => {
            if let Some(v) = lock(&ctx.verified).get_mut(&ObjectRef::from_obj(&**ss)) {
                v.status_resource_version = None;
            }
            debug!("our status write is not in the cache yet; looking again shortly");
            Ok(Action::requeue(STATUS_CATCH_UP))
        }
    }
}

/// Writes the Secret as [`decide::plan`] says; returns whether anything was written and the
/// Secret's resourceVersion. `existing: None` may be a guess (the watch had not seen it): a
/// create that finds the Secret reads it and plans again.
async fn apply(
    ss: &SealedSecret,
    ctx: &Context,
    secrets: &Api<Secret>,
    desired: Secret,
    existing: Option<Secret>,
) -> Result<(bool, Option<String>), ReconcileError> {
    let name = ss.name_any();
    let mut existing = existing;
    let mut retried = false;
    let (written, rv) = loop {
        if let Some(why) = ctx.options.trusted.refusal(&desired, existing.as_ref()) {
            return Err(ReconcileError::Protected(why));
        }
        let plan = decide::plan(ss, desired.clone(), existing.as_ref());
        break match plan {
            Plan::Create(secret) => {
                match secrets.create(&PostParams::default(), &secret).await {
                    Ok(created) => {
                        info!("created Secret");
                        ctx.metrics
                            .secret_writes
                            .get_or_create(&vec![("operation".into(), "create".into())])
                            .inc();
                        (true, created.metadata.resource_version)
                    }
                    Err(kube::Error::Api(ae)) if ae.code == 409 && !retried => {
                        // It exists after all (not ours, or the watch is behind): read it.
                        retried = true;
                        existing = secrets
                            .get_opt(&name)
                            .await
                            .map_err(ReconcileError::Fetch)?;
                        continue;
                    }
                    Err(e) => return Err(ReconcileError::Update(e)),
                }
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
                existing
                    .as_ref()
                    .and_then(|s| s.metadata.resource_version.clone()),
            ),
            Plan::Immutable => return Err(immutable_message(&name)),
            Plan::Unmanaged => return Err(ReconcileError::Unmanaged(name)),
        };
    };
    if written && let Some(restarts) = &ctx.restarts {
        restarts.secret_changed(&ss.namespace().unwrap_or_default(), &name);
    }
    Ok((written, rv))
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

/// The status after this attempt, and whether it must be written (flipped, generation moved,
/// or the message changed).
fn next_status(
    ss: &SealedSecret,
    message: Option<&str>,
    now: Time,
) -> (
    SealedSecretStatus,
    bool,
    Option<kseal_crds::SealedSecretCondition>,
) {
    let old = ss.status.clone().unwrap_or_default();
    let old_condition = old.synced().cloned();
    let mut status = old;
    let flipped_or_generation =
        status.record_sync(message.map_or(Ok(()), Err), now, ss.metadata.generation);
    let message_changed = old_condition
        .as_ref()
        .is_some_and(|c| c.message.as_deref() != message);
    (
        status,
        flipped_or_generation || message_changed,
        old_condition,
    )
}

/// Writes the status; the SealedSecret's new resourceVersion.
async fn put_status(
    api: &Api<SealedSecret>,
    ss: &SealedSecret,
    status: SealedSecretStatus,
) -> Result<Option<String>, kube::Error> {
    let mut body = ss.clone();
    body.status = Some(status);
    body.metadata.managed_fields = None;
    api.replace_status(&ss.name_any(), &PostParams::default(), &body)
        .await
        .map(|written| written.metadata.resource_version)
}

/// Records the outcome: status (when it flipped, the generation moved or the message changed),
/// an event (on change only), metrics; returns what the controller should do next. A complete
/// success is remembered so the echo of our own writes costs nothing.
async fn finish(
    ss: &Arc<SealedSecret>,
    ctx: &Context,
    result: Result<Option<String>, ReconcileError>,
    wrote: bool,
    hash: u64,
) -> Result<Action, ReconcileError> {
    let namespace = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let oref = ObjectRef::from_obj(&**ss);
    let instance = ss
        .labels()
        .get("app.kubernetes.io/instance")
        .cloned()
        .unwrap_or_default();

    let message = result.as_ref().err().map(status_message);
    let (status, mut changed, old_condition) =
        next_status(ss, message.as_deref(), Time(Timestamp::now()));

    let mut status_resource_version = None;
    if ctx.options.update_status && changed {
        let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), &namespace);
        let mut outcome = put_status(&api, ss, status).await;
        if let Err(kube::Error::Api(ae)) = &outcome
            && ae.code == 409
        {
            // Our copy is stale (e.g. our own earlier status write): decide again on the
            // current object instead of failing and redoing the RSA work.
            outcome = match api.get(&name).await {
                Ok(latest) if latest.metadata.generation == ss.metadata.generation => {
                    let (status, again, _) =
                        next_status(&latest, message.as_deref(), Time(Timestamp::now()));
                    changed = again;
                    if again {
                        put_status(&api, &latest, status).await
                    } else {
                        Ok(None)
                    }
                }
                Ok(_) => outcome,
                Err(e) => Err(e),
            };
        }
        match outcome {
            Ok(rv) => status_resource_version = rv,
            Err(e) => {
                warn!(error = %e, "cannot update status");
                ctx.metrics.unseal_error("status", &namespace);
                lock(&ctx.verified).remove(&oref);
                // Status conflicts resolve on the next attempt with a fresh object.
                return Err(ReconcileError::Status(e));
            }
        }
    }

    match result {
        Ok(rv) => {
            lock(&ctx.failures).remove(&oref);
            lock(&ctx.verified).insert(
                oref,
                Verified {
                    spec_hash: hash,
                    secret_resource_version: rv,
                    status_resource_version,
                },
            );
            ctx.metrics.condition(&namespace, &name, &instance, 1);
            if wrote || changed {
                publish(
                    ctx,
                    ss,
                    EventType::Normal,
                    UNSEALED,
                    UNSEALED_MESSAGE.to_owned(),
                );
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
                publish(ctx, ss, EventType::Warning, reason, text);
            }
            if matches!(
                e,
                ReconcileError::Immutable(_) | ReconcileError::Protected(_)
            ) {
                // Retrying cannot help; a spec change or a deleted Secret triggers again.
                lock(&ctx.failures).remove(&oref);
                return Ok(Action::await_change());
            }
            Err(e)
        }
    }
}

/// Records an event in the background: the reconcile does not wait for the API server.
fn publish(
    ctx: &Context,
    ss: &Arc<SealedSecret>,
    type_: EventType,
    reason: &'static str,
    message: String,
) {
    let (recorder, ss) = (ctx.recorder.clone(), ss.clone());
    tokio::spawn(
        async move { recorder.publish(&*ss, type_, reason, &message).await }
            .instrument(tracing::Span::current()),
    );
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
    // The initial lists come from the API server's watch cache (resourceVersion=0), as
    // client-go informers do: no quorum read of every object from etcd.
    config = config.any_semantic();
    let (reader, writer) = kube::runtime::reflector::store();
    let gc_ctx = ctx.clone();
    let stream = watcher(ss_api, config)
        .default_backoff()
        // The store keeps what reconciles read: not managedFields or kubectl's copy of the
        // whole object (status writes go to the status subresource, which keeps the rest).
        .modify(|ss: &mut SealedSecret| {
            ss.metadata.managed_fields = None;
            if let Some(a) = ss.metadata.annotations.as_mut() {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        })
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
        ctx.secrets.watch_started();
        let scope = secret_api.namespace().unwrap_or_default().to_owned();
        let index_ctx = ctx.clone();
        // Metadata only (`PartialObjectMeta`): Secret data is never listed or cached here. The
        // list stays paginated (no watch-cache list), so many unrelated Secrets never make one
        // huge response.
        let owned = watcher(secret_api, watcher::Config::default())
            .default_backoff()
            .inspect(move |ev| {
                if let Ok(ev) = ev {
                    index_ctx.secrets.observe(&scope, ev);
                }
            })
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

    /// A status that says `Synced=False` (a failed attempt's write, seen late) needs a write
    /// even when the Secret is the verified one; `Synced=True` at this generation does not.
    #[test]
    fn status_behind_is_detected() {
        let now = Time(Timestamp::now());
        let mut ss = SealedSecret::new("s", Default::default());
        ss.metadata.generation = Some(3);
        let mut failed = SealedSecretStatus::default();
        failed.record_sync(Err("Secret \"s\" was modified"), now.clone(), Some(3));
        ss.status = Some(failed);
        assert!(next_status(&ss, None, now.clone()).1);
        let (synced, _, _) = next_status(&ss, None, now.clone());
        ss.status = Some(synced);
        assert!(!next_status(&ss, None, now).1);
    }

    /// A status that looks behind only because the cache predates our own status write waits
    /// for the cache; without such a write, or once the cache holds it, the status decides.
    #[test]
    fn own_status_write_not_cached_yet() {
        let mut ss = SealedSecret::new("s", Default::default());
        ss.metadata.generation = Some(1);
        ss.metadata.resource_version = Some("10".into());
        // No status yet: the cache is from before our write "11".
        assert_eq!(
            status_check(&ss, Some("11"), true),
            StatusCheck::WaitForCache
        );
        assert_eq!(status_check(&ss, None, true), StatusCheck::Write);
        assert_eq!(status_check(&ss, Some("11"), false), StatusCheck::Current);
        // The cache holds our write: its status decides.
        let (synced, _, _) = next_status(&ss, None, Time(Timestamp::now()));
        ss.status = Some(synced);
        ss.metadata.resource_version = Some("11".into());
        assert_eq!(status_check(&ss, Some("11"), true), StatusCheck::Current);
        // Our write is cached but says Synced=False: behind, written.
        let mut failed = SealedSecretStatus::default();
        failed.record_sync(
            Err("no key could decrypt secret"),
            Time(Timestamp::now()),
            Some(1),
        );
        ss.status = Some(failed);
        assert_eq!(status_check(&ss, Some("11"), true), StatusCheck::Write);
    }

    #[test]
    fn backoff_then_slow() {
        let slow = Duration::from_secs(600);
        assert_eq!(backoff(1, 5, slow), Duration::from_secs(1));
        assert_eq!(backoff(2, 5, slow), Duration::from_secs(2));
        assert_eq!(backoff(5, 5, slow), Duration::from_secs(16));
        assert_eq!(backoff(6, 5, slow), slow);
        assert_eq!(backoff(60, 100, slow), Duration::from_secs(256));
    }

    fn meta_secret(ns: &str, name: &str, rv: &str, owned: bool) -> PartialObjectMeta<Secret> {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
        let mut m = PartialObjectMeta::<Secret>::default();
        m.metadata.namespace = Some(ns.into());
        m.metadata.name = Some(name.into());
        m.metadata.resource_version = Some(rv.into());
        if owned {
            m.metadata.owner_references = Some(vec![OwnerReference {
                kind: "SealedSecret".into(),
                name: name.into(),
                ..OwnerReference::default()
            }]);
        }
        m
    }

    /// The index knows only SealedSecrets' Secrets, says Unknown until its scope is listed,
    /// follows changes and deletions, and a re-list replaces only its own scope.
    #[test]
    fn secret_index() {
        use watcher::Event;
        let index = SecretIndex::default();
        assert_eq!(index.lookup("a", "db"), Lookup::Unknown);
        index.observe("a", &Event::Init);
        index.observe("a", &Event::InitApply(meta_secret("a", "db", "1", true)));
        index.observe(
            "a",
            &Event::InitApply(meta_secret("a", "noise", "2", false)),
        );
        assert_eq!(index.lookup("a", "db"), Lookup::Unknown);
        index.observe("a", &Event::InitDone);
        assert_eq!(index.lookup("a", "db"), Lookup::Present("1".into()));
        assert_eq!(index.lookup("a", "noise"), Lookup::Absent);
        assert_eq!(index.lookup("b", "db"), Lookup::Unknown);
        index.observe("a", &Event::Apply(meta_secret("a", "db", "3", true)));
        assert_eq!(index.lookup("a", "db"), Lookup::Present("3".into()));
        // Ownership removed: no longer ours.
        index.observe("a", &Event::Apply(meta_secret("a", "db", "4", false)));
        assert_eq!(index.lookup("a", "db"), Lookup::Absent);
        index.observe("a", &Event::Apply(meta_secret("a", "db", "5", true)));
        index.observe("a", &Event::Delete(meta_secret("a", "db", "5", true)));
        assert_eq!(index.lookup("a", "db"), Lookup::Absent);
        // Another scope's list leaves scope a alone.
        index.observe("a", &Event::Apply(meta_secret("a", "x", "6", true)));
        index.observe("b", &Event::Init);
        index.observe("b", &Event::InitApply(meta_secret("b", "y", "7", true)));
        index.observe("b", &Event::InitDone);
        assert_eq!(index.lookup("a", "x"), Lookup::Present("6".into()));
        assert_eq!(index.lookup("b", "y"), Lookup::Present("7".into()));
        // A re-list of a drops what vanished meanwhile.
        index.observe("a", &Event::Init);
        index.observe("a", &Event::InitDone);
        assert_eq!(index.lookup("a", "x"), Lookup::Absent);
        assert_eq!(index.lookup("b", "y"), Lookup::Present("7".into()));
    }

    #[tokio::test]
    async fn lookup_waits_for_the_list_only_when_watched() {
        let index = std::sync::Arc::new(SecretIndex::default());
        // No watch (--skip-recreate): no waiting.
        let t = std::time::Instant::now();
        assert_eq!(
            index
                .lookup_when_listed("a", "db", Duration::from_secs(5))
                .await,
            Lookup::Unknown
        );
        assert!(t.elapsed() < Duration::from_secs(1));
        index.watch_started();
        let feeder = index.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            feeder.observe("", &watcher::Event::Init);
            feeder.observe("", &watcher::Event::InitDone);
        });
        assert_eq!(
            index
                .lookup_when_listed("a", "db", Duration::from_secs(5))
                .await,
            Lookup::Absent
        );
    }

    #[test]
    fn namespaces() {
        assert_eq!(watched_namespaces("kube-system", ""), ["kube-system"]);
        assert_eq!(watched_namespaces("a", "b, c,a,,b"), ["a", "b", "c"]);
    }
}
