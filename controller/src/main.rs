//! `kseal-controller`: wiring only. Flags → [`Config`] (every check and identity, in
//! `config.rs`) → telemetry → client → key watch, HTTP servers, leader election → (on the
//! leader) the reconcilers and the key maintainer; SIGTERM releases the Lease.
//!
//! Errors: the library returns typed errors; this binary reports them in one voice, as the
//! `anyhow` error `main` returns (context added where it helps the reader).

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use futures::future::join_all;
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Secret};
use kseal_controller::{
    args::Flags,
    backup,
    config::{Config, Environment, HttpConfig},
    events::Recorder,
    http::{self, ApiState, RateLimiter},
    keys::KeyRegistry,
    keywatch, leader,
    metrics::Metrics,
    reconcile::{self, Context},
    restart::{self, RestartNotifier},
    server, telemetry,
};
use kseal_crds::SealedSecret;
use kseal_crds::UnsealOptions;
use kube::{
    Api, Client,
    api::PartialObjectMeta,
    config::{KubeConfigOptions, Kubeconfig},
};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{Notify, watch},
};
use tracing::{error, info};

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
    let config = Config::new(Flags::parse(), &Environment::of_process())?;
    telemetry::init(config.log.format, config.log.level, config.log.info_stdout);
    // Both rustls providers may be compiled in (other crates); pick the one kseal-core uses.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let client = client(&config).await?;
    let namespace = config.namespace.clone();
    info!(version = env!("CARGO_PKG_VERSION"), %namespace, identity = %config.identity, "starting kseal-controller");

    let keys = Arc::new(KeyRegistry::new(
        &config.key_prefix,
        config.key_order_priority,
    ));
    let metrics = Arc::new(Metrics::new());
    let recorder = Recorder::new(client.clone(), config.identity.clone());
    let unseal_options = UnsealOptions {
        accept_v1_data: config.reconcile.accept_v1_data,
    };

    // HTTP: every replica serves the certificate, verify, rotate and health.
    serve_http(&config.http, &keys, &metrics, unseal_options).await?;

    let key_secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    tokio::spawn(keywatch::watch_keys(
        key_secrets.clone(),
        config.key_prefix.clone(),
        keys.clone(),
        metrics.clone(),
        recorder.clone(),
    ));

    // Leader election.
    let (leader_tx, leader_rx) = watch::channel(false);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Without election this replica always leads; the sender must outlive every receiver.
    let mut _always_leader = None;
    let election = match config.leader.clone() {
        Some(lease) => {
            let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
            Some(tokio::spawn(leader::run(
                leases,
                lease,
                leader_tx,
                shutdown_rx,
            )))
        }
        None => {
            leader_tx.send_replace(true);
            _always_leader = Some(leader_tx);
            None
        }
    };

    // SIGUSR1: an immediate new key (on the leader, which alone writes keys).
    let sigusr1 = sigusr1_on_leader(leader_rx.clone())?;

    let namespaces = config.namespaces.clone();
    let restarts = config.restart_on_change.then(|| {
        let (notifier, rx) = RestartNotifier::channel();
        tokio::spawn(restart::run(
            client.clone(),
            namespaces.clone(),
            rx,
            metrics.clone(),
            recorder.clone(),
        ));
        notifier
    });
    let ctx = Arc::new(Context::new(
        client.clone(),
        keys.clone(),
        metrics.clone(),
        recorder,
        config.reconcile.clone(),
        restarts,
    ));
    let keygen = config.keygen.clone();
    let backup_config = config.backup.clone();

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

/// The API client: `--kubeconfig`, else `KUBECONFIG` or the in-cluster ServiceAccount.
async fn client(config: &Config) -> anyhow::Result<Client> {
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig and not running in a pod")?,
    };
    Ok(Client::try_from(kube_config)?)
}

/// Binds both listeners and serves the API and the metrics in the background.
async fn serve_http(
    config: &HttpConfig,
    keys: &Arc<KeyRegistry>,
    metrics: &Arc<Metrics>,
    options: UnsealOptions,
) -> anyhow::Result<()> {
    let api_state = ApiState {
        keys: keys.clone(),
        metrics: metrics.clone(),
        limiter: Arc::new(RateLimiter::new(config.rate_limit, config.rate_limit_burst)),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        heavy: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
        )),
        options,
        timeout: config.timeout,
        body_timeout: config.body_timeout,
    };
    let api = server::bind(&config.listen_addr).await?;
    let metrics_listener = server::bind(&config.listen_metrics_addr).await?;
    tokio::spawn(server::serve(
        api,
        http::api_router(api_state),
        config.limits,
        metrics.clone(),
    ));
    tokio::spawn(server::serve(
        metrics_listener,
        http::metrics_router(metrics.clone()),
        config.limits,
        metrics.clone(),
    ));
    Ok(())
}

/// SIGUSR1 asks for a new key now; only the leader, which alone writes keys, acts on it.
fn sigusr1_on_leader(leader: watch::Receiver<bool>) -> anyhow::Result<Arc<Notify>> {
    let notify = Arc::new(Notify::new());
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let sender = notify.clone();
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            if *leader.borrow() {
                sender.notify_one();
            } else {
                info!("SIGUSR1 ignored: this replica is not the leader, which generates keys");
            }
        }
    });
    Ok(notify)
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
