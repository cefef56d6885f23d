//! kseal next to Bitnami sealed-secrets on the same machine and API server (issue #8).
//!
//! ```sh
//! eval "$(tests/cluster/cluster.sh up)"
//! cargo build --release -p kseal-controller -p kseal
//! cargo run --release -p kseal-bench --bin bench-compare -- [--count 5000] [--only PART,…]
//! ```
//!
//! Parts (`--only`, default all):
//!
//! - `crypto`: kseal's unseal (open) rate on one thread and on every core next to
//!   `openssl speed`'s RSA private-key rate measured in the same run (best of 3 alternating
//!   rounds, RSA-2048 and RSA-4096, the fixture keys).
//! - `cold`: for each `--keys` count K, kseal-controller and then Bitnami's controller each get
//!   their own key namespace (K Bitnami-shaped RSA-4096 key Secrets) and app namespace
//!   (`--count` SealedSecrets of one item, sealed to the OLDEST key with the
//!   `kseal.dev/key-fingerprint` hint), plus a shared namespace of `--unrelated` Secrets that no
//!   SealedSecret owns; both controllers watch all three. Measured: seconds from process start
//!   to every SealedSecret `Synced=True`, RSA operations per value (kseal's counter; Bitnami has
//!   none), API requests, Secret/status writes, Events and peak RSS (`VmHWM`).
//! - `restart`: after the cold start of the FIRST key count, each controller is stopped and
//!   started again with nothing changed, until every SealedSecret was reconciled once
//!   (`unseal_requests_total`, a metric both controllers have). Implies that cold start.
//! - `seal`: `kseal seal` of a `--env-keys` key `.env` next to
//!   `kubectl create secret generic --from-env-file --dry-run=client -o yaml | kubeseal --cert`,
//!   both as whole processes (median of 10 alternating runs after one warm-up each).
//!
//! Bitnami's controller (v0.36.0, `controller` in the cluster's `KSEAL_BIN`) runs unmodified
//! with its defaults (client QPS 5, burst 10) as its ServiceAccount in a network namespace
//! (`cluster.sh run-as-sa`), scoped with `--all-namespaces=false --additional-namespaces`.
//! kseal-controller runs with its defaults as a host process with the admin kubeconfig.
//!
//! Each figure is printed with its target and `met`/`NOT met`; the report goes to stdout and to
//! `tests/bench-results/compare.txt` (or `--out`). Namespaces, RBAC objects, the network
//! namespace and controller processes are removed at the end, on error and on Ctrl-C.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use clap::Parser as _;
use k8s_openapi::{
    api::{
        core::v1::{Event, Secret, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kseal_bench::{
    cluster::{
        RequestDiff, Snapshot, count_synced, create_key_secrets, create_namespace,
        create_sealed_secrets, create_unrelated_secrets, delete_namespaces, ensure_crd, free_port,
        generate_keys, peak_rss_kib, scrape, stop, wait_deleted,
    },
    crypto::{self, open_vs_openssl, openssl_version},
    machine, positive, release_bin,
};
use kseal_core::{Certificate, KeySize, PrivateKey};
use kseal_crds::SealedSecret;
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, PostParams},
};
use rand_core::{OsRng, RngCore as _};

/// How often the controller's metrics (and, near the end, the SealedSecrets) are polled.
const POLL: Duration = Duration::from_millis(500);
/// After a phase, its counters are read once the Events in its namespaces and the controller's
/// reconcile count stayed the same for this long (Bitnami sends Events asynchronously and
/// rate-limited), or after [`SETTLE_MAX`].
const QUIET: Duration = Duration::from_secs(3);
const SETTLE_MAX: Duration = Duration::from_secs(120);
/// Size of each unrelated Secret's one value.
const UNRELATED_BYTES: usize = 1024;
/// Rounds of the crypto part (best of).
const CRYPTO_ROUNDS: usize = 3;
/// Measured runs of each seal pipeline (median of), after one warm-up run each.
const SEAL_ROUNDS: usize = 10;
/// Key size of the controllers' keys (both controllers' default).
const KEY_BITS: usize = 4096;
/// Bitnami's metrics port (`--listen-metrics-addr` default `:8081`) in its network namespace.
const BITNAMI_METRICS_PORT: u16 = 8081;

const UNSEALS: &str = "sealed_secrets_controller_unseal_requests_total";
const RSA_OPS: &str = "sealed_secrets_controller_rsa_operations_total";

// Targets of issue #8.
const TARGET_OPEN_PER_CORE: f64 = 0.95;
const TARGET_OPEN_ALL_CORES: f64 = 1.8;
const TARGET_COLD_SPEEDUP: f64 = 20.0;
const TARGET_RSA_PER_VALUE: f64 = 1.1;
const TARGET_RSS_RATIO: f64 = 0.25;
const TARGET_SEAL_RATIO: f64 = 0.5;

/// A part of the benchmark (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    Crypto,
    Cold,
    Restart,
    Seal,
}

