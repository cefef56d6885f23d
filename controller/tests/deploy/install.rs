//! Cluster tests: Helm and Kustomize installs, the NetworkPolicy applied, and the chart's identity
//! unsealing the example app.

use super::*;

/// Cluster-scoped objects and namespaces a test made, removed on drop (never the CRD: other tests
/// use it).
struct Cleanup {
    kubectl: PathBuf,
    helm: PathBuf,
    releases: Vec<(String, String)>,
    objects: Vec<String>,
}

impl Cleanup {
    fn new(bin: &Path) -> Self {
        Self {
            kubectl: bin.join("kubectl"),
            helm: bin.join("helm"),
            releases: vec![],
            objects: vec![],
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (release, ns) in &self.releases {
            let _ = try_run(
                &self.helm,
                &["uninstall", release, "-n", ns, "--wait=false"],
                b"",
                None,
            );
        }
        for o in &self.objects {
            let _ = try_run(
                &self.kubectl,
                &["delete", o, "--ignore-not-found", "--wait=false"],
                b"",
                None,
            );
        }
    }
}

/// Copies `controller/deploy/kustomize` with namespaces and cluster-scoped names made unique, so
/// `kubectl apply -k` of an overlay cannot touch anything outside this test. Only the names
/// change: every kustomization, patch and rule is the committed one.
fn kustomize_copy(ctl: &str, app: &str) -> TempDir {
    let dst = TempDir::new(&format!("kustomize-{ctl}"));
    copy_tree(&kustomize_dir(), &dst, &|text| {
        let text = text
            .replace("namespace: kube-system", &format!("namespace: {ctl}"))
            .replace("namespace: apps", &format!("namespace: {app}"))
            .replace(
                "--additional-namespaces=apps",
                &format!("--additional-namespaces={app}"),
            )
            .replace(
                "name: secrets-unsealer\n",
                &format!("name: secrets-unsealer-{ctl}\n"),
            );
        // The ClusterRoleBinding is named like the ServiceAccount; rename only it (in the base
        // and in the namespaced overlay's `$patch: delete`).
        text.replace(
            "kind: ClusterRoleBinding\nmetadata:\n  name: sealed-secrets-controller\n",
            &format!("kind: ClusterRoleBinding\nmetadata:\n  name: sealed-secrets-controller-{ctl}\n"),
        )
        .replace(
            "kind: ClusterRoleBinding\n      metadata:\n        name: sealed-secrets-controller\n",
            &format!(
                "kind: ClusterRoleBinding\n      metadata:\n        name: sealed-secrets-controller-{ctl}\n"
            ),
        )
    });
    dst
}

fn copy_tree(src: &Path, dst: &Path, edit: &dyn Fn(&str) -> String) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to, edit);
        } else {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(to, edit(&text)).unwrap();
        }
    }
}

