//! Keys: renewal with `/v1/verify` and `/v1/rotate`, leader failover, and key backups.

use super::*;

/// SIGUSR1 generates a new key at once: the new certificate is served and values sealed to the
/// old one still unseal. `/v1/verify` and `/v1/rotate` answer like Bitnami's.
#[tokio::test(flavor = "multi_thread")]
async fn renewal_verify_rotate() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, ctl, app) = (&env.client, &env.ctl, &env.app);
    let controller = env.controller(&[]);
    let old = controller.certificate().await;
    let new = controller.renew_key(&old).await;
    let keys: Api<Secret> = Api::namespaced(client.clone(), &ctl.name);
    let key_secrets = keys
        .list(
            &kube::api::ListParams::default()
                .labels("sealedsecrets.bitnami.com/sealed-secrets-key=active"),
        )
        .await
        .unwrap();
    assert_eq!(key_secrets.items.len(), 2);
    // /v1/certs lists both, newest first, with the Secret each came from.
    let (status, listed) = http(&controller.api, "GET", "/v1/certs", b"").unwrap();
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_slice(&listed).unwrap();
    let listed = listed["certificates"].as_array().unwrap();
    let fingerprints: Vec<&str> = listed
        .iter()
        .map(|c| c["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(
        fingerprints,
        [new.fingerprint().as_str(), old.fingerprint().as_str()]
    );
    assert_eq!(listed[0]["latest"], true);
    assert_eq!(listed[1]["latest"], false);
    for c in listed {
        let pem = c["pem"].as_str().unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!pem.contains("PRIVATE"));
        assert!(
            key_secrets
                .items
                .iter()
                .any(|s| s.metadata.name.as_deref() == c["secretName"].as_str())
        );
        assert!(c["created"].as_str().unwrap().ends_with('Z'));
    }
    for s in &key_secrets.items {
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(
            s.metadata.generate_name.as_deref(),
            Some("sealed-secrets-key")
        );
    }

    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();
    let items: &[(&str, &[u8])] = &[("OLD", CANARY.as_bytes())];
    let old_ss = seal(&old, &app.name, "old", items);
    ssapi.create(&PostParams::default(), &old_ss).await.unwrap();
    secret_with(&secrets, "old", &expect(items)).await;

    // /v1/verify: 200 for a good one, 409 for a foreign one.
    let body = serde_json::to_vec(&old_ss).unwrap();
    let api = controller.api.as_str();
    assert_eq!(
        http_past_rate_limit(api, "POST", "/v1/verify", &body)
            .await
            .0,
        200
    );
    let mut broken = old_ss.clone();
    broken.metadata.name = Some("moved".into());
    let broken = serde_json::to_vec(&broken).unwrap();
    assert_eq!(
        http_past_rate_limit(api, "POST", "/v1/verify", &broken)
            .await
            .0,
        409
    );
    // /v1/rotate: re-sealed to the new key, template untouched.
    let (status, rotated) = http_past_rate_limit(api, "POST", "/v1/rotate", &body).await;
    assert_eq!(status, 200);
    let rotated: SealedSecret = serde_json::from_slice(&rotated).unwrap();
    assert_eq!(
        rotated.key_fingerprint_hint(),
        Some(new.fingerprint().as_str())
    );
    assert_eq!(
        rotated.spec.encrypted_data.names().collect::<Vec<_>>(),
        ["OLD"]
    );
    // The rotated object unseals in the cluster too.
    let mut rotated = rotated;
    rotated.metadata.name = Some("old".into());
    rotated.metadata.resource_version = ssapi.get("old").await.unwrap().metadata.resource_version;
    ssapi
        .replace("old", &PostParams::default(), &rotated)
        .await
        .unwrap();
    wait_synced(&ssapi, "old", "True").await;
    // Rate limit: a burst of verify calls gets 429s.
    let codes: Vec<u16> = (0..6)
        .map(|_| {
            http(&controller.api, "POST", "/v1/verify", &body)
                .unwrap()
                .0
        })
        .collect();
    assert!(codes.contains(&429), "{codes:?}");

    assert_no_canary(&[
        ("controller logs", &controller.logs()),
        ("metrics", &controller.metrics_text()),
    ]);
}

