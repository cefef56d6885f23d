//! The `cold` and `restart` parts: each controller started on the same keys and SealedSecrets,
//! timed to every SealedSecret `Synced=True`, with its API requests, writes, Events and memory.

use super::*;

pub(super) async fn bench_controllers(
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
    // The app namespace and the shared one with unrelated Secrets.
    let additional = format!("{},{}", ns.app, setup.bulk);
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
            let child = scoped_controller(
                &setup.options.controller,
                &kubeconfig,
                &ns.ctl,
                &additional,
                (api_port, metrics_port),
            )
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
                &format!("--additional-namespaces={additional}"),
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