/// Helm and Kustomize produce the same kinds for each mode; both pass the API server's own
/// validation (server-side dry run), `kubectl apply -k` of every overlay succeeds, and
/// `helm install --dry-run=server` then a real `helm upgrade --install` (twice) of the chart
/// succeed and create what a Deployment creates.
#[tokio::test(flavor = "multi_thread")]
async fn helm_and_kustomize_install_the_same_kinds() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let bin = tools().expect("tools");
    let (helm, kubectl) = (bin.join("helm"), bin.join("kubectl"));
    let chart = chart();
    let c = path_str(&chart);
    let mut cleanup = Cleanup::new(&bin);

    for (overlay, values) in [
        ("base", None),
        ("overlays/namespaced", Some("ci/namespaced-values.yaml")),
        ("overlays/ha", Some("ci/ha-values.yaml")),
    ] {
        let ctl = TestNamespace::new(&client, "kseal-kz").await;
        let app = TestNamespace::new(&client, "kseal-kzapp").await;
        // Kinds, from the committed files as they are.
        let kz_text = run(
            &kubectl,
            &["kustomize", path_str(&kustomize_dir().join(overlay))],
        );
        let mut args = vec!["template", "r", c, "-n", &ctl.name, "--include-crds"];
        let file;
        if let Some(v) = values {
            file = chart.join(v);
            args.extend(["-f", path_str(&file)]);
        }
        let app_set = format!("watch.namespaces={{{}}}", app.name);
        if overlay == "overlays/namespaced" {
            args.extend(["--set", &app_set]);
        }
        let helm_text = run(&helm, &args);
        assert_eq!(
            kinds(&kz_text),
            kinds(&helm_text),
            "kinds of {overlay} vs the chart with {values:?}"
        );

        // The chart's render, validated by the API server.
        run_in(
            &kubectl,
            &["apply", "--dry-run=server", "-f", "-"],
            helm_text.as_bytes(),
            None,
        );

        // kubectl apply -k of the overlay (a copy with unique names), dry run then real.
        let copy = kustomize_copy(&ctl.name, &app.name);
        let dir = copy.join(overlay);
        let d = path_str(&dir);
        run(&kubectl, &["apply", "--dry-run=server", "-k", d]);
        let unsealer = format!("clusterrole/secrets-unsealer-{}", ctl.name);
        let crb = format!("clusterrolebinding/sealed-secrets-controller-{}", ctl.name);
        cleanup.objects.extend([unsealer.clone(), crb.clone()]);
        let out = run(&kubectl, &["apply", "-k", d]);
        assert!(
            out.contains("deployment.apps/sealed-secrets-controller created"),
            "{out}"
        );
        if overlay == "overlays/namespaced" {
            assert!(
                !out.contains("clusterrole"),
                "namespaced overlay made cluster RBAC:\n{out}"
            );
        } else {
            assert!(
                out.contains(&format!("secrets-unsealer-{} created", ctl.name)),
                "{out}"
            );
        }
        drop(copy);
        // Delete the namespaced part with the namespaces; cluster RBAC now (the CRD stays).
        let _ = try_run(
            &kubectl,
            &["delete", &unsealer, &crb, "--ignore-not-found"],
            b"",
            None,
        );
    }

    // helm install --dry-run=server, then a real upgrade --install, twice.
    let ns = TestNamespace::new(&client, "kseal-helm").await;
    let release = "kseal";
    cleanup.releases.push((release.into(), ns.name.clone()));
    let cluster_role = format!("clusterrole/sealed-secrets-controller-{}", ns.name);
    cleanup.objects.push(cluster_role.clone());
    let out = run(
        &helm,
        &["install", release, c, "-n", &ns.name, "--dry-run=server"],
    );
    assert!(out.contains("STATUS: pending-install"), "{out}");
    assert!(
        out.contains("/proxy/v1/cert.pem"),
        "NOTES do not say how to fetch the cert:\n{out}"
    );
    for revision in ["1", "2"] {
        let out = run(
            &helm,
            &[
                "upgrade",
                "--install",
                release,
                c,
                "-n",
                &ns.name,
                "--wait=false",
            ],
        );
        assert!(out.contains("STATUS: deployed"), "{out}");
        assert!(out.contains(&format!("REVISION: {revision}")), "{out}");
    }
    // Helm created the objects, and the Deployment its ReplicaSet (no nodes: pods stay Pending).
    let all = run(
        &kubectl,
        &[
            "get",
            "serviceaccount,role,rolebinding,service,deployment",
            "-n",
            &ns.name,
            "-o",
            "name",
        ],
    );
    for want in [
        "serviceaccount/sealed-secrets-controller",
        "role.rbac.authorization.k8s.io/sealed-secrets-controller-key-admin",
        "service/sealed-secrets-controller",
        "service/sealed-secrets-controller-metrics",
        "deployment.apps/sealed-secrets-controller",
    ] {
        assert!(all.contains(want), "{want} missing:\n{all}");
    }
    run(&kubectl, &["get", &cluster_role]);
    let rs: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns.name);
    wait_for(
        "ReplicaSet of the chart's Deployment",
        Duration::from_secs(30),
        || async { (!rs.list(&ListParams::default()).await.ok()?.items.is_empty()).then_some(()) },
    )
    .await;
    run(&helm, &["uninstall", release, "-n", &ns.name]);
    let (found, _, _) = try_run(&kubectl, &["get", &cluster_role], b"", None);
    assert!(!found, "helm uninstall left {cluster_role}");
}

