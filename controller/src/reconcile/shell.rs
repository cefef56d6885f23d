//! One reconcile: skip when nothing changed, unseal (the one call of [`SealedSecret::unseal`](kseal_crds::SealedSecret::unseal)), write
//! the Secret, then record the outcome — status, event, metrics — as the pure rules in
//! [`super::status`] and [`super::outcome`] say.

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp,
};
use kseal_crds::{SealedSecret, SealedSecretStatus};
use kube::{
    Api, ResourceExt,
    api::PostParams,
    runtime::{controller::Action, reflector::ObjectRef},
};
use tracing::{Instrument as _, debug, instrument, warn};

use super::{
    Context,
    conflict::is_conflict,
    instance_label,
    memory::{Verified, spec_hash},
    outcome::{self, AfterFailure, Notice, Outcome},
    secret_index::Lookup,
    status::{self, AfterConflict, StatusCheck},
    write::{Written, apply},
};
use kseal_crds::UnsealOptions;

use crate::{error::ReconcileError, metrics::UnsealErrorReason};

/// How long to wait for the cache to catch up with our own status write before looking again.
const STATUS_CATCH_UP: Duration = Duration::from_secs(5);

/// How long the first reconciles wait for the Secret watch's initial list.
const SECRET_LIST_WAIT: Duration = Duration::from_secs(10);

/// The clock of the status rules: read here, passed to [`super::status`].
fn now() -> Time {
    Time(Timestamp::now())
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
    let verified = ctx.memory.verified(&oref);
    let lookup = ctx
        .secrets
        .lookup_when_listed(&namespace, &name, SECRET_LIST_WAIT)
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
            ctx.metrics
                .pq_operations
                .inc_by(unsealed.pq_operations as u64);
            debug!(
                items = ?kseal_crds::unseal::data_keys(&unsealed.secret),
                keys = ?unsealed.keys_used.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "unsealed"
            );
            apply(&ss, &ctx, &secrets, unsealed.secret, existing).await
        }
    };
    let wrote = matches!(result, Ok(Written { wrote: true, .. }));
    finish(&ss, &ctx, result.map(|w| w.resource_version), wrote, hash).await
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
    match status::status_check(ss, own_status_write, ctx.options.update_status, now()) {
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
            ctx.memory.drop_status_mark(&ObjectRef::from_obj(&**ss));
            debug!("our status write is not in the cache yet; looking again shortly");
            Ok(Action::requeue(STATUS_CATCH_UP))
        }
    }
}

/// Records the outcome: status (when it flipped, the generation moved or the message changed),
/// an event (on change only), metrics; returns what the controller should do next. A complete
/// success is remembered so the echo of our own writes costs nothing. `result` holds the
/// Secret's resourceVersion.
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
    let instance = instance_label(ss);

    let message = result.as_ref().err().map(status::status_message);
    let next = status::next_status(ss, message.as_deref(), now());
    let mut changed = next.write;
    let had_condition = next.old_condition.is_some();

    let mut status_resource_version = None;
    if ctx.options.update_status && changed {
        match write_status(ctx, ss, next.status, message.as_deref()).await {
            Ok((rv, still_changed)) => {
                status_resource_version = rv;
                changed = still_changed;
            }
            Err(e) => {
                warn!(error = %e, "cannot update status");
                ctx.metrics
                    .unseal_error(UnsealErrorReason::Status, &namespace);
                ctx.memory.forget_verified(&oref);
                // Status conflicts resolve on the next attempt with a fresh object.
                return Err(ReconcileError::Status(e));
            }
        }
    }

    match result {
        Ok(rv) => {
            ctx.memory.succeeded(
                oref,
                Verified {
                    spec_hash: hash,
                    secret_resource_version: rv,
                    status_resource_version,
                },
            );
            ctx.metrics.condition(&namespace, &name, &instance, 1);
            if let Some(notice) = outcome::event(Outcome::Synced { wrote }, changed, had_condition)
            {
                publish(ctx, ss, notice);
            }
            Ok(Action::await_change())
        }
        Err(e) => {
            ctx.metrics.unseal_error(e.metric_label(), &namespace);
            ctx.metrics.condition(&namespace, &name, &instance, -1);
            ctx.memory.forget_verified(&oref);
            let failed = Outcome::Failed(&e);
            let notice = Notice::of(failed);
            warn!(reason = notice.reason, error = %notice.message, "reconcile failed");
            if outcome::event(failed, changed, had_condition).is_some() {
                publish(ctx, ss, notice);
            }
            match outcome::after_failure(&e) {
                AfterFailure::AwaitChange => {
                    ctx.memory.forget_failures(&oref);
                    Ok(Action::await_change())
                }
                AfterFailure::Retry => Err(e),
            }
        }
    }
}

/// Writes the status; on 409 Conflict decides again on the current object
/// ([`status::after_conflict`]). The SealedSecret's new resourceVersion (if written) and whether
/// the status still needed a write.
async fn write_status(
    ctx: &Context,
    ss: &SealedSecret,
    status: SealedSecretStatus,
    message: Option<&str>,
) -> Result<(Option<String>, bool), kube::Error> {
    let api: Api<SealedSecret> =
        Api::namespaced(ctx.client.clone(), &ss.namespace().unwrap_or_default());
    match put_status(&api, ss, status).await {
        Err(e) if is_conflict(&e) => {
            let latest = api.get(&ss.name_any()).await?;
            match status::after_conflict(ss, &latest, message, now()) {
                AfterConflict::Write(status) => {
                    put_status(&api, &latest, status).await.map(|rv| (rv, true))
                }
                AfterConflict::Current => Ok((None, false)),
                AfterConflict::GenerationMoved => Err(e),
            }
        }
        written => written.map(|rv| (rv, true)),
    }
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

/// Records an event in the background: the reconcile does not wait for the API server.
fn publish(ctx: &Context, ss: &Arc<SealedSecret>, notice: Notice) {
    let (recorder, ss) = (ctx.recorder.clone(), ss.clone());
    tokio::spawn(
        async move {
            recorder
                .publish(&*ss, notice.type_, notice.reason, &notice.message)
                .await
        }
        .instrument(tracing::Span::current()),
    );
}
