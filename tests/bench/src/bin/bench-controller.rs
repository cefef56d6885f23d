//! kseal-controller at scale on the real control plane (issue #5).
//!
//! ```sh
//! eval "$(tests/cluster/cluster.sh up)"
//! cargo build --release -p kseal-controller
//! cargo run --release -p kseal-bench --bin bench-controller -- [--count 5000] [--keys 1,36] \
//!     [--encryption rsa,pq-hybrid]
//! ```
//!
//! For each key count K and value format (`--encryption`, default `rsa`) it creates a controller
//! namespace holding K Bitnami-shaped key Secrets (with `xwing.key`, as kseal-controller writes
//! them, when `pq-hybrid` is measured) and an app namespace holding `--count` SealedSecrets (one
//! item each in that format, strict scope, sealed to the OLDEST key, with the
//! `kseal.dev/key-fingerprint` annotation `kseal seal` writes). Then:
//!
//! 1. **initial**: starts `kseal-controller` scoped to those two namespaces and measures the time
//!    from process start until every SealedSecret has `Synced=True`;
//! 2. **restart**: stops it (SIGTERM) and starts it again with nothing changed, and measures the
//!    time until every SealedSecret has been reconciled once (the controller is then idle).
//!
//! Each phase reports RSA and X-Wing operations per value and reconciles (the controller's
//! `_rsa_operations_total`, `_pq_operations_total` and `_unseal_requests_total`), API requests (the API server's
//! `apiserver_request_total`, resource requests only, before/after, minus this program's own
//! requests), Secret writes and status writes (from the same diff), events (new or repeated
//! Events in the two namespaces) and peak RSS (`VmHWM` of the controller process). Issue #5's
//! target for the restart: 0 Secret writes, 0 status writes, 0 events.
//!
//! The table goes to stdout and to `tests/bench-results/controller.txt` (or `--out`). Namespaces and the
//! controller process are removed at the end, on error and on Ctrl-C.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Child, ExitCode},
    time::{Duration, Instant, SystemTime},
};

use clap::Parser as _;
use kseal_bench::{
    cluster::{
        Snapshot, count_synced, create_key_secrets, create_namespace, create_sealed_secrets,
        delete_namespaces, ensure_crd, free_port, generate_keys, peak_rss_kib, scoped_controller,
        scrape, stop, wait_deleted,
    },
    machine, positive, release_bin,
};
use kseal_core::{Certificate, Encryption, KeySize, PrivateKey, keys};
use kseal_crds::SealedSecret;
use kube::{Api, Client};
use rand_core::{OsRng, RngCore as _};

/// How often the controller's metrics (and, near the end, the SealedSecrets) are polled.
const POLL: Duration = Duration::from_millis(500);
/// Quiet time after a phase before its counters are read, so late writes are not missed.
const SETTLE: Duration = Duration::from_secs(3);
/// A phase that takes longer than this fails the benchmark.
const PHASE_TIMEOUT: Duration = Duration::from_secs(45 * 60);

/// Cold start and restart of kseal-controller alone on the real API server; see the program's
/// documentation.
#[derive(Debug, clap::Parser)]
#[command(name = "bench-controller")]
struct Options {
    /// SealedSecrets in the app namespace.
    #[arg(long, default_value_t = 5000, value_parser = positive)]
    count: usize,
    /// Active key counts, one run each.
    #[arg(long = "keys", value_name = "K,...", value_delimiter = ',', default_value = "1,36", value_parser = positive)]
    key_counts: Vec<usize>,
    /// RSA key size.
    #[arg(long, default_value_t = 4096)]
    key_bits: usize,
    /// Value formats, one run each per key count (`pq-hybrid` keys also get an X-Wing key).
    #[arg(long = "encryption", value_name = "FORMAT,...", value_delimiter = ',', default_value = "rsa", value_parser = encryption)]
    encryptions: Vec<Encryption>,
    /// The kseal-controller binary.
    #[arg(long, value_name = "PATH", default_value_os_t = release_bin("kseal-controller"))]
    controller: PathBuf,
    /// Where the report is written (it also goes to stdout).
    #[arg(long, value_name = "FILE", default_value_os_t = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench-results/controller.txt"))]
    out: PathBuf,
}

/// What one phase measured.
#[derive(Debug, Default)]
struct Figures {
    seconds: f64,
    rsa_operations: f64,
    pq_operations: f64,
    reconciles: f64,
    api_requests: f64,
    secret_writes: f64,
    status_writes: f64,
    events: i64,
    peak_rss_kib: u64,
    /// API requests by `VERB resource[/subresource] [non-2xx code]`, for the detail section.
    requests_by_kind: BTreeMap<String, f64>,
}

/// Everything that must be removed at the end: namespaces and the running controller.
#[derive(Debug, Default)]
struct Cleanup {
    namespaces: Vec<String>,
    controller: Option<Child>,
}

