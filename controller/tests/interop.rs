//! Interop with the real Bitnami tools (v0.36.0, from the test control plane's harness) on the
//! real control plane (`tests/cluster/`):
//!
//! - the matrix: sealer {kseal, kubeseal} × controller {kseal-controller, Bitnami controller} ×
//!   scope {strict, namespace-wide, cluster-wide} × key size {2048, 4096} = 24 cells; each seals a
//!   Secret manifest with binary, empty, UTF-8 and 64 KiB values (kseal cells also a `.env` with
//!   empty, UTF-8, multi-line and 64 KiB values) and checks the unsealed Secret's bytes exactly;
//!   the two controllers must also produce the same Secret (type, labels, annotations, owner) for
//!   the same input. One line per cell and `interop matrix: N/24 cells passed` go to stderr,
//!   past the test harness's capture, so `tests/run-all.sh` can grep them;
//! - migration both ways: stop one controller, start the other on the same key Secrets: every
//!   SealedSecret stays Synced and no unsealed Secret is written (same resourceVersion);
//! - `kubeseal --fetch-cert`, `--validate`, `--re-encrypt` (after a key renewal) and
//!   `--recovery-unseal` (with kseal's key Secrets) against kseal's controller at 4096 bits;
//! - a `spec.template` SealedSecret renders the same bytes in both controllers;
//! - the kseal CLI (`cert`, `verify --cluster`, `keys --cluster`, `rotate`) against the Bitnami
//!   controller through the API server's service proxy.
//!
//! Controllers are shared across cells (one per controller × key size, each in its own
//! namespaces) and cells run concurrently. Messages never print values: digests and lengths.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kseal_core::ScopeKind;
use kseal_crds::SealedSecret;
use kube::{Api, Client, api::PostParams};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};
use support::{bitnami::*, *};

type Data = BTreeMap<String, Vec<u8>>;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A short digest of Secret data for messages: never the values themselves.
fn digest(data: &Data) -> String {
    let mut h = Sha256::new();
    for (k, v) in data {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_be_bytes());
        h.update(v);
    }
    let d = h.finalize();
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Which keys differ between `got` and `want`, by name and length only.
fn diff(got: &Data, want: &Data) -> String {
    let mut out = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => out.push(format!("{k}: missing")),
            Some(g) if g != v => out.push(format!(
                "{k}: {} bytes, want {} bytes, different content",
                g.len(),
                v.len()
            )),
            Some(_) => {}
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        out.push(format!("{k}: unexpected"));
    }
    out.join("; ")
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    OsRng.fill_bytes(&mut v);
    v
}

fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes(n)
        .into_iter()
        .map(|b| ALPHABET[b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Secret-manifest values: every byte value plus random bytes, empty, UTF-8 (with quotes,
/// backslash, tab, newline and the canary) and 64 KiB of random bytes.
fn manifest_values() -> Data {
    let mut binary: Vec<u8> = (0..=255).collect();
    binary.extend(random_bytes(256));
    let utf8 = format!("Grüße, 日本語, Ελληνικά, 🔐 — \"quoted\" \\ back\tslash\nline 2 {CANARY}");
    BTreeMap::from([
        ("binary.bin".into(), binary),
        ("empty".into(), Vec::new()),
        ("utf-8.txt".into(), utf8.into_bytes()),
        ("big-64KiB".into(), random_bytes(64 * 1024)),
    ])
}

/// A `.env` file with empty, UTF-8 (escapes in double quotes), multi-line PEM-like and 64 KiB
/// values, and the Secret data it means.
fn dotenv_values() -> (String, Data) {
    let big = random_alnum(64 * 1024);
    let pem = format!(
        "-----BEGIN TEST KEY-----\n{}\n{}\n-----END TEST KEY-----",
        random_alnum(64),
        random_alnum(20)
    );
    let text = format!(
        "# interop .env\nEMPTY=\nUTF8=\"Grüße, 日本語, 🔐 — \\\"quoted\\\" and \\\\backslash\"\n\
         PEM=\"{pem}\"\nexport BIG={big}\nCANARY_VALUE='{CANARY}'\n"
    );
    let data = BTreeMap::from([
        ("EMPTY".into(), Vec::new()),
        (
            "UTF8".into(),
            "Grüße, 日本語, 🔐 — \"quoted\" and \\backslash"
                .as_bytes()
                .to_vec(),
        ),
        ("PEM".into(), pem.into_bytes()),
        ("BIG".into(), big.into_bytes()),
        ("CANARY_VALUE".into(), CANARY.as_bytes().to_vec()),
    ]);
    (text, data)
}

fn secret_manifest(ns: &str, name: &str, data: &Data) -> Vec<u8> {
    let data: BTreeMap<&str, String> = data.iter().map(|(k, v)| (k.as_str(), b64(v))).collect();
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "type": "Opaque",
        "data": data
    }))
    .unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Sealer {
    Kseal,
    Kubeseal,
}

impl Sealer {
    fn as_str(self) -> &'static str {
        match self {
            Self::Kseal => "kseal",
            Self::Kubeseal => "kubeseal",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Ctl {
    Kseal,
    Bitnami,
}

impl Ctl {
    fn as_str(self) -> &'static str {
        match self {
            Self::Kseal => "kseal-controller",
            Self::Bitnami => "bitnami",
        }
    }
}

/// The harness tools every test uses.
#[derive(Clone)]
struct Tools {
    kseal: PathBuf,
    kubeseal: PathBuf,
    kubectl: PathBuf,
}

impl Tools {
    fn find() -> Self {
        let bin = harness_bin();
        Self {
            kseal: kseal_cli(),
            kubeseal: bin.join("kubeseal"),
            kubectl: bin.join("kubectl"),
        }
    }

    /// Seals a Secret manifest with `sealer` for `cert` (a PEM file) and `scope`; the parsed
    /// SealedSecret, or the tool's stderr.
    async fn seal_manifest(
        &self,
        sealer: Sealer,
        cert: &Path,
        scope: ScopeKind,
        manifest: Vec<u8>,
    ) -> Result<serde_json::Value, String> {
        let cert = cert.to_str().unwrap().to_owned();
        let (tool, args): (PathBuf, Vec<String>) = match sealer {
            Sealer::Kseal => (
                self.kseal.clone(),
                [
                    "seal",
                    "--no-config",
                    "--cert",
                    &cert,
                    "--scope",
                    scope.as_str(),
                ]
                .into_iter()
                .chain(["-o", "json", "-"])
                .map(String::from)
                .collect(),
            ),
            Sealer::Kubeseal => (
                self.kubeseal.clone(),
                ["--cert", &cert, "--scope", scope.as_str(), "-o", "json"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            ),
        };
        run_json(tool, args, manifest).await
    }

    /// Seals a `.env` file with kseal.
    async fn seal_dotenv(
        &self,
        cert: &Path,
        scope: ScopeKind,
        ns: &str,
        name: &str,
        file: &Path,
    ) -> Result<serde_json::Value, String> {
        let args = [
            "seal",
            "--no-config",
            "--cert",
            cert.to_str().unwrap(),
            "--scope",
            scope.as_str(),
            "--name",
            name,
            "-n",
            ns,
            "-o",
            "json",
            file.to_str().unwrap(),
        ]
        .into_iter()
        .map(String::from)
        .collect();
        run_json(self.kseal.clone(), args, Vec::new()).await
    }
}

async fn run_json(
    tool: PathBuf,
    args: Vec<String>,
    stdin: Vec<u8>,
) -> Result<serde_json::Value, String> {
    let name = tool.file_name().unwrap().to_string_lossy().into_owned();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_tool(&tool, &args, &stdin)
    })
    .await
    .unwrap();
    if !ok {
        return Err(format!("{name} failed: {}", err.trim()));
    }
    serde_json::from_slice(&out).map_err(|e| format!("{name} printed no JSON SealedSecret: {e}"))
}

/// Creates `sealed` (tool output) as `ns/name` and returns nothing but errors as text.
async fn create_as(
    client: &Client,
    mut sealed: serde_json::Value,
    ns: &str,
    name: &str,
) -> Result<(), String> {
    sealed["metadata"]["name"] = name.into();
    sealed["metadata"]["namespace"] = ns.into();
    let ss: SealedSecret =
        serde_json::from_value(sealed).map_err(|e| format!("not a SealedSecret: {e}"))?;
    Api::<SealedSecret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &ss)
        .await
        .map(drop)
        .map_err(|e| format!("create SealedSecret {ns}/{name}: {e}"))
}

