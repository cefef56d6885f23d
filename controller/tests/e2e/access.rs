//! The controller as others reach it: workloads restarted on change, ServiceAccount RBAC
//! (namespaced and cluster-wide), and kubeseal through the API server's service proxy.

use super::*;

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
    let out_secrets: Api<Secret> = Api::namespaced(client.clone(), &outside.name);
    hold_for(
        "a SealedSecret outside the watched namespaces stays untouched",
        Duration::from_secs(5),
        || async {
            out_secrets.get_opt("out-of-scope").await.unwrap().is_none()
                && out_api.get("out-of-scope").await.unwrap().status.is_none()
        },
    )
    .await;
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
    let validate = [&["--validate"][..], &target].concat();
    let (ok, _, err) = kubeseal_past_rate_limit(&kubeseal, &validate, &sealed).await;
    assert!(ok, "kubeseal --validate: {err}");
    let mut moved = ss.clone();
    moved.metadata.name = Some("moved".into());
    let moved = serde_json::to_vec(&moved).unwrap();
    let (ok, _, err) = kubeseal_past_rate_limit(&kubeseal, &validate, &moved).await;
    assert!(
        !ok && err.contains("unable to decrypt sealed secret"),
        "kubeseal --validate of a SealedSecret that cannot unseal: {err}"
    );

    // --re-encrypt: a SealedSecret that still unseals to the same data.
    let (ok, reencrypted, err) = kubeseal_past_rate_limit(
        &kubeseal,
        &[&["--re-encrypt", "-o", "json"][..], &target].concat(),
        &sealed,
    )
    .await;
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
