//! The matrix: sealer {kseal, kubeseal} × controller {kseal-controller, Bitnami} × scope ×
//! key size, on controllers shared across cells (a fleet), with one stderr line per cell and the
//! `interop matrix: N/24 cells passed` line `tests/run-all.sh` greps.

use super::*;

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
