//! Checks of the Helm chart and the Kustomize base that need no cluster: the CRD copies, the
//! unsealer rules, `helm lint` and what the chart renders.

use super::*;

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