/// Waits (90 s) until Secret `ns/name` holds exactly `want` and its SealedSecret is Synced=True
/// for its generation; the Secret, or why not (names and lengths only).
async fn unsealed(client: &Client, ns: &str, name: &str, want: &Data) -> Result<Secret, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let ssapi: Api<SealedSecret> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    loop {
        let secret = secrets.get_opt(name).await.ok().flatten();
        let ss = ssapi.get_opt(name).await.ok().flatten();
        let synced_now = ss.as_ref().and_then(|ss| {
            let st = ss.status.as_ref()?;
            let c = st.synced()?;
            Some((
                c.status.clone(),
                c.message.clone().unwrap_or_default(),
                st.observed_generation.unwrap_or(0) == ss.metadata.generation.unwrap_or(0),
            ))
        });
        if let Some(s) = &secret
            && secret_data(s) == *want
            && matches!(&synced_now, Some((st, _, true)) if st == "True")
        {
            return Ok(s.clone());
        }
        if start.elapsed() > Duration::from_secs(90) {
            let data = secret.as_ref().map_or_else(
                || "no Secret".to_owned(),
                |s| format!("data: {}", diff(&secret_data(s), want)),
            );
            return Err(format!(
                "{ns}/{name} after 90 s: {data}; Synced: {synced_now:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// What two controllers must agree on for the same input: everything but names and UIDs.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    type_: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    immutable: Option<bool>,
    owners: Vec<(String, String, Option<bool>, Option<bool>)>,
    data: String,
}

fn shape(s: &Secret) -> Shape {
    Shape {
        type_: s.type_.clone(),
        labels: s.metadata.labels.clone().unwrap_or_default(),
        annotations: s.metadata.annotations.clone().unwrap_or_default(),
        immutable: s.immutable,
        owners: s
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|o| {
                (
                    o.api_version.clone(),
                    o.kind.clone(),
                    o.controller,
                    o.block_owner_deletion,
                )
            })
            .collect(),
        data: digest(&secret_data(s)),
    }
}

/// Checks an unsealed Secret's ownership: controlled by SealedSecret `ns/name` (its UID).
async fn owned(client: &Client, ns: &str, name: &str, secret: &Secret) -> Result<(), String> {
    let ss = Api::<SealedSecret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(|e| e.to_string())?;
    let ok = secret.metadata.owner_references.as_ref().is_some_and(|o| {
        o.len() == 1
            && o[0].kind == "SealedSecret"
            && o[0].api_version == "bitnami.com/v1alpha1"
            && o[0].controller == Some(true)
            && Some(&o[0].uid) == ss.metadata.uid.as_ref()
    });
    if ok {
        Ok(())
    } else {
        Err(format!("{ns}/{name}: not controlled by its SealedSecret"))
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix

/// One controller of the matrix and its namespaces: `home` (where cells seal for) and `away`
/// (where cluster-wide cells are applied).
struct Target {
    ctl: Ctl,
    bits: u32,
    cert_path: PathBuf,
    home: String,
    away: String,
}

struct Cell {
    sealer: Sealer,
    ctl: Ctl,
    scope: ScopeKind,
    bits: u32,
}

impl Cell {
    fn label(&self) -> String {
        format!(
            "{:<8} → {:<16} {:<14} {}",
            self.sealer.as_str(),
            self.ctl.as_str(),
            self.scope.as_str(),
            self.bits
        )
    }
}

/// The Secrets (name, shape) each controller produced for one sealer × scope × key size.
type ShapesByController = BTreeMap<Ctl, Vec<(String, Shape)>>;

struct CellOutcome {
    values: usize,
    bytes: usize,
    digests: Vec<String>,
    shapes: Vec<(String, Shape)>,
}

async fn run_cell(
    client: Client,
    tools: Tools,
    cell: Cell,
    target: Arc<Target>,
    scratch: PathBuf,
) -> Result<CellOutcome, String> {
    let base = format!(
        "{}-{}",
        cell.sealer.as_str(),
        match cell.scope {
            ScopeKind::Strict => "strict",
            ScopeKind::NamespaceWide => "nswide",
            ScopeKind::ClusterWide => "clwide",
        }
    );
    // Where it is sealed for, and where it is applied: the scope decides how far it may move.
    let place = |name: &str| -> (String, String) {
        match cell.scope {
            ScopeKind::Strict => (target.home.clone(), name.to_owned()),
            ScopeKind::NamespaceWide => (target.home.clone(), format!("{name}-sealed")),
            ScopeKind::ClusterWide => (target.home.clone(), format!("{name}-sealed")),
        }
    };
    let apply_ns = match cell.scope {
        ScopeKind::ClusterWide => target.away.clone(),
        _ => target.home.clone(),
    };

    let mut cases: Vec<(String, Data)> = Vec::new();
    let values = manifest_values();
    let (seal_ns, seal_name) = place(&base);
    let sealed = tools
        .seal_manifest(
            cell.sealer,
            &target.cert_path,
            cell.scope,
            secret_manifest(&seal_ns, &seal_name, &values),
        )
        .await?;
    create_as(&client, sealed, &apply_ns, &base).await?;
    cases.push((base.clone(), values));

    if cell.sealer == Sealer::Kseal {
        let name = format!("{base}-env");
        let (text, values) = dotenv_values();
        let file = scratch.join(format!(
            "{}-{}-{name}.env",
            target.ctl.as_str(),
            target.bits
        ));
        std::fs::write(&file, text).unwrap();
        let (seal_ns, seal_name) = place(&name);
        let sealed = tools
            .seal_dotenv(&target.cert_path, cell.scope, &seal_ns, &seal_name, &file)
            .await;
        let _ = std::fs::remove_file(&file);
        create_as(&client, sealed?, &apply_ns, &name).await?;
        cases.push((name, values));
    }

    let mut outcome = CellOutcome {
        values: 0,
        bytes: 0,
        digests: Vec::new(),
        shapes: Vec::new(),
    };
    for (name, want) in &cases {
        let secret = unsealed(&client, &apply_ns, name, want).await?;
        owned(&client, &apply_ns, name, &secret).await?;
        if secret.type_.as_deref() != Some("Opaque") {
            return Err(format!("{apply_ns}/{name}: type {:?}", secret.type_));
        }
        outcome.values += want.len();
        outcome.bytes += want.values().map(Vec::len).sum::<usize>();
        outcome.digests.push(digest(want));
        outcome.shapes.push((name.clone(), shape(&secret)));
    }
    Ok(outcome)
}

/// The four controllers of the matrix, their namespaces and RBAC; stopped and deleted on drop
/// (controllers first).
struct Fleet {
    _kseal: Vec<Controller>,
    _bitnami: Vec<BitnamiController>,
    _rbac: Vec<BitnamiRbac>,
    _namespaces: Vec<TestNamespace>,
    targets: Vec<Arc<Target>>,
    logs: Vec<PathBuf>,
}

async fn start_fleet(client: &Client, scratch: &TempDir) -> Fleet {
    let mut namespaces = Vec::new();
    let mut rbac = Vec::new();
    let mut kseal = Vec::new();
    let mut bitnami = Vec::new();
    let mut pending = Vec::new();
    for bits in [2048, 4096] {
        for ctl in [Ctl::Kseal, Ctl::Bitnami] {
            let tag = match ctl {
                Ctl::Kseal => "k",
                Ctl::Bitnami => "b",
            };
            let c = TestNamespace::new(client, &format!("interop-ctl-{tag}{bits}")).await;
            let home = TestNamespace::new(client, &format!("interop-home-{tag}{bits}")).await;
            let away = TestNamespace::new(client, &format!("interop-away-{tag}{bits}")).await;
            let watched = [home.name.as_str(), away.name.as_str()];
            let index = match ctl {
                Ctl::Kseal => {
                    let additional = format!("--additional-namespaces={}", watched.join(","));
                    kseal.push(Controller::start_with_key_size(
                        &kubeconfig(),
                        &c.name,
                        bits,
                        &["--all-namespaces=false", &additional],
                    ));
                    kseal.len() - 1
                }
                Ctl::Bitnami => {
                    rbac.push(BitnamiRbac::install(client, &c.name, &watched).await);
                    bitnami.push(BitnamiController::start(&c.name, &watched, bits));
                    bitnami.len() - 1
                }
            };
            pending.push((ctl, bits, index, home.name.clone(), away.name.clone()));
            namespaces.extend([c, home, away]);
        }
    }
    let certs = futures::future::join_all(pending.iter().map(|(ctl, _, i, _, _)| {
        let (api, logs): (String, PathBuf) = match ctl {
            Ctl::Kseal => (kseal[*i].api.clone(), kseal[*i].log.clone()),
            Ctl::Bitnami => (
                bitnami[*i].api.clone(),
                state_dir()
                    .join("logs")
                    .join(format!("{}.log", bitnami[*i].name)),
            ),
        };
        async move {
            served_certificate(&api, &api, || {
                std::fs::read_to_string(&logs).unwrap_or_default()
            })
            .await
        }
    }))
    .await;
    let mut targets = Vec::new();
    for ((ctl, bits, _, home, away), cert) in pending.into_iter().zip(certs) {
        assert_eq!(
            cert.modulus_len() * 8,
            bits as usize,
            "{} generated a key of another size",
            ctl.as_str()
        );
        let cert_path = scratch.write(
            &format!("{}-{bits}.pem", ctl.as_str()),
            cert.to_pem().as_bytes(),
        );
        targets.push(Arc::new(Target {
            ctl,
            bits,
            cert_path,
            home,
            away,
        }));
    }
    let logs = kseal.iter().map(|c| c.log.clone()).collect();
    Fleet {
        _kseal: kseal,
        _bitnami: bitnami,
        _rbac: rbac,
        _namespaces: namespaces,
        targets,
        logs,
    }
}

/// The 24 cells, concurrently, against four shared controllers; then the two controllers must
/// have produced the same Secret for every sealer × scope × key size.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn matrix() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let started = Instant::now();
    let tools = Tools::find();
    let scratch = TempDir::new("interop");
    let fleet = start_fleet(&client, &scratch).await;
    report(&format!(
        "interop: 4 controllers up in {:.1}s (kseal-controller and Bitnami v0.36.0, 2048 and 4096 bits)",
        started.elapsed().as_secs_f64()
    ));

    let mut cells = Vec::new();
    for bits in [2048, 4096] {
        for ctl in [Ctl::Kseal, Ctl::Bitnami] {
            for sealer in [Sealer::Kseal, Sealer::Kubeseal] {
                for scope in ScopeKind::ALL {
                    cells.push(Cell {
                        sealer,
                        ctl,
                        scope,
                        bits,
                    });
                }
            }
        }
    }
    let total = cells.len();
    let handles: Vec<_> = cells
        .into_iter()
        .map(|cell| {
            let target = fleet
                .targets
                .iter()
                .find(|t| t.ctl == cell.ctl && t.bits == cell.bits)
                .unwrap()
                .clone();
            let (client, tools, scratch) = (client.clone(), tools.clone(), scratch.to_path_buf());
            let label = cell.label();
            let key = (cell.sealer, cell.scope.as_str(), cell.bits, cell.ctl);
            let start = Instant::now();
            let task = tokio::spawn(async move {
                let r = run_cell(client, tools, cell, target, scratch).await;
                (r, start.elapsed())
            });
            (label, key, task)
        })
        .collect();

    let mut passed = 0;
    let mut failures = Vec::new();
    let mut shapes: BTreeMap<(Sealer, &str, u32), ShapesByController> = BTreeMap::new();
    for (i, (label, (sealer, scope, bits, ctl), task)) in handles.into_iter().enumerate() {
        let (result, elapsed) = task
            .await
            .unwrap_or_else(|e| (Err(format!("cell panicked: {e}")), Duration::default()));
        match result {
            Ok(o) => {
                passed += 1;
                report(&format!(
                    "interop cell {:>2}/{total} {label}: ok, {} Secret(s), {} values, {} bytes, sha256 {} ({:.1}s)",
                    i + 1,
                    o.digests.len(),
                    o.values,
                    o.bytes,
                    o.digests.join(","),
                    elapsed.as_secs_f64()
                ));
                shapes
                    .entry((sealer, scope, bits))
                    .or_default()
                    .insert(ctl, o.shapes);
            }
            Err(why) => {
                report(&format!(
                    "interop cell {:>2}/{total} {label}: FAILED: {why}",
                    i + 1
                ));
                failures.push(format!("{label}: {why}"));
            }
        }
    }

    // Same input, same Secret: compare kseal-controller's with Bitnami's (the data differs
    // only in the random values, so the digest is left out; each side was checked above).
    let mut agree = 0;
    let mut pairs = 0;
    for ((sealer, scope, bits), by_ctl) in &shapes {
        let (Some(k), Some(b)) = (by_ctl.get(&Ctl::Kseal), by_ctl.get(&Ctl::Bitnami)) else {
            continue;
        };
        pairs += 1;
        let strip = |v: &Vec<(String, Shape)>| -> Vec<String> {
            v.iter()
                .map(|(n, s)| {
                    format!(
                        "{n}: {:?} {:?} {:?} {:?} {:?}",
                        s.type_, s.labels, s.annotations, s.immutable, s.owners
                    )
                })
                .collect()
        };
        if strip(k) == strip(b) {
            agree += 1;
        } else {
            let why = format!(
                "{} {scope} {bits}: kseal-controller and Bitnami made different Secrets: {:?} vs {:?}",
                sealer.as_str(),
                strip(k),
                strip(b)
            );
            report(&format!("interop: {why}"));
            failures.push(why);
        }
    }
    report(&format!(
        "interop: kseal-controller and Bitnami produced the same Secret shape for {agree}/{pairs} sealer × scope × key size"
    ));
    let logs: String = fleet
        .logs
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    assert_no_canary(&[("kseal-controller logs", &logs)]);
    report(&format!(
        "interop matrix: {passed}/{total} cells passed ({:.1}s)",
        started.elapsed().as_secs_f64()
    ));
    assert!(
        failures.is_empty(),
        "interop failures:\n{}",
        failures.join("\n")
    );
    assert_eq!(passed, 24);
    drop(fleet);
}

// ---------------------------------------------------------------------------------------------
// Migration

/// SealedSecrets of the kinds a repository holds, sealed for `cert_path` into `ns`: kubeseal and
/// kseal (strict), kseal namespace-wide (applied under another name), a kseal `.env`, and a
/// basic-auth Secret with labels, annotations and `spec.template.data`. Name → expected data.
async fn populate(
    client: &Client,
    tools: &Tools,
    cert_path: &Path,
    ns: &str,
    scratch: &TempDir,
) -> Vec<(String, Data)> {
    let mut cases = Vec::new();
    for (sealer, scope, name) in [
        (Sealer::Kubeseal, ScopeKind::Strict, "kubeseal-strict"),
        (Sealer::Kseal, ScopeKind::Strict, "kseal-strict"),
        (Sealer::Kseal, ScopeKind::NamespaceWide, "kseal-nswide"),
    ] {
        let values = manifest_values();
        let sealed_name = match scope {
            ScopeKind::Strict => name.to_owned(),
            _ => format!("{name}-sealed"),
        };
        let sealed = tools
            .seal_manifest(
                sealer,
                cert_path,
                scope,
                secret_manifest(ns, &sealed_name, &values),
            )
            .await
            .unwrap();
        create_as(client, sealed, ns, name).await.unwrap();
        cases.push((name.to_owned(), values));
    }

    let (text, values) = dotenv_values();
    let file = scratch.write(&format!("{ns}.env"), text.as_bytes());
    let sealed = tools
        .seal_dotenv(cert_path, ScopeKind::Strict, ns, "kseal-env", &file)
        .await
        .unwrap();
    create_as(client, sealed, ns, "kseal-env").await.unwrap();
    cases.push(("kseal-env".to_owned(), values));

    let password = format!("{CANARY}&<>");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "templated", "namespace": ns,
                     "labels": {"app": "web"}, "annotations": {"team": "a"}},
        "type": "kubernetes.io/basic-auth",
        "data": {"username": b64(b"admin"), "password": b64(password.as_bytes())}
    }))
    .unwrap();
    let mut sealed = tools
        .seal_manifest(Sealer::Kseal, cert_path, ScopeKind::Strict, manifest)
        .await
        .unwrap();
    sealed["spec"]["template"]["data"] =
        serde_json::json!({"dsn": "postgres://{{ .username }}@db/app"});
    create_as(client, sealed, ns, "templated").await.unwrap();
    cases.push((
        "templated".to_owned(),
        BTreeMap::from([
            ("username".into(), b"admin".to_vec()),
            ("password".into(), password.into_bytes()),
            ("dsn".into(), b"postgres://admin@db/app".to_vec()),
        ]),
    ));
    cases
}

