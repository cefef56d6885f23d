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

/// Cold start and restart of both controllers.
mod controllers;
/// The report.
mod report;
/// Sealing a `.env` with both tools.
mod seal;

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
        generate_keys, peak_rss_kib, scoped_controller, scrape, stop, wait_deleted,
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

use self::{controllers::bench_controllers, report::report, seal::bench_seal};

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
