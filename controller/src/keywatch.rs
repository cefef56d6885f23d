//! The key Secrets, live: a watch on labelled Secrets plus the legacy Secret feeds the
//! [`KeyRegistry`] (add, change, relabel, delete; no restart needed), and on the leader a
//! maintainer generates the first key, renews every `--key-renew-period`, honours
//! `--key-cutoff-time` and generates a key at once on SIGUSR1 (`docs/controller-compat.md` §3).
//! A key Secret that does not parse is logged, reported as an event and a metric, and skipped.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::{Duration, SystemTime},
};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kseal_core::{CertParams, KeySize};
use kseal_crds::SEALED_SECRETS_KEY_LABEL;
use kube::{
    Api,
    api::PostParams,
    runtime::{
        WatchStreamExt,
        watcher::{self, Event, watch_object, watcher},
    },
};
use rand_core::{OsRng, RngCore as _};
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::{
    events::{ERR_INVALID_KEY, EventType, KEY_NOT_YET_VALID, Recorder},
    keys::{KeyChange, KeyRegistry, NOT_BEFORE_SKEW, Renewal, key_secret, renewal},
    metrics::Metrics,
};

/// Settings for generating keys.
#[derive(Debug, Clone)]
pub struct KeyGenConfig {
    /// `--key-prefix`.
    pub prefix: String,
    /// The controller namespace.
    pub namespace: String,
    /// `--key-size`.
    pub key_size: KeySize,
    /// `--key-ttl`.
    pub ttl: Duration,
    /// `--my-cn`.
    pub common_name: String,
    /// `--key-renew-period`.
    pub renew_period: Duration,
    /// `--key-cutoff-time`.
    pub cutoff: Option<SystemTime>,
    /// `--privatekey-labels`.
    pub labels: BTreeMap<String, String>,
    /// `--privatekey-annotations`.
    pub annotations: BTreeMap<String, String>,
}

enum Update {
    Labelled(Result<Event<Secret>, watcher::Error>),
    Legacy(Result<Option<Secret>, watcher::Error>),
}

/// Keeps `registry` equal to the key Secrets in `api`'s namespace, forever.
pub async fn watch_keys(
    api: Api<Secret>,
    prefix: String,
    registry: Arc<KeyRegistry>,
    metrics: Arc<Metrics>,
    recorder: Recorder,
) {
    let labelled = watcher(
        api.clone(),
        watcher::Config::default().labels(SEALED_SECRETS_KEY_LABEL),
    )
    .default_backoff()
    .map(Update::Labelled);
    // With backoff like the labelled watch: without it an unreachable API server made this
    // retry (and log) in a tight loop, thousands of times a second.
    let legacy = watch_object(api, &prefix)
        .default_backoff()
        .map(Update::Legacy);
    let mut updates = std::pin::pin!(stream::select(labelled, legacy));
    let mut listing: Option<HashSet<String>> = None;
    let mut listed_once = false;
    let mut legacy_present = false;
    while let Some(update) = updates.next().await {
        match update {
            Update::Labelled(Ok(Event::Init)) => listing = Some(HashSet::new()),
            Update::Labelled(Ok(Event::InitApply(secret))) => {
                if let Some(seen) = listing.as_mut() {
                    seen.insert(secret.metadata.name.clone().unwrap_or_default());
                }
                report(&registry, &secret, false, &recorder).await;
            }
            Update::Labelled(Ok(Event::InitDone)) => {
                // Entries that vanished while the watch was down.
                let seen = listing.take().unwrap_or_default();
                let known: Vec<String> = registry
                    .snapshot()
                    .certificates
                    .iter()
                    .map(|c| c.secret_name.clone())
                    .collect();
                for name in known {
                    if !(seen.contains(&name) || (legacy_present && name == prefix)) {
                        registry.remove(&name, false);
                    }
                }
                registry.rebuild();
                if !listed_once {
                    listed_once = true;
                    info!(keys = registry.snapshot().keys.len(), "key Secrets loaded");
                }
            }
            Update::Labelled(Ok(Event::Apply(secret))) => {
                report(&registry, &secret, true, &recorder).await;
            }
            Update::Labelled(Ok(Event::Delete(secret))) => {
                let name = secret.metadata.name.clone().unwrap_or_default();
                if !(legacy_present && name == prefix) && registry.remove(&name, true) {
                    info!(secret = %name, "key Secret removed; its key is no longer used");
                }
            }
            Update::Legacy(Ok(Some(secret))) => {
                legacy_present = true;
                report(&registry, &secret, listed_once, &recorder).await;
            }
            Update::Legacy(Ok(None)) => {
                legacy_present = false;
                registry.remove(&prefix, listed_once);
            }
            Update::Labelled(Err(e)) | Update::Legacy(Err(e)) => {
                warn!(error = %e, "key Secret watch failed; retrying");
            }
        }
        let snapshot = registry.snapshot();
        metrics
            .keys_not_yet_valid
            .set(snapshot.not_yet_valid(SystemTime::now()).count() as i64);
        metrics.keys.set(snapshot.keys.len() as i64);
        metrics
            .invalid_key_secrets
            .set(registry.invalid().len() as i64);
    }
}

