//! End-to-end tests of `kseal-controller` against the real control plane (`tests/cluster/`):
//! real kube-apiserver, etcd and kube-controller-manager (garbage collection, Deployments).
//!
//! Each test has its own controller namespace (keys, Lease) and app namespaces, and starts its
//! own controller processes scoped to them (`--all-namespaces=false
//! --additional-namespaces=…`), so the tests run in parallel. A canary value is sealed in every
//! case and checked to appear in no log, event, status or metric. Test failure messages never
//! print Secret data.

mod support;

use std::{collections::BTreeMap, path::Path, time::Duration};

use k8s_openapi::{NamespaceResourceScope, api::core::v1::Secret};
use kseal_crds::{MANAGED_ANNOTATION, PATCH_ANNOTATION, SealedSecret};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use support::*;

/// One test's world: a client, a controller namespace (keys, Lease) and an app namespace, both
/// deleted when it is dropped.
struct Env {
    client: Client,
    ctl: TestNamespace,
    app: TestNamespace,
}

impl Env {
    /// `None`, with the reason printed, when no control plane is configured (see [`require_cluster`]).
    async fn new() -> Option<Self> {
        let client = require_cluster().await?;
        let ctl = TestNamespace::new(&client, "kseal-ctl").await;
        let app = TestNamespace::new(&client, "kseal-app").await;
        Some(Self { client, ctl, app })
    }

    /// `Api<K>` in the app namespace.
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.app.name)
    }

    /// No canary in `controller`'s logs and metrics, the app namespace's Events, or the
    /// SealedSecrets (status included) there.
    async fn assert_no_canary(&self, controller: &Controller) {
        let sealed = self.api::<SealedSecret>().list(&Default::default()).await;
        assert_no_canary(&[
            ("controller logs", &controller.logs()),
            (
                "events",
                &all_events_json(&self.client, &self.app.name).await,
            ),
            (
                "SealedSecrets",
                &serde_json::to_string(&sealed.unwrap().items).unwrap(),
            ),
            ("metrics", &controller.metrics_text()),
        ]);
    }

    /// The flags that scope a controller to the app namespace.
    fn scope(&self) -> [String; 2] {
        [
            "--all-namespaces=false".into(),
            format!("--additional-namespaces={}", self.app.name),
        ]
    }

    /// A controller with the admin kubeconfig, scoped to the app namespace, plus `extra` flags.
    fn controller(&self, extra: &[&str]) -> Controller {
        self.controller_as(&kubeconfig(), extra)
    }

    /// [`Env::controller`] with another kubeconfig.
    fn controller_as(&self, kubeconfig: &Path, extra: &[&str]) -> Controller {
        let scope = self.scope();
        let args: Vec<&str> = scope
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
            .collect();
        Controller::start(kubeconfig, &self.ctl.name, &args)
    }
}

async fn secret_gone(api: &Api<Secret>, name: &str) {
    wait_for(
        &format!("Secret {name} deleted"),
        Duration::from_secs(45),
        || async { api.get_opt(name).await.ok()?.is_none().then_some(()) },
    )
    .await;
}

async fn secret_with(api: &Api<Secret>, name: &str, want: &BTreeMap<String, Vec<u8>>) -> Secret {
    wait_for(
        &format!("Secret {name} with the expected data"),
        Duration::from_secs(45),
        || async {
            let s = api.get_opt(name).await.ok()??;
            (secret_data(&s) == *want).then_some(s)
        },
    )
    .await
}

fn expect(items: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect()
}

