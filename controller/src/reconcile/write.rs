//! Writes the produced Secret as [`decide::plan`] says, with [`super::conflict`]'s policy for
//! failed writes.

use k8s_openapi::api::core::v1::Secret;
use kseal_crds::SealedSecret;
use kube::{Api, ResourceExt, api::PostParams};
use tracing::info;

use super::{
    Context,
    conflict::{self, CreateFailed},
};
use crate::{
    decide::{self, Plan},
    error::ReconcileError,
    metrics::SecretWrite,
};

/// What a write left behind.
#[derive(Debug)]
pub(super) struct Written {
    /// Whether the Secret was created or updated.
    pub(super) wrote: bool,
    /// The Secret's resourceVersion.
    pub(super) resource_version: Option<String>,
}

/// Writes `desired` over `existing`. `existing: None` may be a guess (the watch had not seen
/// it): a create that finds the Secret reads it and plans again.
pub(super) async fn apply(
    ss: &SealedSecret,
    ctx: &Context,
    secrets: &Api<Secret>,
    desired: Secret,
    existing: Option<Secret>,
) -> Result<Written, ReconcileError> {
    let name = ss.name_any();
    let mut existing = existing;
    let mut retried = false;
    let (wrote, resource_version) = loop {
        if let Some(why) = ctx.options.trusted.refusal(&desired, existing.as_ref()) {
            return Err(ReconcileError::Protected(why));
        }
        let plan = decide::plan(ss, desired.clone(), existing.as_ref());
        break match plan {
            Plan::Create(secret) => match secrets.create(&PostParams::default(), &secret).await {
                Ok(created) => {
                    info!("created Secret");
                    ctx.metrics.secret_written(SecretWrite::Create);
                    (true, created.metadata.resource_version)
                }
                Err(e) => match conflict::create_failed(e, retried) {
                    CreateFailed::ReadAndPlanAgain => {
                        retried = true;
                        existing = secrets
                            .get_opt(&name)
                            .await
                            .map_err(ReconcileError::Fetch)?;
                        continue;
                    }
                    CreateFailed::Fail(e) => return Err(e),
                },
            },
            Plan::Update(secret) => {
                let updated = secrets
                    .replace(&name, &PostParams::default(), &secret)
                    .await
                    .map_err(|e| conflict::update_failed(&name, e))?;
                info!("updated Secret");
                ctx.metrics.secret_written(SecretWrite::Update);
                (true, updated.metadata.resource_version)
            }
            Plan::Unchanged => (
                false,
                existing
                    .as_ref()
                    .and_then(|s| s.metadata.resource_version.clone()),
            ),
            Plan::Immutable => return Err(conflict::immutable(&name)),
            Plan::Unmanaged => return Err(ReconcileError::Unmanaged(name)),
        };
    };
    if wrote && let Some(restarts) = &ctx.restarts {
        restarts.secret_changed(&ss.namespace().unwrap_or_default(), &name);
    }
    Ok(Written {
        wrote,
        resource_version,
    })
}
