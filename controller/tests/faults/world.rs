//! The fault tests' world (see `faults.rs`): the private control plane, the 500 SealedSecrets
//! and what they must produce, controllers with short leader election, and the checks and
//! counts every fault uses (recovered, healthy, writes, errors by reason).

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use futures::{StreamExt as _, stream};
use k8s_openapi::api::core::v1::Secret;
use kseal_core::{CertParams, Certificate, KeySize, PrivateKey};
use kseal_crds::SealedSecret;
use kube::{
    Api, Client, ResourceExt as _,
    api::{DeleteParams, ListParams, PostParams},
};
use rand_core::{OsRng, RngCore as _};

use crate::support::*;
/// SealedSecrets reconciled while each fault hits.
pub(crate) const COUNT: usize = 500;
/// The fault is injected once this many Secrets have been written in the current round.
pub(crate) const MID_RUN: f64 = 100.0;
/// Short leader election so failover is quick; the assertion uses these.
pub(crate) const LEASE: Duration = Duration::from_secs(6);
pub(crate) const RETRY: Duration = Duration::from_secs(1);
/// How long the API server stays down in the outage fault.
pub(crate) const OUTAGE: Duration = Duration::from_secs(35);
/// Time allowed for each recovery (also bounds the whole file on a busy machine).
pub(crate) const RECOVERY_TIMEOUT: Duration = Duration::from_secs(120);
pub(crate) const KEY_SECRET: &str = "sealed-secrets-keyfaults";
pub(crate) const CTL_NS: &str = "kseal-faults-ctl";
pub(crate) const APP_NS: &str = "kseal-faults-app";
pub(crate) const FLOOD_NS: &str = "kseal-faults-flood";

/// The private control plane's settings (`tests/cluster/README.md`: a second cluster next to
/// the shared one needs every one of them changed).
pub(crate) const CLUSTER_ENV: [(&str, &str); 6] = [
    ("KSEAL_CLUSTER_DIR", "/tmp/kseal-cluster-faults"),
    ("KSEAL_BRIDGE", "kseal8"),
    ("KSEAL_NET", "198.18.8"),
    ("KSEAL_SERVICE_CIDR", "198.19.8.0/24"),
    ("KSEAL_API_PORT", "6448"),
    ("KSEAL_ETCD_PORT", "12478"),
];

/// Runs `cluster.sh ARGS` against the private control plane: stdout, or the tail of stderr.
pub(crate) fn cluster_cmd(args: &[&str]) -> Result<String, String> {
    kseal_test_support::cluster::try_cluster_sh(args, &CLUSTER_ENV).map_err(|e| e.to_string())
}

/// The private control plane; stopped (`cluster.sh down`) when dropped.
pub(crate) struct PrivateCluster {
    pub(crate) kubeconfig: PathBuf,
}

impl PrivateCluster {
    /// Starts it, or returns `None` (after the `skipped:` line of the test policy) when no
    /// control plane is wanted here. With `CI` or `KSEAL_CLUSTER` set a cluster that cannot
    /// start fails the test.
    pub(crate) fn start() -> Option<Self> {
        let required = cluster_required();
        if !required && std::env::var_os("KUBECONFIG").is_none() {
            return skip_or_fail(
                "needs the control plane: the fault tests start their own with \
                 tests/cluster/cluster.sh; set KSEAL_CLUSTER=1 (tests/run-all.sh does)",
            );
        }
        // A run that was killed may have left its cluster behind; start from nothing.
        if let Err(e) = cluster_cmd(&["down"]) {
            eprintln!("cluster.sh down (leftover of an earlier run) failed: {e}");
        }
        let started = Instant::now();
        match cluster_cmd(&["up"]) {
            Ok(out) => {
                let path = out
                    .lines()
                    .find_map(|l| l.strip_prefix("export KUBECONFIG="))
                    .expect("cluster.sh up prints the KUBECONFIG line");
                eprintln!(
                    "private control plane up in {:.1}s",
                    started.elapsed().as_secs_f64()
                );
                Some(Self {
                    kubeconfig: PathBuf::from(path.trim()),
                })
            }
            Err(e) if required => {
                let _ = cluster_cmd(&["down"]);
                panic!("the fault tests' private control plane did not start:\n{e}")
            }
            Err(e) => {
                let _ = cluster_cmd(&["down"]);
                skip_or_fail(&format!(
                    "needs the control plane: the private one did not start:\n{e}"
                ))
            }
        }
    }