/// Seal → apply → exact Secret with ownerRef; update; tamper and delete → restored; delete the
/// SealedSecret → Secret garbage-collected; no canary anywhere; a restart writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn lifecycle() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, app) = (&env.client, &env.app);
    let mut controller = env.controller(&[]);
    let cert = controller.certificate().await;

    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();
    let items: &[(&str, &[u8])] = &[("PASSWORD", CANARY.as_bytes()), ("USER", b"admin")];
    let mut ss = seal(&cert, &app.name, "db", items);
    ss.spec.template.metadata = Some(Default::default());
    ss.spec.template.metadata.as_mut().unwrap().labels =
        Some(BTreeMap::from([("team".into(), "a".into())]));
    let created = ssapi.create(&PostParams::default(), &ss).await.unwrap();

    let secret = secret_with(&secrets, "db", &expect(items)).await;
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "SealedSecret");
    assert_eq!(Some(&owner.uid), created.metadata.uid.as_ref());
    assert_eq!(owner.controller, Some(true));
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        secret.metadata.labels,
        Some(BTreeMap::from([("team".into(), "a".into())]))
    );
    wait_synced(&ssapi, "db", "True").await;
    wait_for("Unsealed event", Duration::from_secs(20), || async {
        events(client, &app.name, "db")
            .await
            .iter()
            .any(|(r, m)| r == "Unsealed" && m == "SealedSecret unsealed successfully")
            .then_some(())
    })
    .await;

    // Update: a new item.
    let items2: &[(&str, &[u8])] = &[
        ("PASSWORD", CANARY.as_bytes()),
        ("USER", b"admin"),
        ("HOST", b"db.local"),
    ];
    let mut current = ssapi.get("db").await.unwrap();
    let scope = current.scope().unwrap();
    seal_items(&mut current, &cert, &scope, &[("HOST", b"db.local")]);
    ssapi
        .replace("db", &PostParams::default(), &current)
        .await
        .unwrap();
    secret_with(&secrets, "db", &expect(items2)).await;

    // Tampered: restored.
    let tamper = serde_json::json!({"data": {"USER": "ZXZpbA==", "EXTRA": "eA=="}});
    secrets
        .patch("db", &PatchParams::default(), &Patch::Merge(&tamper))
        .await
        .unwrap();
    secret_with(&secrets, "db", &expect(items2)).await;

    // Deleted: recreated.
    secrets
        .delete("db", &DeleteParams::default())
        .await
        .unwrap();
    secret_with(&secrets, "db", &expect(items2)).await;

    // A restart with nothing changed: no Secret write, no status write, no event. The state is
    // taken once the old process is gone: its status write and event for the recreated Secret
    // may still be in flight when the Secret is seen.
    controller.kill();
    let before_secret = secrets.get("db").await.unwrap().metadata.resource_version;
    let before_ss = ssapi.get("db").await.unwrap().metadata.resource_version;
    let before_events = events(client, &app.name, "db").await.len();
    let controller = env.controller(&[]);
    controller.certificate().await;
    // The killed leader's Lease must expire first (15 s by default).
    wait_for(
        "restarted controller unsealed (request counted)",
        Duration::from_secs(45),
        || async {
            (controller.metric("sealed_secrets_controller_unseal_requests_total") == Some(1.0))
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        secrets.get("db").await.unwrap().metadata.resource_version,
        before_secret
    );
    assert_eq!(
        ssapi.get("db").await.unwrap().metadata.resource_version,
        before_ss
    );
    assert_eq!(events(client, &app.name, "db").await.len(), before_events);

    // Deleting the SealedSecret garbage-collects the Secret (kube-controller-manager GC).
    ssapi.delete("db", &DeleteParams::default()).await.unwrap();
    secret_gone(&secrets, "db").await;

    env.assert_no_canary(&controller).await;
}

