//! Driving a controller on the real API server (tests/cluster) and reading its counters.

use std::{
    collections::{BTreeMap, HashMap},
    process::{Child, Command},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use k8s_openapi::{
    ByteString,
    api::core::v1::{Event, Namespace, Secret},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kseal_core::{
    CertParams, Certificate, Encryption, KeySize, PrivateKey, SecretKeyName, keys,
    pq::encoding::KEY_SECRET_FIELD,
};
use kseal_crds::{
    KEY_FINGERPRINT_ANNOTATION, SEALED_SECRETS_KEY_LABEL, SealedSecret, SealedSecretSpec,
};
use kseal_test_support::metrics;
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, PostParams},
};
use rand_core::{OsRng, RngCore as _};

/// Parallel creates while setting up (bounded so the API server is not swamped).
pub const CREATE_CONCURRENCY: usize = 32;
/// Page size of the SealedSecret list used to check `Synced`.
const LIST_PAGE: u32 = 500;

/// A Prometheus text exposition.
#[derive(Debug, Default)]
pub struct Metrics(pub String);

impl Metrics {
    /// Every sample of metric `name` as (labels, value).
    pub fn samples(&self, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        metrics::samples(&self.0, name)
    }

    /// The sum of every sample of `name`.
    pub fn sum(&self, name: &str) -> f64 {
        metrics::sum(&self.0, name)
    }
}

/// A controller's `/metrics` at `addr` (`host:port`) over plain HTTP/1.0.
pub async fn scrape(addr: &str) -> Result<Metrics, String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .map_err(|_| format!("metrics {addr}: connect timed out"))?
    .map_err(|e| format!("metrics {addr}: {e}"))?;
    stream
        .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        stream.read_to_string(&mut response),
    )
    .await
    .map_err(|_| "metrics timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    Ok(Metrics(body.to_owned()))
}

/// The API server's request counters and the Events of some namespaces at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// `apiserver_request_total` summed by `VERB resource[/subresource]`, with ` [code]` appended
    /// for a non-2xx answer.
    pub requests: HashMap<String, f64>,
    /// Event UID → count.
    pub events: HashMap<String, i32>,
}

/// What happened on the API server between two [`Snapshot`]s.
#[derive(Debug, Default, Clone)]
pub struct RequestDiff {
    /// Resource requests of every client.
    pub total: f64,
    /// Successful POST/PUT/PATCH/APPLY of `secrets`.
    pub secret_writes: f64,
    /// Successful POST/PUT/PATCH/APPLY of `sealedsecrets/status`.
    pub status_writes: f64,
    /// New or repeated Events in the snapshot's namespaces.
    pub events: i64,
    /// Requests by `VERB resource[/subresource] [non-2xx code]`.
    pub by_kind: BTreeMap<String, f64>,
}

impl Snapshot {
    /// Reads the API server's `/metrics` and lists the Events of `namespaces` (one list request
    /// per namespace, which [`Snapshot::diff`] discounts).
    pub async fn take(client: &Client, namespaces: &[&str]) -> Result<Self, String> {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        let text = client
            .request_text(request)
            .await
            .map_err(|e| format!("API server /metrics: {e}"))?;
        let mut requests = HashMap::new();
        for (labels, value) in Metrics(text).samples("apiserver_request_total") {
            let resource = labels
                .get("resource")
                .map(String::as_str)
                .unwrap_or_default();
            if resource.is_empty() {
                continue; // non-resource URLs such as /metrics, /healthz
            }
            let mut kind = format!(
                "{} {resource}",
                labels.get("verb").map(String::as_str).unwrap_or("?")
            );
            if let Some(sub) = labels.get("subresource").filter(|s| !s.is_empty()) {
                kind = format!("{kind}/{sub}");
            }
            // Failed requests (e.g. 409 Conflict) are counted apart: they changed nothing.
            if let Some(code) = labels.get("code").filter(|c| !c.starts_with('2')) {
                kind = format!("{kind} [{code}]");
            }
            *requests.entry(kind).or_insert(0.0) += value;
        }
        let mut events = HashMap::new();
        for ns in namespaces {
            let api: Api<Event> = Api::namespaced(client.clone(), ns);
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("list events: {e}"))?;
            for e in list.items {
                events.insert(e.metadata.uid.unwrap_or_default(), e.count.unwrap_or(1));
            }
        }
        Ok(Self { requests, events })
    }

    /// The requests and Events since `before`, minus the caller's own requests: `own` lists
    /// (kind, count) pairs such as `("LIST sealedsecrets", 12.0)`; the Event lists of `before`
    /// (one per namespace) are discounted here.
    pub fn diff(&self, before: &Snapshot, namespaces: usize, own: &[(&str, f64)]) -> RequestDiff {
        let mut by_kind = BTreeMap::new();
        for (kind, value) in &self.requests {
            let diff = value - before.requests.get(kind).copied().unwrap_or(0.0);
            if diff > 0.0 {
                by_kind.insert(kind.clone(), diff);
            }
        }
        for (kind, n) in own
            .iter()
            .copied()
            .chain([("LIST events", namespaces as f64)])
        {
            if let Some(v) = by_kind.get_mut(kind) {
                *v -= n;
            }
        }
        by_kind.retain(|_, v| *v > 0.0);
        let sum = |f: &dyn Fn(&str) -> bool| -> f64 {
            by_kind.iter().filter(|(k, _)| f(k)).map(|(_, v)| v).sum()
        };
        // The API server labels requests with HTTP verbs (POST = create, PUT = update).
        let is_write = |k: &str| {
            ["POST ", "PUT ", "PATCH ", "APPLY "]
                .iter()
                .any(|v| k.starts_with(v))
        };
        let events = self
            .events
            .iter()
            .map(|(uid, count)| {
                i64::from(*count) - i64::from(before.events.get(uid).copied().unwrap_or(0))
            })
            .sum();
        RequestDiff {
            total: sum(&|_| true),
            secret_writes: sum(&|k| is_write(k) && k.ends_with(" secrets")),
            status_writes: sum(&|k| is_write(k) && k.ends_with(" sealedsecrets/status")),
            events,
            by_kind,
        }
    }
}