async fn report(registry: &KeyRegistry, secret: &Secret, rebuild: bool, recorder: &Recorder) {
    let name = secret.metadata.name.clone().unwrap_or_default();
    match registry.apply(secret, rebuild) {
        KeyChange::Loaded(fp) => {
            info!(secret = %name, fingerprint = %fp, "key loaded");
            let now = SystemTime::now();
            if let Some(not_before) = registry
                .not_before(&name)
                .filter(|t| *t > now + NOT_BEFORE_SKEW)
            {
                // Public facts only: the Secret, the fingerprint and the date.
                let not_before = kseal_core::keys::rfc3339(not_before);
                warn!(secret = %name, fingerprint = %fp, %not_before,
                    "key Secret's certificate is not valid yet (NotBefore in the future): it decrypts, but is not served as the newest key before then");
                recorder
                    .publish(
                        secret,
                        EventType::Warning,
                        KEY_NOT_YET_VALID,
                        &format!(
                            "certificate not valid before {not_before}: the key decrypts, but is not served as the newest key before then"
                        ),
                    )
                    .await;
            }
        }
        KeyChange::Removed => info!(secret = %name, "key Secret no longer active; key removed"),
        KeyChange::Unchanged => {}
        KeyChange::Invalid(e) => {
            error!(secret = %name, error = %e, "key Secret skipped: it does not hold a usable key");
            recorder
                .publish(
                    secret,
                    EventType::Warning,
                    ERR_INVALID_KEY,
                    &format!("key Secret skipped: {e}"),
                )
                .await;
        }
    }
}