/// An existing unmanaged Secret is refused (ErrUpdateFailed); `managed` takes it over and
/// `patch` merges into it.
#[tokio::test(flavor = "multi_thread")]
async fn unmanaged_managed_patch() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, app) = (&env.client, &env.app);
    let controller = env.controller(&[]);
    let cert = controller.certificate().await;
    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();

    let mut theirs = Secret::default();
    theirs.metadata.name = Some("taken".into());
    theirs.data = Some(BTreeMap::from([("OLD".into(), bytes(b"keep"))]));
    secrets
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    let items: &[(&str, &[u8])] = &[("TOKEN", CANARY.as_bytes())];
    ssapi
        .create(
            &PostParams::default(),
            &seal(&cert, &app.name, "taken", items),
        )
        .await
        .unwrap();
    let ss = wait_synced(&ssapi, "taken", "False").await;
    let message = synced(&ss).unwrap().1.unwrap();
    assert_eq!(
        message,
        "Resource \"taken\" already exists and is not managed by SealedSecret"
    );
    wait_for("ErrUpdateFailed event", Duration::from_secs(20), || async {
        events(client, &app.name, "taken")
            .await
            .iter()
            .any(|(r, m)| r == "ErrUpdateFailed" && *m == message)
            .then_some(())
    })
    .await;
    assert_eq!(
        secret_data(&secrets.get("taken").await.unwrap()),
        expect(&[("OLD", b"keep")])
    );

    // managed: taken over, replaced wholesale, owned.
    let annotate = |key: &str| serde_json::json!({"metadata": {"annotations": {key: "true"}}});
    secrets
        .patch(
            "taken",
            &PatchParams::default(),
            &Patch::Merge(&annotate(MANAGED_ANNOTATION)),
        )
        .await
        .unwrap();
    let s = secret_with(&secrets, "taken", &expect(items)).await;
    assert!(s.metadata.owner_references.is_some());
    wait_synced(&ssapi, "taken", "True").await;

    // patch: merged, not owned.
    let mut other = Secret::default();
    other.metadata.name = Some("shared".into());
    other.metadata.annotations = Some(BTreeMap::from([(PATCH_ANNOTATION.into(), "true".into())]));
    other.data = Some(BTreeMap::from([("OLD".into(), bytes(b"keep"))]));
    secrets
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    ssapi
        .create(
            &PostParams::default(),
            &seal(&cert, &app.name, "shared", items),
        )
        .await
        .unwrap();
    let s = secret_with(
        &secrets,
        "shared",
        &expect(&[("OLD", b"keep"), ("TOKEN", CANARY.as_bytes())]),
    )
    .await;
    assert_eq!(s.metadata.owner_references, None);
    wait_synced(&ssapi, "shared", "True").await;

    env.assert_no_canary(&controller).await;
}

