//! `kseal-controller`: wiring only. Flags → telemetry → client → key watch, HTTP servers, leader
//! election → (on the leader) the reconcilers and the key maintainer; SIGTERM releases the Lease.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use futures::future::join_all;
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Secret};
use kseal_controller::{
    args::Flags,
    backup::{self, BackupConfig},
    events::Recorder,
    http::{self, ApiState, RateLimiter},
    keys::{KeyRegistry, parse_cutoff, parse_key_values},
    keywatch::{self, KeyGenConfig},
    leader::{self, LeaderConfig},
    metrics::Metrics,
    protected::TrustedSecrets,
    reconcile::{self, Context, ReconcileOptions},
    restart::{self, RestartNotifier},
    server::{self, ConnectionLimits},
    telemetry,
};
use kseal_core::KeySize;
use kseal_crds::SealedSecret;
use kseal_crds::UnsealOptions;
use kube::{
    Api, Client, Config,
    api::PartialObjectMeta,
    config::{KubeConfigOptions, Kubeconfig},
};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{Notify, watch},
};
use tracing::{error, info};

const SA_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

fn main() -> anyhow::Result<()> {
    // `kseal-controller __render-template` is a template-rendering child of the controller
    // (template::sandbox): it sets its own resource limits and must start no runtime, thread or
    // client, so it is dispatched before anything else.
    if let Some(code) = kseal_controller::template::sandbox::child_main_if_requested() {
        std::process::exit(code);
    }
    run()
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let level = telemetry::parse_level(&flags.log_level).map_err(anyhow::Error::msg)?;
    telemetry::init(flags.log_format, level, flags.log_info_stdout);
    // Both rustls providers may be compiled in (other crates); pick the one kseal-core uses.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let key_size = KeySize::from_bits(flags.key_size)?;
    let cutoff = parse_cutoff(&flags.key_cutoff_time).map_err(anyhow::Error::msg)?;
    let labels = parse_key_values(&flags.privatekey_labels).map_err(anyhow::Error::msg)?;
    let annotations =
        parse_key_values(&flags.privatekey_annotations).map_err(anyhow::Error::msg)?;
    if flags.key_prefix.is_empty()
        || flags.key_prefix.len() > 245
        || !flags
            .key_prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!("--key-prefix must be 1-245 characters of [a-z0-9-]");
    }

    let config = match &flags.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => Config::infer()
            .await
            .context("no kubeconfig and not running in a pod")?,
    };
    let client = Client::try_from(config)?;
    let namespace = flags
        .controller_namespace
        .clone()
        .or_else(|| {
            std::env::var("POD_NAMESPACE")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .or_else(|| {
            std::fs::read_to_string(SA_NAMESPACE_FILE)
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "default".into());
    let identity = flags
        .leader_election_identity
        .clone()
        .or_else(|| std::env::var("POD_NAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            format!("{}_{}", host.trim(), std::process::id())
        });
    info!(version = env!("CARGO_PKG_VERSION"), %namespace, %identity, "starting kseal-controller");
    let backup_config = BackupConfig {
        secret: flags
            .key_backup_secret
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| backup::parse_secret_target(s, &namespace, &flags.key_prefix))
            .transpose()
            .map_err(anyhow::Error::msg)?,
        dir: flags
            .key_backup_dir
            .clone()
            .filter(|p| !p.as_os_str().is_empty()),
        namespace: namespace.clone(),
    };
    if let Some(dir) = &backup_config.dir
        && !dir.is_dir()
    {
        bail!(
            "--key-backup-dir {}: not a directory (mount a volume there)",
            dir.display()
        );
    }

    let keys = Arc::new(KeyRegistry::new(
        &flags.key_prefix,
        flags.key_order_priority,
    ));
    let metrics = Arc::new(Metrics::new());
    let recorder = Recorder::new(client.clone(), identity.clone());
    let unseal_options = UnsealOptions {
        accept_v1_data: flags.accept_deprecated_v1_data,
    };

    // HTTP: every replica serves the certificate, verify, rotate and health.
    let api_state = ApiState {
        keys: keys.clone(),
        metrics: metrics.clone(),
        limiter: Arc::new(RateLimiter::new(flags.rate_limit, flags.rate_limit_burst)),
        trusted_proxies: Arc::new(flags.trusted_proxies.clone()),
        heavy: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
        )),
        options: unseal_options,
        timeout: flags.read_timeout + flags.write_timeout,
    };
    let limits = ConnectionLimits {
        header_timeout: flags.http_header_timeout,
        idle_timeout: flags.http_idle_timeout,
        max_age: flags.http_max_connection_age,
        drain: flags.read_timeout + flags.write_timeout,
        max_connections: flags.http_max_connections as usize,
        max_per_ip: flags.http_max_connections_per_ip as usize,
    };
    let api = server::bind(&flags.listen_addr).await?;
    let metrics_listener = server::bind(&flags.listen_metrics_addr).await?;
    tokio::spawn(server::serve(
        api,
        http::api_router(api_state),
        limits,
        metrics.clone(),
    ));
    tokio::spawn(server::serve(
        metrics_listener,
        http::metrics_router(metrics.clone()),
        limits,
        metrics.clone(),
    ));

    let key_secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    tokio::spawn(keywatch::watch_keys(
        key_secrets.clone(),
        flags.key_prefix.clone(),
        keys.clone(),
        metrics.clone(),
        recorder.clone(),
    ));

    // Leader election.
    let (leader_tx, leader_rx) = watch::channel(false);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Without election this replica always leads; the sender must outlive every receiver.
    let mut _always_leader = None;
    let election = if flags.leader_elect {
        let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
        Some(tokio::spawn(leader::run(
            leases,
            LeaderConfig {
                name: flags.leader_election_id.clone(),
                identity: identity.clone(),
                lease_duration: flags.leader_election_lease_duration,
                retry_period: flags.leader_election_retry_period,
            },
            leader_tx,
            shutdown_rx,
        )))
    } else {
        leader_tx.send_replace(true);
        _always_leader = Some(leader_tx);
        None
    };

    // SIGUSR1: an immediate new key (on the leader, which alone writes keys).
    let sigusr1 = Arc::new(Notify::new());
    {
        let notify = sigusr1.clone();
        let leader = leader_rx.clone();
        let mut usr1 = signal(SignalKind::user_defined1())?;
        tokio::spawn(async move {
            while usr1.recv().await.is_some() {
                if *leader.borrow() {
                    notify.notify_one();
                } else {
                    info!("SIGUSR1 ignored: this replica is not the leader, which generates keys");
                }
            }
        });
    }

    let scoped = !flags.all_namespaces || !flags.additional_namespaces.trim().is_empty();
    let namespaces = if scoped {
        reconcile::watched_namespaces(&namespace, &flags.additional_namespaces)
    } else {
        Vec::new()
    };
    let restarts = if flags.restart_on_change {
        let (notifier, rx) = RestartNotifier::channel();
        tokio::spawn(restart::run(
            client.clone(),
            namespaces.clone(),
            rx,
            metrics.clone(),
            recorder.clone(),
        ));
        Some(notifier)
    } else {
        None
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        keys.clone(),
        metrics.clone(),
        recorder,
        ReconcileOptions {
            update_status: flags.update_status,
            accept_v1_data: flags.accept_deprecated_v1_data,
            max_retries: flags.max_unseal_retries,
            failed_requeue: flags.failed_requeue_period,
            skip_recreate: flags.skip_recreate,
            old_gc: flags.old_gc_behavior,
            label_selector: flags.label_selector.clone(),
            workers: flags.workers,
            trusted: TrustedSecrets {
                namespace: namespace.clone(),
                key_prefix: flags.key_prefix.clone(),
                backup: backup_config.secret.clone(),
            },
        },
        restarts,
    ));
    let keygen = KeyGenConfig {
        prefix: flags.key_prefix.clone(),
        namespace: namespace.clone(),
        key_size,
        ttl: flags.key_ttl,
        common_name: flags.my_cn.clone(),
        renew_period: flags.key_renew_period,
        cutoff,
        labels,
        annotations,
    };

    // The leader's work: reconcilers and key maintenance, stopped when leadership is lost.
    let supervisor = {
        let mut leader = leader_rx.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            loop {
                while !*leader.borrow_and_update() {
                    metrics.leader.set(0);
                    if leader.changed().await.is_err() {
                        return;
                    }
                }
                metrics.leader.set(1);
                info!(namespaces = ?namespaces, "leading: starting reconcilers");
                let controllers = controllers(&client, &namespaces, ctx.clone());
                let maintainer = keywatch::maintain_keys(
                    key_secrets.clone(),
                    keygen.clone(),
                    keys.clone(),
                    sigusr1.clone(),
                    leader.clone(),
                );
                let backups = backup::run(
                    client.clone(),
                    backup_config.clone(),
                    keys.clone(),
                    metrics.clone(),
                );
                let mut lost = leader.clone();
                tokio::select! {
                    () = controllers => error!("reconcilers stopped"),
                    () = backups => {}
                    () = async { maintainer.await; futures::future::pending::<()>().await } => {}
                    () = async { while *lost.borrow_and_update() { if lost.changed().await.is_err() { break } } } => {
                        info!("not leading any more: reconcilers stopped");
                    }
                }
            }
        })
    };

    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
    }
    supervisor.abort();
    shutdown_tx.send_replace(true);
    if let Some(election) = election {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), election).await;
    }
    Ok(())
}

/// One reconciler over all namespaces, or one per watched namespace (Bitnami's scoped mode).
async fn controllers(client: &Client, namespaces: &[String], ctx: Arc<Context>) {
    if namespaces.is_empty() {
        let ss: Api<SealedSecret> = Api::all(client.clone());
        let secrets: Api<PartialObjectMeta<Secret>> = Api::all(client.clone());
        reconcile::run(ss, secrets, ctx).await;
    } else {
        join_all(namespaces.iter().map(|ns| {
            let ss: Api<SealedSecret> = Api::namespaced(client.clone(), ns);
            let secrets: Api<PartialObjectMeta<Secret>> = Api::namespaced(client.clone(), ns);
            reconcile::run(ss, secrets, ctx.clone())
        }))
        .await;
    }
}
