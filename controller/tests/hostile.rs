//! Hostile input against the real control plane, the attacks that span the whole controller:
//! the template oracle compared with the real Bitnami controller, and a flood of broken
//! SealedSecrets next to good ones. (HTTP attacks: `hostile_http.rs`; template bombs:
//! `hostile_templates.rs`; key injection and takeovers: `hostile_keys.rs`.)
//!
//! Each attack prints one `hostile …` line saying what it tried and what held; tests/run-all.sh
//! repeats those lines in its summary.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kseal_crds::SealedSecret;
use kube::{Api, api::PostParams};
use support::{bitnami::BitnamiController, bitnami::BitnamiRbac, *};

/// A password that looks like a real one, with the canary inside so any echo is caught.
fn password() -> String {
    format!("hunter2-{CANARY}")
}

/// A SealedSecret whose template asks "does the password start with `guess`?" and fails to
/// render when it does not (`fail` is sprig's; kseal has no `fail`, so for kseal the failing
/// branch calls `b64dec` on invalid input, which fails in kseal's renderer).
fn oracle(cert: &kseal_core::Certificate, ns: &str, guess: char, failing: &str) -> Vec<u8> {
    let mut ss = seal(cert, ns, "oracle", &[("password", password().as_bytes())]);
    ss.spec.template.data = Some(BTreeMap::from([(
        "probe".to_owned(),
        format!(
            "{{{{ if hasPrefix \"{guess}\" .password }}}}ok{{{{ else }}}}{failing}{{{{ end }}}}"
        ),
    )]));
    serde_json::to_vec(&ss).unwrap()
}

/// `/v1/verify`'s answers to the oracle with a right guess (`h`) and a wrong one (`x`).
fn ask(
    api: &str,
    cert: &kseal_core::Certificate,
    ns: &str,
    failing: &str,
) -> ((u16, Vec<u8>), (u16, Vec<u8>)) {
    let verify = |guess| {
        http(api, "POST", "/v1/verify", &oracle(cert, ns, guess, failing))
            .unwrap_or_else(|e| panic!("POST {api}/v1/verify: {e}"))
    };
    (verify('h'), verify('x'))
}

/// `/v1/verify` must not answer questions about the plaintext: a right and a wrong guess get
/// the same answer from kseal. The same request is sent to Bitnami v0.36.0 and what it answers
/// is reported (kseal's README states only kseal's guarantees).
#[tokio::test(flavor = "multi_thread")]
async fn template_oracle_kseal_and_bitnami() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let ctl = TestNamespace::new(&client, "hostile-oracle-ctl").await;
    let app = TestNamespace::new(&client, "hostile-oracle-app").await;
    let ours = Controller::start(
        &kubeconfig(),
        &ctl.name,
        &[
            "--all-namespaces=false",
            &format!("--additional-namespaces={}", app.name),
        ],
    );
    let watchdog = ours.watchdog();
    let cert = ours.certificate().await;
    let (right, wrong) = ask(&ours.api, &cert, &app.name, "{{ b64dec \"!\" }}");
    assert_eq!(
        right, wrong,
        "kseal's /v1/verify answered a right and a wrong guess differently"
    );
    assert_eq!(right.0, 200, "every item opens, so the answer is 200");
    let held = watchdog.assert_healthy("template oracle");
    assert_no_canary(&[
        ("controller logs", &ours.logs()),
        ("metrics", &ours.metrics_text()),
        ("verify answer", &String::from_utf8_lossy(&right.1)),
    ]);
    report(&format!(
        "hostile oracle: kseal /v1/verify, template asking whether the password starts with \
         a guessed letter: right guess {} and wrong guess {} (same answer); {}",
        right.0,
        wrong.0,
        held.summary()
    ));

    let bitnami_ctl = TestNamespace::new(&client, "hostile-oracle-bn").await;
    let _rbac = BitnamiRbac::install(&client, &bitnami_ctl.name, &[&app.name]).await;
    let theirs = BitnamiController::start(&bitnami_ctl.name, &[&app.name], 2048);
    let cert = theirs.certificate().await;
    let (right, wrong) = ask(&theirs.api, &cert, &app.name, "{{ fail \"no\" }}");
    for (status, _) in [&right, &wrong] {
        assert!(
            [200, 409].contains(status),
            "Bitnami answered {status}, neither yes nor no"
        );
    }
    report(&format!(
        "hostile oracle: Bitnami v0.36.0 /v1/verify, same question: right guess {}, wrong guess \
         {} ({})",
        right.0,
        wrong.0,
        if right.0 == wrong.0 {
            "no oracle"
        } else {
            "an oracle: the answer depends on the plaintext"
        }
    ));
}