/// A wrong key gives Synced=False and ErrUnsealFailed; a key Secret added while the controller
/// runs is used without a restart. Malformed SealedSecrets fail one by one, naming the item,
/// and never block a good one.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_key_then_live_key_and_malformed() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, ctl, app) = (&env.client, &env.ctl, &env.app);
    let controller = env.controller(&[]);
    let good_cert = controller.certificate().await;
    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();

    // A key the controller does not have.
    let (other_key, other_cert) = kseal_core::keys::generate(&kseal_core::CertParams {
        key_size: kseal_core::KeySize::Rsa2048,
        not_before: std::time::SystemTime::now() - Duration::from_secs(3600),
        validity: Duration::from_secs(86_400),
        common_name: String::new(),
        serial: [9; 16],
    })
    .unwrap();
    let items: &[(&str, &[u8])] = &[("K", CANARY.as_bytes())];
    ssapi
        .create(
            &PostParams::default(),
            &seal(&other_cert, &app.name, "wrong", items),
        )
        .await
        .unwrap();
    let ss = wait_synced(&ssapi, "wrong", "False").await;
    assert_eq!(
        synced(&ss).unwrap().1.as_deref(),
        Some("no key could decrypt secret (K)")
    );
    wait_for("ErrUnsealFailed event", Duration::from_secs(20), || async {
        events(client, &app.name, "wrong")
            .await
            .iter()
            .any(|(r, m)| {
                r == "ErrUnsealFailed" && m == "Failed to unseal: no key could decrypt secret (K)"
            })
            .then_some(())
    })
    .await;

    // Malformed ones, next to a good one.
    let mut bad_b64 = seal(&good_cert, &app.name, "bad-b64", &[("OK", b"1")]);
    bad_b64
        .spec
        .encrypted_data
        .insert("BROKEN", "%%%not-base64");
    let mut wrong_scope = seal(&good_cert, &app.name, "elsewhere", &[("MOVED", b"1")]);
    wrong_scope.metadata.name = Some("wrong-scope".into());
    let huge_value = vec![b'x'; 600 * 1024];
    let huge = seal(
        &good_cert,
        &app.name,
        "huge",
        &[("BIG1", &huge_value), ("BIG2", &huge_value)],
    );
    let mut template = seal(
        &good_cert,
        &app.name,
        "template",
        &[("P", CANARY.as_bytes())],
    );
    template.spec.template.data = Some(BTreeMap::from([(
        "htpasswd".into(),
        "{{ htpasswd \"u\" .P }}".into(),
    )]));
    let good = seal(&good_cert, &app.name, "good", &[("G", b"fine")]);
    for ss in [&bad_b64, &wrong_scope, &template, &good] {
        ssapi.create(&PostParams::default(), ss).await.unwrap();
    }
    // The huge one may be refused by the API server itself (request too large); either way it
    // must not stop the others.
    let huge_created = ssapi.create(&PostParams::default(), &huge).await.is_ok();
    secret_with(&secrets, "good", &expect(&[("G", b"fine")])).await;
    for (name, expected) in [
        ("bad-b64", "item \"BROKEN\": value is not valid base64"),
        ("wrong-scope", "no key could decrypt secret (MOVED)"),
        (
            "template",
            "template \"htpasswd\": function \"htpasswd\" is not supported",
        ),
    ] {
        let ss = wait_synced(&ssapi, name, "False").await;
        let message = synced(&ss).unwrap().1.unwrap_or_default();
        assert!(message.contains(expected), "{name}: {message}");
    }
    if huge_created {
        let ss = wait_synced(&ssapi, "huge", "False").await;
        assert!(
            synced(&ss)
                .unwrap()
                .1
                .unwrap()
                .contains("over the 1 MiB limit")
        );
    }

    // Add the missing key as a key Secret while the controller runs.
    let key_secret = kseal_controller::keys::key_secret(
        "sealed-secrets-key",
        &ctl.name,
        &other_key,
        &other_cert,
        &BTreeMap::new(),
        &BTreeMap::new(),
    );
    let keys: Api<Secret> = Api::namespaced(client.clone(), &ctl.name);
    keys.create(&PostParams::default(), &key_secret)
        .await
        .unwrap();
    secret_with(&secrets, "wrong", &expect(items)).await;
    wait_synced(&ssapi, "wrong", "True").await;
    // The newest key (by NotBefore) is still the one served.
    assert_eq!(
        controller.certificate().await.fingerprint(),
        good_cert.fingerprint()
    );

    // A key Secret that does not parse is reported and skipped, never fatal.
    let mut junk = Secret::default();
    junk.metadata.name = Some("sealed-secrets-keyjunk".into());
    junk.metadata.labels = Some(BTreeMap::from([(
        kseal_crds::SEALED_SECRETS_KEY_LABEL.into(),
        "active".into(),
    )]));
    junk.data = Some(BTreeMap::from([
        ("tls.crt".into(), bytes(b"junk")),
        ("tls.key".into(), bytes(b"junk")),
    ]));
    keys.create(&PostParams::default(), &junk).await.unwrap();
    wait_for("invalid key metric", Duration::from_secs(20), || async {
        (controller.metric("sealed_secrets_controller_invalid_key_secrets") == Some(1.0))
            .then_some(())
    })
    .await;
    wait_for(
        "ErrInvalidKeySecret event",
        Duration::from_secs(20),
        || async {
            (!events(client, &ctl.name, "sealed-secrets-keyjunk")
                .await
                .is_empty())
            .then_some(())
        },
    )
    .await;
    assert!(http(&controller.api, "GET", "/healthz", b"").unwrap().0 == 200);

    env.assert_no_canary(&controller).await;
}

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
    assert_eq!(
        http(&controller.api, "POST", "/v1/verify", &body)
            .unwrap()
            .0,
        200
    );
    let mut broken = old_ss.clone();
    broken.metadata.name = Some("moved".into());
    let broken = serde_json::to_vec(&broken).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        http(&controller.api, "POST", "/v1/verify", &broken)
            .unwrap()
            .0,
        409
    );
    // /v1/rotate: re-sealed to the new key, template untouched.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, rotated) = http(&controller.api, "POST", "/v1/rotate", &body).unwrap();
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
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(leaders(&a, &b), 1, "exactly one leader");
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