/// Generates keys while this replica leads: the first key, renewals, cutoff, SIGUSR1. Returns
/// when `leader` turns false.
pub async fn maintain_keys(
    api: Api<Secret>,
    config: KeyGenConfig,
    registry: Arc<KeyRegistry>,
    sigusr1: Arc<Notify>,
    mut leader: watch::Receiver<bool>,
) {
    let mut changes = registry.subscribe();
    // Wait for the initial list so "no key yet" is the truth, not a race.
    while registry.snapshot().generation == 0 {
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = leader.changed() => if !*leader.borrow() { return },
        }
    }
    let mut cutoff = config.cutoff;
    loop {
        let snapshot = registry.snapshot();
        // Counted from the newest key that is valid now: a key dated ahead must neither
        // postpone renewal nor push new keys' NotBefore into the future with it.
        let now = SystemTime::now();
        let newest = snapshot.newest_at(now);
        let plan = renewal(newest, config.renew_period, cutoff, now);
        // A key dated ahead becomes servable, maybe the newest, at its date: decide again then.
        let dated_ahead = snapshot.next_validity_change(now);
        let until_dated = async move {
            match dated_ahead {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        // The cutoff is a startup rule (Bitnami evaluates it once).
        cutoff = None;
        let generate = match plan {
            Renewal::Now => true,
            Renewal::After(wait) => {
                info!(next_in = ?wait, "next key renewal scheduled");
                tokio::select! {
                    () = tokio::time::sleep(wait) => true,
                    () = sigusr1.notified() => { info!("SIGUSR1: generating a new key"); true }
                    _ = changes.changed() => false,
                    () = until_dated => false,
                    _ = leader.changed() => if *leader.borrow() { false } else { return },
                }
            }
            Renewal::Never => tokio::select! {
                () = sigusr1.notified() => { info!("SIGUSR1: generating a new key"); true }
                _ = changes.changed() => false,
                () = until_dated => false,
                _ = leader.changed() => if *leader.borrow() { false } else { return },
            },
        };
        if !generate {
            continue;
        }
        match generate_key(&api, &config, newest).await {
            Ok(fingerprint) => {
                // Wait until the watch has loaded it, so the next decision sees it.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                while !registry
                    .snapshot()
                    .certificates
                    .iter()
                    .any(|c| c.certificate.fingerprint().as_str() == fingerprint)
                {
                    if tokio::time::timeout_at(deadline, changes.changed())
                        .await
                        .is_err()
                    {
                        warn!("new key not seen by the watch after 30s");
                        break;
                    }
                }
            }
            Err(e) => {
                error!(error = %e, "cannot generate a key; retrying in 30s");
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    }
}

/// The new key's `NotBefore`: now, but strictly after the newest key's (certificate times have
/// one-second resolution). Two keys made within one second (a renewal right after start-up,
/// SIGUSR1 twice) would otherwise tie, and the older could stay "newest" and keep being served.
fn not_before_after(now: SystemTime, newest: Option<SystemTime>) -> SystemTime {
    match newest {
        Some(n) if n + Duration::from_secs(1) > now => n + Duration::from_secs(1),
        _ => now,
    }
}

/// Why a new key could not be made. The maintainer only logs it and retries; the messages hold
/// no key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyGenError {
    /// The blocking task that generates the key did not finish.
    #[error("key generation did not finish: {0}")]
    Task(tokio::task::JoinError),
    /// Generating the key pair failed.
    #[error("cannot generate the key pair: {0}")]
    Generate(kseal_core::KeyError),
    /// The API server refused the new key Secret.
    #[error("cannot create the key Secret: {0}")]
    Create(kube::Error),
}

/// Generates a key pair, with the X-Wing key kept with it (`docs/pq-format.md` §5.2), and writes
/// it as a new key Secret; returns its fingerprint.
async fn generate_key(
    api: &Api<Secret>,
    config: &KeyGenConfig,
    newest: Option<SystemTime>,
) -> Result<String, KeyGenError> {
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    let params = CertParams {
        key_size: config.key_size,
        not_before: not_before_after(SystemTime::now(), newest),
        validity: config.ttl,
        common_name: config.common_name.clone(),
        serial,
    };
    // RSA key generation takes seconds: keep it off the async runtime.
    let (key, certificate) =
        tokio::task::spawn_blocking(move || kseal_core::keys::generate_with_pq(&params))
            .await
            .map_err(KeyGenError::Task)?
            .map_err(KeyGenError::Generate)?;
    let secret = key_secret(
        &config.prefix,
        &config.namespace,
        &key,
        &certificate,
        &config.labels,
        &config.annotations,
    );
    let created = api
        .create(&PostParams::default(), &secret)
        .await
        .map_err(KeyGenError::Create)?;
    let name = created.metadata.name.unwrap_or_default();
    let fingerprint = certificate.fingerprint().to_string();
    // The certificate is public; Bitnami logs it and some users copy it from the log.
    info!(secret = %name, %fingerprint, certificate = %certificate.to_pem(), "new key written");
    Ok(fingerprint)
}

#[cfg(test)]
mod not_before_tests {
    use super::*;

    #[test]
    fn a_new_key_is_always_strictly_newest() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(not_before_after(t, None), t);
        assert_eq!(not_before_after(t, Some(t - Duration::from_secs(5))), t);
        // Same second as the newest key: one second later, so ordering by NotBefore is strict.
        assert_eq!(not_before_after(t, Some(t)), t + Duration::from_secs(1));
        assert_eq!(
            not_before_after(t, Some(t + Duration::from_millis(300))),
            t + Duration::from_millis(1300)
        );
    }
}