/// Secret name → resourceVersion in `ns`, for `names`.
async fn versions(client: &Client, ns: &str, names: &[&str]) -> BTreeMap<String, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = BTreeMap::new();
    for name in names {
        let s = api.get(name).await.unwrap();
        out.insert(
            (*name).to_owned(),
            s.metadata.resource_version.unwrap_or_default(),
        );
    }
    out
}

/// Key Secret name → resourceVersion in the controller namespace (every Secret carrying the
/// key label, whatever its value).
async fn key_versions(client: &Client, ctl_ns: &str) -> BTreeMap<String, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ctl_ns);
    let lp = kube::api::ListParams::default().labels(kseal_crds::SEALED_SECRETS_KEY_LABEL);
    api.list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| {
            (
                s.metadata.name.unwrap_or_default(),
                s.metadata.resource_version.unwrap_or_default(),
            )
        })
        .collect()
}

/// Every case unsealed to its data and Synced=True (each must already be).
async fn all_unsealed(client: &Client, ns: &str, cases: &[(String, Data)]) {
    for (name, want) in cases {
        let secret = unsealed(client, ns, name, want)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        owned(client, ns, name, &secret).await.unwrap();
    }
}

/// What a migration must leave alone: the unsealed Secrets' and the key Secrets' versions.
struct Before {
    secrets: BTreeMap<String, String>,
    keys: BTreeMap<String, String>,
    cert: kseal_core::Certificate,
}