impl RequestDiff {
    /// `VERB resource=N, …` for a report's detail section.
    pub fn detail(&self) -> String {
        self.by_kind
            .iter()
            .filter(|(_, v)| **v > 0.0)
            .map(|(kind, v)| format!("{kind}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Counts SealedSecrets with `Synced=True` for their current generation; also returns the number
/// of list requests it made.
pub async fn count_synced(api: &Api<SealedSecret>) -> Result<(usize, f64), String> {
    let mut params = ListParams::default().limit(LIST_PAGE);
    let (mut synced, mut pages) = (0, 0.0);
    loop {
        let list = api
            .list(&params)
            .await
            .map_err(|e| format!("list SealedSecrets: {e}"))?;
        pages += 1.0;
        synced += list
            .items
            .iter()
            .filter(|ss| {
                ss.status.as_ref().is_some_and(|st| {
                    st.observed_generation.unwrap_or(0) == ss.metadata.generation.unwrap_or(0)
                        && st.synced().is_some_and(|c| c.is_true())
                })
            })
            .count();
        match list.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok((synced, pages)),
        }
    }
}

/// Generates `count` key pairs on every core; key i has NotBefore `count - i` hours ago, so
/// key 0 is the oldest and the newest is one hour old (no controller sees a reason to renew).
/// With `pq`, each RSA key gets its X-Wing key, as kseal-controller makes them.
pub fn generate_keys(
    count: usize,
    key_size: KeySize,
    pq: bool,
) -> Result<Vec<(PrivateKey, Certificate)>, String> {
    let now = SystemTime::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut slots: Vec<Option<Result<(PrivateKey, Certificate), String>>> =
        (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        for (t, chunk) in slots.chunks_mut(count.div_ceil(threads)).enumerate() {
            let first = t * count.div_ceil(threads);
            scope.spawn(move || {
                for (j, slot) in chunk.iter_mut().enumerate() {
                    let i = first + j;
                    let mut serial = [0; 16];
                    OsRng.fill_bytes(&mut serial);
                    let params = CertParams {
                        key_size,
                        not_before: now - Duration::from_secs(3600 * (count - i) as u64),
                        validity: keys::DEFAULT_KEY_TTL,
                        common_name: String::new(),
                        serial,
                    };
                    let generate = if pq {
                        keys::generate_with_pq
                    } else {
                        keys::generate
                    };
                    *slot = Some(generate(&params).map_err(|e| e.to_string()));
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err("key not generated".into())))
        .collect()
}

/// Creates one key Secret per key in `ns`, shaped as Bitnami's controller writes them
/// (`sealed-secrets-keyNN`, type `kubernetes.io/tls`, labelled active), plus `xwing.key` for a
/// key with an X-Wing part, as kseal-controller writes it.
pub async fn create_key_secrets(
    client: &Client,
    ns: &str,
    keys: &[(PrivateKey, Certificate)],
) -> Result<(), String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for (i, (key, cert)) in keys.iter().enumerate() {
        let mut data = BTreeMap::from([
            ("tls.crt".into(), ByteString(cert.to_pem().into_bytes())),
            (
                "tls.key".into(),
                ByteString(key.to_pkcs1_pem().expose().as_bytes().to_vec()),
            ),
        ]);
        if let Some(pq) = key.pq() {
            data.insert(
                KEY_SECRET_FIELD.into(),
                ByteString(pq.to_pkcs8_pem().expose().as_bytes().to_vec()),
            );
        }
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(format!("sealed-secrets-key{i:02}")),
                labels: Some(BTreeMap::from([(
                    SEALED_SECRETS_KEY_LABEL.into(),
                    "active".into(),
                )])),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(data),
            ..Secret::default()
        };
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|e| format!("create key Secret in {ns}: {e}"))?;
    }
    Ok(())
}

/// Creates objects `0..n` with at most [`CREATE_CONCURRENCY`] requests in flight; `make(i)`
/// builds the create future of object i.
async fn create_bounded<F, Fut>(n: usize, mut make: F) -> Result<(), String>
where
    F: FnMut(usize) -> Result<Fut, String>,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(CREATE_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let create = make(i)?;
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        tasks.spawn(async move {
            let result = create.await;
            drop(permit);
            result
        });
        // Surface errors early instead of after thousands of requests.
        while let Some(done) = tasks.try_join_next() {
            done.map_err(|e| e.to_string())??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Creates `n` SealedSecrets `bench-00000…` in `ns`, one item each, sealed to `cert` in the
/// strict scope with the `kseal.dev/key-fingerprint` annotation (as `kseal seal` does).
pub async fn create_sealed_secrets(
    client: &Client,
    ns: &str,
    n: usize,
    cert: &Certificate,
    encryption: Encryption,
) -> Result<(), String> {
    let api: Api<SealedSecret> = Api::namespaced(client.clone(), ns);
    let item = SecretKeyName::parse("value").map_err(|e| e.to_string())?;
    create_bounded(n, |i| {
        let name = format!("bench-{i:05}");
        let mut ss = SealedSecret::new(&name, SealedSecretSpec::default());
        ss.metadata.namespace = Some(ns.into());
        let scope = ss.scope().map_err(|e| e.to_string())?;
        let value = format!("value-{i}-{:016x}", OsRng.next_u64());
        let sealed = encryption
            .seal_base64(cert, &scope, &item, value.as_bytes())
            .map_err(|e| e.to_string())?;
        ss.spec.encrypted_data.insert(item.as_str(), sealed);
        ss.metadata.annotations = Some(BTreeMap::from([(
            KEY_FINGERPRINT_ANNOTATION.to_owned(),
            cert.fingerprint().to_string(),
        )]));
        let api = api.clone();
        Ok(async move {
            api.create(&PostParams::default(), &ss)
                .await
                .map(drop)
                .map_err(|e| format!("create SealedSecret {name}: {e}"))
        })
    })
    .await
}

/// Creates `n` Opaque Secrets `unrelated-00000…` in `ns` that no SealedSecret owns, each with
/// one random value of `bytes` bytes.
pub async fn create_unrelated_secrets(
    client: &Client,
    ns: &str,
    n: usize,
    bytes: usize,
) -> Result<(), String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    create_bounded(n, |i| {
        let name = format!("unrelated-{i:05}");
        let mut value = vec![0; bytes];
        OsRng.fill_bytes(&mut value);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([("app".into(), "unrelated".into())])),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".into()),
            data: Some(BTreeMap::from([("value".into(), ByteString(value))])),
            ..Secret::default()
        };
        let api = api.clone();
        Ok(async move {
            api.create(&PostParams::default(), &secret)
                .await
                .map(drop)
                .map_err(|e| format!("create Secret {name}: {e}"))
        })
    })
    .await
}

/// Creates namespace `name`, labelled `kseal-bench=true`.
pub async fn create_namespace(client: &Client, name: &str) -> Result<(), String> {
    kseal_test_support::try_create_namespace(client, name, &[("kseal-bench", "true")])
        .await
        .map_err(|e| e.to_string())
}

/// Starts deleting the namespaces (the namespace controller empties them in the background).
pub async fn delete_namespaces(client: &Client, namespaces: &[String]) {
    let api: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces {
        let _ = api.delete(ns, &DeleteParams::default()).await;
    }
}

/// Waits (up to 10 minutes) until the namespaces are gone.
pub async fn wait_deleted(client: &Client, namespaces: &[String]) {
    let api: Api<Namespace> = Api::all(client.clone());
    let started = Instant::now();
    for ns in namespaces {
        while started.elapsed() < Duration::from_secs(600)
            && matches!(api.get_opt(ns).await, Ok(Some(_)))
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    eprintln!(
        "  namespaces deleted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Installs the SealedSecret CRD if missing and waits until it is established.
pub async fn ensure_crd(client: &Client) -> Result<(), String> {
    kseal_test_support::try_ensure_crd(client)
        .await
        .map_err(|e| e.to_string())
}

/// A `kseal-controller` command scoped to `ctl_ns` (keys) and `additional` (comma-separated app
/// namespaces), one replica without leader election, serving on the given ports of 127.0.0.1,
/// with the admin `kubeconfig` as a flag (not in its environment) and stdin closed.
pub fn scoped_controller(
    controller: &std::path::Path,
    kubeconfig: &std::path::Path,
    ctl_ns: &str,
    additional: &str,
    (api_port, metrics_port): (u16, u16),
) -> std::process::Command {
    let mut command = std::process::Command::new(controller);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            format!("--controller-namespace={ctl_ns}"),
            "--all-namespaces=false".to_owned(),
            format!("--additional-namespaces={additional}"),
            "--leader-elect=false".to_owned(),
            format!("--listen-addr=127.0.0.1:{api_port}"),
            format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"),
        ])
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::null());
    command
}

/// `VmHWM` (peak resident set) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("/proc/{pid}/status has no VmHWM"))
}

/// Stops a child: SIGTERM (with kill(1), no unsafe code), then SIGKILL after 20 s.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A free TCP port on 127.0.0.1.
pub use kseal_test_support::free_port;
