//! The ways teams install kseal, checked with the real tools: the Helm chart
//! (`controller/deploy/helm/kseal`), the Kustomize base and overlays (`controller/deploy/kustomize`)
//! and the example app repository (`examples/`).
//!
//! Without a control plane (`KUBECONFIG` unset) the cluster tests print why they did not run; with
//! `CI` or `KSEAL_CLUSTER` set they fail instead. `helm` and `kubectl` are the harness's pinned
//! builds (`tests/cluster/build.sh --print-bindir`).
//!
//! The controller never runs in a pod here (the test control plane has no nodes): it runs as a
//! process with a token of the chart's ServiceAccount, with the arguments of the chart's
//! Deployment, as `e2e.rs` does for the plain manifests.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::{Deployment, ReplicaSet},
        core::v1::{Namespace, Secret},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kseal_core::Certificate;
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, PostParams},
};
use support::{
    Controller, TempDir, TestNamespace, go_tools, kseal_cli, require_cluster, secret_data,
    service_account_kubeconfig,
    tools::{docs, examples, find, json_secret_data, repo, run_in, try_run},
    wait_for,
};

// ---------------------------------------------------------------------------------------------
// Paths and tools

fn chart() -> PathBuf {
    repo().join("controller/deploy/helm/kseal")
}

fn kustomize_dir() -> PathBuf {
    repo().join("controller/deploy/kustomize")
}

/// The harness's bin dir (helm, kubectl), or `None` after the `skipped:` line; a failure when
/// `CI`/`KSEAL_CLUSTER` says the tools are required (`kseal-test-support`'s policy).
fn tools() -> Option<PathBuf> {
    go_tools()
}

/// helm, kubectl and the chart directory, or `None` as [`tools`] says.
fn chart_tools() -> Option<(PathBuf, PathBuf, PathBuf)> {
    let bin = tools()?;
    Some((bin.join("helm"), bin.join("kubectl"), chart()))
}