/// kseal next to Bitnami sealed-secrets on the same machine and API server; see the program's
/// documentation for what each part measures.
#[derive(Debug, clap::Parser)]
#[command(name = "bench-compare")]
struct Options {
    /// SealedSecrets per controller run.
    #[arg(long, default_value_t = 5000, value_parser = positive)]
    count: usize,
    /// Unrelated Secrets in a namespace both controllers watch.
    #[arg(long, default_value_t = 20_000)]
    unrelated: usize,
    /// Active key counts; the cold start runs for each, the restart for the first.
    #[arg(long = "keys", value_name = "K,...", value_delimiter = ',', default_value = "1,36", value_parser = positive)]
    key_counts: Vec<usize>,
    /// Keys of the `.env` file the seal part seals.
    #[arg(long, default_value_t = 200, value_parser = positive)]
    env_keys: usize,
    /// The parts to run.
    #[arg(
        long = "only",
        value_name = "PART,...",
        value_enum,
        value_delimiter = ',',
        default_value = "crypto,cold,restart,seal"
    )]
    parts: Vec<Part>,
    /// The kseal-controller binary.
    #[arg(long, value_name = "PATH", default_value_os_t = release_bin("kseal-controller"))]
    controller: PathBuf,
    /// The kseal binary.
    #[arg(long, value_name = "PATH", default_value_os_t = release_bin("kseal"))]
    kseal: PathBuf,
    /// Where the report is written (it also goes to stdout).
    #[arg(long, value_name = "FILE", default_value_os_t = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench-results/compare.txt"))]
    out: PathBuf,
    /// Minutes a phase may take before the benchmark fails.
    #[arg(long = "phase-timeout-min", value_name = "M", default_value_t = 240, value_parser = positive)]
    phase_timeout_min: usize,
}

impl Options {
    fn phase_timeout(&self) -> Duration {
        Duration::from_secs(60 * self.phase_timeout_min as u64)
    }

    fn has(&self, part: Part) -> bool {
        self.parts.contains(&part)
    }

    fn controllers(&self) -> bool {
        self.has(Part::Cold) || self.has(Part::Restart)
    }
}

/// The test control plane, from `tests/cluster/cluster.sh status`.
#[derive(Debug)]
struct ClusterEnv {
    script: PathBuf,
    bin: PathBuf,
    state: PathBuf,
}

impl ClusterEnv {
    fn get() -> Result<Self, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cluster/cluster.sh");
        let out = Command::new(&script)
            .arg("status")
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("run {}: {e}", script.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let var = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(PathBuf::from)
        };
        match (
            out.status.success(),
            var("KSEAL_BIN"),
            var("KSEAL_CLUSTER_DIR"),
        ) {
            (true, Some(bin), Some(state)) => Ok(Self { script, bin, state }),
            _ => Err("the test control plane is not running; start it with \
                 `eval \"$(tests/cluster/cluster.sh up)\"`"
                .into()),
        }
    }

    /// `cluster.sh ARGS…`; stdout on success, stderr in the error.
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.script)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run cluster.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cluster.sh {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Kseal,
    Bitnami,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Self::Kseal => "kseal",
            Self::Bitnami => "bitnami",
        }
    }
}

/// A running controller.
#[derive(Debug)]
struct Running {
    pid: u32,
    /// kseal-controller: our child process.
    child: Option<Child>,
    /// Bitnami: the `cluster.sh run-as-sa --background` name.
    background: Option<String>,
    /// `host:port` of its metrics endpoint.
    metrics: String,
    log: PathBuf,
}

/// Everything that must be removed at the end.
#[derive(Debug, Default)]
struct Cleanup {
    namespaces: Vec<String>,
    running: Option<Running>,
    cluster_roles: Vec<String>,
    cluster_role_bindings: Vec<String>,
    netns: Option<String>,
}

impl Cleanup {
    fn stop_controller(&mut self, env: Option<&ClusterEnv>) {
        if let Some(running) = self.running.take() {
            if let Some(child) = running.child {
                stop(child);
            }
            if let (Some(name), Some(env)) = (running.background, env)
                && let Err(e) = env.run(&["stop", &name])
            {
                eprintln!("bench-compare: warning: {e}");
            }
        }
    }

    async fn run(&mut self, client: &Client, env: Option<&ClusterEnv>) {
        self.stop_controller(env);
        delete_namespaces(client, &std::mem::take(&mut self.namespaces)).await;
        let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
        for name in self.cluster_role_bindings.drain(..) {
            let _ = crbs.delete(&name, &DeleteParams::default()).await;
        }
        let crs: Api<ClusterRole> = Api::all(client.clone());
        for name in self.cluster_roles.drain(..) {
            let _ = crs.delete(&name, &DeleteParams::default()).await;
        }
        if let (Some(netns), Some(env)) = (self.netns.take(), env)
            && let Err(e) = env.run(&["netns", "del", &netns])
        {
            eprintln!("bench-compare: warning: {e}");
        }
    }
}

/// What one controller phase measured.
#[derive(Debug, Default, Clone)]
struct Phase {
    seconds: f64,
    /// kseal only: `rsa_operations_total / count`.
    rsa_per_value: Option<f64>,
    reconciles: f64,
    diff: RequestDiff,
    /// Secrets in the app namespace created or changed (resourceVersion), whoever wrote them:
    /// unlike `diff`, not disturbed by other clients of a shared API server.
    secrets_changed: usize,
    /// SealedSecrets in the app namespace whose resourceVersion changed (status writes).
    sealed_changed: usize,
    peak_rss_kib: u64,
}

/// One controller's run for one key count.
#[derive(Debug)]
struct ControllerRun {
    imp: Impl,
    keys: usize,
    initial: Phase,
    restart: Option<Phase>,
}

/// The crypto part's rows.
type CryptoRows = Vec<crypto::Row>;