    pub(crate) async fn client(&self) -> Client {
        kseal_test_support::connect(&self.kubeconfig).await
    }

    /// `cluster.sh restart DAEMON [--kill]` off the async runtime: (down, ready) seconds.
    pub(crate) async fn restart(&self, args: &[&str]) -> (f64, f64) {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let out = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cluster_cmd(&[&["restart"], &args[..]].concat())
        })
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cluster.sh restart failed:\n{e}"));
        let field = |name: &str| -> f64 {
            out.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in cluster.sh restart output {out:?}"))
        };
        (field("down="), field("ready="))
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        match cluster_cmd(&["down"]) {
            Ok(_) => eprintln!("private control plane stopped"),
            Err(e) => eprintln!("cluster.sh down failed:\n{e}"),
        }
    }
}

/// What each SealedSecret of a namespace must produce: name → item → bytes.
pub(crate) type Expected = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// A random value; tests compare bytes, never print them.
pub(crate) fn random_value() -> Vec<u8> {
    let mut b = [0u8; 24];
    OsRng.fill_bytes(&mut b);
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<String>()
        .into_bytes()
}

/// `n` good SealedSecrets `<prefix>-<i>` sealed to `cert`, each with a random value and the canary.
pub(crate) fn good_batch(
    cert: &Certificate,
    ns: &str,
    prefix: &str,
    n: usize,
) -> (Vec<SealedSecret>, Expected) {
    let mut objects = Vec::new();
    let mut expected = Expected::new();
    for i in 0..n {
        let name = format!("{prefix}-{i:03}");
        let value = random_value();
        let items: &[(&str, &[u8])] = &[("VALUE", &value), ("CANARY", CANARY.as_bytes())];
        objects.push(seal(cert, ns, &name, items));
        expected.insert(
            name,
            items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
                .collect(),
        );
    }
    (objects, expected)
}