/// Runs a tool and returns its stdout; panics with its stderr on failure.
fn run(tool: &Path, args: &[&str]) -> String {
    run_in(tool, args, b"", None)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// YAML

/// Kind → count.
fn kinds(yaml: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for d in docs(yaml) {
        *out.entry(d["kind"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    out
}

/// The example's fake values: what the unsealed Secret must hold.
fn example_env(env: &str) -> BTreeMap<String, Vec<u8>> {
    let text = std::fs::read(examples().join(format!(".env.{env}.example"))).unwrap();
    let parsed = kseal_core::dotenv::parse(&text, &Default::default()).unwrap();
    parsed
        .entries
        .into_iter()
        .map(|e| (e.key.as_str().to_owned(), e.value.expose().to_vec()))
        .collect()
}

/// `kubectl kustomize` of `resource` (a directory under `controller/deploy/kustomize`) plus these
/// `components/`, through a temporary kustomization.
fn kustomize_with(kubectl: &Path, resource: &str, components: &[&str]) -> String {
    let dir = TempDir::new("kz");
    // Kustomize takes relative paths only: up to / from the temp dir, then down.
    let up = "../".repeat(dir.components().count() - 1);
    let rel = |p: PathBuf| format!("{up}{}", p.strip_prefix("/").unwrap().display());
    let mut text = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {}\n",
        rel(kustomize_dir().join(resource))
    );
    if !components.is_empty() {
        text.push_str("components:\n");
        for c in components {
            text.push_str(&format!(
                "  - {}\n",
                rel(kustomize_dir().join("components").join(c))
            ));
        }
    }
    std::fs::write(dir.join("kustomization.yaml"), text).unwrap();
    run(kubectl, &["kustomize", path_str(&dir)])
}

/// The Deployment's container args.
fn deployment_args(objects: &[serde_json::Value]) -> Vec<String> {
    find(objects, "Deployment", "sealed-secrets-controller")["spec"]["template"]["spec"]
        ["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Whether `o` holds the unsealer rules: a ClusterRole, or a Role named `*-unsealer`.
fn is_unsealer_role(o: &serde_json::Value) -> bool {
    o["kind"] == "ClusterRole"
        || (o["kind"] == "Role"
            && o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-unsealer")))
}

/// The rules of every [`is_unsealer_role`] object, by (kind, namespace).
fn unsealer_rules(
    objects: &[serde_json::Value],
) -> BTreeMap<(String, String), Vec<serde_json::Value>> {
    objects
        .iter()
        .filter(|o| is_unsealer_role(o))
        .map(|o| {
            (
                (
                    o["kind"].as_str().unwrap().to_owned(),
                    o["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                ),
                o["rules"].as_array().unwrap().clone(),
            )
        })
        .collect()
}

/// Whether `rules` grant `verb` on `resource` (of any group).
fn grants(rules: &[serde_json::Value], resource: &str, verb: &str) -> bool {
    rules.iter().any(|r| {
        r["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == resource)
            && r["verbs"].as_array().unwrap().iter().any(|x| x == verb)
    })
}

// ---------------------------------------------------------------------------------------------
// Checks that need no cluster

/// The chart's CRD and the Kustomize base's are byte copies of the generated CRD (which
/// `crds/tests/crd_drift.rs` ties to `crdgen`). Fix: `cp crds/sealedsecrets.bitnami.com.yaml`
/// over both.
#[test]
fn crd_copies_match_generated_crd() {
    let generated = std::fs::read(repo().join("crds/sealedsecrets.bitnami.com.yaml")).unwrap();
    assert_eq!(
        generated,
        kseal_crds::crd_yaml().into_bytes(),
        "crds/ is stale: cargo run -p kseal-crds --bin crdgen > crds/sealedsecrets.bitnami.com.yaml"
    );
    for copy in [
        "controller/deploy/helm/kseal/crds/sealedsecrets.bitnami.com.yaml",
        "controller/deploy/kustomize/base/crd.yaml",
    ] {
        let bytes = std::fs::read(repo().join(copy)).unwrap();
        assert!(
            bytes == generated,
            "{copy} differs from crds/sealedsecrets.bitnami.com.yaml: cp crds/sealedsecrets.bitnami.com.yaml {copy}"
        );
    }
}

/// The unsealer rules are the same everywhere: the Kustomize ClusterRole, the namespaced Role
/// template `e2e.rs` uses, the namespaced overlay's Roles, and the chart's ClusterRole and Roles.
#[test]
fn unsealer_rules_agree_everywhere() {
    let rules_of = |path: &str, kind: &str, name: &str| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(kustomize_dir().join(path)).unwrap();
        let objects = docs(&text);
        let rules = find(&objects, kind, name)["rules"].clone();
        serde_json::from_value(rules).unwrap()
    };
    let reference = rules_of("base/rbac.yaml", "ClusterRole", "secrets-unsealer");
    assert_eq!(
        rules_of("namespaced/rbac.yaml", "Role", "secrets-unsealer"),
        reference
    );
    let overlay = std::fs::read_to_string(
        kustomize_dir().join("overlays/namespaced/watched-namespaces.yaml"),
    )
    .unwrap();
    let roles: Vec<_> = docs(&overlay)
        .into_iter()
        .filter(|o| o["kind"] == "Role")
        .collect();
    assert_eq!(roles.len(), 2);
    for role in &roles {
        assert_eq!(role["rules"].as_array().unwrap(), &reference);
    }
    let Some(bin) = tools() else {
        return;
    };
    let helm = bin.join("helm");
    let chart = chart();
    for values in [None, Some("ci/namespaced-values.yaml")] {
        let mut args = vec!["template", "r", path_str(&chart), "-n", "kseal"];
        let file;
        if let Some(v) = values {
            file = chart.join(v);
            args.extend(["-f", path_str(&file)]);
        }
        let objects = docs(&run(&helm, &args));
        let rbac: Vec<_> = objects.iter().filter(|o| is_unsealer_role(o)).collect();
        assert!(
            !rbac.is_empty(),
            "no unsealer role rendered with {values:?}"
        );
        for r in rbac {
            assert_eq!(r["rules"].as_array().unwrap(), &reference, "{values:?}");
        }
    }
}

/// What the chart promises, read from `helm lint` and `helm template`: kubeseal's Service
/// convention, least privilege by default, the pod hardening, probes, HA and the alert.
#[test]
fn chart_lints_and_renders_its_promises() {
    let Some(bin) = tools() else {
        return;
    };
    let helm = bin.join("helm");
    let chart = chart();
    let c = path_str(&chart);
    for values in [
        vec![],
        vec!["-f", "ci/namespaced-values.yaml"],
        vec!["-f", "ci/ha-values.yaml"],
        vec!["-f", "ci/monitoring-values.yaml"],
    ] {
        let mut args = vec!["lint", "--strict", c];
        let files: Vec<String> = values
            .iter()
            .map(|v| {
                if v.starts_with('-') {
                    (*v).to_owned()
                } else {
                    chart.join(v).to_str().unwrap().to_owned()
                }
            })
            .collect();
        args.extend(files.iter().map(String::as_str));
        run(&helm, &args);
    }

    let objects = docs(&run(&helm, &["template", "r", c, "-n", "kube-system"]));
    let svc = find(&objects, "Service", "sealed-secrets-controller");
    assert_eq!(svc["spec"]["ports"][0]["name"], "http");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    let metrics = find(&objects, "Service", "sealed-secrets-controller-metrics");
    assert_eq!(metrics["spec"]["ports"][0]["port"], 8081);
    let text = run(&helm, &["template", "r", c, "-n", "kube-system"]);
    assert!(
        !text.contains("system:authenticated"),
        "the default render binds system:authenticated"
    );
    let d = find(&objects, "Deployment", "sealed-secrets-controller");
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "sealed-secrets-controller");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let ctr = &pod["containers"][0];
    assert_eq!(ctr["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(ctr["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(ctr["securityContext"]["capabilities"]["drop"][0], "ALL");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(ctr[probe]["httpGet"]["path"], "/healthz", "{probe}");
    }
    assert!(ctr["resources"]["requests"]["memory"].is_string());
    assert!(ctr["resources"]["limits"]["memory"].is_string());
    let args: Vec<&str> = ctr["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--leader-elect=true"), "{args:?}");

    // Opt-in to Bitnami's binding.
    let text = run(
        &helm,
        &[
            "template",
            "r",
            c,
            "--set",
            "rbac.serviceProxier.bindAuthenticated=true",
        ],
    );
    let objects = docs(&text);
    let rb = find(
        &objects,
        "RoleBinding",
        "sealed-secrets-controller-service-proxier",
    );
    assert_eq!(rb["subjects"][0]["name"], "system:authenticated");

    // Monitoring: ServiceMonitor on the metrics port, an alert on unseal errors.
    let file = chart.join("ci/monitoring-values.yaml");
    let objects = docs(&run(&helm, &["template", "r", c, "-f", path_str(&file)]));
    let sm = find(&objects, "ServiceMonitor", "sealed-secrets-controller");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    let rule = find(&objects, "PrometheusRule", "sealed-secrets-controller");
    let alert = &rule["spec"]["groups"][0]["rules"][0];
    assert_eq!(alert["alert"], "SealedSecretsUnsealErrorHigh");
    assert!(
        alert["expr"]
            .as_str()
            .unwrap()
            .contains("sealed_secrets_controller_unseal_errors_total")
    );

    // values.schema.json rejects typos and wrong types.
    for bad in [
        "replicaCount=two",
        "watch.allNamespace=false",
        "logging.format=xml",
    ] {
        let (ok, _, err) = try_run(&helm, &["template", "r", c, "--set", bad], b"", None);
        assert!(!ok, "--set {bad} was accepted");
        assert!(
            err.contains("schema") || err.contains("values"),
            "{bad}: {err}"
        );
    }
}

/// Key backups (issue 7): `keyBackup.secret` renders the flag and a Role + RoleBinding in the
/// backup namespace limited to that Secret by name (create cannot be), the same as the Kustomize
/// component `key-backup-secret`; `keyBackup.dir` + `keyBackup.volume` mount the volume there;
/// the schema rejects a malformed target.
#[test]
fn key_backup_rbac_in_chart_and_component() {
    let Some((helm, kubectl, chart)) = chart_tools() else {
        return;
    };
    let c = path_str(&chart);
    let target = "keyBackup.secret=sealed-secrets-backup/sealed-secrets-keys";
    run(&helm, &["lint", "--strict", c, "--set", target]);
    let objects = docs(&run(
        &helm,
        &["template", "r", c, "-n", "kube-system", "--set", target],
    ));
    let role = find(&objects, "Role", "sealed-secrets-controller-key-backup");
    assert_eq!(role["metadata"]["namespace"], "sealed-secrets-backup");
    let binding = find(
        &objects,
        "RoleBinding",
        "sealed-secrets-controller-key-backup",
    );
    assert_eq!(binding["metadata"]["namespace"], "sealed-secrets-backup");
    assert_eq!(binding["subjects"][0]["name"], "sealed-secrets-controller");
    assert_eq!(binding["subjects"][0]["namespace"], "kube-system");
    let rules = role["rules"].as_array().unwrap();
    assert_eq!(
        rules[0]["resourceNames"],
        serde_json::json!(["sealed-secrets-keys"])
    );
    assert_eq!(rules[0]["verbs"], serde_json::json!(["get", "update"]));
    assert_eq!(rules[1]["verbs"], serde_json::json!(["create"]));
    assert!(rules[1].get("resourceNames").is_none());
    let args = deployment_args;
    let flag = "--key-backup-secret=sealed-secrets-backup/sealed-secrets-keys".to_owned();
    assert!(args(&objects).contains(&flag), "{:?}", args(&objects));

    // The Kustomize component gives the same Role rules, binding and flag.
    let kz = docs(&kustomize_with(&kubectl, "base", &["key-backup-secret"]));
    let kz_role = find(&kz, "Role", "sealed-secrets-key-backup");
    assert_eq!(kz_role["metadata"]["namespace"], "sealed-secrets-backup");
    assert_eq!(kz_role["rules"], role["rules"]);
    let kz_binding = find(&kz, "RoleBinding", "sealed-secrets-key-backup");
    assert_eq!(kz_binding["subjects"], binding["subjects"]);
    assert!(args(&kz).contains(&flag), "{:?}", args(&kz));

    // A directory on a volume.
    let objects = docs(&run(
        &helm,
        &[
            "template",
            "r",
            c,
            "--set",
            "keyBackup.dir=/var/lib/kseal-backup",
            "--set",
            "keyBackup.volume.persistentVolumeClaim.claimName=kseal-keys",
        ],
    ));
    assert!(args(&objects).contains(&"--key-backup-dir=/var/lib/kseal-backup".to_owned()));
    let pod =
        &find(&objects, "Deployment", "sealed-secrets-controller")["spec"]["template"]["spec"];
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "key-backup" && m["mountPath"] == "/var/lib/kseal-backup"),
        "{mounts:?}"
    );
    let volumes = pod["volumes"].as_array().unwrap();
    assert!(
        volumes.iter().any(|v| v["name"] == "key-backup"
            && v["persistentVolumeClaim"]["claimName"] == "kseal-keys"),
        "{volumes:?}"
    );
    // No backup by default: no Role, no flag.
    let text = run(&helm, &["template", "r", c]);
    assert!(
        !text.contains("key-backup"),
        "a key backup is rendered by default"
    );
    for bad in [
        "keyBackup.secret=nope",
        "keyBackup.secret=a/b/c",
        "keyBackup.sekret=a/b",
    ] {
        let (ok, _, _) = try_run(&helm, &["template", "r", c, "--set", bad], b"", None);
        assert!(!ok, "--set {bad} was accepted");
    }
}

/// Least privilege by default (issue 14): no `delete` on Secrets and no workload `patch` unless
/// `--old-gc-behavior` / `--restart-on-change` are on, in the chart (values `oldGcBehavior`,
/// `restartOnChange`) and in Kustomize (components `old-gc-behavior`, `restart-on-change`), which
/// agree rule for rule; in namespaced mode the workload rule goes to the watched namespaces'
/// Roles only.
#[test]
fn rbac_is_least_privilege_by_default() {
    let base = std::fs::read_to_string(kustomize_dir().join("base/rbac.yaml")).unwrap();
    let base = docs(&base);
    let rules = find(&base, "ClusterRole", "secrets-unsealer")["rules"].clone();
    let rules = rules.as_array().unwrap();
    assert!(
        !grants(rules, "secrets", "delete"),
        "base grants Secret delete"
    );
    assert!(
        !grants(rules, "deployments", "patch"),
        "base grants workload patch"
    );
    let Some((helm, kubectl, chart)) = chart_tools() else {
        return;
    };
    let c = path_str(&chart);
    let namespaced = chart.join("ci/namespaced-values.yaml");
    let render = |extra: &[&str]| {
        let mut args = vec!["template", "r", c, "-n", "kube-system"];
        args.extend_from_slice(extra);
        docs(&run(&helm, &args))
    };

    // Defaults: neither feature, neither grant, and the flags say so.
    let default = render(&[]);
    for (who, rules) in unsealer_rules(&default) {
        assert!(!grants(&rules, "secrets", "delete"), "{who:?}");
        assert!(!grants(&rules, "deployments", "patch"), "{who:?}");
    }
    let args = deployment_args(&default);
    for flag in ["--restart-on-change=false", "--old-gc-behavior=false"] {
        assert!(args.contains(&flag.to_owned()), "{args:?}");
    }

    // Each feature brings its rule, as the Kustomize component does.
    for (value, component, resource, verb, flag) in [
        (
            "restartOnChange=true",
            "restart-on-change",
            "deployments",
            "patch",
            "--restart-on-change=true",
        ),
        (
            "oldGcBehavior=true",
            "old-gc-behavior",
            "secrets",
            "delete",
            "--old-gc-behavior=true",
        ),
    ] {
        let helm_objects = render(&["--set", value]);
        let helm_rules = unsealer_rules(&helm_objects);
        let cluster_role = &helm_rules[&("ClusterRole".to_owned(), String::new())];
        assert!(grants(cluster_role, resource, verb), "{value}");
        assert!(deployment_args(&helm_objects).contains(&flag.to_owned()));
        let kz = docs(&kustomize_with(&kubectl, "base", &[component]));
        assert_eq!(
            &find(&kz, "ClusterRole", "secrets-unsealer")["rules"],
            &serde_json::Value::Array(cluster_role.clone()),
            "{component} vs {value}"
        );
        assert!(
            deployment_args(&kz).contains(&flag.to_owned()),
            "{component}"
        );

        // Namespaced: no ClusterRole; the rule in each watched namespace's Role.
        let helm_ns = unsealer_rules(&render(&["-f", path_str(&namespaced), "--set", value]));
        let kz_ns = docs(&kustomize_with(
            &kubectl,
            "overlays/namespaced",
            &[component],
        ));
        let kz_ns_rules = unsealer_rules(&kz_ns);
        for rules in [&helm_ns, &kz_ns_rules] {
            assert_eq!(rules.len(), 2, "{rules:?}");
            for ((kind, ns), r) in rules {
                assert_eq!(
                    kind, "Role",
                    "{component}: cluster-wide rule in namespaced mode"
                );
                assert!(grants(r, resource, verb), "{component} in {ns}");
            }
        }
        assert!(
            deployment_args(&kz_ns).contains(&flag.to_owned()),
            "{component} with the namespaced overlay"
        );
    }

    // The flags cannot bypass the values (they would lack their RBAC).
    for arg in ["--old-gc-behavior=true", "--restart-on-change"] {
        let set = format!("extraArgs=[{arg:?}]");
        let (ok, _, err) = try_run(&helm, &["template", "r", c, "--set-json", &set], b"", None);
        assert!(!ok, "extraArgs {arg} was accepted");
        assert!(err.contains("restartOnChange or oldGcBehavior"), "{err}");
    }
}

/// The NetworkPolicy option (issue 14): off by default; on, it needs the API server's addresses
/// and admits :8080 from them only and :8081 from the metrics selector only; the Kustomize
/// component renders the same policy (with its placeholder and `monitoring` namespace).
#[test]
fn network_policy_in_chart_and_component() {
    let Some((helm, kubectl, chart)) = chart_tools() else {
        return;
    };
    let c = path_str(&chart);
    let text = run(&helm, &["template", "r", c]);
    assert!(
        !text.contains("NetworkPolicy"),
        "a NetworkPolicy by default"
    );
    let (ok, _, err) = try_run(
        &helm,
        &["template", "r", c, "--set", "networkPolicy.enabled=true"],
        b"",
        None,
    );
    assert!(!ok, "a NetworkPolicy without the API server's addresses");
    assert!(err.contains("networkPolicy.apiServer.cidrs"), "{err}");
    for bad in [
        "networkPolicy.enabeld=true",
        "networkPolicy.apiServer.cidrs={not-a-cidr}",
    ] {
        let (ok, _, _) = try_run(&helm, &["template", "r", c, "--set", bad], b"", None);
        assert!(!ok, "--set {bad} was accepted");
    }

    let objects = docs(&network_policy_render(&helm, "kube-system"));
    let policy = find(&objects, "NetworkPolicy", "sealed-secrets-controller");
    let pod_labels = &find(&objects, "Deployment", "sealed-secrets-controller")["spec"]["template"]
        ["metadata"]["labels"];
    for (k, v) in policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &pod_labels[k], v,
            "the policy does not select the controller pods"
        );
    }
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress"])
    );
    let ingress = policy["spec"]["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 2, "{ingress:?}");
    assert_eq!(
        ingress[0]["ports"],
        serde_json::json!([{"protocol": "TCP", "port": 8080}])
    );
    assert_eq!(
        ingress[0]["from"],
        serde_json::json!([{"ipBlock": {"cidr": "192.0.2.0/24"}}])
    );
    assert_eq!(
        ingress[1]["ports"],
        serde_json::json!([{"protocol": "TCP", "port": 8081}])
    );
    assert_eq!(
        ingress[1]["from"],
        serde_json::json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}])
    );
    let kz = docs(&kustomize_with(&kubectl, "base", &["network-policy"]));
    let kz_policy = find(&kz, "NetworkPolicy", "sealed-secrets-controller");
    for field in ["policyTypes", "ingress"] {
        assert_eq!(
            kz_policy["spec"][field], policy["spec"][field],
            "component vs chart: {field}"
        );
    }
    let kz_pod_labels = &find(&kz, "Deployment", "sealed-secrets-controller")["spec"]["template"]["metadata"]
        ["labels"];
    for (k, v) in kz_policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &kz_pod_labels[k], v,
            "the component does not select the controller pods"
        );
    }
}

