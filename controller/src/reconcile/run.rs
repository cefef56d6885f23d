//! Wiring: the SealedSecret watch, the metadata-only Secret watch, the key-change retries, and
//! what happens when a SealedSecret is deleted.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kseal_crds::SealedSecret;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, PartialObjectMeta},
    runtime::{
        Controller, PredicateConfig, WatchStreamExt,
        reflector::ObjectRef,
        watcher::{self, watcher},
    },
};
use tracing::{Instrument as _, debug, info};

use super::{Context, error_policy, instance_label, memory::spec_hash, reconcile};
use crate::decide;

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
        let failing = ctx.memory.failing();
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
    ctx.memory.forget(&ObjectRef::from_obj(ss));
    let namespace = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    ctx.metrics
        .forget_condition(&namespace, &name, &instance_label(ss));
    if ctx.options.old_gc {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
        if let Ok(Some(secret)) = secrets.get_metadata_opt(&name).await
            && decide::is_controlled_by(&secret.metadata, ss.metadata.uid.as_deref().unwrap_or(""))
        {
            let _ = secrets.delete(&name, &DeleteParams::default()).await;
        }
    }
}
