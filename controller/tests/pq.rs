//! `pq-hybrid` SealedSecrets on the real control plane (`docs/pq-format.md`): the controller's
//! own key carries an X-Wing key in its certificate; `kseal seal --encryption pq-hybrid` with
//! that certificate gives a SealedSecret the controller turns into a Secret with exactly the
//! sealed bytes; after a key renewal (SIGUSR1) the new certificate has a new X-Wing key, and
//! values sealed to the old and the new key both open; `kseal backup` then `kseal unseal --key`
//! opens both offline. No value appears in logs, events, status or metrics. Then Bitnami's
//! controller, loading the same key Secrets (it ignores `xwing.key`), is given a `pq-hybrid`
//! SealedSecret: it reports the failure and writes no Secret.

mod support;

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::api::core::v1::Secret;
use kseal_core::Certificate;
use kseal_crds::SealedSecret;
use kube::{Api, api::PostParams};
use support::{
    bitnami::{BitnamiController, BitnamiRbac},
    *,
};

/// `kseal seal --encryption pq-hybrid` of `env` for `name` in `ns` with `cert`, parsed.
fn kseal_seal_pq(cert: &Certificate, ns: &str, name: &str, env: &str) -> SealedSecret {
    let dir = TempDir::new("pq-seal");
    let cert_file = dir.join("cert.pem");
    std::fs::write(&cert_file, cert.to_pem()).unwrap();
    let cert_arg = cert_file.to_string_lossy().into_owned();
    let (ok, stdout, stderr) = run_tool(
        &kseal_cli(),
        &[
            "seal",
            "--no-config",
            "--cert",
            &cert_arg,
            "--name",
            name,
            "-n",
            ns,
            "--encryption",
            "pq-hybrid",
        ],
        env.as_bytes(),
    );
    assert!(ok, "kseal seal --encryption pq-hybrid failed: {stderr}");
    let ss: SealedSecret = serde_yaml::from_slice(&stdout).unwrap();
    for (item, value) in ss.spec.encrypted_data.iter() {
        let text = value.as_sealed().unwrap();
        assert!(text.starts_with("ksealPQ1"), "item {item} is not pq-hybrid");
    }
    ss
}

/// `POST path` to the controller's API, past its rate limit.
async fn post(api: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    http_past_rate_limit(api, "POST", path, body).await
}