/// The chart with the NetworkPolicy on, set like the Kustomize component's defaults.
fn network_policy_render(helm: &Path, namespace: &str) -> String {
    let tmp = TempDir::new("np");
    let values = tmp.write(
        "values.yaml",
        "networkPolicy:\n  enabled: true\n  apiServer:\n    cidrs: [192.0.2.0/24]\n  metrics:\n    namespaceSelector:\n      matchLabels: {kubernetes.io/metadata.name: monitoring}\n",
    );
    run(
        helm,
        &[
            "template",
            "r",
            path_str(&chart()),
            "-n",
            namespace,
            "-f",
            path_str(&values),
        ],
    )
}

/// The committed sealed files of the example open with the test-only example keys and hold
/// exactly the fake values of `.env.<env>.example` (kustomize overlay and Helm copies).
#[test]
fn example_sealed_files_open_with_example_keys() {
    let kseal = kseal_cli();
    for env in ["staging", "dev"] {
        let key = repo().join(format!("tests/fixtures/example-keys/{env}.key"));
        for file in [
            format!("k8s/overlays/{env}/app-env.sealed.yaml"),
            format!("helm/shop/secrets/app-env.{env}.sealed.yaml"),
        ] {
            let out = run_in(
                &kseal,
                &["unseal", "--key", path_str(&key), &file, "-o", "json"],
                b"",
                Some(&examples()),
            );
            let secrets = docs(&out);
            assert_eq!(secrets.len(), 1, "{file}");
            let s = &secrets[0];
            assert_eq!(s["metadata"]["name"], "app-env");
            assert_eq!(s["metadata"]["namespace"], format!("shop-{env}"));
            assert!(
                json_secret_data(s) == example_env(env),
                "{file}: unsealed data differs from .env.{env}.example"
            );
        }
    }
}

