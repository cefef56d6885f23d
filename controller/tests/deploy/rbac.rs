//! Least privilege, checked on the rendered manifests (no cluster): key-backup RBAC, the default
//! RBAC, and the NetworkPolicy option, in the chart and in the Kustomize components alike.

use super::*;

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