impl Before {
    async fn take(
        client: &Client,
        ctl_ns: &str,
        app_ns: &str,
        cases: &[(String, Data)],
        cert: kseal_core::Certificate,
    ) -> Self {
        let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
        let keys = key_versions(client, ctl_ns).await;
        assert_eq!(keys.len(), 1, "one key Secret before the migration");
        Self {
            secrets: versions(client, app_ns, &names).await,
            keys,
            cert,
        }
    }

    /// After a migration: the new controller serves the old certificate, made or changed no
    /// key Secret, wrote no unsealed Secret, and every SealedSecret is still Synced; one sealed
    /// now (kubeseal, with the certificate the new controller serves) unseals.
    async fn check(
        &self,
        client: &Client,
        tools: &Tools,
        scratch: &TempDir,
        (ctl_ns, app_ns): (&str, &str),
        cases: &[(String, Data)],
        served: &kseal_core::Certificate,
    ) {
        assert_eq!(
            served.fingerprint(),
            self.cert.fingerprint(),
            "the new controller serves another certificate"
        );
        let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            versions(client, app_ns, &names).await,
            self.secrets,
            "an unsealed Secret was written during the migration"
        );
        all_unsealed(client, app_ns, cases).await;
        let values = manifest_values();
        let cert_path = scratch.write("served.pem", served.to_pem().as_bytes());
        let sealed = tools
            .seal_manifest(
                Sealer::Kubeseal,
                &cert_path,
                ScopeKind::Strict,
                secret_manifest(app_ns, "after-migration", &values),
            )
            .await
            .unwrap();
        create_as(client, sealed, app_ns, "after-migration")
            .await
            .unwrap();
        unsealed(client, app_ns, "after-migration", &values)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            key_versions(client, ctl_ns).await,
            self.keys,
            "a key Secret was created or changed during the migration"
        );
    }
}

/// Bitnami → kseal: Bitnami makes the key and unseals everything; it is stopped and
/// kseal-controller started on the same namespace: it adopts the key Secret as it is, and its
/// pass over every SealedSecret writes no Secret.
#[tokio::test(flavor = "multi_thread")]
async fn migrate_bitnami_to_kseal() {
    migrate(Side::Bitnami, Side::Kseal, "interop-mig").await;
}