/// A Deployment annotated to follow a Secret rolls (a new ReplicaSet) when the Secret changes.
/// The feature is opt-in (`--restart-on-change`, off by default since issue 14).
#[tokio::test(flavor = "multi_thread")]
async fn restart_on_change() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, app) = (&env.client, &env.app);
    let controller = env.controller(&["--restart-on-change=true"]);
    let cert = controller.certificate().await;
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), &app.name);
    let deployment: k8s_openapi::api::apps::v1::Deployment =
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "annotations": {
                kseal_controller::restart::RESTART_ANNOTATION: "creds"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}
                }
            }
        }))
        .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let replicasets: Api<k8s_openapi::api::apps::v1::ReplicaSet> =
        Api::namespaced(client.clone(), &app.name);
    let count = || async {
        replicasets
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len()
    };
    wait_for("first ReplicaSet", Duration::from_secs(30), || async {
        (count().await >= 1).then_some(())
    })
    .await;
    let ssapi: Api<SealedSecret> = env.api();
    ssapi
        .create(
            &PostParams::default(),
            &seal(&cert, &app.name, "creds", &[("A", CANARY.as_bytes())]),
        )
        .await
        .unwrap();
    wait_synced(&ssapi, "creds", "True").await;
    let rs_before = count().await;
    let mut current = ssapi.get("creds").await.unwrap();
    let scope = current.scope().unwrap();
    seal_items(&mut current, &cert, &scope, &[("A", b"rotated")]);
    ssapi
        .replace("creds", &PostParams::default(), &current)
        .await
        .unwrap();
    wait_for(
        "a new ReplicaSet after the Secret changed",
        Duration::from_secs(45),
        || async { (count().await > rs_before).then_some(()) },
    )
    .await;
    let d = deployments.get("web").await.unwrap();
    let hash = d
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap();
    assert!(hash.contains_key(kseal_controller::restart::HASH_ANNOTATION));
    assert_no_canary(&[
        ("controller logs", &controller.logs()),
        (
            "deployment",
            &serde_json::to_string(&deployments.get("web").await.unwrap()).unwrap(),
        ),
    ]);
}

/// The controller runs as its ServiceAccount with the namespaced least-privilege RBAC of
/// `controller/deploy/` (no cluster-wide rules): that is enough to unseal in its namespaces, and
/// a namespace outside its scope is not touched.
#[tokio::test(flavor = "multi_thread")]
async fn service_account_rbac_namespaced() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, ctl, app) = (&env.client, &env.ctl, &env.app);
    let outside = TestNamespace::new(client, "kseal-out").await;
    let sub = [
        ("kube-system", ctl.name.as_str()),
        ("APP_NAMESPACE", app.name.as_str()),
    ];
    apply_manifests(client, "deploy/kustomize/base/service-account.yaml", &sub).await;
    // The controller-namespace Roles of the base (key admin, leader election, proxier); not its
    // ClusterRole: the namespaced mode has none.
    apply_manifests(
        client,
        "deploy/kustomize/namespaced/controller-namespace.yaml",
        &sub,
    )
    .await;
    apply_manifests(client, "deploy/kustomize/namespaced/rbac.yaml", &sub).await;
    // Scoped mode also watches the controller's own namespace (as Bitnami does).
    let own = [
        ("kube-system", ctl.name.as_str()),
        ("APP_NAMESPACE", ctl.name.as_str()),
    ];
    apply_manifests(client, "deploy/kustomize/namespaced/rbac.yaml", &own).await;
    let kubeconfig =
        service_account_kubeconfig(client, &ctl.name, "sealed-secrets-controller").await;
    let controller = env.controller_as(&kubeconfig, &[]);
    let cert = controller.certificate().await;

    let items: &[(&str, &[u8])] = &[("K", CANARY.as_bytes())];
    let ssapi: Api<SealedSecret> = env.api();
    ssapi
        .create(
            &PostParams::default(),
            &seal(&cert, &app.name, "in-scope", items),
        )
        .await
        .unwrap();
    let secrets: Api<Secret> = env.api();
    secret_with(&secrets, "in-scope", &expect(items)).await;
    wait_synced(&ssapi, "in-scope", "True").await;

    let out_api: Api<SealedSecret> = Api::namespaced(client.clone(), &outside.name);
    out_api
        .create(
            &PostParams::default(),
            &seal(&cert, &outside.name, "out-of-scope", items),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let out_secrets: Api<Secret> = Api::namespaced(client.clone(), &outside.name);
    assert!(out_secrets.get_opt("out-of-scope").await.unwrap().is_none());
    assert!(out_api.get("out-of-scope").await.unwrap().status.is_none());
    let logs = controller.logs();
    assert!(
        !logs.contains("Forbidden") && !logs.contains("forbidden"),
        "RBAC denied something:\n{logs}"
    );
    env.assert_no_canary(&controller).await;
}