/// The review story: change one value in `.env.staging`, re-seal only that key into the
/// committed file, and git shows exactly one changed line.
#[test]
fn merge_into_changes_one_line_in_git() {
    let kseal = kseal_cli();
    let tmp = TempDir::new("merge");
    let dir = tmp.to_path_buf();
    let sealed = "k8s/overlays/staging/app-env.sealed.yaml";
    std::fs::create_dir_all(dir.join("k8s/overlays/staging")).unwrap();
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    for f in ["kseal.yaml", ".gitignore", "certs/staging.pem", sealed] {
        std::fs::copy(examples().join(f), dir.join(f)).unwrap();
    }
    let env = std::fs::read_to_string(examples().join(".env.staging.example")).unwrap();
    let git = Path::new("git");
    let g = |args: &[&str]| run_in(git, args, b"", Some(&dir));
    g(&["init", "-q"]);
    g(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "add",
        ".",
    ]);
    g(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "-m",
        "sealed",
    ]);
    let changed = env.replace(
        "COHERE_API_KEY=fake-cohere-api-key",
        "COHERE_API_KEY=fake-cohere-api-key-rotated",
    );
    assert_ne!(changed, env);
    std::fs::write(dir.join(".env.staging"), changed).unwrap();
    // The real .env file is ignored by the example's .gitignore.
    assert_eq!(g(&["status", "--porcelain", "--", ".env.staging"]), "");
    run_in(
        &kseal,
        &[
            "seal",
            ".env.staging",
            "--only",
            "COHERE_API_KEY",
            "--merge-into",
            sealed,
        ],
        b"",
        Some(&dir),
    );
    let numstat = g(&["diff", "--numstat"]);
    assert_eq!(numstat, format!("1\t1\t{sealed}\n"), "git diff --numstat");
    let diff = g(&["diff", "-U0"]);
    let changed_lines: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(changed_lines.len(), 2, "{diff}");
    assert!(
        changed_lines
            .iter()
            .all(|l| l[1..].trim_start().starts_with("COHERE_API_KEY: "))
    );
    // The merged file opens to the new value and the untouched old ones.
    let key = repo().join("tests/fixtures/example-keys/staging.key");
    let out = run_in(
        &kseal,
        &["unseal", "--key", path_str(&key), sealed, "-o", "json"],
        b"",
        Some(&dir),
    );
    let data = json_secret_data(&docs(&out)[0]);
    assert_eq!(data["COHERE_API_KEY"], b"fake-cohere-api-key-rotated");
    assert_eq!(data["JWT_SECRET_KEY"], b"fake-jwt-secret-key");
    drop(tmp);
}

// ---------------------------------------------------------------------------------------------
// Cluster tests

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