/// Creates objects with a few requests in flight.
pub(crate) async fn create_all(api: &Api<SealedSecret>, objects: Vec<SealedSecret>) {
    let results: Vec<_> = stream::iter(objects)
        .map(|ss| {
            let api = api.clone();
            async move {
                let name = ss.name_any();
                api.create(&PostParams::default(), &ss)
                    .await
                    .map_err(|e| format!("create SealedSecret {name}: {e}"))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for r in results {
        r.unwrap();
    }
}

/// How many of `expected` are Synced=True for their generation, and how many Secrets hold
/// exactly the expected bytes. Errors (an API server coming back) count as "not yet".
pub(crate) async fn progress(
    client: &Client,
    ns: &str,
    expected: &Expected,
) -> Option<(usize, usize)> {
    let ss: Api<SealedSecret> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let listed = ss.list(&ListParams::default()).await.ok()?;
    let synced = listed
        .items
        .iter()
        .filter(|s| expected.contains_key(&s.name_any()) && synced_for_generation(s, "True"))
        .count();
    let listed = secrets.list(&ListParams::default()).await.ok()?;
    let right = listed
        .items
        .iter()
        .filter(|s| {
            expected
                .get(&s.name_any())
                .is_some_and(|want| secret_data(s) == *want)
        })
        .count();
    Some((synced, right))
}

pub(crate) fn synced_for_generation(ss: &SealedSecret, status: &str) -> bool {
    let Some(st) = ss.status.as_ref() else {
        return false;
    };
    st.observed_generation.unwrap_or(0) == ss.metadata.generation.unwrap_or(0)
        && st.synced().is_some_and(|c| c.status == status)
}

/// Waits until every expected SealedSecret in every namespace is Synced with the right bytes;
/// returns the time it took. Panics with the counts (never values) after [`RECOVERY_TIMEOUT`].
pub(crate) async fn wait_recovered(
    client: &Client,
    sets: &[(&str, &Expected)],
    what: &str,
) -> Duration {
    let start = Instant::now();
    let mut last = Vec::new();
    loop {
        let mut all = true;
        last.clear();
        for (ns, expected) in sets {
            match progress(client, ns, expected).await {
                Some((synced, right)) => {
                    last.push(format!(
                        "{ns}: {synced}/{n} Synced, {right}/{n} Secrets with the sealed bytes",
                        n = expected.len()
                    ));
                    all &= synced == expected.len() && right == expected.len();
                }
                None => {
                    last.push(format!("{ns}: API not answering"));
                    all = false;
                }
            }
        }
        if all {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < RECOVERY_TIMEOUT,
            "{what}: not recovered after {RECOVERY_TIMEOUT:?}: {}",
            last.join("; ")
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// Sum of every sample of a metric family (`name{...} v` and `name v`).
pub(crate) fn metric_sum(text: &str, name: &str) -> f64 {
    metrics::sum(text, name)
}

/// `unseal_errors_total` by reason.
pub(crate) fn errors_by_reason(text: &str) -> BTreeMap<String, f64> {
    metrics::sum_by(
        text,
        "sealed_secrets_controller_unseal_errors_total",
        "reason",
    )
}

/// What one controller has counted so far: failed reconciles (each is retried) and failed
/// Lease reads/writes (from its log).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    pub(crate) errors: BTreeMap<String, f64>,
    pub(crate) lease_errors: usize,
    pub(crate) writes: f64,
}

impl Counts {
    pub(crate) fn of(c: &Controller) -> Self {
        let text = c.metrics_text();
        Self {
            errors: errors_by_reason(&text),
            lease_errors: c
                .logs()
                .matches("leader election: cannot read or write the Lease")
                .count(),
            writes: metric_sum(&text, "sealed_secrets_controller_secret_writes_total"),
        }
    }

    /// (total retried/failed requests, a breakdown) since `before`.
    pub(crate) fn since(&self, before: &Self) -> (u64, String) {
        let mut parts = Vec::new();
        let mut total = 0.0;
        for (reason, v) in &self.errors {
            let d = v - before.errors.get(reason).copied().unwrap_or(0.0);
            if d > 0.0 {
                parts.push(format!("{reason}={d}"));
                total += d;
            }
        }
        let lease = self.lease_errors.saturating_sub(before.lease_errors);
        total += lease as f64;
        parts.push(format!("lease={lease}"));
        (total as u64, parts.join(" "))
    }
}

/// Alive = the process exists and is not a zombie (the child is not reaped until dropped).
pub(crate) fn alive(c: &Controller) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", c.pid()))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

pub(crate) fn assert_healthy(c: &Controller, who: &str) {
    assert!(alive(c), "{who} exited; its log: {}", c.log.display());
    let logs = c.logs();
    assert!(
        !logs.contains("panicked at"),
        "{who} panicked; its log: {}",
        c.log.display()
    );
    assert_eq!(
        http(&c.api, "GET", "/healthz", b"").map(|r| r.0).ok(),
        Some(200),
        "{who} /healthz"
    );
}

/// Waits until `c` has written `n` more Secrets than `from` (the fault then hits mid-run).
pub(crate) async fn wait_writes(c: &Controller, from: f64, n: f64) -> f64 {
    wait_for(
        "Secret writes before the fault",
        Duration::from_secs(120),
        || async {
            let w = metric_sum(
                &c.metrics_text(),
                "sealed_secrets_controller_secret_writes_total",
            );
            (w - from >= n).then_some(w - from)
        },
    )
    .await
}

/// Deletes every target Secret in `ns`, so the controller recreates them all (a new round of
/// work for the next fault). Returns once they are gone or being recreated.
pub(crate) async fn delete_targets(client: &Client, ns: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .expect("delete the target Secrets");
}

pub(crate) fn report_fault(
    name: &str,
    recovered: Duration,
    retried: u64,
    detail: &str,
    synced: usize,
    total: usize,
) {
    crate::support::report(&format!(
        "fault {name}: recovered in {:.1}s, {retried} requests retried/failed, {synced}/{total} Synced",
        recovered.as_secs_f64()
    ));
    crate::support::report(&format!("  {name}: {detail}"));
}

pub(crate) fn controller_args() -> Vec<String> {
    vec![
        "--all-namespaces=false".into(),
        format!("--additional-namespaces={APP_NS},{FLOOD_NS}"),
        format!("--leader-election-lease-duration={}s", LEASE.as_secs()),
        format!("--leader-election-retry-period={}s", RETRY.as_secs()),
    ]
}

pub(crate) fn generate_key(serial: u8) -> (PrivateKey, Certificate) {
    kseal_core::keys::generate(&CertParams {
        key_size: KeySize::Rsa2048,
        not_before: std::time::SystemTime::now() - Duration::from_secs(3600),
        validity: Duration::from_secs(86_400),
        common_name: String::new(),
        serial: [serial; 16],
    })
    .expect("generate a key")
}

/// What every phase works on: the private control plane, the sealing key (as created, to
/// restore it), the 500 SealedSecrets of [`APP_NS`] and what they must produce.
pub(crate) struct World {
    pub(crate) cluster: PrivateCluster,
    pub(crate) client: Client,
    pub(crate) cert: Certificate,
    pub(crate) key_secret: Secret,
    pub(crate) keys: Api<Secret>,
    pub(crate) ssapi: Api<SealedSecret>,
    pub(crate) expected: Expected,
    /// The log of every controller started so far (checked for the canary at the end).
    pub(crate) logs: std::sync::Mutex<Vec<PathBuf>>,
}

impl World {
    pub(crate) async fn new(cluster: PrivateCluster) -> Self {
        let client = cluster.client().await;
        ensure_crd(&client).await;
        for ns in [CTL_NS, APP_NS, FLOOD_NS] {
            create_namespace(&client, ns).await;
        }

        // The sealing key, made here so the 500 SealedSecrets exist before the controller starts
        // and the first fault hits a controller that is busy with them.
        let (key, cert) = generate_key(8);
        let mut key_secret = kseal_controller::keys::key_secret(
            "sealed-secrets-key",
            CTL_NS,
            &key,
            &cert,
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        key_secret.metadata.generate_name = None;
        key_secret.metadata.name = Some(KEY_SECRET.into());
        let keys: Api<Secret> = Api::namespaced(client.clone(), CTL_NS);
        keys.create(&PostParams::default(), &key_secret)
            .await
            .expect("create the key Secret");

        let ssapi: Api<SealedSecret> = Api::namespaced(client.clone(), APP_NS);
        let sealing = Instant::now();
        let (objects, expected) = good_batch(&cert, APP_NS, "app", COUNT);
        create_all(&ssapi, objects).await;
        eprintln!(
            "sealed and created {COUNT} SealedSecrets in {:.1}s",
            sealing.elapsed().as_secs_f64()
        );
        Self {
            cluster,
            client,
            cert,
            key_secret,
            keys,
            ssapi,
            expected,
            logs: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn app(&self) -> [(&str, &Expected); 1] {
        [(APP_NS, &self.expected)]
    }

    /// A controller on the private cluster with [`controller_args`] plus `extra`.
    pub(crate) fn controller(&self, extra: &[&str]) -> Controller {
        let mut args = controller_args();
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let c = Controller::start(&self.cluster.kubeconfig, CTL_NS, &args);
        self.logs.lock().unwrap().push(c.log.clone());
        c
    }

    /// Checks its metrics for the canary, stops `c` with SIGTERM, so it releases the leader
    /// Lease and the next phase's controller leads at once, and waits until it has exited.
    pub(crate) async fn stop(&self, c: Controller) {
        assert_no_canary(&[("metrics", &c.metrics_text())]);
        if alive(&c) {
            c.signal("TERM");
            wait_for(
                "the controller exits on SIGTERM",
                Duration::from_secs(30),
                || async { (!alive(&c)).then_some(()) },
            )
            .await;
        }
        drop(c);
    }

    /// Puts the key Secret back as it was created if an earlier phase left it corrupted or
    /// deleted (each phase starts from a usable key).
    pub(crate) async fn restore_key(&self) {
        let current = self
            .keys
            .get_opt(KEY_SECRET)
            .await
            .expect("read the key Secret");
        if current
            .as_ref()
            .is_some_and(|s| s.data == self.key_secret.data)
        {
            return;
        }
        if current.is_some() {
            self.keys
                .delete(KEY_SECRET, &DeleteParams::default())
                .await
                .expect("delete the damaged key Secret");
        }
        wait_for("key Secret gone", Duration::from_secs(30), || async {
            matches!(self.keys.get_opt(KEY_SECRET).await, Ok(None)).then_some(())
        })
        .await;
        self.keys
            .create(&PostParams::default(), &self.key_secret)
            .await
            .expect("restore the key Secret");
    }
}
