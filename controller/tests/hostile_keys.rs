//! Confused-deputy attacks on the controller's keys and ownership (issue 14, items 7 and 8),
//! against the real control plane (`tests/cluster/`) and the real controller process:
//!
//! - a SealedSecret asks for a Secret the controller trusts (the key label, the key-prefix name,
//!   the legacy key name; from the template or a legacy v1 blob): refused with `Synced=False`,
//!   nothing written, the served certificate unchanged;
//! - a key Secret dated in the future, created directly: loaded (it decrypts) but never served
//!   as the newest, and renewal is not pushed into the future with it;
//! - taking over an ownerless Secret by the `skip-set-owner-references` annotation: refused, the
//!   victim unchanged; the UID kseal records binds its own ownerless Secret to one SealedSecret.
//!
//! Each test prints one line (`hostile …:`): what it tried and what held, with the watchdog's
//! figures (`/healthz` within 1 s and RSS under the chart's limit throughout). Without a control plane the tests
//! print why they did not run; with `CI` or `KSEAL_CLUSTER` set they fail instead.

mod support;

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use k8s_openapi::{
    ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kseal_core::{CertParams, Certificate, KeySize};
use kseal_crds::{
    MANAGED_ANNOTATION, SEALED_SECRETS_KEY_LABEL, SKIP_SET_OWNER_REFERENCES_ANNOTATION,
    SealedSecret,
};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use support::*;

/// The controller's own namespace (keys) and an app namespace, and a controller scoped to both.
struct World {
    client: Client,
    ctl: TestNamespace,
    app: TestNamespace,
    controller: Controller,
    cert: Certificate,
    /// `/healthz` within 1 s and RSS under the chart's limit, for the whole test.
    watchdog: watchdog::Watchdog,
}

impl World {
    async fn new(extra: &[&str]) -> Option<Self> {
        let client = require_cluster().await?;
        let ctl = TestNamespace::new(&client, "kseal-hk").await;
        let app = TestNamespace::new(&client, "kseal-hkapp").await;
        let scope = format!("--additional-namespaces={}", app.name);
        let mut args = vec!["--all-namespaces=false", scope.as_str()];
        args.extend_from_slice(extra);
        let controller = Controller::start(&kubeconfig(), &ctl.name, &args);
        let cert = controller.certificate().await;
        let watchdog = controller.watchdog();
        Some(Self {
            client,
            ctl,
            app,
            controller,
            cert,
            watchdog,
        })
    }

    fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    /// The certificate `/v1/cert.pem` serves now.
    fn served(&self) -> Certificate {
        let (status, body) = http(&self.controller.api, "GET", "/v1/cert.pem", b"").unwrap();
        assert_eq!(status, 200);
        Certificate::from_pem(&body).unwrap()
    }

    /// The controller stayed healthy (see [`World::watchdog`]) and leaked no canary; then the
    /// report line `hostile <what>: <tried and held>; <watchdog summary>`.
    async fn held(&self, what: &str, story: &str) {
        let seen = self.watchdog.assert_healthy(what);
        self.assert_no_canary().await;
        report(&format!("hostile {what}: {story}; {}", seen.summary()));
    }

    /// No canary in the controller's logs and metrics, the events or the SealedSecrets.
    async fn assert_no_canary(&self) {
        let mut texts = vec![
            ("controller logs", self.controller.logs()),
            ("metrics", self.controller.metrics_text()),
        ];
        for ns in [&self.ctl.name, &self.app.name] {
            texts.push(("events", all_events_json(&self.client, ns).await));
            let sealed = self.api::<SealedSecret>(ns).list(&Default::default()).await;
            texts.push((
                "SealedSecrets",
                serde_json::to_string(&sealed.unwrap().items).unwrap(),
            ));
        }
        let texts: Vec<(&str, &str)> = texts.iter().map(|(w, t)| (*w, t.as_str())).collect();
        assert_no_canary(&texts);
    }
}

/// A fresh RSA-2048 key and its certificate, valid from `not_before`.
fn key_pair(not_before: SystemTime) -> (String, String, Certificate) {
    let (key, cert) = kseal_core::keys::generate(&CertParams {
        key_size: KeySize::Rsa2048,
        not_before,
        validity: Duration::from_secs(365 * 86_400),
        common_name: String::new(),
        serial: [9; 16],
    })
    .unwrap();
    (cert.to_pem(), key.to_pkcs1_pem().expose().to_owned(), cert)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Waits for `Synced=False` and returns the condition message.
async fn refused(api: &Api<SealedSecret>, name: &str) -> String {
    let ss = wait_synced(api, name, "False").await;
    synced(&ss).unwrap().1.unwrap_or_default()
}

/// A SealedSecret in the controller's own namespace (and one elsewhere) asks for a Secret the
/// controller trusts, each way it can: every one is refused, nothing is written, and
/// `/v1/cert.pem` keeps serving the controller's own key.
#[tokio::test(flavor = "multi_thread")]
async fn key_injection_through_a_sealed_secret_is_refused() {
    let Some(w) = World::new(&[]).await else {
        return;
    };
    let (ctl, app) = (&w.ctl.name, &w.app.name);
    let (crt, key, planted) = key_pair(SystemTime::now() + Duration::from_secs(30 * 86_400));
    let items: [(&str, &[u8]); 3] = [
        ("tls.crt", crt.as_bytes()),
        ("tls.key", key.as_bytes()),
        ("note", CANARY.as_bytes()),
    ];
    let key_label = labels(&[(SEALED_SECRETS_KEY_LABEL, "active")]);
    let with_template = |ns: &str, name: &str, labels: Option<BTreeMap<String, String>>| {
        let mut ss = seal(&w.cert, ns, name, &items);
        ss.spec.template.type_ = Some("kubernetes.io/tls".into());
        ss.spec.template.metadata = Some(ObjectMeta {
            labels,
            ..ObjectMeta::default()
        });
        ss
    };
    // The same through the deprecated v1 `data` blob: labels inside the sealed JSON Secret.
    let v1 = {
        let mut ss = seal(&w.cert, ctl, "innocent-v1", &[]);
        let inner = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"labels": {SEALED_SECRETS_KEY_LABEL: "active"}},
            "stringData": {"tls.crt": crt, "tls.key": key, "note": CANARY},
        });
        let scope = ss.scope().unwrap();
        ss.spec.data = Some(kseal_core::seal_base64(
            &w.cert,
            &scope,
            inner.to_string().as_bytes(),
        ));
        ss
    };
    let attempts: Vec<(SealedSecret, &str)> = vec![
        (
            with_template(ctl, "innocent", Some(key_label.clone())),
            SEALED_SECRETS_KEY_LABEL,
        ),
        (v1, SEALED_SECRETS_KEY_LABEL),
        (
            with_template(ctl, "sealed-secrets-key", None),
            "legacy key Secret",
        ),
        (
            with_template(ctl, "sealed-secrets-keyx7k2p", None),
            "reserved for key Secrets",
        ),
        // Another controller may trust the label in any namespace.
        (
            with_template(app, "elsewhere", Some(key_label)),
            SEALED_SECRETS_KEY_LABEL,
        ),
    ];
    for (ss, _) in &attempts {
        let ns = ss.metadata.namespace.clone().unwrap();
        w.api::<SealedSecret>(&ns)
            .create(&PostParams::default(), ss)
            .await
            .unwrap();
    }
    // A good SealedSecret next to them still syncs.
    let good = w.api::<SealedSecret>(app);
    good.create(
        &PostParams::default(),
        &seal(&w.cert, app, "good", &[("A", CANARY.as_bytes())]),
    )
    .await
    .unwrap();
    wait_synced(&good, "good", "True").await;

    for (ss, rule) in &attempts {
        let (ns, name) = (
            ss.metadata.namespace.clone().unwrap(),
            ss.metadata.name.clone().unwrap(),
        );
        let message = refused(&w.api(&ns), &name).await;
        assert!(
            message.contains("refusing to write Secret") && message.contains(rule),
            "{ns}/{name}: {message}"
        );
        assert!(
            w.api::<Secret>(&ns).get_opt(&name).await.unwrap().is_none(),
            "{ns}/{name} was written"
        );
    }
    // The only key Secret is the controller's own, and it is what is served.
    let keys = w
        .api::<Secret>(ctl)
        .list(&ListParams::default().labels(SEALED_SECRETS_KEY_LABEL))
        .await
        .unwrap();
    assert_eq!(keys.items.len(), 1, "a key Secret was added");
    assert_eq!(w.served().fingerprint(), w.cert.fingerprint());
    assert_ne!(w.served().fingerprint(), planted.fingerprint());
    assert_eq!(
        w.controller.metric("sealed_secrets_controller_keys"),
        Some(1.0)
    );
    w.held(
        "key injection",
        &format!(
            "{} SealedSecrets asked for key-labelled (template, legacy v1 data, another namespace) \
             or key-prefix/legacy-named Secrets; all Synced=False, none written, /v1/cert.pem \
             still serves the controller's own key",
            attempts.len()
        ),
    )
    .await;
}