/// Seal timings in seconds: (kseal runs, kubectl|kubeseal runs).
type SealRuns = (Vec<f64>, Vec<f64>);

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    if cfg!(debug_assertions) {
        eprintln!("bench-compare: warning: debug build; use --release for meaningful figures");
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match run(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-compare: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: &Options) -> Result<(), String> {
    let load_at_start = machine::load_average();
    let needs_cluster = options.controllers() || options.has(Part::Seal);
    let env = if needs_cluster {
        Some(ClusterEnv::get()?)
    } else {
        None
    };
    let bitnami_version = match &env {
        Some(env) if options.controllers() => Some(version_of(&env.bin.join("controller"))?),
        _ => None,
    };
    for (part, path, build) in [
        (
            options.controllers(),
            &options.controller,
            "kseal-controller",
        ),
        (options.has(Part::Seal), &options.kseal, "kseal"),
    ] {
        if part && !path.is_file() {
            return Err(format!(
                "no binary at {}; run `cargo build --release -p kseal-controller -p kseal` \
                 (or pass --controller/--kseal PATH) [{build}]",
                path.display()
            ));
        }
    }

    let crypto = if options.has(Part::Crypto) {
        eprintln!("crypto: kseal open vs openssl speed…");
        let cores = machine::cores();
        let threads: Vec<usize> = if cores > 1 { vec![1, cores] } else { vec![1] };
        Some((
            openssl_version()?,
            open_vs_openssl(&[2048, 4096], &threads, CRYPTO_ROUNDS)?,
        ))
    } else {
        None
    };

    let seal = match (&env, options.has(Part::Seal)) {
        (Some(env), true) => {
            eprintln!(
                "seal: {}-key .env, kseal vs kubectl | kubeseal…",
                options.env_keys
            );
            Some(bench_seal(options, env)?)
        }
        _ => None,
    };

    let mut runs = Vec::new();
    let mut keygen_seconds = 0.0;
    if let (Some(env), true) = (&env, options.controllers()) {
        let client = Client::try_default()
            .await
            .map_err(|e| format!("cannot connect with KUBECONFIG: {e}"))?;
        let mut cleanup = Cleanup::default();
        let result = tokio::select! {
            r = bench_controllers(options, env, &client, &mut cleanup, &mut runs, &mut keygen_seconds) => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
        };
        cleanup.run(&client, Some(env)).await;
        result?;
    }

    let report = report(
        options,
        &load_at_start,
        crypto.as_ref(),
        &runs,
        keygen_seconds,
        bitnami_version.as_deref(),
        seal.as_ref(),
    );
    print!("{report}");
    if let Some(dir) = options.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&options.out, &report)
        .map_err(|e| format!("write {}: {e}", options.out.display()))?;
    eprintln!("written to {}", options.out.display());
    Ok(())
}

fn version_of(binary: &Path) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("run {} --version: {e}", binary.display()))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Ok(text.trim().lines().next().unwrap_or("unknown").to_owned())
}

// ---------------------------------------------------------------------------------------------
// Controllers

async fn bench_controllers(
    options: &Options,
    env: &ClusterEnv,
    client: &Client,
    cleanup: &mut Cleanup,
    runs: &mut Vec<ControllerRun>,
    keygen_seconds: &mut f64,
) -> Result<(), String> {
    ensure_crd(client).await?;
    let tag = format!("{:06x}", OsRng.next_u32() & 0xff_ffff);

    // Bitnami's RBAC (as its controller.yaml), bound per key namespace below.
    let role = format!("kseal-cmp-bitnami-{tag}");
    create_bitnami_cluster_role(client, &role).await?;
    cleanup.cluster_roles.push(role.clone());
    let netns = format!("kseal-cmp-{tag}");
    let addr = env.run(&["netns", "add", &netns])?;
    cleanup.netns = Some(netns.clone());

    // Key counts: restart-only runs use the first one.
    let key_counts: Vec<usize> = if options.has(Part::Cold) {
        options.key_counts.clone()
    } else {
        options.key_counts[..1].to_vec()
    };
    let max_keys = key_counts.iter().copied().max().unwrap_or(1);
    let started = Instant::now();
    eprintln!("generating {max_keys} RSA-{KEY_BITS} keys…");
    let keys = generate_keys(
        max_keys,
        KeySize::from_bits(KEY_BITS).map_err(|e| e.to_string())?,
        false,
    )?;
    *keygen_seconds = started.elapsed().as_secs_f64();

    // The unrelated Secrets, shared by every run (both controllers watch this namespace).
    let bulk = format!("kseal-cmp-unrelated-{tag}");
    create_namespace(client, &bulk).await?;
    cleanup.namespaces.push(bulk.clone());
    let started = Instant::now();
    create_unrelated_secrets(client, &bulk, options.unrelated, UNRELATED_BYTES).await?;
    eprintln!(
        "created {} unrelated Secrets in {bulk} in {:.1} s",
        options.unrelated,
        started.elapsed().as_secs_f64()
    );

    for (i, &k) in key_counts.iter().enumerate() {
        let restart = i == 0 && options.has(Part::Restart);
        for imp in [Impl::Kseal, Impl::Bitnami] {
            let setup = Setup {
                options,
                env,
                client,
                imp,
                keys: &keys[..k],
                tag: &tag,
                bulk: &bulk,
                role: &role,
                netns: &netns,
                addr: &addr,
            };
            let run = bench_one(&setup, cleanup, restart).await?;
            runs.push(run);
        }
    }
    Ok(())
}

/// What one controller run needs.
struct Setup<'a> {
    options: &'a Options,
    env: &'a ClusterEnv,
    client: &'a Client,
    imp: Impl,
    keys: &'a [(PrivateKey, Certificate)],
    tag: &'a str,
    bulk: &'a str,
    role: &'a str,
    netns: &'a str,
    addr: &'a str,
}

/// Namespaces of one controller run.
struct Namespaces {
    ctl: String,
    app: String,
}