impl Cleanup {
    async fn run(&mut self, client: &Client) {
        if let Some(child) = self.controller.take() {
            stop(child);
        }
        // Deletion finishes in the background (the namespace controller empties them).
        delete_namespaces(client, &std::mem::take(&mut self.namespaces)).await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    let Some(kubeconfig) = std::env::var_os("KUBECONFIG").map(PathBuf::from) else {
        eprintln!(
            "bench-controller: KUBECONFIG is not set; start the test control plane with \
             `eval \"$(tests/cluster/cluster.sh up)\"`"
        );
        return ExitCode::FAILURE;
    };
    if !options.controller.is_file() {
        eprintln!(
            "bench-controller: no controller binary at {}; run `cargo build --release -p kseal-controller` \
             (or pass --controller PATH)",
            options.controller.display()
        );
        return ExitCode::FAILURE;
    }
    if cfg!(debug_assertions) {
        eprintln!("bench-controller: warning: debug build; use --release");
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = match Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench-controller: cannot connect with KUBECONFIG: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut cleanup = Cleanup::default();
    let result = tokio::select! {
        r = run(&options, &client, &kubeconfig, &mut cleanup) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
    };
    cleanup.run(&client).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-controller: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    options: &Options,
    client: &Client,
    kubeconfig: &Path,
    cleanup: &mut Cleanup,
) -> Result<(), String> {
    ensure_crd(client).await?;

    // The keys, generated once and reused: key i is older than key i+1 (NotBefore one hour
    // apart, the newest one hour ago, so the controller sees no reason to renew).
    // The same keys serve both formats: with pq-hybrid among them, each has its X-Wing key
    // (RSA values sealed to it are opened exactly as without one).
    let max_keys = options.key_counts.iter().copied().max().unwrap_or(1);
    let key_size = KeySize::from_bits(options.key_bits).map_err(|e| e.to_string())?;
    let with_pq = options.encryptions.contains(&Encryption::PqHybrid);
    let started = Instant::now();
    eprintln!(
        "generating {max_keys} RSA-{} keys{}…",
        options.key_bits,
        if with_pq { " with X-Wing keys" } else { "" }
    );
    let keys = generate_keys(max_keys, key_size, with_pq)?;
    let keygen_seconds = started.elapsed().as_secs_f64();
    eprintln!("  {keygen_seconds:.1} s");

    let mut rows = Vec::new();
    for &k in &options.key_counts {
        for &encryption in &options.encryptions {
            let (initial, restart) =
                bench_key_count(options, client, kubeconfig, cleanup, &keys[..k], encryption)
                    .await?;
            rows.push((k, encryption, initial, restart));
            // Free the API server before the next run, and wait until the namespace controller
            // has emptied the namespaces, so its traffic is not counted in the next run.
            let namespaces = cleanup.namespaces.clone();
            cleanup.run(client).await;
            wait_deleted(client, &namespaces).await;
        }
    }

    let report = report(options, &rows, keygen_seconds);
    print!("{report}");
    let path = &options.out;
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(|e| e.to_string())?;
    std::fs::write(path, &report).map_err(|e| format!("write {}: {e}", path.display()))?;
    eprintln!("written to {}", path.display());
    Ok(())
}

/// Runs both phases for one key set (`keys[0]` is the oldest; everything is sealed to it) and
/// one value format.
async fn bench_key_count(
    options: &Options,
    client: &Client,
    kubeconfig: &Path,
    cleanup: &mut Cleanup,
    keys: &[(PrivateKey, Certificate)],
    encryption: Encryption,
) -> Result<(Figures, Figures), String> {
    let k = keys.len();
    let format = encryption.as_str();
    let n = options.count;
    let tag = format!("{:06x}", OsRng.next_u32() & 0xff_ffff);
    let ctl_ns = format!("kseal-bench-ctl-{k}-{tag}");
    let app_ns = format!("kseal-bench-app-{k}-{tag}");
    for ns in [&ctl_ns, &app_ns] {
        create_namespace(client, ns).await?;
        cleanup.namespaces.push(ns.clone());
    }
    eprintln!("[{k} keys, {format}] namespaces {ctl_ns}, {app_ns}");

    // K key Secrets, shaped as Bitnami's controller writes them.
    create_key_secrets(client, &ctl_ns, keys).await?;

    // N SealedSecrets sealed to the oldest key, created in parallel.
    let started = Instant::now();
    create_sealed_secrets(client, &app_ns, n, &keys[0].1, encryption).await?;
    eprintln!(
        "[{k} keys, {format}] created {n} SealedSecrets in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let sealed: Api<SealedSecret> = Api::namespaced(client.clone(), &app_ns);
    let namespaces = [ctl_ns.as_str(), app_ns.as_str()];

    // Phase 1: first start, until every SealedSecret is Synced.
    let before = Snapshot::take(client, &namespaces).await?;
    let started = Instant::now();
    let controller = start_controller(
        options,
        kubeconfig,
        &ctl_ns,
        &app_ns,
        &format!("{k}-{format}-initial"),
    )?;
    let pid = controller.process.id();
    let metrics = controller.metrics.clone();
    cleanup.controller = Some(controller.process);
    let mut own_requests = 0.0;
    let seconds = loop {
        check_alive(cleanup)?;
        if started.elapsed() > PHASE_TIMEOUT {
            return Err(format!("[{k} keys] not all Synced after {PHASE_TIMEOUT:?}"));
        }
        // Listing 5,000 objects every 0.5 s would load the API server we are measuring, so the
        // list starts once the controller's own counter says every Secret has been written.
        let written = scrape(&metrics).await.map_or(0.0, |m| {
            m.sum("sealed_secrets_controller_secret_writes_total")
        });
        if written >= n as f64 {
            let (synced, pages) = count_synced(&sealed).await?;
            own_requests += pages;
            if synced == n {
                break started.elapsed().as_secs_f64();
            }
        }
        tokio::time::sleep(POLL).await;
    };
    eprintln!("[{k} keys, {format}] initial: all {n} Synced after {seconds:.1} s");
    let initial = finish_phase(
        client,
        &namespaces,
        &before,
        &metrics,
        pid,
        seconds,
        own_requests,
        n,
    )
    .await?;
    if let Some(child) = cleanup.controller.take() {
        stop(child);
    }

    // Phase 2: restart with nothing changed, until every SealedSecret was reconciled once.
    let before = Snapshot::take(client, &namespaces).await?;
    let started = Instant::now();
    let controller = start_controller(
        options,
        kubeconfig,
        &ctl_ns,
        &app_ns,
        &format!("{k}-{format}-restart"),
    )?;
    let pid = controller.process.id();
    let metrics = controller.metrics.clone();
    cleanup.controller = Some(controller.process);
    let seconds = loop {
        check_alive(cleanup)?;
        if started.elapsed() > PHASE_TIMEOUT {
            return Err(format!(
                "[{k} keys] restart not idle after {PHASE_TIMEOUT:?}"
            ));
        }
        let m = scrape(&metrics).await.unwrap_or_default();
        if m.sum("sealed_secrets_controller_unseal_requests_total") >= n as f64 {
            break started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(POLL).await;
    };
    eprintln!("[{k} keys, {format}] restart: all {n} reconciled after {seconds:.1} s");
    let restart =
        finish_phase(client, &namespaces, &before, &metrics, pid, seconds, 0.0, n).await?;
    if let Some(child) = cleanup.controller.take() {
        stop(child);
    }
    Ok((initial, restart))
}

/// Waits [`SETTLE`], then reads the controller's metrics, its peak RSS and the API server's
/// counters (minus `own_requests`, this program's list calls during the phase).
#[allow(clippy::too_many_arguments)]
async fn finish_phase(
    client: &Client,
    namespaces: &[&str],
    before: &Snapshot,
    metrics_addr: &str,
    pid: u32,
    seconds: f64,
    own_requests: f64,
    n: usize,
) -> Result<Figures, String> {
    tokio::time::sleep(SETTLE).await;
    let metrics = scrape(metrics_addr).await?;
    let peak_rss_kib = peak_rss_kib(pid)?;
    let after = Snapshot::take(client, namespaces).await?;

    // This program's own list calls are not the controller's: the Synced checks.
    let diff = after.diff(
        before,
        namespaces.len(),
        &[("LIST sealedsecrets", own_requests)],
    );
    Ok(Figures {
        seconds,
        rsa_operations: metrics.sum("sealed_secrets_controller_rsa_operations_total") / n as f64,
        pq_operations: metrics.sum("sealed_secrets_controller_pq_operations_total") / n as f64,
        reconciles: metrics.sum("sealed_secrets_controller_unseal_requests_total"),
        api_requests: diff.total,
        secret_writes: diff.secret_writes,
        status_writes: diff.status_writes,
        events: diff.events,
        peak_rss_kib,
        requests_by_kind: diff.by_kind,
    })
}

/// A started controller process.
#[derive(Debug)]
struct Started {
    process: Child,
    /// `127.0.0.1:<port>` of its metrics endpoint.
    metrics: String,
}

/// Starts `kseal-controller` watching only `ctl_ns` (keys) and `app_ns`, one replica without
/// leader election, default workers. Logs go to a file in the temp directory.
fn start_controller(
    options: &Options,
    kubeconfig: &Path,
    ctl_ns: &str,
    app_ns: &str,
    label: &str,
) -> Result<Started, String> {
    let (api_port, metrics_port) = (free_port(), free_port());
    let log = std::env::temp_dir().join(format!("kseal-bench-controller-{label}.log"));
    let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let process = scoped_controller(
        &options.controller,
        kubeconfig,
        ctl_ns,
        app_ns,
        (api_port, metrics_port),
    )
    .stdout(out)
    .stderr(err)
    .spawn()
    .map_err(|e| format!("start {}: {e}", options.controller.display()))?;
    eprintln!("  controller pid {}, log {}", process.id(), log.display());
    Ok(Started {
        process,
        metrics: format!("127.0.0.1:{metrics_port}"),
    })
}

/// Fails if the controller exited early.
fn check_alive(cleanup: &mut Cleanup) -> Result<(), String> {
    if let Some(child) = cleanup.controller.as_mut()
        && let Ok(Some(status)) = child.try_wait()
    {
        cleanup.controller = None;
        return Err(format!(
            "the controller exited early: {status} (see its log)"
        ));
    }
    Ok(())
}

/// The table and its context (date, machine, command), as printed and saved.
fn report(
    options: &Options,
    rows: &[(usize, Encryption, Figures, Figures)],
    keygen_seconds: f64,
) -> String {
    let mut out = String::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(out, "# kseal-controller benchmark (issue #5)");
    let _ = writeln!(out, "date:    {}", keys::rfc3339(SystemTime::now()));
    let _ = writeln!(
        out,
        "machine: {} cores (nproc), CPU {}, load average {} at end",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        machine::cpu_model(),
        machine::load_average()
    );
    let _ = writeln!(
        out,
        "command: cargo run --release -p kseal-bench --bin bench-controller --{}",
        args.iter().map(|a| format!(" {a}")).collect::<String>()
    );
    let _ = writeln!(
        out,
        "setup:   {} SealedSecrets x 1 item, strict scope, sealed to the OLDEST of K RSA-{} keys{} \
         (generated in {keygen_seconds:.0} s) with the kseal.dev/key-fingerprint hint; one controller \
         (--leader-elect=false, default 8 workers) watching the key and app namespaces; real \
         kube-apiserver + etcd from tests/cluster",
        options.count,
        options.key_bits,
        if options.encryptions.contains(&Encryption::PqHybrid) {
            " (each with its X-Wing key)"
        } else {
            ""
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>4} {:<9} {:<8} {:>9} {:>9} {:>8} {:>10} {:>9} {:>8} {:>8} {:>7} {:>9}",
        "keys",
        "format",
        "phase",
        "seconds",
        "RSA/value",
        "PQ/value",
        "reconciles",
        "API req",
        "Secret w",
        "status w",
        "events",
        "peak RSS"
    );
    for (k, encryption, initial, restart) in rows {
        for (phase, f) in [("initial", initial), ("restart", restart)] {
            let _ = writeln!(
                out,
                "{k:>4} {:<9} {phase:<8} {:>9.1} {:>9.2} {:>8.2} {:>10} {:>9} {:>8} {:>8} {:>7} {:>6} MiB",
                encryption.as_str(),
                f.seconds,
                f.rsa_operations,
                f.pq_operations,
                f.reconciles as i64,
                f.api_requests as i64,
                f.secret_writes as i64,
                f.status_writes as i64,
                f.events,
                f.peak_rss_kib / 1024
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "seconds: initial = process start until every SealedSecret is Synced=True; restart = process \
         start until every SealedSecret was reconciled once (unseal_requests_total = count)."
    );
    let _ = writeln!(
        out,
        "RSA/value, PQ/value = rsa_operations_total, pq_operations_total (X-Wing decapsulations) / count; API req = apiserver_request_total diff (resource \
         requests of every client, minus this program's own lists; includes kube-controller-manager's \
         background traffic); Secret w / status w = successful POST/PUT/PATCH of secrets and \
         sealedsecrets/status (failed ones, e.g. 409 Conflict, are listed below as [code]); events = new or repeated Events in the two namespaces; peak RSS = VmHWM."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "API requests by verb and resource:");
    for (k, encryption, initial, restart) in rows {
        for (phase, f) in [("initial", initial), ("restart", restart)] {
            let detail: Vec<String> = f
                .requests_by_kind
                .iter()
                .filter(|(_, v)| **v > 0.0)
                .map(|(kind, v)| format!("{kind}={v}"))
                .collect();
            let _ = writeln!(
                out,
                "  {k:>2} keys {:<9} {phase:<8} {}",
                encryption.as_str(),
                detail.join(", ")
            );
        }
    }
    out
}

/// `--encryption`: `rsa` or `pq-hybrid`.
fn encryption(value: &str) -> Result<Encryption, String> {
    Encryption::parse(value).ok_or_else(|| format!("'{value}' is not one of rsa, pq-hybrid"))
}