/// The cluster-wide RBAC of `controller/deploy/kustomize/base` is enough for the default
/// all-namespaces mode (scoped here by a label selector so other tests' objects are left alone).
#[tokio::test(flavor = "multi_thread")]
async fn service_account_rbac_cluster_wide() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, ctl, app) = (&env.client, &env.ctl, &env.app);
    let suffix = format!("-{}", ctl.name);
    let unsealer = format!("secrets-unsealer{suffix}");
    let binding = format!("sealed-secrets-controller{suffix}");
    let sub = [
        ("namespace: kube-system", format!("namespace: {}", ctl.name)),
        ("name: secrets-unsealer", format!("name: {unsealer}")),
        (
            "name: sealed-secrets-controller\n  labels",
            format!("name: {binding}\n  labels"),
        ),
    ];
    let sub: Vec<(&str, &str)> = sub.iter().map(|(a, b)| (*a, b.as_str())).collect();
    apply_manifests(client, "deploy/kustomize/base/service-account.yaml", &sub).await;
    apply_manifests(client, "deploy/kustomize/base/rbac.yaml", &sub).await;
    let kubeconfig =
        service_account_kubeconfig(client, &ctl.name, "sealed-secrets-controller").await;
    let selector = format!("kseal-e2e-run={}", ctl.name);
    let controller = Controller::start(&kubeconfig, &ctl.name, &["--label-selector", &selector]);
    let cert = controller.certificate().await;
    let items: &[(&str, &[u8])] = &[("K", CANARY.as_bytes())];
    let mut ss = seal(&cert, &app.name, "cluster-wide", items);
    ss.metadata.labels = Some(BTreeMap::from([("kseal-e2e-run".into(), ctl.name.clone())]));
    let ssapi: Api<SealedSecret> = env.api();
    ssapi.create(&PostParams::default(), &ss).await.unwrap();
    let secrets: Api<Secret> = env.api();
    secret_with(&secrets, "cluster-wide", &expect(items)).await;
    wait_synced(&ssapi, "cluster-wide", "True").await;
    let logs = controller.logs();
    assert_no_canary(&[("controller logs", &logs)]);
    assert!(!logs.contains("orbidden"), "RBAC denied something:\n{logs}");
    // Cluster-scoped objects are not deleted with the namespace.
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    let _ = roles.delete(&unsealer, &DeleteParams::default()).await;
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(client.clone());
    let _ = bindings.delete(&binding, &DeleteParams::default()).await;
}