/// Cold start (and restart) of one controller with `setup.keys`, in fresh namespaces that are
/// deleted again at the end.
async fn bench_one(
    setup: &Setup<'_>,
    cleanup: &mut Cleanup,
    restart: bool,
) -> Result<ControllerRun, String> {
    let (client, k, n) = (setup.client, setup.keys.len(), setup.options.count);
    let who = format!("[{} {k} keys]", setup.imp.name());
    let ns = Namespaces {
        ctl: format!("kseal-cmp-{}-{k}-ctl-{}", setup.imp.name(), setup.tag),
        app: format!("kseal-cmp-{}-{k}-app-{}", setup.imp.name(), setup.tag),
    };
    for name in [&ns.ctl, &ns.app] {
        create_namespace(client, name).await?;
        cleanup.namespaces.push(name.clone());
    }
    if setup.imp == Impl::Bitnami {
        let binding = format!("{}-{k}", setup.role);
        bind_bitnami(client, &ns.ctl, setup.role, &binding).await?;
        cleanup.cluster_role_bindings.push(binding);
    }
    create_key_secrets(client, &ns.ctl, setup.keys).await?;
    let started = Instant::now();
    create_sealed_secrets(
        client,
        &ns.app,
        n,
        &setup.keys[0].1,
        kseal_core::Encryption::Rsa,
    )
    .await?;
    eprintln!(
        "{who} created {n} SealedSecrets in {} in {:.1} s",
        ns.app,
        started.elapsed().as_secs_f64()
    );

    let initial = phase(setup, cleanup, &ns, "initial", Wait::Synced).await?;
    eprintln!(
        "{who} initial: all {n} Synced after {:.1} s",
        initial.seconds
    );
    let restart = if restart {
        let p = phase(setup, cleanup, &ns, "restart", Wait::Reconciled).await?;
        eprintln!("{who} restart: all {n} reconciled after {:.1} s", p.seconds);
        Some(p)
    } else {
        None
    };

    // Free the API server before the next run, and wait until the namespace controller has
    // emptied the namespaces, so its traffic is not counted in the next run.
    let names = vec![ns.ctl.clone(), ns.app.clone()];
    delete_namespaces(client, &names).await;
    cleanup.namespaces.retain(|x| !names.contains(x));
    wait_deleted(client, &names).await;
    Ok(ControllerRun {
        imp: setup.imp,
        keys: k,
        initial,
        restart,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Until every SealedSecret is `Synced=True` for its generation.
    Synced,
    /// Until `unseal_requests_total` reaches the count.
    Reconciled,
}

/// Starts the controller, waits for `wait`, lets it settle, reads the figures and stops it.
async fn phase(
    setup: &Setup<'_>,
    cleanup: &mut Cleanup,
    ns: &Namespaces,
    label: &str,
    wait: Wait,
) -> Result<Phase, String> {
    let (client, n) = (setup.client, setup.options.count);
    let who = format!("[{} {} keys {label}]", setup.imp.name(), setup.keys.len());
    let event_namespaces = [ns.ctl.as_str(), ns.app.as_str()];
    let sealed: Api<SealedSecret> = Api::namespaced(client.clone(), &ns.app);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.app);
    let versions_before = (versions(&secrets).await?, versions(&sealed).await?);
    let before = Snapshot::take(client, &event_namespaces).await?;

    let (running, started) = start(setup, ns, label)?;
    let (pid, metrics_addr) = (running.pid, running.metrics.clone());
    eprintln!(
        "{who} pid {pid}, metrics {metrics_addr}, log {}",
        running.log.display()
    );
    cleanup.running = Some(running);

    let mut own_lists = 0.0;
    let mut last_progress = Instant::now();
    let seconds = loop {
        check_alive(cleanup)?;
        if started.elapsed() > setup.options.phase_timeout() {
            return Err(format!(
                "{who} not done after {:?}",
                setup.options.phase_timeout()
            ));
        }
        let reconciles = scrape(&metrics_addr).await.map_or(0.0, |m| m.sum(UNSEALS));
        if last_progress.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "{who} {:.0} s: {reconciles} of {n} reconciled",
                started.elapsed().as_secs_f64()
            );
            last_progress = Instant::now();
        }
        // Listing 5,000 objects every 0.5 s would load the API server we are measuring, so the
        // list starts once the controller's own counter says every object was reconciled.
        if reconciles >= n as f64 {
            match wait {
                Wait::Reconciled => break started.elapsed().as_secs_f64(),
                Wait::Synced => {
                    let (synced, pages) = count_synced(&sealed).await?;
                    own_lists += pages;
                    if synced == n {
                        break started.elapsed().as_secs_f64();
                    }
                }
            }
        }
        tokio::time::sleep(POLL).await;
    };

    // Settle: until the Events and the reconcile count stop changing.
    let settle_start = Instant::now();
    let mut own_event_lists = 0.0;
    let mut previous = None;
    loop {
        tokio::time::sleep(QUIET).await;
        check_alive(cleanup)?;
        let events = event_total(client, &event_namespaces).await?;
        own_event_lists += event_namespaces.len() as f64;
        let reconciles = scrape(&metrics_addr).await?.sum(UNSEALS);
        let now = Some((events, reconciles as i64));
        if now == previous || settle_start.elapsed() > SETTLE_MAX {
            break;
        }
        previous = now;
    }

    let metrics = scrape(&metrics_addr).await?;
    let peak_rss_kib = peak_rss_kib(pid)?;
    let after = Snapshot::take(client, &event_namespaces).await?;
    let diff = after.diff(
        &before,
        event_namespaces.len(),
        &[
            ("LIST sealedsecrets", own_lists),
            ("LIST events", own_event_lists),
        ],
    );
    let versions_after = (versions(&secrets).await?, versions(&sealed).await?);
    cleanup.stop_controller(Some(setup.env));
    Ok(Phase {
        secrets_changed: changed(&versions_before.0, &versions_after.0),
        sealed_changed: changed(&versions_before.1, &versions_after.1),
        seconds,
        rsa_per_value: (setup.imp == Impl::Kseal).then(|| metrics.sum(RSA_OPS) / n as f64),
        reconciles: metrics.sum(UNSEALS),
        diff,
        peak_rss_kib,
    })
}