/// Many broken SealedSecrets at once (bad base64, another cluster's key, unknown template
/// functions, both formats at once) next to good ones: the controller stays healthy, every good
/// one syncs with the right bytes, every broken one gets `Synced=False`.
#[tokio::test(flavor = "multi_thread")]
async fn flood_of_broken_sealed_secrets() {
    const BROKEN: usize = 160;
    const GOOD: usize = 20;
    let Some(client) = require_cluster().await else {
        return;
    };
    let ctl = TestNamespace::new(&client, "hostile-flood-ctl").await;
    let app = TestNamespace::new(&client, "hostile-flood-app").await;
    let controller = Controller::start(
        &kubeconfig(),
        &ctl.name,
        &[
            "--all-namespaces=false",
            &format!("--additional-namespaces={}", app.name),
        ],
    );
    let watchdog = controller.watchdog();
    let cert = controller.certificate().await;
    // A key no controller has.
    let (_, stranger) = kseal_core::keys::generate(&kseal_core::CertParams {
        key_size: kseal_core::KeySize::Rsa2048,
        not_before: std::time::SystemTime::now() - std::time::Duration::from_secs(3600),
        validity: std::time::Duration::from_secs(86_400),
        common_name: String::new(),
        serial: [7; 16],
    })
    .unwrap();
    let api: Api<SealedSecret> = Api::namespaced(client.clone(), &app.name);
    let mut objects = Vec::new();
    for i in 0..BROKEN {
        let name = format!("broken-{i}");
        let ss = match i % 4 {
            0 => {
                let mut ss = seal(&cert, &app.name, &name, &[]);
                ss.spec.encrypted_data.insert("X", "not base64 !!");
                ss
            }
            1 => seal(&stranger, &app.name, &name, &[("X", CANARY.as_bytes())]),
            2 => {
                let mut ss = seal(&cert, &app.name, &name, &[("X", CANARY.as_bytes())]);
                ss.spec.template.data = Some(BTreeMap::from([(
                    "t".to_owned(),
                    "{{ nosuchfunction .X }}".to_owned(),
                )]));
                ss
            }
            _ => {
                let mut ss = seal(&cert, &app.name, &name, &[("X", CANARY.as_bytes())]);
                ss.spec.data = Some("AAAA".into());
                ss
            }
        };
        objects.push(ss);
    }
    for i in 0..GOOD {
        let name = format!("good-{i}");
        let value = format!("{CANARY}-{i}");
        objects.push(seal(&cert, &app.name, &name, &[("V", value.as_bytes())]));
    }
    futures::future::join_all(objects.iter().map(|ss| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), ss).await.unwrap() }
    }))
    .await;

    let names = |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}-{i}")).collect();
    all_synced(&api, names("good", GOOD), "True").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &app.name);
    for i in 0..GOOD {
        let secret = secrets.get(&format!("good-{i}")).await.unwrap();
        assert!(
            secret_data(&secret)
                == BTreeMap::from([("V".to_owned(), format!("{CANARY}-{i}").into_bytes())]),
            "good-{i}: wrong bytes (not shown)"
        );
    }
    all_synced(&api, names("broken", BROKEN), "False").await;
    let held = watchdog.assert_healthy("flood of broken SealedSecrets");
    let sealed = api.list(&Default::default()).await.unwrap();
    assert_no_canary(&[
        ("controller logs", &controller.logs()),
        ("metrics", &controller.metrics_text()),
        ("events", &all_events_json(&client, &app.name).await),
        (
            "SealedSecrets",
            &serde_json::to_string(&sealed.items).unwrap(),
        ),
    ]);
    report(&format!(
        "hostile flood: {BROKEN} broken SealedSecrets (bad base64, unknown key, unknown template \
         function, both formats) created at once with {GOOD} good ones: all good Synced with the \
         right bytes, all broken Synced=False; {}",
        held.summary()
    ));
}

/// Waits until every SealedSecret in `names` has a current `Synced=status`; on time-out the
/// failure names those that have not and their conditions (never values).
async fn all_synced(api: &Api<SealedSecret>, names: Vec<String>, status: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let listed = api.list(&Default::default()).await.unwrap();
        let behind: Vec<String> = names
            .iter()
            .filter(|name| {
                !listed.items.iter().any(|ss| {
                    ss.metadata.name.as_ref() == Some(*name)
                        && ss.status.as_ref().is_some_and(|st| {
                            st.observed_generation.unwrap_or(0)
                                == ss.metadata.generation.unwrap_or(0)
                                && st.synced().is_some_and(|c| c.status == status)
                        })
                })
            })
            .map(|name| {
                let found = listed
                    .items
                    .iter()
                    .find(|ss| ss.metadata.name.as_ref() == Some(name));
                format!("{name}: {:?}", found.and_then(synced))
            })
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} not Synced={status} after 120 s, e.g. {:?}",
            behind.len(),
            names.len(),
            &behind[..behind.len().min(5)]
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