/// The NetworkPolicy of the chart and of the Kustomize component pass the API server's
/// validation and are created as rendered.
#[tokio::test(flavor = "multi_thread")]
async fn network_policy_applies() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let bin = tools().expect("tools");
    let (helm, kubectl) = (bin.join("helm"), bin.join("kubectl"));
    let ns = TestNamespace::new(&client, "kseal-np").await;
    let policy_of = |text: &str| {
        let objects = docs(text);
        serde_yaml::to_string(find(&objects, "NetworkPolicy", "sealed-secrets-controller"))
            .unwrap()
            .replace("namespace: kube-system", &format!("namespace: {}", ns.name))
    };
    let helm_policy = policy_of(&network_policy_render(&helm, &ns.name));
    let kz_policy = policy_of(&kustomize_with(&kubectl, "base", &["network-policy"]));
    for (what, policy) in [("chart", &helm_policy), ("component", &kz_policy)] {
        run_in(
            &kubectl,
            &["apply", "--dry-run=server", "-f", "-"],
            policy.as_bytes(),
            None,
        );
        let out = run_in(&kubectl, &["apply", "-f", "-"], policy.as_bytes(), None);
        assert!(out.contains("networkpolicy"), "{what}: {out}");
        let stored = run(
            &kubectl,
            &[
                "get",
                "networkpolicy/sealed-secrets-controller",
                "-n",
                &ns.name,
                "-o",
                "json",
            ],
        );
        let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(
            stored["spec"]["ingress"].as_array().unwrap().len(),
            2,
            "{what}"
        );
    }
}