/// Two controller processes: exactly one leads; kill it and the other reconciles a new
/// SealedSecret within 20 s.
#[tokio::test(flavor = "multi_thread")]
async fn leader_failover() {
    let Some(env) = Env::new().await else {
        return;
    };
    let app = &env.app;
    // Failover takes at most lease duration + retry period after a crash (a clean shutdown
    // releases the Lease at once); 10 s keeps the test's 20 s budget with room for the reconcile.
    let args = ["--leader-election-lease-duration=10s"];
    let a = env.controller(&args);
    let cert = a.certificate().await;
    let b = env.controller(&args);
    assert_eq!(
        b.certificate().await.fingerprint(),
        cert.fingerprint(),
        "both serve the cert"
    );
    let leaders = |a: &Controller, b: &Controller| [a, b].iter().filter(|c| c.is_leader()).count();
    wait_for("one of the two leads", Duration::from_secs(30), || async {
        (leaders(&a, &b) == 1).then_some(())
    })
    .await;
    hold_for("exactly one leader", Duration::from_secs(2), || async {
        leaders(&a, &b) == 1
    })
    .await;
    let a_leads = a.is_leader();
    let (mut leader, follower) = if a_leads { (a, b) } else { (b, a) };
    // Make sure the follower is up before the leader dies.
    follower.certificate().await;
    leader.signal("KILL");
    leader.kill();
    let start = std::time::Instant::now();
    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();
    let items: &[(&str, &[u8])] = &[("X", CANARY.as_bytes())];
    ssapi
        .create(
            &PostParams::default(),
            &seal(&cert, &app.name, "after-failover", items),
        )
        .await
        .unwrap();
    secret_with(&secrets, "after-failover", &expect(items)).await;
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "failover took {:?}",
        start.elapsed()
    );
    assert_no_canary(&[("follower logs", &follower.logs())]);
}

