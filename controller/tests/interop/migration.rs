//! Migration both ways: stop one controller, start the other on the same key Secrets; every
//! SealedSecret stays Synced and no unsealed Secret is written again.

use super::*;

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
    // Having gone over every one, it must not write any Secret afterwards either.
    let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
    hold_for(
        "no unsealed Secret is written after the migration",
        Duration::from_secs(3),
        || async { versions(&client, &app.name, &names).await == before.secrets },
    )
    .await;
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