/// Starts the controller of `setup.imp` watching `ns.ctl` (its keys), `ns.app` and the
/// unrelated Secrets; returns it and the moment it was started.
fn start(setup: &Setup<'_>, ns: &Namespaces, label: &str) -> Result<(Running, Instant), String> {
    let k = setup.keys.len();
    let additional = format!("--additional-namespaces={},{}", ns.app, setup.bulk);
    match setup.imp {
        Impl::Kseal => {
            let kubeconfig = std::env::var_os("KUBECONFIG")
                .map(PathBuf::from)
                .ok_or("KUBECONFIG is not set; run `eval \"$(tests/cluster/cluster.sh up)\"`")?;
            let (api_port, metrics_port) = (free_port(), free_port());
            let log =
                std::env::temp_dir().join(format!("kseal-cmp-{}-kseal-{k}-{label}.log", setup.tag));
            let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let err = out.try_clone().map_err(|e| e.to_string())?;
            let started = Instant::now();
            let child = Command::new(&setup.options.controller)
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args([
                    &format!("--controller-namespace={}", ns.ctl),
                    "--all-namespaces=false",
                    &additional,
                    "--leader-elect=false",
                    &format!("--listen-addr=127.0.0.1:{api_port}"),
                    &format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"),
                ])
                .env_remove("KUBECONFIG")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("start {}: {e}", setup.options.controller.display()))?;
            Ok((
                Running {
                    pid: child.id(),
                    child: Some(child),
                    background: None,
                    metrics: format!("127.0.0.1:{metrics_port}"),
                    log,
                },
                started,
            ))
        }
        Impl::Bitnami => {
            let name = format!("kseal-cmp-{}-bitnami-{k}-{label}", setup.tag);
            let binary = setup.env.bin.join("controller");
            let binary = binary.to_string_lossy();
            // run-as-sa mints the token first, then forks the controller and prints its PID:
            // the clock starts when it returns, so token minting is not charged to Bitnami.
            let out = setup.env.run(&[
                "run-as-sa",
                &ns.ctl,
                "sealed-secrets-controller",
                "--netns",
                setup.netns,
                "--background",
                &name,
                "--",
                &binary,
                "--all-namespaces=false",
                &additional,
            ])?;
            let started = Instant::now();
            // The PID file, not stdout: run-as-sa's stdout can name the process substitution
            // that recorded the PID instead of the controller (`$!` after `< <(…)`).
            let pid_file = setup.env.state.join(format!("pids/proc-{name}.pid"));
            let pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|l| l.split_whitespace().next()?.parse().ok())
                .ok_or_else(|| {
                    format!("run-as-sa wrote no PID to {} ({out:?})", pid_file.display())
                })?;
            Ok((
                Running {
                    pid,
                    child: None,
                    background: Some(name.clone()),
                    metrics: format!("{}:{BITNAMI_METRICS_PORT}", setup.addr),
                    log: setup.env.state.join(format!("logs/{name}.log")),
                },
                started,
            ))
        }
    }
}

/// Fails if the controller exited early.
fn check_alive(cleanup: &mut Cleanup) -> Result<(), String> {
    let Some(running) = cleanup.running.as_mut() else {
        return Ok(());
    };
    let exited = match running.child.as_mut() {
        Some(child) => matches!(child.try_wait(), Ok(Some(_))),
        // Not our child (run-as-sa detaches it): gone, or a zombie waiting for its reaper.
        None => std::fs::read_to_string(format!("/proc/{}/stat", running.pid)).map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        }),
    };
    if exited {
        // Left in `cleanup`: stopping an exited process is harmless, and for Bitnami it also
        // removes cluster.sh's PID file.
        return Err(format!(
            "the controller exited early (see {})",
            running.log.display()
        ));
    }
    Ok(())
}

/// Name → resourceVersion of every object of `api`.
async fn versions<K>(api: &Api<K>) -> Result<BTreeMap<String, String>, String>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let mut params = ListParams::default().limit(500);
    let mut out = BTreeMap::new();
    loop {
        let list = api
            .list_metadata(&params)
            .await
            .map_err(|e| format!("list: {e}"))?;
        for item in list.items {
            out.insert(
                item.metadata.name.unwrap_or_default(),
                item.metadata.resource_version.unwrap_or_default(),
            );
        }
        match list.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(out),
        }
    }
}

/// Objects in `after` that are new or have another resourceVersion than in `before`.
fn changed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> usize {
    after
        .iter()
        .filter(|(name, rv)| before.get(*name) != Some(*rv))
        .count()
}

/// The sum of Event counts in the namespaces.
async fn event_total(client: &Client, namespaces: &[&str]) -> Result<i64, String> {
    let mut total = 0;
    for ns in namespaces {
        let api: Api<Event> = Api::namespaced(client.clone(), ns);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("list events in {ns}: {e}"))?;
        total += list
            .items
            .iter()
            .map(|e| i64::from(e.count.unwrap_or(1)))
            .sum::<i64>();
    }
    Ok(total)
}

/// The ClusterRole of Bitnami's controller.yaml (`secrets-unsealer`, v0.36.0), plus what its
/// key-admin Role grants in its own namespace (create/list Secrets, covered here).
async fn create_bitnami_cluster_role(client: &Client, name: &str) -> Result<(), String> {
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|s| (*s).to_owned()).collect()),
        resources: Some(resources.iter().map(|s| (*s).to_owned()).collect()),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        ..PolicyRule::default()
    };
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("kseal-bench".into(), "true".into())])),
            ..ObjectMeta::default()
        },
        rules: Some(vec![
            rule(
                &["bitnami.com"],
                &["sealedsecrets"],
                &["get", "list", "watch"],
            ),
            rule(&["bitnami.com"], &["sealedsecrets/status"], &["update"]),
            rule(
                &[""],
                &["secrets"],
                &["get", "list", "create", "update", "delete", "watch"],
            ),
            rule(&[""], &["events"], &["create", "patch"]),
            rule(&[""], &["namespaces"], &["get"]),
        ]),
        ..ClusterRole::default()
    };
    Api::<ClusterRole>::all(client.clone())
        .create(&PostParams::default(), &role)
        .await
        .map(drop)
        .map_err(|e| format!("create ClusterRole {name}: {e}"))
}