/// kseal → Bitnami (rolling back): kseal-controller makes the key and unseals everything; it is
/// stopped and the Bitnami controller started on the same namespace as its ServiceAccount: it
/// loads kseal's key Secret and writes no Secret.
#[tokio::test(flavor = "multi_thread")]
async fn migrate_kseal_to_bitnami() {
    migrate(Side::Kseal, Side::Bitnami, "interop-back").await;
}

/// One side of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Kseal,
    Bitnami,
}

/// A running controller of either side, scoped to one app namespace.
enum Running {
    Kseal(Controller),
    Bitnami(BitnamiController),
}

impl Running {
    fn start(side: Side, ctl_ns: &str, app_ns: &str) -> Self {
        match side {
            Side::Kseal => {
                let additional = format!("--additional-namespaces={app_ns}");
                Self::Kseal(Controller::start_with_key_size(
                    &kubeconfig(),
                    ctl_ns,
                    2048,
                    &["--all-namespaces=false", &additional],
                ))
            }
            Side::Bitnami => Self::Bitnami(BitnamiController::start(ctl_ns, &[app_ns], 2048)),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Kseal(_) => "kseal-controller",
            Self::Bitnami(_) => "bitnami",
        }
    }

    async fn certificate(&self) -> kseal_core::Certificate {
        match self {
            Self::Kseal(c) => c.certificate().await,
            Self::Bitnami(c) => c.certificate().await,
        }
    }

    fn metric(&self, name: &str) -> Option<f64> {
        match self {
            Self::Kseal(c) => c.metric(name),
            Self::Bitnami(c) => c.metric(name),
        }
    }

    /// No canary in kseal-controller's logs (Bitnami's are not ours to judge).
    fn assert_no_canary(&self) {
        if let Self::Kseal(c) = self {
            assert_no_canary(&[("kseal-controller logs", &c.logs())]);
        }
    }

    /// Stops the process: Bitnami's gracefully, kseal-controller's with SIGKILL (its Lease is
    /// left to expire, the harder case for the one that follows).
    fn stop(&mut self) {
        match self {
            Self::Kseal(c) => c.kill(),
            Self::Bitnami(c) => c.stop(),
        }
    }
}

