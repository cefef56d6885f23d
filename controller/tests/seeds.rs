//! The seed workflows of `examples/`, checked with the real tools:
//!
//! - seed 001, a single Helm chart (`examples/helm/api`) that ships its SealedSecret in
//!   `templates/` and reads the Secret with `envFrom` and `secretKeyRef`;
//! - seed 002, several services with a Secret each and `/healthz` probes
//!   (`examples/k8s/services`), deployed with `kubectl apply -k`;
//! - seed 003, a `Tiltfile` for local development, checked by `tiltcheck` (Starlark parse and Tilt
//!   builtins; Tilt itself is not built here);
//! - the Argo CD `Application`s (`examples/argocd`), validated against Argo CD's CRD, and Argo
//!   CD's own health assessment (`argocd-health`: Argo CD's health code, offline) of
//!   SealedSecrets whose status the kseal controller wrote on the test API server: Healthy when
//!   Synced, Degraded when not.
//!
//! Values are compared by digest and never printed. Here the controller runs as a process (as in
//! `deploy.rs`) and no Pod runs; the seeds' apps on Pods, Ready through their probes and seeing
//! their sealed values, are the node test's (`node/seeds.rs`).
//!
//! Just over 600 lines: one scenario (install the seeds, let the controller unseal them, then
//! read Argo CD's verdict on what it wrote), most of it rustfmt's one-argument-per-line lists.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Secret};
use kube::Api;
use sha2::{Digest as _, Sha256};
use support::{
    Controller, TempDir, TestNamespace, cluster, go_tools, kseal_cli, secret_data,
    tools::{docs, examples, find, json_secret_data, repo, run_in, try_run},
    wait_for,
};

const SERVICES_NS: &str = "shop-services-staging";
const API_NS: &str = "api-staging";
const SERVICES: [&str; 3] = ["catalog", "checkout", "mailer"];

/// Runs a tool in `examples/` and returns its stdout; panics with its stderr on failure.
fn run(tool: &Path, args: &[&str], stdin: &[u8]) -> String {
    run_in(tool, args, stdin, Some(&examples()))
}