/// ServiceAccount `sealed-secrets-controller` in `ns`, bound to the ClusterRole `role`.
async fn bind_bitnami(client: &Client, ns: &str, role: &str, binding: &str) -> Result<(), String> {
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("sealed-secrets-controller".into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &sa)
        .await
        .map_err(|e| format!("create ServiceAccount in {ns}: {e}"))?;
    let crb = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(binding.into()),
            labels: Some(BTreeMap::from([("kseal-bench".into(), "true".into())])),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "sealed-secrets-controller".into(),
            namespace: Some(ns.into()),
            ..Subject::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(client.clone())
        .create(&PostParams::default(), &crb)
        .await
        .map(drop)
        .map_err(|e| format!("create ClusterRoleBinding {binding}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Sealing a .env

/// Times `kseal seal` and `kubectl create secret … | kubeseal` on the same `.env` and cert.
fn bench_seal(options: &Options, env: &ClusterEnv) -> Result<SealRuns, String> {
    let dir = std::env::temp_dir().join(format!("kseal-cmp-seal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = seal_runs(options, env, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn seal_runs(options: &Options, env: &ClusterEnv, dir: &Path) -> Result<SealRuns, String> {
    let n = options.env_keys;
    let env_file = dir.join("bench.env");
    let mut text = String::new();
    for i in 0..n {
        let mut value = [0u8; 16];
        OsRng.fill_bytes(&mut value);
        let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(text, "KEY_{i:03}={hex}");
    }
    std::fs::write(&env_file, text).map_err(|e| format!("{}: {e}", env_file.display()))?;
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys/rsa4096-a.crt");
    let (kseal_out, pipe_out) = (dir.join("kseal.yaml"), dir.join("kubeseal.yaml"));

    let kseal = || -> Result<f64, String> {
        let out = std::fs::File::create(&kseal_out).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let status = Command::new(&options.kseal)
            .arg("seal")
            .arg("--no-config")
            .arg("--cert")
            .arg(&cert)
            .args(["--name", "bench-env", "--namespace", "bench"])
            .arg(&env_file)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .status()
            .map_err(|e| format!("run kseal: {e}"))?;
        let seconds = started.elapsed().as_secs_f64();
        if !status.success() {
            return Err(format!("kseal seal failed: {status}"));
        }
        Ok(seconds)
    };
    let pipeline = || -> Result<f64, String> {
        let out = std::fs::File::create(&pipe_out).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let status = Command::new("bash")
            .args([
                "-c",
                "set -o pipefail; \"$0\" create secret generic bench-env --namespace bench \
                 --from-env-file \"$2\" --dry-run=client -o yaml | \"$1\" --cert \"$3\" -o yaml",
            ])
            .arg(env.bin.join("kubectl"))
            .arg(env.bin.join("kubeseal"))
            .arg(&env_file)
            .arg(&cert)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .status()
            .map_err(|e| format!("run bash: {e}"))?;
        let seconds = started.elapsed().as_secs_f64();
        if !status.success() {
            return Err(format!("kubectl | kubeseal failed: {status}"));
        }
        Ok(seconds)
    };

    // Warm-up (page cache), then check that both produced every key.
    kseal()?;
    pipeline()?;
    for file in [&kseal_out, &pipe_out] {
        let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
        let found = (0..n)
            .filter(|i| text.contains(&format!("KEY_{i:03}: ")))
            .count();
        if found != n {
            return Err(format!(
                "{}: {found} of {n} keys sealed",
                file.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..SEAL_ROUNDS {
        a.push(kseal()?);
        b.push(pipeline()?);
    }
    Ok((a, b))
}

// ---------------------------------------------------------------------------------------------
// Report

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// One line of the summary table.
struct Line {
    figure: String,
    kseal: String,
    peer: String,
    ratio: String,
    target: String,
    result: &'static str,
}

fn report(
    options: &Options,
    load_at_start: &str,
    crypto: Option<&(String, CryptoRows)>,
    runs: &[ControllerRun],
    keygen_seconds: f64,
    bitnami_version: Option<&str>,
    seal: Option<&SealRuns>,
) -> String {
    let mut out = String::new();
    let args: String = std::env::args().skip(1).map(|a| format!(" {a}")).collect();
    let _ = writeln!(
        out,
        "# kseal vs Bitnami sealed-secrets, side by side (issue #8)"
    );
    let _ = writeln!(out, "date:    {}", machine::now_rfc3339());
    let _ = writeln!(
        out,
        "machine: {} cores (nproc), CPU {}, load average {load_at_start} at start, {} at end",
        machine::cores(),
        machine::cpu_model(),
        machine::load_average()
    );
    let _ = writeln!(
        out,
        "command: cargo run --release -p kseal-bench --bin bench-compare --{args}"
    );
    if let Some((version, _)) = crypto {
        let _ = writeln!(out, "openssl: {version}");
    }
    if !runs.is_empty() {
        let _ = writeln!(
            out,
            "controllers: Bitnami `controller` {} with its DEFAULTS (--kubeclient-qps 5 \
             --kubeclient-burst 10, what users get), run as its ServiceAccount in a network \
             namespace (cluster.sh run-as-sa); kseal-controller with its defaults (8 workers, \
             --leader-elect=false) as a host process with the admin kubeconfig; one at a time, \
             same kube-apiserver + etcd (tests/cluster)",
            bitnami_version.unwrap_or("?")
        );
        let _ = writeln!(
            out,
            "setup:   per controller and key count K: {} SealedSecrets x 1 item, strict scope, sealed \
             to the OLDEST of K RSA-{KEY_BITS} keys (generated in {keygen_seconds:.0} s) with the \
             kseal.dev/key-fingerprint hint; plus {} unrelated Opaque Secrets ({UNRELATED_BYTES} B \
             each) in a third namespace; each controller watches its key namespace, its app \
             namespace and the unrelated one (--all-namespaces=false --additional-namespaces)",
            options.count, options.unrelated
        );
    }
    let _ = writeln!(out);

    let mut lines = Vec::new();
    if let Some((_, rows)) = crypto {
        for bits in [2048, 4096] {
            let one = rows.iter().find(|r| r.bits == bits && r.threads == 1);
            let all = rows.iter().find(|r| r.bits == bits && r.threads > 1);
            if let Some(one) = one {
                let ratio = one.open / one.openssl_sign;
                lines.push(Line {
                    figure: format!("unseal RSA-{bits}, 1 core (open/s)"),
                    kseal: format!("{:.1}", one.open),
                    peer: format!("openssl {:.1}", one.openssl_sign),
                    ratio: format!("{ratio:.3}"),
                    target: format!("≥ {TARGET_OPEN_PER_CORE}"),
                    result: verdict(ratio >= TARGET_OPEN_PER_CORE),
                });
                if let Some(all) = all {
                    let ratio = all.open / one.openssl_sign;
                    lines.push(Line {
                        figure: format!("unseal RSA-{bits}, {} cores (open/s)", all.threads),
                        kseal: format!("{:.1}", all.open),
                        peer: format!("openssl 1 core {:.1}", one.openssl_sign),
                        ratio: format!("{ratio:.3}"),
                        target: format!("≥ {TARGET_OPEN_ALL_CORES}"),
                        result: verdict(ratio >= TARGET_OPEN_ALL_CORES),
                    });
                }
            }
        }
    }
    let run_of = |imp: Impl, k: usize| runs.iter().find(|r| r.imp == imp && r.keys == k);
    let n = options.count;
    let mut key_counts: Vec<usize> = runs.iter().map(|r| r.keys).collect();
    key_counts.dedup();
    for &k in &key_counts {
        let (Some(ks), Some(bn)) = (run_of(Impl::Kseal, k), run_of(Impl::Bitnami, k)) else {
            continue;
        };
        let speedup = bn.initial.seconds / ks.initial.seconds;
        lines.push(Line {
            figure: format!("cold start {n} SS, {k} key(s): s to all Synced"),
            kseal: format!("{:.1}", ks.initial.seconds),
            peer: format!("Bitnami {:.1}", bn.initial.seconds),
            ratio: format!("{speedup:.1}x faster"),
            target: format!("≥ {TARGET_COLD_SPEEDUP}x"),
            result: verdict(speedup >= TARGET_COLD_SPEEDUP),
        });
        let rsa = ks.initial.rsa_per_value.unwrap_or(f64::NAN);
        lines.push(Line {
            figure: format!("cold start, {k} key(s): RSA ops per value"),
            kseal: format!("{rsa:.2}"),
            peer: "Bitnami n/a (no metric)".into(),
            ratio: "-".into(),
            target: format!("≤ {TARGET_RSA_PER_VALUE} (kseal)"),
            result: verdict(rsa <= TARGET_RSA_PER_VALUE),
        });
    }
    if let (Some(ks), Some(bn)) = (
        runs.iter()
            .find(|r| r.imp == Impl::Kseal && r.restart.is_some()),
        runs.iter()
            .find(|r| r.imp == Impl::Bitnami && r.restart.is_some()),
    ) && let (Some(kr), Some(br)) = (&ks.restart, &bn.restart)
    {
        for (what, kv, bv) in [
            (
                "Secret writes",
                kr.diff.secret_writes as i64,
                br.diff.secret_writes as i64,
            ),
            (
                "status writes",
                kr.diff.status_writes as i64,
                br.diff.status_writes as i64,
            ),
            ("events", kr.diff.events, br.diff.events),
        ] {
            lines.push(Line {
                figure: format!("restart, nothing changed: {what}"),
                kseal: kv.to_string(),
                peer: format!("Bitnami {bv}"),
                ratio: "-".into(),
                target: "0 (kseal)".into(),
                result: verdict(kv == 0),
            });
        }
    }
    if let (Some(ks), Some(bn)) = (
        runs.iter().find(|r| r.imp == Impl::Kseal),
        runs.iter().find(|r| r.imp == Impl::Bitnami),
    ) && ks.keys == bn.keys
    {
        let peak = |r: &ControllerRun| {
            r.initial
                .peak_rss_kib
                .max(r.restart.as_ref().map_or(0, |p| p.peak_rss_kib))
        };
        let (kp, bp) = (peak(ks), peak(bn));
        let ratio = kp as f64 / bp as f64;
        lines.push(Line {
            figure: format!(
                "peak RSS, {n} SS + {} unrelated Secrets, {} key(s)",
                options.unrelated, ks.keys
            ),
            kseal: format!("{:.1} MiB", kp as f64 / 1024.0),
            peer: format!("Bitnami {:.1} MiB", bp as f64 / 1024.0),
            ratio: format!("{ratio:.3}"),
            target: format!("≤ {TARGET_RSS_RATIO}"),
            result: verdict(ratio <= TARGET_RSS_RATIO),
        });
    }
    if let Some((a, b)) = seal {
        let (ma, mb) = (median(a), median(b));
        let ratio = ma / mb;
        lines.push(Line {
            figure: format!(
                "seal a {}-key .env (whole processes, median)",
                options.env_keys
            ),
            kseal: format!("{:.1} ms", ma * 1000.0),
            peer: format!("kubectl|kubeseal {:.1} ms", mb * 1000.0),
            ratio: format!("{ratio:.3}"),
            target: format!("≤ {TARGET_SEAL_RATIO}"),
            result: verdict(ratio <= TARGET_SEAL_RATIO),
        });
    }

    let width = |f: &dyn Fn(&Line) -> usize, title: &str| {
        lines
            .iter()
            .map(f)
            .max()
            .unwrap_or(0)
            .max(title.chars().count())
    };
    let w = [
        width(&|l| l.figure.chars().count(), "figure"),
        width(&|l| l.kseal.chars().count(), "kseal"),
        width(&|l| l.peer.chars().count(), "peer"),
        width(&|l| l.ratio.chars().count(), "ratio"),
        width(&|l| l.target.chars().count(), "target"),
    ];
    let row = |out: &mut String, cells: [&str; 6]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = w
                .get(i)
                .map_or(0, |w| w.saturating_sub(cell.chars().count()));
            if i == 0 {
                let _ = write!(line, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(line, "  {}{cell}", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    };
    row(
        &mut out,
        ["figure", "kseal", "peer", "ratio", "target", "result"],
    );
    for l in &lines {
        row(
            &mut out,
            [&l.figure, &l.kseal, &l.peer, &l.ratio, &l.target, l.result],
        );
    }
    let met = lines.iter().filter(|l| l.result == "met").count();
    let _ = writeln!(out);
    let _ = writeln!(out, "{met} of {} targets met", lines.len());

    if let Some((_, rows)) = crypto {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "crypto detail (best of {CRYPTO_ROUNDS} alternating rounds, {} B value; openssl speed -elapsed, -multi N for N threads):",
            crypto::VALUE.len()
        );
        let _ = writeln!(
            out,
            "  {:<9} {:>7} {:>13} {:>13} {:>15}",
            "key", "threads", "kseal seal/s", "kseal open/s", "openssl sign/s"
        );
        for r in rows {
            let _ = writeln!(
                out,
                "  RSA-{:<5} {:>7} {:>13.0} {:>13.1} {:>15.1}",
                r.bits, r.threads, r.seal, r.open, r.openssl_sign
            );
        }
    }
    if !runs.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "controller detail:");
        let _ = writeln!(
            out,
            "  {:<8} {:>4} {:<8} {:>9} {:>9} {:>10} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7} {:>9}",
            "impl",
            "keys",
            "phase",
            "seconds",
            "RSA/value",
            "reconciles",
            "API req",
            "Secret w",
            "status w",
            "events",
            "Sec chg",
            "SS chg",
            "peak RSS"
        );
        for r in runs {
            for (phase, p) in [
                ("initial", Some(&r.initial)),
                ("restart", r.restart.as_ref()),
            ] {
                let Some(p) = p else { continue };
                let _ = writeln!(
                    out,
                    "  {:<8} {:>4} {phase:<8} {:>9.1} {:>9} {:>10} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7} {:>5.0} MiB",
                    r.imp.name(),
                    r.keys,
                    p.seconds,
                    p.rsa_per_value.map_or("n/a".into(), |v| format!("{v:.2}")),
                    p.reconciles as i64,
                    p.diff.total as i64,
                    p.diff.secret_writes as i64,
                    p.diff.status_writes as i64,
                    p.diff.events,
                    p.secrets_changed,
                    p.sealed_changed,
                    p.peak_rss_kib as f64 / 1024.0
                );
            }
        }
        let _ = writeln!(
            out,
            "  seconds: initial = process start until every SealedSecret is Synced=True; restart = \
             process start until every SealedSecret was reconciled once (unseal_requests_total = \
             count). reconciles = unseal_requests_total at the end of the phase. API req = \
             apiserver_request_total diff (resource requests of EVERY client, minus this program's \
             own lists; includes kube-controller-manager and anything else using the API server); \
             Secret w / status w = successful POST/PUT/PATCH of secrets and sealedsecrets/status \
             (failed ones are listed below as [code]); events = new or repeated Events in the key \
             and app namespaces; Sec chg / SS chg = \
             Secrets / SealedSecrets in the app namespace created or with a new resourceVersion \
             (namespace-scoped, so other clients cannot inflate them; a no-op write does not \
             count); peak RSS = VmHWM of the controller process at the end of the phase."
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "API requests by verb and resource:");
        for r in runs {
            for (phase, p) in [
                ("initial", Some(&r.initial)),
                ("restart", r.restart.as_ref()),
            ] {
                if let Some(p) = p {
                    let _ = writeln!(
                        out,
                        "  {:<7} {:>2} keys {phase:<8} {}",
                        r.imp.name(),
                        r.keys,
                        p.diff.detail()
                    );
                }
            }
        }
    }
    if let Some((a, b)) = seal {
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "seal detail: {} keys of 32 hex chars, fixture RSA-4096 cert, strict scope; {SEAL_ROUNDS} \
             alternating runs after one warm-up each; wall time of the whole process (the pipeline \
             runs under `bash -c 'set -o pipefail; kubectl … | kubeseal …'`)",
            options.env_keys
        );
        let _ = writeln!(
            out,
            "  kseal seal --no-config --cert CERT --name bench-env --namespace bench bench.env: \
             median {:.1} ms, min {:.1} ms",
            median(a) * 1000.0,
            min(a) * 1000.0
        );
        let _ = writeln!(
            out,
            "  kubectl create secret generic bench-env --namespace bench --from-env-file bench.env \
             --dry-run=client -o yaml | kubeseal --cert CERT -o yaml: median {:.1} ms, min {:.1} ms",
            median(b) * 1000.0,
            min(b) * 1000.0
        );
    }
    out
}