/// `from` makes the key and unseals every interop case; it is stopped and `to` started on the
/// same namespaces; `to` must adopt the key and reconcile everything without writing a Secret.
async fn migrate(from: Side, to: Side, prefix: &str) {
    let Some(client) = require_cluster().await else {
        return;
    };
    let started = Instant::now();
    let tools = Tools::find();
    let scratch = TempDir::new(prefix);
    let ctl = TestNamespace::new(&client, &format!("{prefix}-ctl")).await;
    let app = TestNamespace::new(&client, &format!("{prefix}-app")).await;
    let _rbac = BitnamiRbac::install(&client, &ctl.name, &[&app.name]).await;
    let mut old = Running::start(from, &ctl.name, &app.name);
    let cert = old.certificate().await;
    let cert_path = scratch.write("old.pem", cert.to_pem().as_bytes());
    let cases = populate(&client, &tools, &cert_path, &app.name, &scratch).await;
    all_unsealed(&client, &app.name, &cases).await;
    let before = Before::take(&client, &ctl.name, &app.name, &cases, cert).await;
    old.assert_no_canary();

    old.stop();
    let new = Running::start(to, &ctl.name, &app.name);
    let served = new.certificate().await;
    let n = cases.len() as f64;
    eventually(
        &format!("{} went over every SealedSecret", new.name()),
        || async {
            (new.metric("sealed_secrets_controller_unseal_requests_total") >= Some(n)).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    before
        .check(
            &client,
            &tools,
            &scratch,
            (&ctl.name, &app.name),
            &cases,
            &served,
        )
        .await;
    new.assert_no_canary();
    report(&format!(
        "interop migration {} → {}: ok, {} SealedSecrets Synced, 0 Secret writes, key adopted ({:.1}s)",
        old.name(),
        new.name(),
        cases.len(),
        started.elapsed().as_secs_f64()
    ));
}

// ---------------------------------------------------------------------------------------------
// kseal's CLI against the Bitnami controller

/// The kseal CLI against the real Bitnami controller through the API server's service proxy, as
/// a team that has not changed its controller uses it: `kseal cert` fetches Bitnami's
/// certificate; `kseal verify --cluster` asks its `/v1/verify`; `kseal keys --cluster` falls
/// back to the one certificate Bitnami serves (it has no `/v1/certs`); `kseal rotate` re-seals a
/// kubeseal file (no key annotation) through its `/v1/rotate` and leaves a kseal file that is
/// already sealed to the newest key alone.
#[tokio::test(flavor = "multi_thread")]
async fn kseal_cli_against_bitnami() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let started = Instant::now();
    let tools = Tools::find();
    let scratch = TempDir::new("interop-cli");
    let ctl = TestNamespace::new(&client, "interop-cli-ctl").await;
    let app = TestNamespace::new(&client, "interop-cli-app").await;
    let _rbac = BitnamiRbac::install(&client, &ctl.name, &[&app.name]).await;
    let theirs = BitnamiController::start(&ctl.name, &[&app.name], 2048);
    let cert = theirs.certificate().await;
    let fingerprint = cert.fingerprint().to_string();
    cluster_sh(&[
        "expose",
        &ctl.name,
        "sealed-secrets-controller",
        &theirs.name,
        "8080",
        "http",
    ]);
    let target = ["--controller-namespace", ctl.name.as_str()];
    let kseal = |args: &[&str], stdin: &[u8]| -> String {
        let (ok, out, err) = run_tool(&tools.kseal, args, stdin);
        assert!(ok, "kseal {}: {err}", args.join(" "));
        String::from_utf8(out).unwrap()
    };

    let pem = kseal(&[&["cert"][..], &target].concat(), b"");
    assert_eq!(
        kseal_core::Certificate::from_pem(pem.as_bytes())
            .expect("kseal cert printed a certificate")
            .fingerprint()
            .to_string(),
        fingerprint,
        "kseal cert through the proxy is Bitnami's certificate"
    );
    let cert_path = scratch.write("bitnami.pem", pem.as_bytes());
    let cert_arg = cert_path.to_str().unwrap();

    // One file from kubeseal (no key annotation), one from kseal (annotated).
    let dir = scratch.join("k8s");
    std::fs::create_dir_all(&dir).unwrap();
    let values = manifest_values();
    let manifest = secret_manifest(&app.name, "from-kubeseal", &values);
    let (ok, sealed, err) = run_tool(
        &tools.kubeseal,
        &["--cert", cert_arg, "-o", "yaml"],
        &manifest,
    );
    assert!(ok, "kubeseal: {err}");
    let kubeseal_file = dir.join("from-kubeseal.yaml");
    std::fs::write(&kubeseal_file, &sealed).unwrap();
    let (env, env_values) = dotenv_values();
    let kseal_yaml = kseal(
        &[
            "seal",
            "--no-config",
            "--cert",
            cert_arg,
            "--name",
            "from-kseal",
            "-n",
            &app.name,
        ],
        env.as_bytes(),
    );
    let kseal_file = dir.join("from-kseal.yaml");
    std::fs::write(&kseal_file, &kseal_yaml).unwrap();
    let apply = |file: &Path| {
        let (ok, _, err) = run_tool(
            &tools.kubectl,
            &["apply", "-f", file.to_str().unwrap()],
            b"",
        );
        assert!(ok, "kubectl apply {}: {err}", file.display());
    };
    apply(&kubeseal_file);
    apply(&kseal_file);
    for (name, want) in [("from-kubeseal", &values), ("from-kseal", &env_values)] {
        unsealed(&client, &app.name, name, want)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let dir_arg = dir.to_str().unwrap();
    let verify = [
        &["verify", "--no-config", "--cluster", dir_arg][..],
        &target,
    ]
    .concat();
    kseal(&verify, b"");
    let keys = kseal(
        &[&["keys", "--no-config", "--cluster", dir_arg][..], &target].concat(),
        b"",
    );
    // Without /v1/certs the newest certificate is the one key listed: `-` for its Secret and
    // creation time, marked newest, in use by the kseal file.
    let row = keys.lines().find(|l| l.starts_with(&fingerprint));
    assert!(
        row.is_some_and(|r| {
            let cols: Vec<&str> = r.split_whitespace().collect();
            cols[1..5] == ["-", "-", "yes", "1"] && r.contains("in use")
        }),
        "kseal keys --cluster does not list Bitnami's certificate {fingerprint} as the newest:\n{keys}"
    );

    let kseal_before = std::fs::read(&kseal_file).unwrap();
    kseal(
        &[&["rotate", "--no-config", dir_arg][..], &target].concat(),
        b"",
    );
    assert_eq!(
        std::fs::read(&kseal_file).unwrap(),
        kseal_before,
        "kseal rotate rewrote a file already sealed to the newest key"
    );
    let rotated: serde_json::Value =
        serde_yaml::from_slice(&std::fs::read(&kubeseal_file).unwrap()).unwrap();
    assert_eq!(
        rotated["metadata"]["annotations"][kseal_crds::KEY_FINGERPRINT_ANNOTATION],
        fingerprint.as_str(),
        "the kubeseal file was re-sealed through /v1/rotate and annotated"
    );
    let original: serde_json::Value = serde_yaml::from_slice(&sealed).unwrap();
    assert_ne!(
        rotated["spec"]["encryptedData"], original["spec"]["encryptedData"],
        "/v1/rotate returned fresh ciphertext"
    );
    // Bitnami unseals the re-sealed file: /v1/verify, then applied over the old one.
    kseal(&verify, b"");
    apply(&kubeseal_file);
    unsealed(&client, &app.name, "from-kubeseal", &values)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    report(&format!(
        "interop kseal CLI against bitnami: ok, cert, verify --cluster ×2, keys --cluster (newest only, no /v1/certs), rotate through /v1/rotate (1 of 2 files re-sealed) ({:.1}s)",
        started.elapsed().as_secs_f64()
    ));
}

// ---------------------------------------------------------------------------------------------
// kubeseal's other commands against kseal's controller and keys

/// `kubeseal --recovery-unseal` with the given private-key files; the unsealed data or stderr.
fn recovery_unseal(tools: &Tools, keys: &[&Path], sealed: &[u8]) -> Result<Data, String> {
    let keys: Vec<&str> = keys.iter().map(|k| k.to_str().unwrap()).collect();
    let keys = keys.join(",");
    let (ok, out, err) = run_tool(
        &tools.kubeseal,
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            &keys,
            "-o",
            "json",
        ],
        sealed,
    );
    if !ok {
        return Err(err);
    }
    let secret: Secret = serde_json::from_slice(&out).map_err(|e| e.to_string())?;
    Ok(secret_data(&secret))
}

/// Against kseal-controller with 4096-bit keys, running as its ServiceAccount in a network
/// namespace behind the API server's service proxy (the 2048-bit strict-scope basics are in
/// `e2e.rs`): `kubeseal --fetch-cert`; kubeseal-sealed namespace-wide and cluster-wide and
/// kseal-sealed SealedSecrets pass `--validate`; `--recovery-unseal` opens each with kseal's key
/// Secrets as `kubectl get -o yaml` prints them; after a key renewal (SIGUSR1) `--fetch-cert`
/// gives the new certificate and `--re-encrypt` re-seals to the new key only (proven by
/// `--recovery-unseal` with the new key alone), and the re-encrypted object unseals to the same
/// Secret.
#[tokio::test(flavor = "multi_thread")]
async fn kubeseal_commands_against_kseal() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let started = Instant::now();
    let tools = Tools::find();
    let scratch = TempDir::new("interop-kubeseal");
    let ctl = TestNamespace::new(&client, "interop-ks-ctl").await;
    let app = TestNamespace::new(&client, "interop-ks-app").await;
    let controller = proxied_controller(&client, &ctl.name, &app.name, &["--key-size=4096"]).await;
    let first = served_certificate(&controller.api, "kseal-controller", || controller.logs()).await;
    assert_eq!(first.modulus_len(), 512, "a 4096-bit key");
    let target = ["--controller-namespace", ctl.name.as_str()];
    let fetch = || {
        let (ok, pem, err) = run_tool(
            &tools.kubeseal,
            &[&["--fetch-cert"][..], &target].concat(),
            b"",
        );
        assert!(ok, "kubeseal --fetch-cert: {err}");
        kseal_core::Certificate::from_pem(&pem)
            .expect("kubeseal --fetch-cert printed a certificate")
    };
    assert_eq!(fetch().fingerprint(), first.fingerprint());
    let cert_path = scratch.write("first.pem", first.to_pem().as_bytes());

    // Sealed three ways; kubeseal fetches the certificate through the proxy itself.
    let mut cases: Vec<(String, Data, Vec<u8>)> = Vec::new();
    for (name, scope, sealer) in [
        (
            "kubeseal-nswide",
            ScopeKind::NamespaceWide,
            Sealer::Kubeseal,
        ),
        ("kubeseal-clwide", ScopeKind::ClusterWide, Sealer::Kubeseal),
        ("kseal-strict", ScopeKind::Strict, Sealer::Kseal),
    ] {
        let values = manifest_values();
        let sealed_name = match scope {
            ScopeKind::Strict => name.to_owned(),
            _ => format!("{name}-sealed"),
        };
        let manifest = secret_manifest(&app.name, &sealed_name, &values);
        let mut sealed = match sealer {
            Sealer::Kubeseal => {
                let args = [&["--scope", scope.as_str(), "-o", "json"][..], &target].concat();
                let (ok, out, err) = run_tool(&tools.kubeseal, &args, &manifest);
                assert!(ok, "kubeseal {name}: {err}");
                serde_json::from_slice::<serde_json::Value>(&out).unwrap()
            }
            Sealer::Kseal => tools
                .seal_manifest(sealer, &cert_path, scope, manifest)
                .await
                .unwrap(),
        };
        sealed["metadata"]["name"] = name.into();
        sealed["metadata"]["namespace"] = app.name.as_str().into();
        let bytes = serde_json::to_vec(&sealed).unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await; // /v1/verify is rate-limited
        let (ok, _, err) = run_tool(
            &tools.kubeseal,
            &[&["--validate"][..], &target].concat(),
            &bytes,
        );
        assert!(ok, "kubeseal --validate {name}: {err}");
        create_as(&client, sealed, &app.name, name).await.unwrap();
        cases.push((name.to_owned(), values, bytes));
    }
    for (name, want, _) in &cases {
        unsealed(&client, &app.name, name, want)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // --recovery-unseal with the key Secrets exactly as a backup has them.
    let (ok, backup, err) = run_tool(
        &tools.kubectl,
        &[
            "-n",
            &ctl.name,
            "get",
            "secret",
            "-l",
            kseal_crds::SEALED_SECRETS_KEY_LABEL,
            "-o",
            "yaml",
        ],
        b"",
    );
    assert!(ok, "kubectl get key Secrets: {err}");
    let backup = scratch.write("backup.yaml", &backup);
    for (name, want, sealed) in &cases {
        let got = recovery_unseal(&tools, &[&backup], sealed)
            .unwrap_or_else(|e| panic!("kubeseal --recovery-unseal {name}: {e}"));
        assert!(
            got == *want,
            "kubeseal --recovery-unseal {name}: {}",
            diff(&got, want)
        );
    }

    // Renewal, then --fetch-cert and --re-encrypt.
    let pid = background_pid(&controller.name).to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-USR1", &pid])
            .status()
            .unwrap()
            .success()
    );
    let second = eventually("a renewed certificate served", || async {
        let (status, body) = http(&controller.api, "GET", "/v1/cert.pem", b"").ok()?;
        let cert = kseal_core::Certificate::from_pem(&body).ok()?;
        (status == 200 && cert.fingerprint() != first.fingerprint()).then_some(cert)
    })
    .await;
    assert_eq!(second.modulus_len(), 512);
    assert_eq!(fetch().fingerprint(), second.fingerprint());
    let keys: Api<Secret> = Api::namespaced(client.clone(), &ctl.name);
    let lp = kube::api::ListParams::default().labels(kseal_crds::SEALED_SECRETS_KEY_LABEL);
    let new_key = keys
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .find_map(|s| {
            let data = secret_data(&s);
            let cert = kseal_core::Certificate::from_pem(data.get("tls.crt")?).ok()?;
            (cert.fingerprint() == second.fingerprint()).then(|| data.get("tls.key").cloned())?
        })
        .expect("the renewed key's Secret");
    let new_key = scratch.write("new.key", &new_key);

    let (name, want, sealed) = &cases[2];
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (ok, re, err) = run_tool(
        &tools.kubeseal,
        &[&["--re-encrypt", "-o", "json"][..], &target].concat(),
        sealed,
    );
    assert!(ok, "kubeseal --re-encrypt: {err}");
    let got = recovery_unseal(&tools, &[&new_key], &re)
        .unwrap_or_else(|e| panic!("the re-encrypted {name} does not open with the new key: {e}"));
    assert!(got == *want, "re-encrypted {name}: {}", diff(&got, want));
    assert!(
        recovery_unseal(&tools, &[&new_key], sealed).is_err(),
        "the original {name} opens with the new key alone"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (ok, _, err) = run_tool(
        &tools.kubeseal,
        &[&["--validate"][..], &target].concat(),
        &re,
    );
    assert!(ok, "kubeseal --validate of the re-encrypted {name}: {err}");
    let ssapi: Api<SealedSecret> = Api::namespaced(client.clone(), &app.name);
    let mut re: SealedSecret = serde_json::from_slice(&re).unwrap();
    let current = ssapi.get(name).await.unwrap();
    re.metadata.resource_version = current.metadata.resource_version;
    ssapi
        .replace(name, &PostParams::default(), &re)
        .await
        .unwrap();
    unsealed(&client, &app.name, name, want)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let logs = controller.logs();
    assert_no_canary(&[("controller logs", &logs)]);
    assert!(!logs.contains("orbidden"), "RBAC denied something");
    report(&format!(
        "interop kubeseal against kseal-controller (4096): ok, --fetch-cert, --validate ×4, --recovery-unseal ×{}, renewal, --re-encrypt ({:.1}s)",
        cases.len() + 2,
        started.elapsed().as_secs_f64()
    ));
}

// ---------------------------------------------------------------------------------------------
// Templates

/// `spec.template.data` entries using the functions kseal documents (Go builtins and its sprig
/// subset), each compared between the two controllers.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "dsn",
        "postgres://{{ .user }}:{{ .password }}@{{ .host }}:5432/app",
    ),
    ("basic", "{{ printf \"%s:%s\" .user .password | b64enc }}"),
    (
        "cases",
        "{{ .user | upper }} {{ lower \"MiXeD\" }} {{ title \"hello world\" }}",
    ),
    ("sha", "{{ sha256sum .password }}"),
    ("quotes", "{{ quote .note }} {{ squote .user }}"),
    // Same name as an item: the rendered value replaces the decrypted one in both.
    (
        "hosts",
        "{{ range $i, $h := splitList \",\" .hosts }}{{ if $i }};{{ end }}{{ $i }}={{ trim $h }}{{ end }}",
    ),
    ("join", "{{ list .user .host | join \"/\" }}"),
    (
        "logic",
        "{{ if eq .user \"admin\" }}admin{{ else }}user{{ end }} {{ len .password }} {{ and .user .host }} {{ or \"\" .host }} {{ not true }}",
    ),
    (
        "defaults",
        "{{ default \"fallback\" \"\" }} {{ .user | default \"x\" }} {{ coalesce \"\" .host }}",
    ),
    ("missing", "[{{ .missing }}]"),
    (
        "json",
        "{{ toJson .user }} {{ toJson .greeting }} {{ toJson .pem }}",
    ),
    ("printf-d", "{{ printf \"%5d|%+d|%d\" 42 3 -1 }}"),
    ("printf-s", "{{ printf \"%s|%v|%d\" .user true 7 }}"),
    ("printf-x", "{{ printf \"%x\" .user }}"),
    (
        "strings",
        "{{ replace \"-\" \"_\" .host }} {{ trimSuffix \".example\" .host }} {{ trimPrefix \"db\" .host }} {{ hasPrefix \"db\" .host }} {{ hasSuffix \"x\" .host }} {{ contains \"ex\" .host }}",
    ),
    (
        "cut",
        "{{ trunc 3 .user }} {{ substr 1 3 .host }} {{ repeat 2 \"ab\" }} {{ nospace \"a b c\" }} {{ trimAll \"*\" \"**x**\" }} {{ cat .user .host }}",
    ),
    (
        "base",
        "{{ \"aGVsbG8=\" | b64dec }} {{ b32enc .user }} {{ \"MFSG22LO\" | b32dec }}",
    ),
    (
        "ternary",
        "{{ ternary \"yes\" \"no\" (eq .host \"db.example\") }} {{ empty .empty }} {{ toString 7 }}",
    ),
    ("indent", "{{ .pem | indent 2 }}|{{ .pem | nindent 4 }}"),
    (
        "index",
        "{{ index . \"user\" }} {{ print .user 1 2 }} {{ println .user }}",
    ),
    (
        "cmp",
        "{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1 2 }} {{ ne .user \"x\" }}",
    ),
    // Go's url.QueryEscape: space as `+`, everything but `A-Za-z0-9-_.~` escaped.
    (
        "urlquery",
        "{{ urlquery .note }} {{ .password | urlquery }} {{ urlquery .user 1 2 }}",
    ),
    // strconv.Quote: quotes added, printable non-ASCII kept, `\"` and `\t` escaped.
    (
        "printf-q",
        "{{ printf \"%q|%+q|%#q\" .note .greeting .user }}",
    ),
    (
        "printf-flags",
        "{{ printf \"%05d|%-4d|%+05d|%x|%#x|%8.3f|%-6s|\" 42 7 3 255 255 3.14159 .user }}",
    ),
    (
        "printf-misuse",
        "{{ printf \"%d|%s|%z\" .user 5 1 }}{{ printf \"%d\" }}{{ printf \"%d\" 1 2 }}",
    ),
    (
        "print",
        "{{ print .missing 1 2 .user }}|{{ list 1 .user | toString }}",
    ),
    // encoding/json: `<`, `>`, `&` as \u003c, \u003e, \u0026.
    (
        "toJson-html",
        "{{ toJson .password }} {{ toJson .note }} {{ mustToJson (list .user 1 true) }}",
    ),
];