/// An administrator creates a key Secret by hand whose certificate starts in 30 days: it is
/// loaded and decrypts, but `/v1/cert.pem` keeps serving the current key, a warning event names
/// the date, the metric counts it, and a renewal makes a key valid now (not after it).
#[tokio::test(flavor = "multi_thread")]
async fn a_key_dated_in_the_future_is_not_served_as_newest() {
    let Some(w) = World::new(&[]).await else {
        return;
    };
    let ctl = &w.ctl.name;
    let (crt, key, future) = key_pair(SystemTime::now() + Duration::from_secs(30 * 86_400));
    let secrets = w.api::<Secret>(ctl);
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("admin-mistake".into()),
                    labels: Some(labels(&[(SEALED_SECRETS_KEY_LABEL, "active")])),
                    ..ObjectMeta::default()
                },
                type_: Some("kubernetes.io/tls".into()),
                data: Some(BTreeMap::from([
                    ("tls.crt".into(), ByteString(crt.into_bytes())),
                    ("tls.key".into(), ByteString(key.into_bytes())),
                ])),
                ..Secret::default()
            },
        )
        .await
        .unwrap();
    wait_for("the future key loaded", Duration::from_secs(30), || async {
        (w.controller.metric("sealed_secrets_controller_keys") == Some(2.0)
            && w.controller
                .metric("sealed_secrets_controller_keys_not_yet_valid")
                == Some(1.0))
        .then_some(())
    })
    .await;
    let event = wait_for("KeyNotYetValid event", Duration::from_secs(30), || async {
        events(&w.client, ctl, "admin-mistake")
            .await
            .into_iter()
            .find(|(reason, _)| reason == "KeyNotYetValid")
    })
    .await;
    assert!(event.1.contains("not valid before"), "{}", event.1);
    assert_eq!(w.served().fingerprint(), w.cert.fingerprint());
    // `/v1/certs` lists both and marks the served one, not the first by date, as latest.
    let (status, body) = http(&w.controller.api, "GET", "/v1/certs", b"").unwrap();
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let listed = listed["certificates"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let latest: Vec<&str> = listed
        .iter()
        .filter(|c| c["latest"] == true)
        .map(|c| c["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(latest, [w.cert.fingerprint().as_str()]);

    // It still decrypts what was sealed to it.
    let app = &w.app.name;
    let ssapi = w.api::<SealedSecret>(app);
    ssapi
        .create(
            &PostParams::default(),
            &seal(&future, app, "to-future", &[("A", CANARY.as_bytes())]),
        )
        .await
        .unwrap();
    wait_synced(&ssapi, "to-future", "True").await;

    // A renewal counts from the newest valid key: the new key is valid now and served.
    let renewed = w.controller.renew_key(&w.cert).await;
    assert_ne!(renewed.fingerprint(), future.fingerprint());
    assert!(
        renewed.not_before() <= SystemTime::now() + Duration::from_secs(60),
        "the renewed key is dated in the future"
    );
    assert_eq!(w.served().fingerprint(), renewed.fingerprint());
    w.held(
        "future-dated key",
        "an active key Secret with NotBefore 30 days ahead was loaded and decrypts, but \
         /v1/cert.pem kept the current key, KeyNotYetValid was reported, and SIGUSR1 made a key \
         valid now",
    )
    .await;
}

/// An ownerless Secret annotated `skip-set-owner-references` is not anyone's to take: a
/// SealedSecret of that name is refused and the Secret is unchanged. kseal's own ownerless
/// Secret is bound to the UID of the SealedSecret that wrote it; a later SealedSecret of the
/// name takes it over only when the Secret is annotated `managed`.
#[tokio::test(flavor = "multi_thread")]
async fn takeover_by_skip_owner_references_is_refused() {
    let Some(w) = World::new(&[]).await else {
        return;
    };
    let app = &w.app.name;
    let secrets = w.api::<Secret>(app);
    let ssapi = w.api::<SealedSecret>(app);
    let skip = labels(&[(SKIP_SET_OWNER_REFERENCES_ANNOTATION, "true")]);
    let victim = secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("victim".into()),
                    annotations: Some(skip.clone()),
                    ..ObjectMeta::default()
                },
                data: Some(BTreeMap::from([(
                    "password".into(),
                    ByteString(b"the-victims-own".to_vec()),
                )])),
                ..Secret::default()
            },
        )
        .await
        .unwrap();
    let skipping = |name: &str, value: &[u8]| {
        let mut ss = seal(&w.cert, app, name, &[("password", value)]);
        ss.spec.template.metadata = Some(ObjectMeta {
            annotations: Some(skip.clone()),
            ..ObjectMeta::default()
        });
        ss
    };
    ssapi
        .create(
            &PostParams::default(),
            &skipping("victim", CANARY.as_bytes()),
        )
        .await
        .unwrap();
    let message = refused(&ssapi, "victim").await;
    assert!(
        message.contains("already exists and is not managed by SealedSecret"),
        "{message}"
    );
    let after = secrets.get("victim").await.unwrap();
    assert_eq!(
        after.metadata.resource_version, victim.metadata.resource_version,
        "the victim Secret was written"
    );
    assert_eq!(secret_data(&after), secret_data(&victim));

    // kseal's own ownerless Secret: bound to its SealedSecret's UID, updated by it alone.
    let own = ssapi
        .create(&PostParams::default(), &skipping("own", b"v1"))
        .await
        .unwrap();
    wait_synced(&ssapi, "own", "True").await;
    let uid = own.metadata.uid.clone().unwrap();
    let written = secrets.get("own").await.unwrap();
    assert_eq!(written.metadata.owner_references, None);
    assert_eq!(
        written.metadata.annotations.as_ref().unwrap()["kseal.dev/sealed-secret-uid"],
        uid
    );
    // Deleted and re-created (a new UID): the old Secret is not silently taken over…
    ssapi.delete("own", &DeleteParams::default()).await.unwrap();
    wait_for("SealedSecret own gone", Duration::from_secs(30), || async {
        ssapi.get_opt("own").await.ok()?.is_none().then_some(())
    })
    .await;
    let again = ssapi
        .create(&PostParams::default(), &skipping("own", b"v2"))
        .await
        .unwrap();
    let message = refused(&ssapi, "own").await;
    assert!(message.contains("not managed by SealedSecret"), "{message}");
    assert_eq!(
        secret_data(&secrets.get("own").await.unwrap())["password"],
        b"v1"
    );
    // …until someone who may edit the Secret hands it over (Bitnami's `managed`).
    secrets
        .patch(
            "own",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": {"annotations": {MANAGED_ANNOTATION: "true"}}
            })),
        )
        .await
        .unwrap();
    // A spec change triggers the reconcile now, instead of at the next retry.
    let mut current = ssapi.get("own").await.unwrap();
    let scope = current.scope().unwrap();
    seal_items(&mut current, &w.cert, &scope, &[("password", b"v2")]);
    ssapi
        .replace("own", &PostParams::default(), &current)
        .await
        .unwrap();
    let taken = wait_for(
        "own taken over after managed",
        Duration::from_secs(60),
        || async {
            let s = secrets.get("own").await.ok()?;
            (secret_data(&s)["password"] == b"v2").then_some(s)
        },
    )
    .await;
    assert_eq!(
        taken.metadata.annotations.as_ref().unwrap()["kseal.dev/sealed-secret-uid"],
        again.metadata.uid.unwrap()
    );
    wait_synced(&ssapi, "own", "True").await;
    w.held(
        "ownership takeover",
        "a SealedSecret named like an ownerless skip-set-owner-references Secret was refused \
         (victim unchanged); kseal's ownerless Secret stayed bound to its SealedSecret's UID \
         until annotated managed",
    )
    .await;
}