async fn secret_with(api: &Api<Secret>, name: &str, want: &BTreeMap<String, Vec<u8>>) {
    wait_for(
        &format!("Secret {name} with exactly the sealed bytes"),
        Duration::from_secs(45),
        || async {
            let s = api.get_opt(name).await.ok()??;
            (secret_data(&s) == *want).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pq_hybrid_sealed_secret_becomes_its_secret_across_a_renewal() {
    let Some(client) = require_cluster().await else {
        return;
    };
    ensure_crd(&client).await;
    let ctl = TestNamespace::new(&client, "kseal-pq-ctl").await;
    let app = TestNamespace::new(&client, "kseal-pq-app").await;
    let mut controller = Controller::start(
        &kubeconfig(),
        &ctl.name,
        &[
            "--all-namespaces=false",
            &format!("--additional-namespaces={}", app.name),
        ],
    );
    let first = controller.certificate().await;
    let first_pq = first
        .pq_public_key()
        .expect("the controller's certificate carries its X-Wing key")
        .clone();

    let ssapi: Api<SealedSecret> = Api::namespaced(client.clone(), &app.name);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &app.name);
    let old = kseal_seal_pq(
        &first,
        &app.name,
        "pq-old",
        &format!("PASSWORD={CANARY}\nEMPTY=\nURL=postgres://u@db/app\n"),
    );
    ssapi.create(&PostParams::default(), &old).await.unwrap();
    let want_old = BTreeMap::from([
        ("PASSWORD".to_owned(), CANARY.as_bytes().to_vec()),
        ("EMPTY".to_owned(), Vec::new()),
        ("URL".to_owned(), b"postgres://u@db/app".to_vec()),
    ]);
    secret_with(&secrets, "pq-old", &want_old).await;
    let synced_old = wait_synced(&ssapi, "pq-old", "True").await;
    assert!(synced(&synced_old).is_some());

    // A renewal makes a new RSA key with a new X-Wing key; both keys keep opening.
    let second = controller.renew_key(&first).await;
    let second_pq = second
        .pq_public_key()
        .expect("the renewed certificate carries an X-Wing key");
    assert_ne!(second_pq, &first_pq, "a renewal makes a new X-Wing key");
    let new = kseal_seal_pq(&second, &app.name, "pq-new", &format!("TOKEN={CANARY}-2\n"));
    ssapi.create(&PostParams::default(), &new).await.unwrap();
    let want_new = BTreeMap::from([("TOKEN".to_owned(), format!("{CANARY}-2").into_bytes())]);
    secret_with(&secrets, "pq-new", &want_new).await;

    // `kseal backup` (the user's command, through the API server) carries both X-Wing keys:
    // `kseal unseal --key` opens the values sealed to the old and to the new key offline.
    let backup = TempDir::new("pq-backup"); // holds private keys: removed also on failure
    let keys = backup.join("keys.yaml");
    let keys_arg = keys.to_string_lossy().into_owned();
    let (ok, _, err) = run_tool(
        &kseal_cli(),
        &[
            "backup",
            "--controller-namespace",
            &ctl.name,
            "-o",
            &keys_arg,
        ],
        b"",
    );
    assert!(ok, "kseal backup failed: {err}");
    for (ss, want) in [(&old, &want_old), (&new, &want_new)] {
        let file = backup.join("sealed.json");
        std::fs::write(&file, serde_json::to_vec(ss).unwrap()).unwrap();
        let (ok, out, err) = run_tool(
            &kseal_cli(),
            &["unseal", "--key", &keys_arg, &file.to_string_lossy()],
            b"",
        );
        assert!(ok, "kseal unseal --key <backup> failed: {err}");
        let opened: Secret = serde_yaml::from_slice(&out).expect("kseal unseal prints a Secret");
        assert!(
            secret_data(&opened) == *want,
            "kseal unseal --key <backup> gave other data ({} items)",
            secret_data(&opened).len()
        );
    }
    // The old value still opens after the renewal: its Secret deleted, the controller opens
    // the SealedSecret again and writes it back.
    secrets.delete("pq-old", &Default::default()).await.unwrap();
    secret_with(&secrets, "pq-old", &want_old).await;

    // The HTTP API opens pq-hybrid too: /v1/verify says 200, /v1/rotate re-seals every item to
    // the new key's X-Wing key (still pq-hybrid), and the result unseals.
    let body = serde_json::to_vec(&old).unwrap();
    assert_eq!(post(&controller.api, "/v1/verify", &body).await.0, 200);
    let (status, rotated) = post(&controller.api, "/v1/rotate", &body).await;
    assert_eq!(status, 200);
    let mut rotated: SealedSecret = serde_json::from_slice(&rotated).unwrap();
    assert_eq!(
        rotated.key_fingerprint_hint(),
        Some(second.fingerprint().as_str())
    );
    let texts: Vec<&str> = rotated
        .spec
        .encrypted_data
        .iter()
        .filter_map(|(_, v)| v.as_sealed())
        .collect();
    assert_eq!(texts.len(), 3);
    assert!(
        texts.iter().all(|t| t.starts_with("ksealPQ1")),
        "rotation kept pq-hybrid"
    );
    rotated.metadata.resource_version =
        ssapi.get("pq-old").await.unwrap().metadata.resource_version;
    ssapi
        .replace("pq-old", &PostParams::default(), &rotated)
        .await
        .unwrap();
    secrets.delete("pq-old", &Default::default()).await.unwrap();
    secret_with(&secrets, "pq-old", &want_old).await;

    let sealed_list = ssapi.list(&Default::default()).await.unwrap();
    assert_no_canary(&[
        ("controller logs", &controller.logs()),
        ("events", &all_events_json(&client, &app.name).await),
        (
            "SealedSecrets",
            &serde_json::to_string(&sealed_list.items).unwrap(),
        ),
        ("metrics", &controller.metrics_text()),
    ]);
    report(&format!(
        "pq e2e: 2 pq-hybrid SealedSecrets unsealed across a renewal (X-Wing keys {} → {}); \
         kseal backup → kseal unseal --key opened both offline",
        &first_pq.sha256_hex()[..12],
        &second_pq.sha256_hex()[..12]
    ));

    // Bitnami's controller in place of ours, with the same keys: it cannot read the format and
    // says so (an ErrUnsealFailed event), and writes no Secret.
    controller.kill();
    let _rbac = BitnamiRbac::install(&client, &ctl.name, &[&app.name]).await;
    let bitnami = BitnamiController::start(&ctl.name, &[&app.name], 2048);
    let served = bitnami.certificate().await;
    assert_eq!(
        served.fingerprint(),
        second.fingerprint(),
        "Bitnami loads kseal's newest key Secret (with xwing.key) and serves its certificate"
    );
    let loud = kseal_seal_pq(&second, &app.name, "pq-bitnami", "A=pq-for-bitnami-41c9\n");
    ssapi.create(&PostParams::default(), &loud).await.unwrap();
    let message = wait_for(
        "Bitnami's ErrUnsealFailed event for the pq-hybrid SealedSecret",
        Duration::from_secs(60),
        || async {
            events(&client, &app.name, "pq-bitnami")
                .await
                .into_iter()
                .find(|(reason, _)| reason == "ErrUnsealFailed")
                .map(|(_, message)| message)
        },
    )
    .await;
    assert!(
        secrets.get_opt("pq-bitnami").await.unwrap().is_none(),
        "Bitnami wrote a Secret for a value it cannot read"
    );
    assert!(!message.contains("41c9"), "the event shows a value");
    report(&format!(
        "pq e2e: Bitnami's controller on pq-hybrid: {message}"
    ));
}