/// Loads a test-only example key into `ns` the way Bitnami stores keys.
async fn load_example_key(client: &Client, ns: &str, env: &str) {
    let crt = std::fs::read(examples().join(format!("certs/{env}.pem"))).unwrap();
    let key = std::fs::read(repo().join(format!("tests/fixtures/example-keys/{env}.key"))).unwrap();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(format!("sealed-secrets-key-example-{env}")),
            namespace: Some(ns.into()),
            labels: Some(BTreeMap::from([(
                "sealedsecrets.bitnami.com/sealed-secrets-key".into(),
                "active".into(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(BTreeMap::from([
            ("tls.crt".into(), ByteString(crt)),
            ("tls.key".into(), ByteString(key)),
        ])),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create example key Secret");
}

/// Waits until namespace `name` does not exist (a previous run's may still be terminating).
async fn namespace_gone(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    wait_for(
        &format!("namespace {name} gone"),
        Duration::from_secs(90),
        || async {
            match api.get_opt(name).await {
                Ok(None) => Some(()),
                Ok(Some(ns)) => {
                    if ns.metadata.deletion_timestamp.is_none() {
                        let _ = api.delete(name, &DeleteParams::default()).await;
                    }
                    None
                }
                Err(_) => None,
            }
        },
    )
    .await;
}

async fn secret_with_example_values(client: &Client, ns: &str, env: &str) -> Secret {
    let want = example_env(env);
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    wait_for(
        "Secret app-env with the example values",
        Duration::from_secs(60),
        || async {
            let s = api.get_opt("app-env").await.ok()??;
            (secret_data(&s) == want).then_some(s)
        },
    )
    .await
}

/// The example app, end to end: the chart installed in namespaced mode for `shop-staging`, the
/// controller run with the chart's ServiceAccount token and its Deployment's arguments, the
/// Bitnami-shaped example key loaded; then `kubectl apply -k examples/k8s/overlays/staging` and
/// the Helm umbrella chart each get their Secret app-env with the right values, and the
/// workloads reference it.
#[tokio::test(flavor = "multi_thread")]
async fn chart_identity_unseals_example_app() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let bin = tools().expect("tools");
    let (helm, kubectl) = (bin.join("helm"), bin.join("kubectl"));
    let app_ns = "shop-staging"; // strict scope: the sealed file names it
    namespace_gone(&client, app_ns).await;
    let mut cleanup = Cleanup::new(&bin);
    cleanup.objects.push(format!("namespace/{app_ns}"));
    let ctl = TestNamespace::new(&client, "kseal-chart").await;

    // Server-side validation of what the example renders (namespaces must exist for that).
    run(&kubectl, &["create", "namespace", app_ns]);
    let overlay = examples().join("k8s/overlays/staging");
    let rendered = run(&kubectl, &["kustomize", path_str(&overlay)]);
    run_in(
        &kubectl,
        &["apply", "--dry-run=server", "-f", "-"],
        rendered.as_bytes(),
        None,
    );
    let umbrella = examples().join("helm/shop");
    let staging_values = umbrella.join("values-staging.yaml");
    let u = path_str(&umbrella);
    run(
        &helm,
        &[
            "lint",
            "--strict",
            u,
            "-n",
            app_ns,
            "-f",
            path_str(&staging_values),
        ],
    );
    let rendered = run(
        &helm,
        &[
            "template",
            "shop",
            u,
            "-n",
            app_ns,
            "-f",
            path_str(&staging_values),
        ],
    );
    run_in(
        &kubectl,
        &["apply", "--dry-run=server", "-n", app_ns, "-f", "-"],
        rendered.as_bytes(),
        None,
    );

    // The controller chart, namespaced mode, watching shop-staging.
    let c = chart();
    let set = format!("watch.namespaces={{{app_ns}}}");
    cleanup.releases.push(("kseal".into(), ctl.name.clone()));
    run(
        &helm,
        &[
            "upgrade",
            "--install",
            "kseal",
            path_str(&c),
            "-n",
            &ctl.name,
            "--set",
            "watch.allNamespaces=false",
            "--set",
            &set,
            "--wait=false",
        ],
    );
    load_example_key(&client, &ctl.name, "staging").await;

    // Run the controller as the chart's ServiceAccount with the chart's arguments.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ctl.name);
    let d = deployments.get("sealed-secrets-controller").await.unwrap();
    let pod = d.spec.unwrap().template.spec.unwrap();
    let sa = pod.service_account_name.unwrap();
    let args: Vec<String> = pod.containers[0]
        .args
        .clone()
        .unwrap()
        .into_iter()
        .filter(|a| !a.starts_with("--listen-") && !a.starts_with("--key-size"))
        .collect();
    assert!(
        args.contains(&format!("--additional-namespaces={app_ns}")),
        "{args:?}"
    );
    let kubeconfig = service_account_kubeconfig(&client, &ctl.name, &sa).await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let controller = Controller::start(&kubeconfig, &ctl.name, &args);
    let served = controller.certificate().await;
    let example =
        Certificate::from_pem(&std::fs::read(examples().join("certs/staging.pem")).unwrap())
            .unwrap();
    assert_eq!(
        served.fingerprint(),
        example.fingerprint(),
        "the controller does not serve the example's staging certificate"
    );

    // 1. Kustomize: kubectl apply -k examples/k8s/overlays/staging.
    run(&kubectl, &["apply", "-k", path_str(&overlay)]);
    let secret = secret_with_example_values(&client, app_ns, "staging").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), app_ns);
    let shop = deployments.get("shop").await.unwrap();
    let spec = shop.spec.unwrap().template.spec.unwrap();
    let env_from = spec.containers[0].env_from.clone().unwrap();
    assert_eq!(
        env_from[0].secret_ref.as_ref().unwrap().name,
        secret.metadata.name.clone().unwrap()
    );
    // The kustomize objects go (the Secret with its SealedSecret, by owner reference).
    run(
        &kubectl,
        &[
            "delete",
            "-n",
            app_ns,
            "deployment/shop",
            "service/shop",
            "sealedsecret/app-env",
        ],
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), app_ns);
    wait_for(
        "Secret app-env garbage-collected",
        Duration::from_secs(60),
        || async {
            secrets
                .get_opt("app-env")
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await;

    // 2. The Helm umbrella chart.
    cleanup.releases.push(("shop".into(), app_ns.into()));
    run(
        &helm,
        &[
            "upgrade",
            "--install",
            "shop",
            u,
            "-n",
            app_ns,
            "-f",
            path_str(&staging_values),
            "--wait=false",
        ],
    );
    let secret = secret_with_example_values(&client, app_ns, "staging").await;
    let keys: BTreeSet<String> = secret_data(&secret).into_keys().collect();
    let web = deployments.get("shop-web").await.unwrap();
    let web_pod = web.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        web_pod.containers[0].env_from.clone().unwrap()[0]
            .secret_ref
            .as_ref()
            .unwrap()
            .name,
        "app-env"
    );
    let worker = deployments.get("shop-worker").await.unwrap();
    let worker_env = worker.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert!(!worker_env.is_empty());
    for e in worker_env {
        let r = e.value_from.unwrap().secret_key_ref.unwrap();
        assert_eq!(r.name, "app-env");
        assert!(
            keys.contains(&r.key),
            "worker reads {} which app-env lacks",
            r.key
        );
    }

    let logs = controller.logs();
    assert!(!logs.contains("orbidden"), "RBAC denied something:\n{logs}");
    for v in example_env("staging").values() {
        let v = String::from_utf8_lossy(v);
        assert!(
            !logs.contains(v.as_ref()),
            "a value leaked into the controller log"
        );
    }
    drop(controller);
}