/// The fingerprints of the keys in a backup `v1 List`, in file order (newest first).
fn backup_fingerprints(list: &[u8]) -> Vec<String> {
    kseal_core::manifest::parse_private_keys(list)
        .map(|keys| {
            keys.iter()
                .map(|k| k.fingerprint().as_str().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Issue 7: `--key-backup-secret` (another namespace) and `--key-backup-dir` hold every active
/// key from the start and follow a SIGUSR1 renewal within seconds; the backup opens a
/// SealedSecret sealed to the new key offline with `kseal unseal --key` and `kubeseal
/// --recovery-unseal`; the backup Secret is never loaded as a key; no key material or canary
/// in logs, events or metrics.
#[tokio::test(flavor = "multi_thread")]
async fn key_backups_follow_every_key() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, ctl, app) = (&env.client, &env.ctl, &env.app);
    let backup = TestNamespace::new(client, "kseal-bak").await;
    // Holds private keys: removed when the test ends, also when it fails.
    let dir = TempDir::new("backup");
    let file = dir.join("keys.yaml");
    let controller = env.controller(&[
        &format!("--key-backup-secret={}/sealing-keys", backup.name),
        &format!("--key-backup-dir={}", dir.display()),
    ]);
    let a = controller.certificate().await;
    let backups: Api<Secret> = Api::namespaced(client.clone(), &backup.name);
    let secret_keys = || async {
        let s = backups.get_opt("sealing-keys").await.ok()??;
        secret_data(&s).remove("keys.yaml")
    };
    let want_a = vec![a.fingerprint().as_str().to_owned()];
    wait_for(
        "backup Secret holds key A",
        Duration::from_secs(30),
        || async { (backup_fingerprints(&secret_keys().await?) == want_a).then_some(()) },
    )
    .await;
    wait_for(
        "backup file holds key A",
        Duration::from_secs(30),
        || async { (backup_fingerprints(&std::fs::read(&file).ok()?) == want_a).then_some(()) },
    )
    .await;
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "backup file mode {mode:o}");
    }
    let stored = backups.get("sealing-keys").await.unwrap();
    let labels = stored.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get(kseal_controller::backup::BACKUP_LABEL)
            .map(String::as_str),
        Some("true")
    );
    assert!(!labels.contains_key(kseal_crds::SEALED_SECRETS_KEY_LABEL));
    assert_eq!(stored.type_.as_deref(), Some("Opaque"));

    // SIGUSR1 on the leader: a new key B; both backups hold B and A within seconds.
    let b = controller.renew_key(&a).await;
    let served = std::time::Instant::now();
    let want_ba = vec![
        b.fingerprint().as_str().to_owned(),
        a.fingerprint().as_str().to_owned(),
    ];
    wait_for(
        "backup Secret holds B and A",
        Duration::from_secs(10),
        || async { (backup_fingerprints(&secret_keys().await?) == want_ba).then_some(()) },
    )
    .await;
    wait_for(
        "backup file holds B and A",
        Duration::from_secs(10),
        || async { (backup_fingerprints(&std::fs::read(&file).ok()?) == want_ba).then_some(()) },
    )
    .await;
    eprintln!(
        "backups held the new key {:?} after it was served",
        served.elapsed()
    );
    // The backup is not a key: still exactly two keys loaded.
    assert_eq!(
        controller.metric("sealed_secrets_controller_keys"),
        Some(2.0)
    );

    // A SealedSecret sealed to B, unsealed in the cluster and offline from each backup.
    let items: &[(&str, &[u8])] = &[("PASSWORD", CANARY.as_bytes()), ("USER", b"admin")];
    let ss = seal(&b, &app.name, "db", items);
    let ssapi: Api<SealedSecret> = env.api();
    ssapi.create(&PostParams::default(), &ss).await.unwrap();
    let secrets: Api<Secret> = env.api();
    secret_with(&secrets, "db", &expect(items)).await;
    let from_secret = dir.join("from-secret.yaml");
    std::fs::write(&from_secret, secret_keys().await.unwrap()).unwrap();
    let sealed_file = dir.join("db.sealed.json");
    std::fs::write(&sealed_file, serde_json::to_vec(&ss).unwrap()).unwrap();
    for keys in [&from_secret, &file] {
        let (ok, out, err) = run_tool(
            &kseal_cli(),
            &[
                "unseal",
                "--key",
                keys.to_str().unwrap(),
                sealed_file.to_str().unwrap(),
            ],
            b"",
        );
        assert!(ok, "kseal unseal --key {}: {err}", keys.display());
        let opened: Secret = serde_yaml::from_slice(&out).expect("kseal unseal prints a Secret");
        assert!(
            secret_data(&opened) == expect(items),
            "kseal unseal with {} gave other data ({} items)",
            keys.display(),
            secret_data(&opened).len()
        );
        let (ok, out, err) = run_tool(
            &harness_bin().join("kubeseal"),
            &[
                "--recovery-unseal",
                "--recovery-private-key",
                keys.to_str().unwrap(),
            ],
            &serde_json::to_vec(&ss).unwrap(),
        );
        assert!(
            ok,
            "kubeseal --recovery-unseal with {}: {err}",
            keys.display()
        );
        let opened: Secret = serde_yaml::from_slice(&out).expect("kubeseal prints a Secret");
        assert!(
            secret_data(&opened) == expect(items),
            "kubeseal --recovery-unseal with {} gave other data",
            keys.display()
        );
    }

    // kseal rotate --key <backup>: a file sealed to the old key A is re-sealed to B offline.
    let old_file = dir.join("old.sealed.yaml");
    let old_ss = seal(&a, &app.name, "old", items);
    std::fs::write(&old_file, serde_yaml::to_string(&old_ss).unwrap()).unwrap();
    let cert_b = dir.join("b.pem");
    std::fs::write(&cert_b, b.to_pem()).unwrap();
    let (ok, _, err) = run_tool(
        &kseal_cli(),
        &[
            "rotate",
            old_file.to_str().unwrap(),
            "--key",
            file.to_str().unwrap(),
            "--cert",
            cert_b.to_str().unwrap(),
        ],
        b"",
    );
    assert!(ok, "kseal rotate --key <backup>: {err}");
    let rotated: SealedSecret = serde_yaml::from_slice(&std::fs::read(&old_file).unwrap()).unwrap();
    assert_eq!(
        rotated.key_fingerprint_hint(),
        Some(b.fingerprint().as_str()),
        "rotate did not re-seal to the newest key"
    );
    let (ok, out, err) = run_tool(
        &kseal_cli(),
        &[
            "unseal",
            "--key",
            file.to_str().unwrap(),
            old_file.to_str().unwrap(),
        ],
        b"",
    );
    assert!(ok, "kseal unseal of the rotated file: {err}");
    let opened: Secret = serde_yaml::from_slice(&out).unwrap();
    assert!(
        secret_data(&opened) == expect(items),
        "the rotated file opens to other data"
    );

    // No key material anywhere: a line from the middle of each private key's PEM body, as
    // stored, and in the base64 the backup Secret carries.
    let list: serde_json::Value = serde_yaml::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let mut needles = Vec::new();
    for item in list["items"].as_array().unwrap() {
        let b64 = item["data"]["tls.key"].as_str().unwrap().to_owned();
        needles.push(b64[b64.len() / 2..b64.len() / 2 + 48].to_owned());
        let pem = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &b64).unwrap();
        let pem = String::from_utf8(pem).unwrap();
        let lines: Vec<&str> = pem.lines().collect();
        needles.push(lines[lines.len() / 2].to_owned());
    }
    let logs = controller.logs();
    let events = [
        all_events_json(client, &ctl.name).await,
        all_events_json(client, &app.name).await,
        all_events_json(client, &backup.name).await,
    ]
    .concat();
    let metrics = controller.metrics_text();
    for (what, text) in [("logs", &logs), ("events", &events), ("metrics", &metrics)] {
        assert!(
            !text.contains("PRIVATE KEY"),
            "a private key PEM header in {what}"
        );
        for needle in &needles {
            assert!(!text.contains(needle.as_str()), "key material in {what}");
        }
    }
    assert!(
        metrics.contains(
            "sealed_secrets_controller_key_backup_last_success_timestamp_seconds{target=\"secret\"}"
        ) && metrics.contains("target=\"dir\""),
        "backup metrics missing"
    );
    assert!(
        !metrics.contains("sealed_secrets_controller_key_backup_failures_total{"),
        "a backup write failed"
    );
    assert_no_canary(&[
        ("controller logs", &logs),
        ("events", &events),
        ("metrics", &metrics),
    ]);
    drop(dir);
}