/// A digest of key → value pairs (lengths framed), so values are compared without being shown.
fn digest(items: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for (k, v) in items {
        for part in [k.as_bytes(), v.as_slice()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest of an example env file's fake values (`examples/<file>`).
fn env_digest(file: &str) -> String {
    let text = std::fs::read(examples().join(file)).unwrap();
    let parsed = kseal_core::dotenv::parse(&text, &Default::default()).unwrap();
    digest(
        &parsed
            .entries
            .into_iter()
            .map(|e| (e.key.as_str().to_owned(), e.value.expose().to_vec()))
            .collect(),
    )
}

/// (env example, sealed file, Secret name, namespace) of every seed's sealed file.
fn seed_files() -> Vec<(String, String, String, &'static str)> {
    let mut out: Vec<_> = SERVICES
        .iter()
        .map(|s| {
            (
                format!(".env.{s}.staging.example"),
                format!("k8s/services/overlays/staging/{s}-env.sealed.yaml"),
                format!("{s}-env"),
                SERVICES_NS,
            )
        })
        .collect();
    out.push((
        ".env.api.staging.example".into(),
        "helm/api/secrets/api-env.staging.sealed.yaml".into(),
        "api-env".into(),
        API_NS,
    ));
    out
}

/// Every committed sealed file of the seeds opens with the test-only staging key and holds
/// exactly the fake values of its `.env.*.example` (compared by digest), under the name and
/// namespace `kseal.yaml` gives it; `kseal verify --strict` accepts them.
#[test]
fn seed_sealed_files_open_with_example_keys() {
    let kseal = kseal_cli();
    let key = repo().join("tests/fixtures/example-keys/staging.key");
    for (env, file, name, ns) in seed_files() {
        let out = run(
            &kseal,
            &[
                "unseal",
                "--key",
                key.to_str().unwrap(),
                &file,
                "-o",
                "json",
            ],
            b"",
        );
        let secrets = docs(&out);
        assert_eq!(secrets.len(), 1, "{file}");
        let s = &secrets[0];
        assert_eq!(s["metadata"]["name"], name.as_str(), "{file}");
        assert_eq!(s["metadata"]["namespace"], ns, "{file}");
        let (got, want) = (digest(&json_secret_data(s)), env_digest(&env));
        assert_eq!(
            got, want,
            "{file}: unsealed values differ from {env} (digests)"
        );
    }
    run(
        &kseal,
        &["verify", "--strict", "k8s/services", "helm/api"],
        b"",
    );
}

/// The seeds render with the real helm and kubectl and say what they promise: one Secret per
/// service, read only by that service, `/healthz` probes; the single chart ships its SealedSecret
/// and reads it with `envFrom` and `secretKeyRef`, and refuses a namespace it was not sealed for;
/// the Tiltfile passes `tiltcheck` (and a misspelt one does not); every Argo CD Application points
/// at a path of this example repository.
#[test]
fn seed_examples_render() {
    let Some(bin) = go_tools() else {
        return;
    };
    let (helm, kubectl) = (bin.join("helm"), bin.join("kubectl"));

    // Seed 002: per-service Secrets and probes.
    let objects = docs(&run(
        &kubectl,
        &["kustomize", "k8s/services/overlays/staging"],
        b"",
    ));
    for svc in SERVICES {
        let secret = format!("{svc}-env");
        let ss = find(&objects, "SealedSecret", &secret);
        assert_eq!(ss["metadata"]["namespace"], SERVICES_NS);
        let d = find(&objects, "Deployment", svc);
        assert_eq!(
            d["metadata"]["annotations"]["kseal.dev/restart-on-secret-change"],
            secret.as_str()
        );
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["envFrom"].as_array().unwrap().len(), 1, "{svc}");
        assert_eq!(c["envFrom"][0]["secretRef"]["name"], secret.as_str());
        for probe in ["readinessProbe", "livenessProbe"] {
            assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{svc} {probe}");
            assert_eq!(c[probe]["httpGet"]["port"], "http", "{svc} {probe}");
        }
        // No service reads another service's Secret.
        let text = serde_json::to_string(d).unwrap();
        for other in SERVICES.iter().filter(|o| **o != svc) {
            assert!(
                !text.contains(&format!("{other}-env")),
                "{svc} reads {other}-env"
            );
        }
        find(&objects, "Service", svc);
    }

    // Seed 001: one chart, its templates ship and read the sealed Secret.
    run(&helm, &["lint", "--strict", "helm/api", "-n", API_NS], b"");
    let objects = docs(&run(
        &helm,
        &["template", "api", "helm/api", "-n", API_NS],
        b"",
    ));
    let ss = find(&objects, "SealedSecret", "api-env");
    assert_eq!(ss["metadata"]["namespace"], API_NS);
    let pod = &find(&objects, "Deployment", "api")["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["secretRef"]["name"],
        "api-env"
    );
    let key_ref = &pod["initContainers"][0]["env"][0]["valueFrom"]["secretKeyRef"];
    assert_eq!(key_ref["name"], "api-env");
    assert_eq!(key_ref["key"], "DATABASE_URL");
    let no_migrate = docs(&run(
        &helm,
        &[
            "template",
            "api",
            "helm/api",
            "-n",
            API_NS,
            "--set",
            "migrate.enabled=false",
        ],
        b"",
    ));
    assert!(
        find(&no_migrate, "Deployment", "api")["spec"]["template"]["spec"]
            .get("initContainers")
            .is_none()
    );
    let (ok, _, err) = try_run(
        &helm,
        &["template", "api", "helm/api", "-n", "default"],
        b"",
        Some(&examples()),
    );
    assert!(
        !ok && err.contains("sealed for namespace api-staging"),
        "{err}"
    );

    // Seed 003: the Tiltfile; the checker does find mistakes.
    let tiltcheck = bin.join("tiltcheck");
    let out = run(&tiltcheck, &["Tiltfile"], b"");
    assert!(out.starts_with("Tiltfile: ok"), "{out}");
    let bad = std::env::temp_dir().join(format!("kseal-Tiltfile-{}", std::process::id()));
    std::fs::write(
        &bad,
        "local_resource('seal', cmd='kseal seal .env.dev -w', dep=['.env.dev'])\nk8s_yml('x')\n",
    )
    .unwrap();
    let (ok, out, _) = try_run(&tiltcheck, &[bad.to_str().unwrap()], b"", Some(&examples()));
    let _ = std::fs::remove_file(&bad);
    assert!(!ok && out.contains("undefined: k8s_yml"), "{out}");

    // Argo CD: each Application's source path renders.
    for app in ["shop-staging", "shop-services-staging", "api-staging"] {
        let a =
            &docs(&std::fs::read_to_string(examples().join(format!("argocd/{app}.yaml"))).unwrap())
                [0];
        assert_eq!(a["kind"], "Application");
        let path = a["spec"]["source"]["path"].as_str().unwrap();
        let ns = a["spec"]["destination"]["namespace"].as_str().unwrap();
        if a["spec"]["source"]["helm"].is_object() {
            run(&helm, &["template", "x", path, "-n", ns], b"");
        } else {
            let rendered = docs(&run(&kubectl, &["kustomize", path], b""));
            assert!(
                rendered
                    .iter()
                    .any(|o| o["kind"] == "SealedSecret" && o["metadata"]["namespace"] == ns)
            );
        }
    }
}

/// Argo CD's health assessment of one object: `argocd-health` (tests/cluster/tools/argocd-health)
/// runs the same code as `argocd admin settings resource-overrides health` with an empty
/// `argocd-cm`, i.e. only Argo CD's built-in checks; (status, message).
fn argocd_health(argocd_health: &Path, object: &serde_json::Value) -> (String, String) {
    let dir = TempDir::new("argocd-health");
    let file = dir.path().join("object.yaml");
    std::fs::write(&file, serde_yaml::to_string(object).unwrap()).unwrap();
    let out = run(argocd_health, &[file.to_str().unwrap()], b"");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in argocd-health's output:\n{out}"))
            .trim()
            .to_owned()
    };
    (field("STATUS:"), field("MESSAGE:"))
}

/// A SealedSecret that the controller has not handled yet (as committed, no status) is
/// Progressing for Argo CD.
#[test]
fn argocd_health_of_unhandled_sealed_secret_is_progressing() {
    let Some(bin) = go_tools() else {
        return;
    };
    let text = std::fs::read_to_string(
        examples().join("k8s/services/overlays/staging/catalog-env.sealed.yaml"),
    )
    .unwrap();
    let (status, _) = argocd_health(&bin.join("argocd-health"), &docs(&text)[0]);
    assert_eq!(status, "Progressing");
}

/// Objects (`kind/name`, with `-n NS` when namespaced) and Helm releases removed on drop.
struct Cleanup {
    bin: PathBuf,
    releases: Vec<(&'static str, &'static str)>,
    objects: Vec<Vec<String>>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (release, ns) in &self.releases {
            let args = ["uninstall", release, "-n", ns, "--wait=false"];
            let _ = try_run(&self.bin.join("helm"), &args, b"", Some(&examples()));
        }
        for o in &self.objects {
            let mut args: Vec<&str> = vec!["delete", "--ignore-not-found", "--wait=false"];
            args.extend(o.iter().map(String::as_str));
            let _ = try_run(&self.bin.join("kubectl"), &args, b"", Some(&examples()));
        }
    }
}