/// The items the templates see.
fn template_items() -> Data {
    BTreeMap::from([
        ("user".into(), b"admin".to_vec()),
        (
            "password".into(),
            format!("p@ss w0rd/&<>?\"'{CANARY}").into_bytes(),
        ),
        ("host".into(), b"db.example".to_vec()),
        ("hosts".into(), b"a.example, b.example ,c.example".to_vec()),
        (
            "note".into(),
            "Grüße 🔐 \"quoted\"\ttab <b>&amp;".as_bytes().to_vec(),
        ),
        (
            "greeting".into(),
            "Grüße 🔐 \"quoted\"\ttab".as_bytes().to_vec(),
        ),
        ("empty".into(), Vec::new()),
        (
            "pem".into(),
            b"-----BEGIN X-----\nAAAA\n-----END X-----".to_vec(),
        ),
    ])
}

/// Renders `templates` over [`template_items`] in both controllers, which share one key: the
/// same cluster-wide SealedSecret goes into a namespace of each. Returns the differing keys
/// (names and lengths only) after checking both Secrets otherwise agree.
async fn render_in_both(client: &Client, templates: &[(&str, &str)]) -> (Vec<String>, String) {
    let tools = Tools::find();
    let scratch = TempDir::new("interop-tmpl");
    let ctl_k = TestNamespace::new(client, "interop-tmpl-ctl-k").await;
    let app_k = TestNamespace::new(client, "interop-tmpl-app-k").await;
    let ctl_b = TestNamespace::new(client, "interop-tmpl-ctl-b").await;
    let app_b = TestNamespace::new(client, "interop-tmpl-app-b").await;

    // One key for both, installed as a Bitnami-shaped key Secret before either starts.
    let (key, cert) = kseal_core::keys::generate(&kseal_core::CertParams {
        key_size: kseal_core::KeySize::Rsa2048,
        not_before: std::time::SystemTime::now() - Duration::from_secs(3600),
        validity: Duration::from_secs(86_400),
        common_name: String::new(),
        serial: [7; 16],
    })
    .unwrap();
    for ns in [&ctl_k.name, &ctl_b.name] {
        let secret = kseal_controller::keys::key_secret(
            "sealed-secrets-key",
            ns,
            &key,
            &cert,
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let _rbac = BitnamiRbac::install(client, &ctl_b.name, &[&app_b.name]).await;
    let theirs = BitnamiController::start(&ctl_b.name, &[&app_b.name], 2048);
    let additional = format!("--additional-namespaces={}", app_k.name);
    let ours = Controller::start_with_key_size(
        &kubeconfig(),
        &ctl_k.name,
        2048,
        &["--all-namespaces=false", &additional],
    );
    for served in [theirs.certificate().await, ours.certificate().await] {
        assert_eq!(
            served.fingerprint(),
            cert.fingerprint(),
            "the shared key is served"
        );
    }

    let items = template_items();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "rendered", "namespace": app_k.name,
                     "labels": {"app": "web", "tier": "db"},
                     "annotations": {"team": "a", "note": "x=y"}},
        "type": "example.com/rendered",
        "data": items.iter().map(|(k, v)| (k.clone(), b64(v))).collect::<BTreeMap<_, _>>()
    }))
    .unwrap();
    let cert_path = scratch.write("shared.pem", cert.to_pem().as_bytes());
    let mut sealed = tools
        .seal_manifest(Sealer::Kseal, &cert_path, ScopeKind::ClusterWide, manifest)
        .await
        .unwrap();
    sealed["spec"]["template"]["data"] = templates
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    for ns in [&app_k.name, &app_b.name] {
        create_as(client, sealed.clone(), ns, "rendered")
            .await
            .unwrap();
    }

    let synced_secret = |ns: String| {
        let client = client.clone();
        async move {
            let ssapi: Api<SealedSecret> = Api::namespaced(client.clone(), &ns);
            wait_synced(&ssapi, "rendered", "True").await;
            Api::<Secret>::namespaced(client, &ns)
                .get("rendered")
                .await
                .unwrap()
        }
    };
    let (k, b) = tokio::join!(
        synced_secret(app_k.name.clone()),
        synced_secret(app_b.name.clone())
    );
    let (kd, bd) = (secret_data(&k), secret_data(&b));
    let differing = bd
        .keys()
        .chain(kd.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|key| kd.get(*key) != bd.get(*key))
        .map(|key| {
            format!(
                "{key}: kseal {} bytes, Bitnami {} bytes",
                kd.get(key).map_or(0, Vec::len),
                bd.get(key).map_or(0, Vec::len)
            )
        })
        .collect();
    let expected_keys: std::collections::BTreeSet<&str> = items
        .keys()
        .map(String::as_str)
        .chain(templates.iter().map(|(k, _)| *k))
        .collect();
    for (who, data) in [("kseal-controller", &kd), ("Bitnami", &bd)] {
        let got: std::collections::BTreeSet<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(got, expected_keys, "{who}: the rendered Secret's keys");
    }
    let (mut ks, mut bs) = (shape(&k), shape(&b));
    (ks.data, bs.data) = (String::new(), String::new());
    assert_eq!(ks, bs, "the controllers made different Secrets");
    assert_eq!(k.type_.as_deref(), Some("example.com/rendered"));
    assert_no_canary(&[("kseal-controller logs", &ours.logs())]);
    (differing, digest(&kd))
}

/// A template SealedSecret (Go builtins and every sprig function kseal documents, over UTF-8,
/// quotes, tabs, multi-line and empty items, with labels, annotations and a custom type) renders
/// the same Secret bytes in kseal-controller and Bitnami's controller.
#[tokio::test(flavor = "multi_thread")]
async fn template_renders_the_same_in_both_controllers() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let started = Instant::now();
    let (differing, digest) = render_in_both(&client, TEMPLATES).await;
    assert!(
        differing.is_empty(),
        "the controllers rendered different data: {}",
        differing.join("; ")
    );
    report(&format!(
        "interop template: ok, {} template keys + {} items render the same bytes in both controllers, sha256 {digest} ({:.1}s)",
        TEMPLATES.len(),
        template_items().len(),
        started.elapsed().as_secs_f64()
    ));
}