/// A backup target that cannot be written (a foreign Secret holds the name) is logged and
/// counted, never overwritten, and unsealing goes on.
#[tokio::test(flavor = "multi_thread")]
async fn key_backup_failure_does_not_stop_unsealing() {
    let Some(env) = Env::new().await else {
        return;
    };
    let app = &env.app;
    let foreign: Api<Secret> = env.api();
    let mut theirs = Secret::default();
    theirs.metadata.name = Some("taken".into());
    theirs.string_data = Some(BTreeMap::from([("k".into(), "theirs".into())]));
    foreign
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    let controller = env.controller(&[&format!("--key-backup-secret={}/taken", app.name)]);
    let cert = controller.certificate().await;
    wait_for(
        "a counted backup failure",
        Duration::from_secs(30),
        || async {
            (controller
                .metric("sealed_secrets_controller_key_backup_failures_total{target=\"secret\"}")?
                >= 1.0)
                .then_some(())
        },
    )
    .await;
    let items: &[(&str, &[u8])] = &[("K", CANARY.as_bytes())];
    let ssapi: Api<SealedSecret> = env.api();
    ssapi
        .create(
            &PostParams::default(),
            &seal(&cert, &app.name, "app", items),
        )
        .await
        .unwrap();
    secret_with(&foreign, "app", &expect(items)).await;
    let kept = foreign.get("taken").await.unwrap();
    assert!(
        secret_data(&kept) == expect(&[("k", b"theirs")]),
        "the foreign Secret was overwritten"
    );
    let logs = controller.logs();
    assert!(logs.contains("key backup failed"), "failure not logged");
    assert!(!logs.contains("PRIVATE KEY"));
    assert_no_canary(&[("controller logs", &logs)]);
}
