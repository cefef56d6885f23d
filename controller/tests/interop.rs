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

/// The sealer × controller × scope × key-size matrix.
#[path = "interop/cells.rs"]
mod cells;
/// kseal's CLI against Bitnami, kubeseal against kseal.
#[path = "interop/commands.rs"]
mod commands;
/// Migration between the controllers.
#[path = "interop/migration.rs"]
mod migration;
mod support;
/// Templates in both controllers.
#[path = "interop/templates.rs"]
mod templates;

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