/// The real `kubeseal` fetches the certificate, validates and re-encrypts through the API
/// server's service proxy, against a controller running in-cluster style (ServiceAccount token,
/// own network namespace) with the namespaced RBAC of `controller/deploy/`.
#[tokio::test(flavor = "multi_thread")]
async fn kubeseal_through_service_proxy() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, ctl, app) = (&env.client, &env.ctl, &env.app);
    let controller = proxied_controller(client, &ctl.name, &app.name, &["--key-size=2048"]).await;
    let kubeseal = harness_bin().join("kubeseal");
    let target = ["--controller-namespace", ctl.name.as_str()];

    // --fetch-cert through the proxy equals what the controller serves.
    let api = controller.api.clone();
    let served = wait_for(
        "controller serving its certificate",
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                let (status, body) = http(&api, "GET", "/v1/cert.pem", b"").ok()?;
                (status == 200).then_some(body)
            }
        },
    )
    .await;
    let (ok, fetched, err) = run_tool(&kubeseal, &[&["--fetch-cert"][..], &target].concat(), b"");
    assert!(ok, "kubeseal --fetch-cert: {err}");
    assert_eq!(fetched, served);

    // kubeseal seals (fetching the cert itself); the controller unseals.
    let input = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "via-kubeseal", "namespace": app.name},
        "data": {"TOKEN": base64_encode(CANARY.as_bytes())}
    });
    let (ok, sealed, err) = run_tool(
        &kubeseal,
        &[&["-o", "json"][..], &target].concat(),
        input.to_string().as_bytes(),
    );
    assert!(ok, "kubeseal: {err}");
    let ss: SealedSecret = serde_json::from_slice(&sealed).unwrap();
    let ssapi: Api<SealedSecret> = env.api();
    ssapi.create(&PostParams::default(), &ss).await.unwrap();
    let secrets: Api<Secret> = env.api();
    secret_with(
        &secrets,
        "via-kubeseal",
        &expect(&[("TOKEN", CANARY.as_bytes())]),
    )
    .await;

    // --validate: 200 → success; a moved object → failure.
    let (ok, _, err) = run_tool(&kubeseal, &[&["--validate"][..], &target].concat(), &sealed);
    assert!(ok, "kubeseal --validate: {err}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut moved = ss.clone();
    moved.metadata.name = Some("moved".into());
    let (ok, _, _) = run_tool(
        &kubeseal,
        &[&["--validate"][..], &target].concat(),
        &serde_json::to_vec(&moved).unwrap(),
    );
    assert!(
        !ok,
        "kubeseal --validate accepted a SealedSecret that cannot unseal"
    );

    // --re-encrypt: a SealedSecret that still unseals to the same data.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ok, reencrypted, err) = run_tool(
        &kubeseal,
        &[&["--re-encrypt", "-o", "json"][..], &target].concat(),
        &sealed,
    );
    assert!(ok, "kubeseal --re-encrypt: {err}");
    let mut re: SealedSecret = serde_json::from_slice(&reencrypted).unwrap();
    assert_ne!(re.spec.encrypted_data, ss.spec.encrypted_data);
    re.metadata.name = Some("via-kubeseal".into());
    re.metadata.resource_version = ssapi
        .get("via-kubeseal")
        .await
        .unwrap()
        .metadata
        .resource_version;
    ssapi
        .replace("via-kubeseal", &PostParams::default(), &re)
        .await
        .unwrap();
    wait_synced(&ssapi, "via-kubeseal", "True").await;
    let data = secret_data(&secrets.get("via-kubeseal").await.unwrap());
    assert!(
        data == expect(&[("TOKEN", CANARY.as_bytes())]),
        "re-encrypted SealedSecret unsealed to different data"
    );
    let logs = controller.logs();
    assert_no_canary(&[("controller logs", &logs)]);
    assert!(!logs.contains("orbidden"), "RBAC denied something:\n{logs}");
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An immutable Secret whose data would change is reported (Synced=False, ErrUpdateFailed) and
/// not retried; deleting it lets the controller recreate it with the new data.
#[tokio::test(flavor = "multi_thread")]
async fn immutable_secret() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, app) = (&env.client, &env.app);
    let controller = env.controller(&[]);
    let cert = controller.certificate().await;
    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();
    let mut ss = seal(&cert, &app.name, "frozen", &[("A", CANARY.as_bytes())]);
    ss.spec.template.immutable = Some(true);
    ssapi.create(&PostParams::default(), &ss).await.unwrap();
    let s = secret_with(&secrets, "frozen", &expect(&[("A", CANARY.as_bytes())])).await;
    assert_eq!(s.immutable, Some(true));
    wait_synced(&ssapi, "frozen", "True").await;

    let mut current = ssapi.get("frozen").await.unwrap();
    let scope = current.scope().unwrap();
    seal_items(&mut current, &cert, &scope, &[("A", b"new")]);
    ssapi
        .replace("frozen", &PostParams::default(), &current)
        .await
        .unwrap();
    let failed = wait_synced(&ssapi, "frozen", "False").await;
    let message = synced(&failed).unwrap().1.unwrap_or_default();
    assert!(message.contains("is immutable"), "{message}");
    wait_for("ErrUpdateFailed event", Duration::from_secs(20), || async {
        events(client, &app.name, "frozen")
            .await
            .iter()
            .any(|(r, m)| r == "ErrUpdateFailed" && m.contains("is immutable"))
            .then_some(())
    })
    .await;

    secrets
        .delete("frozen", &DeleteParams::default())
        .await
        .unwrap();
    secret_with(&secrets, "frozen", &expect(&[("A", b"new")])).await;
    wait_synced(&ssapi, "frozen", "True").await;
    env.assert_no_canary(&controller).await;
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