/// Waits until Secret `ns/name` holds exactly the values of `examples/<env>` (by digest) and is
/// owned by its SealedSecret.
async fn secret_matching(client: &kube::Client, ns: &str, name: &str, env: &str) -> Secret {
    let want = env_digest(env);
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = wait_for(
        &format!("Secret {ns}/{name} with the values of {env}"),
        Duration::from_secs(60),
        || async {
            let s = api.get_opt(name).await.ok()??;
            (digest(&secret_data(&s)) == want).then_some(s)
        },
    )
    .await;
    let owners = secret.metadata.owner_references.clone().unwrap_or_default();
    assert!(
        owners
            .iter()
            .any(|o| o.kind == "SealedSecret" && o.name == name),
        "{ns}/{name} is not owned by its SealedSecret"
    );
    secret
}

/// The SealedSecret `ns/name` as the API server holds it (status included).
fn sealed_secret_json(kubectl: &Path, ns: &str, name: &str) -> serde_json::Value {
    let out = run(
        kubectl,
        &["get", "sealedsecret", name, "-n", ns, "-o", "json"],
        b"",
    );
    serde_json::from_str(&out).unwrap()
}

/// The seeds on the real API server: server-side validation of what they render (kustomize,
/// `helm install --dry-run=server`, the Argo CD Applications against Argo CD's CRD); then the
/// kseal controller, holding the test-only staging key and scoped to the seeds' namespaces,
/// unseals `kubectl apply -k examples/k8s/services/overlays/staging` into one Secret per service
/// and the `helm/api` release into its Secret, each with the values of its `.env` example; and
/// Argo CD's built-in health check, run on the status the controller wrote, says Healthy for
/// each of them and Degraded for a SealedSecret the controller cannot open.
#[tokio::test(flavor = "multi_thread")]
async fn seeds_deploy_unseal_and_report_health() {
    use kseal_crds::SealedSecret;
    let Some(client) = cluster().await else {
        return;
    };
    let bin = go_tools().expect("tools");
    let (helm, kubectl, argocd) = (
        bin.join("helm"),
        bin.join("kubectl"),
        bin.join("argocd-health"),
    );
    let mut cleanup = Cleanup {
        bin: bin.clone(),
        releases: vec![],
        objects: vec![],
    };
    // The sealed files name their namespaces (strict scope): start from fresh ones.
    for ns in [SERVICES_NS, API_NS] {
        run(
            &kubectl,
            &[
                "delete",
                "namespace",
                ns,
                "--ignore-not-found",
                "--timeout=120s",
            ],
            b"",
        );
        run(&kubectl, &["create", "namespace", ns], b"");
        cleanup.objects.push(vec![format!("namespace/{ns}")]);
    }
    let ctl = TestNamespace::new(&client, "kseal-seeds").await;
    let key_secret = "sealed-secrets-key-example-staging";
    let key = repo().join("tests/fixtures/example-keys/staging.key");
    run(
        &kubectl,
        &[
            "create",
            "secret",
            "tls",
            key_secret,
            "-n",
            &ctl.name,
            "--cert",
            "certs/staging.pem",
            "--key",
            key.to_str().unwrap(),
        ],
        b"",
    );
    run(
        &kubectl,
        &[
            "label",
            "secret",
            key_secret,
            "-n",
            &ctl.name,
            "sealedsecrets.bitnami.com/sealed-secrets-key=active",
        ],
        b"",
    );

    // Server-side validation of what the seeds render.
    let rendered = run(
        &kubectl,
        &["kustomize", "k8s/services/overlays/staging"],
        b"",
    );
    run(
        &kubectl,
        &["apply", "--dry-run=server", "-f", "-"],
        rendered.as_bytes(),
    );
    run(
        &helm,
        &[
            "install",
            "api",
            "helm/api",
            "-n",
            API_NS,
            "--dry-run=server",
        ],
        b"",
    );
    let crd = bin.join("argocd-crds/application-crd.yaml");
    run(
        &kubectl,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            crd.to_str().unwrap(),
        ],
        b"",
    );
    // (`kubectl wait` fails at once while the new CRD has no conditions yet.)
    wait_for(
        "Application CRD established",
        Duration::from_secs(60),
        || async {
            let jsonpath = r#"-o=jsonpath={.status.conditions[?(@.type=="Established")].status}"#;
            let args = ["get", "crd", "applications.argoproj.io", jsonpath];
            let (_, out, _) = try_run(&kubectl, &args, b"", Some(&examples()));
            (out == "True").then_some(())
        },
    )
    .await;
    let (ok, _, err) = try_run(
        &kubectl,
        &["create", "namespace", "argocd"],
        b"",
        Some(&examples()),
    );
    assert!(ok || err.contains("AlreadyExists"), "{err}");
    cleanup.objects.push(vec!["namespace/argocd".into()]);
    for app in ["shop-staging", "shop-services-staging", "api-staging"] {
        run(
            &kubectl,
            &[
                "apply",
                "--dry-run=server",
                "-f",
                &format!("argocd/{app}.yaml"),
            ],
            b"",
        );
    }

    // The controller, scoped to the seeds' namespaces, serving the example staging key.
    let scope = format!("--additional-namespaces={SERVICES_NS},{API_NS}");
    let controller = Controller::start(
        &support::kubeconfig(),
        &ctl.name,
        &["--all-namespaces=false", &scope],
    );
    let served = controller.certificate().await;
    let example = kseal_core::Certificate::from_pem(
        &std::fs::read(examples().join("certs/staging.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(served.fingerprint(), example.fingerprint());

    // Seed 002: kubectl apply -k, one Secret per service.
    run(
        &kubectl,
        &["apply", "-k", "k8s/services/overlays/staging"],
        b"",
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), SERVICES_NS);
    for svc in SERVICES {
        let name = format!("{svc}-env");
        secret_matching(
            &client,
            SERVICES_NS,
            &name,
            &format!(".env.{svc}.staging.example"),
        )
        .await;
        let d = deployments.get(svc).await.unwrap();
        let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
        let env_from = c.env_from.clone().unwrap();
        assert_eq!(env_from[0].secret_ref.as_ref().unwrap().name, name);
    }

    // Seed 001: the single chart, installed with Helm.
    cleanup.releases.push(("api", API_NS));
    run(
        &helm,
        &[
            "upgrade",
            "--install",
            "api",
            "helm/api",
            "-n",
            API_NS,
            "--wait=false",
        ],
        b"",
    );
    let secret = secret_matching(&client, API_NS, "api-env", ".env.api.staging.example").await;
    let api = Api::<Deployment>::namespaced(client.clone(), API_NS)
        .get("api")
        .await
        .unwrap();
    let pod = api.spec.unwrap().template.spec.unwrap();
    let key_ref = pod.init_containers.unwrap()[0].env.clone().unwrap()[0]
        .value_from
        .clone()
        .unwrap()
        .secret_key_ref
        .unwrap();
    assert!(secret_data(&secret).contains_key(&key_ref.key));

    // Argo CD's verdict on the status the controller wrote.
    let mut synced: Vec<(&str, String)> = SERVICES
        .iter()
        .map(|s| (SERVICES_NS, format!("{s}-env")))
        .collect();
    synced.push((API_NS, "api-env".into()));
    for (ns, name) in &synced {
        let ss = sealed_secret_json(&kubectl, ns, name);
        let condition = ss["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Synced")
            .unwrap();
        assert_eq!(condition["status"], "True", "{ns}/{name}");
        assert_eq!(
            ss["status"]["observedGeneration"], ss["metadata"]["generation"],
            "{ns}/{name}"
        );
        let (status, _) = argocd_health(&argocd, &ss);
        assert_eq!(status, "Healthy", "Argo CD on {ns}/{name}");
        support::report(&format!(
            "argocd health {ns}/{name} (Synced=True): {status}"
        ));
    }
    // Values sealed for catalog-env, copied into a SealedSecret of another name: the strict scope
    // makes them unopenable there, and the controller says so in the status.
    let sealed: Api<SealedSecret> = Api::namespaced(client.clone(), SERVICES_NS);
    let mut copy = sealed.get("catalog-env").await.unwrap();
    copy.metadata = kube::api::ObjectMeta {
        name: Some("copied-env".into()),
        namespace: Some(SERVICES_NS.into()),
        ..Default::default()
    };
    copy.spec.template.metadata = None;
    copy.status = None;
    sealed
        .create(&kube::api::PostParams::default(), &copy)
        .await
        .unwrap();
    support::wait_synced(&sealed, "copied-env", "False").await;
    let ss = sealed_secret_json(&kubectl, SERVICES_NS, "copied-env");
    let (status, message) = argocd_health(&argocd, &ss);
    assert_eq!(
        status, "Degraded",
        "Argo CD on the unopenable copy: {message}"
    );
    support::report(&format!(
        "argocd health {SERVICES_NS}/copied-env (Synced=False): {status}: {message}"
    ));

    let logs = controller.logs();
    assert!(!logs.contains("orbidden"), "RBAC denied something:\n{logs}");
    let mut texts = vec![logs, message];
    texts.push(run(
        &kubectl,
        &["get", "events", "-n", SERVICES_NS, "-o", "json"],
        b"",
    ));
    for (env, _, _, _) in seed_files() {
        let text = std::fs::read(examples().join(&env)).unwrap();
        let parsed = kseal_core::dotenv::parse(&text, &Default::default()).unwrap();
        for e in parsed.entries {
            let v = String::from_utf8_lossy(e.value.expose()).into_owned();
            assert!(
                texts.iter().all(|t| !t.contains(&v)),
                "a value of {env} leaked into the controller log, events or Argo CD's message"
            );
        }
    }
    drop(controller);
}
