//! Leader election on a `coordination.k8s.io/v1` Lease, in client-go's manner: the holder
//! renews `renewTime` every retry period; a candidate takes the Lease over when it has seen no
//! renewal for `leaseDurationSeconds` (measured on its own clock, so clock skew between nodes
//! does not matter) or when the holder released it. Writes use the Lease's `resourceVersion`,
//! so two candidates can never both win. Only the leader reconciles and generates keys; every
//! replica serves the HTTP API.

use std::time::{Duration, Instant};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{Api, api::PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// Lease name (`--leader-election-id`).
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// `leaseDurationSeconds`.
    pub lease_duration: Duration,
    /// How often to try or renew.
    pub retry_period: Duration,
}

/// What a candidate should do with the Lease it just read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseAction {
    /// Create or take over the Lease.
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Someone else holds a live Lease.
    Wait,
}

/// Decides, from the Lease as read, who we are and whether it has expired by our own
/// observation.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, expired: bool) -> LeaseAction {
    let holder = spec
        .and_then(|s| s.holder_identity.as_deref())
        .unwrap_or("");
    if holder == me {
        LeaseAction::Renew
    } else if holder.is_empty() || expired {
        LeaseAction::Acquire
    } else {
        LeaseAction::Wait
    }
}

/// Tracks when the Lease record last changed, on our clock.
#[derive(Debug, Default)]
struct Observed {
    record: Option<(Option<String>, Option<String>)>,
    since: Option<Instant>,
}

impl Observed {
    fn expired(&mut self, spec: Option<&LeaseSpec>, duration: Duration) -> bool {
        let record = spec.map(|s| {
            (
                s.holder_identity.clone(),
                s.renew_time.as_ref().map(|t| t.0.to_string()),
            )
        });
        if self.record != record {
            self.record = record;
            self.since = Some(Instant::now());
            return false;
        }
        self.since.is_some_and(|t| t.elapsed() >= duration)
    }
}

/// Runs the election until `shutdown` fires, publishing leadership on `leader`. On shutdown a
/// held Lease is released so another replica takes over at once.
pub async fn run(
    api: Api<Lease>,
    config: LeaderConfig,
    leader: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut observed = Observed::default();
    let mut last_renew = None::<Instant>;
    let deadline = config.lease_duration.mul_f32(2.0 / 3.0);
    loop {
        let is_leader = match try_once(&api, &config, &mut observed).await {
            Ok(held) => {
                if held {
                    last_renew = Some(Instant::now());
                }
                held
            }
            Err(error) => {
                warn!(%error, "leader election: cannot read or write the Lease");
                // Keep leading through short API hiccups, but never past the renew deadline.
                *leader.borrow() && last_renew.is_some_and(|t| t.elapsed() < deadline)
            }
        };
        if *leader.borrow() != is_leader {
            if is_leader {
                info!(identity = %config.identity, lease = %config.name, "became leader");
            } else {
                warn!(identity = %config.identity, "lost leadership");
            }
            leader.send_replace(is_leader);
        }
        tokio::select! {
            () = tokio::time::sleep(config.retry_period) => {}
            _ = shutdown.changed() => break,
        }
    }
    if *leader.borrow() {
        leader.send_replace(false);
        release(&api, &config).await;
    }
}

async fn try_once(
    api: &Api<Lease>,
    config: &LeaderConfig,
    observed: &mut Observed,
) -> Result<bool, kube::Error> {
    let current = api.get_opt(&config.name).await?;
    let spec = current.as_ref().and_then(|l| l.spec.as_ref());
    let expired = observed.expired(spec, lease_duration_of(spec, config.lease_duration));
    let action = decide(spec, &config.identity, expired);
    let now = MicroTime(Timestamp::now());
    let seconds = i32::try_from(config.lease_duration.as_secs())
        .unwrap_or(i32::MAX)
        .max(1);
    match (action, current) {
        (LeaseAction::Wait, _) => Ok(false),
        (_, None) => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(config.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        (action, Some(mut lease)) => {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if action == LeaseAction::Acquire {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                spec.acquire_time = Some(now.clone());
                spec.holder_identity = Some(config.identity.clone());
            }
            spec.lease_duration_seconds = Some(seconds);
            spec.renew_time = Some(now);
            match api
                .replace(&config.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => Ok(true),
                // Someone else wrote first; they win this round.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

fn lease_duration_of(spec: Option<&LeaseSpec>, default: Duration) -> Duration {
    spec.and_then(|s| s.lease_duration_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .map_or(default, Duration::from_secs)
}

async fn release(api: &Api<Lease>, config: &LeaderConfig) {
    let Ok(Some(mut lease)) = api.get_opt(&config.name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => info!("released the leader Lease"),
        Err(error) => warn!(%error, "cannot release the leader Lease"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(who: &str) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(who.into()),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(None, "a", false), LeaseAction::Acquire);
        assert_eq!(decide(Some(&held_by("a")), "a", false), LeaseAction::Renew);
        assert_eq!(decide(Some(&held_by("b")), "a", false), LeaseAction::Wait);
        assert_eq!(decide(Some(&held_by("b")), "a", true), LeaseAction::Acquire);
        assert_eq!(decide(Some(&held_by("")), "a", false), LeaseAction::Acquire);
        assert_eq!(
            decide(Some(&LeaseSpec::default()), "a", false),
            LeaseAction::Acquire
        );
    }

    #[test]
    fn expiry_is_measured_locally() {
        let mut o = Observed::default();
        let spec = held_by("b");
        assert!(
            !o.expired(Some(&spec), Duration::ZERO),
            "first sight resets"
        );
        assert!(o.expired(Some(&spec), Duration::ZERO));
        assert!(!o.expired(Some(&spec), Duration::from_secs(60)));
        let other = held_by("c");
        assert!(!o.expired(Some(&other), Duration::ZERO), "a change resets");
    }
}
