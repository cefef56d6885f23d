//! The controller and an app as users run them, on the test cluster's node (`cluster.sh up
//! --node`: containerd, kubelet, kube-scheduler; tests/cluster/README.md "The node"):
//!
//! 1. the kseal-controller image (controller/deploy/image/build-oci.sh around this build's
//!    binary) is imported into the node, the Helm chart installed with two replicas → both Pods
//!    Ready through their probes, non-root, read-only root filesystem; `kubeseal --fetch-cert`
//!    and `kseal cert` reach them through the API server's service proxy;
//! 2. examples/.env.staging.example sealed with that certificate (`kseal seal`, as the example
//!    repository does), `kubectl apply -k` of the staging overlay (image swapped by a test overlay
//!    in a scratch copy) → the app Pods are Ready and the digest of the env they see equals the
//!    digest of the .env; one value changed with `kseal seal --only … --merge-into …` → the
//!    restart-on-change rollout brings Pods that see the new value (timed);
//! 3. deleting the leader Pod hands the Lease to the other replica (timed); the PodDisruptionBudget
//!    lets one eviction through and refuses the second.
//!
//! Values are compared by sha256 digests only; no value is printed.
//!
//! Over 600 lines: one sequential scenario (each step needs the previous one's Pods), kept in one
//! self-contained file so it merges independently of `support/`; rustfmt spreads the kubectl
//! argument lists over many lines.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};
use support::{
    TempDir, TestNamespace, cluster, cluster_sh, harness_bin, kseal_cli, report,
    tools::{repo, run_in},
    wait_for,
};

const APP_NS: &str = "shop-staging";
const RELEASE: &str = "sealed-secrets-controller";
const APP_IMAGE: &str = "kseal.test/env-app:1";

/// Runs `cmd` with `args` (KUBECONFIG inherited), returns stdout; panics with stderr on failure.
fn run(cmd: &Path, args: &[&str], cwd: Option<&Path>) -> String {
    run_in(cmd, args, b"", cwd)
}

fn kubectl(args: &[&str]) -> String {
    run(&harness_bin().join("kubectl"), args, None)
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    serde_json::from_str(&kubectl(&a)).expect("kubectl -o json")
}

/// The node's settings from `cluster.sh status`, or `None` when the cluster has no node.
fn node_running() -> bool {
    cluster_sh(&["status"]).lines().any(|l| l == "KSEAL_NODE=1")
}

/// sha256 (hex) of the KEY=VALUE lines of `vars`, sorted, each ending in a newline: what the app
/// image prints as `env-digest` (tests/cluster/images.sh).
fn env_digest(vars: &BTreeMap<String, String>) -> String {
    let mut lines: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    lines.sort();
    hex(&Sha256::digest(lines.concat().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// KEY=VALUE lines of a .env file: comments and blank lines skipped, a value wholly in single
/// quotes taken literally (the example quotes one value that has spaces); double quotes with
/// escapes do not occur in the example and are refused rather than guessed.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            let v = match v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                Some(inner) => inner,
                None => {
                    assert!(
                        !v.contains(['"', '\\']),
                        "{k}: quoting this test does not parse"
                    );
                    v
                }
            };
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Pods of `ns` matching `selector` that are Running and Ready.
fn ready_pods(ns: &str, selector: &str) -> Vec<serde_json::Value> {
    let list = json(&["get", "pods", "-n", ns, "-l", selector]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["metadata"]["deletionTimestamp"].is_null()
                && p["status"]["phase"] == "Running"
                && p["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
        .cloned()
        .collect()
}

fn name(pod: &serde_json::Value) -> String {
    pod["metadata"]["name"].as_str().unwrap().to_string()
}

/// The `env-digest` line the app printed at start.
fn app_digest(pod: &str) -> Option<String> {
    let logs = Command::new(harness_bin().join("kubectl"))
        .args(["logs", "-n", APP_NS, pod])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&logs.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("env-digest "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
}

/// Waits until `n` Pods of the app are Ready and every one reports `digest`; returns the seconds.
async fn wait_app(n: usize, digest: &str, timeout: Duration) -> f64 {
    let start = Instant::now();
    wait_for(
        "app Pods Ready and seeing the sealed .env",
        timeout,
        || async {
            // Only Ready, non-terminating Pods count (old ones may still be shutting down).
            let pods = ready_pods(APP_NS, "app.kubernetes.io/component=web");
            (pods.len() == n
                && pods
                    .iter()
                    .all(|p| app_digest(&name(p)).as_deref() == Some(digest)))
            .then_some(())
        },
    )
    .await;
    start.elapsed().as_secs_f64()
}

/// The restart-on-change digest the controller wrote on the app's pod template.
fn secrets_hash() -> Option<String> {
    let d = json(&["get", "deployment", "-n", APP_NS, "shop"]);
    d["spec"]["template"]["metadata"]["annotations"]["kseal.dev/secrets-hash"]
        .as_str()
        .map(str::to_string)
}

/// `kubectl apply -k` of controller/deploy/kustomize/overlays/namespaced (kube-system, watching
/// kube-system and `apps`: namespace-scoped), with the image tag and pull policy set by a test
/// overlay in a scratch copy → two Pods Ready, the certificate through the service proxy. Then
/// everything it made except the CRD (shared with the other tests) is deleted.
async fn kustomize_namespaced(scratch: &Path, tag: &str) {
    let dir = scratch.join("kustomize");
    let src = repo().join("controller/deploy/kustomize");
    run(
        Path::new("cp"),
        &["-r", src.to_str().unwrap(), dir.to_str().unwrap()],
        None,
    );
    let overlay = dir.join("overlays/node-test");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../namespaced]\n\
             images:\n  - {{name: ghcr.io/kseal/kseal-controller, newTag: \"{tag}\"}}\n\
             patches:\n  - target: {{kind: Deployment, name: sealed-secrets-controller}}\n    patch: |-\n\
             \x20     - {{op: add, path: /spec/template/spec/containers/0/imagePullPolicy, value: Never}}\n"
        ),
    )
    .unwrap();
    let made_apps = kubectl(&[
        "get",
        "namespace",
        "apps",
        "--ignore-not-found",
        "-o",
        "name",
    ])
    .is_empty();
    if made_apps {
        kubectl(&["create", "namespace", "apps"]);
    }
    let t = Instant::now();
    kubectl(&["apply", "-k", overlay.to_str().unwrap()]);
    let d = wait_for(
        "kustomize: 2 controller Pods Ready",
        Duration::from_secs(240),
        || async {
            let d = json(&["get", "deployment", "-n", "kube-system", RELEASE]);
            (d["status"]["readyReplicas"] == 2).then_some(d)
        },
    )
    .await;
    let args = d["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        args.contains("--all-namespaces=false"),
        "namespaced overlay args: {args}"
    );
    report(&format!(
        "node kustomize namespaced overlay: 2 controller Pods Ready in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    // The Service's Endpoints follow the Pods' readiness a moment later.
    let fetched = wait_for(
        "kubeseal --fetch-cert through the service proxy",
        Duration::from_secs(60),
        || async {
            let out = Command::new(harness_bin().join("kubeseal"))
                .arg("--fetch-cert")
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8(out.stdout).unwrap())
        },
    )
    .await;
    assert!(
        fetched.starts_with("-----BEGIN CERTIFICATE-----"),
        "kubeseal --fetch-cert"
    );
    let kseal_cert = run(&kseal_cli(), &["cert"], None);
    assert_eq!(
        kseal_cert.trim(),
        fetched.trim(),
        "kseal cert and kubeseal --fetch-cert differ"
    );
    // Delete what the overlay made except the CRD, then the keys and Lease the controller made.
    let rendered = kubectl(&["kustomize", overlay.to_str().unwrap()]);
    let without_crd: Vec<&str> = rendered
        .split("\n---\n")
        .filter(|doc| !doc.contains("kind: CustomResourceDefinition"))
        .collect();
    let objects = scratch.join("kustomize-objects.yaml");
    std::fs::write(&objects, without_crd.join("\n---\n")).unwrap();
    kubectl(&["delete", "-f", objects.to_str().unwrap(), "--wait=true"]);
    kubectl(&[
        "delete",
        "secret",
        "-n",
        "kube-system",
        "-l",
        "sealedsecrets.bitnami.com/sealed-secrets-key",
    ]);
    kubectl(&[
        "delete",
        "lease",
        "-n",
        "kube-system",
        RELEASE,
        "--ignore-not-found",
    ]);
    if made_apps {
        kubectl(&["delete", "namespace", "apps", "--wait=false"]);
    }
}

fn lease_holder(lease: &Lease) -> Option<String> {
    lease.spec.as_ref()?.holder_identity.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn controller_and_app_on_the_node() {
    let Some(client) = cluster().await else {
        return;
    };
    if !node_running() {
        if std::env::var_os("CI").is_some() || std::env::var_os("KSEAL_CLUSTER").is_some() {
            panic!(
                "the cluster has no node: start it with `tests/cluster/cluster.sh up --node` (tests/run-all.sh does)"
            );
        }
        eprintln!("NOT RUN: the cluster has no node (tests/cluster/cluster.sh up --node)");
        return;
    }
    let bin = harness_bin();
    let scratch = TempDir::new("kseal-node");
    let t0 = Instant::now();

    // --- images: the controller around this build's binary, and the app stand-in -------------
    let image_dir = scratch.path().join("image");
    let out = run(
        &repo().join("controller/deploy/image/build-oci.sh"),
        &[
            "--binary",
            env!("CARGO_BIN_EXE_kseal-controller"),
            image_dir.to_str().unwrap(),
        ],
        None,
    );
    let tag = out
        .lines()
        .find_map(|l| l.split_once("(ghcr.io/kseal/kseal-controller:"))
        .and_then(|(_, rest)| rest.split(';').next())
        .expect("image tag in build-oci.sh output")
        .to_string();
    cluster_sh(&[
        "import-image",
        image_dir.join("kseal-controller.tar").to_str().unwrap(),
    ]);
    let app_images = run(&repo().join("tests/cluster/images.sh"), &[], None);
    let app_images = PathBuf::from(app_images.lines().last().unwrap());
    cluster_sh(&[
        "import-image",
        app_images.join("env-app.tar").to_str().unwrap(),
    ]);
    report(&format!(
        "node images built and imported in {:.1} s",
        t0.elapsed().as_secs_f64()
    ));

    // --- the chart: two replicas, namespace-scoped, restart-on-change, PDB ---------------------
    let ctl = TestNamespace::new(&client, "kseal-node").await;
    let _ = kubectl(&[
        "delete",
        "namespace",
        APP_NS,
        "--ignore-not-found",
        "--wait=true",
    ]);
    kubectl(&["create", "namespace", APP_NS]);
    let chart = repo().join("controller/deploy/helm/kseal");
    let t_install = Instant::now();
    run(
        &bin.join("helm"),
        &[
            "upgrade",
            "--install",
            RELEASE,
            chart.to_str().unwrap(),
            "-n",
            &ctl.name,
            "--set",
            &format!("fullnameOverride={RELEASE}"),
            "--set",
            &format!("image.tag={tag}"),
            "--set",
            "image.pullPolicy=Never",
            "--set",
            "replicaCount=2",
            "--set",
            "watch.allNamespaces=false",
            "--set",
            &format!("watch.namespaces={{{APP_NS}}}"),
            "--set",
            "restartOnChange=true",
            "--set",
            "podDisruptionBudget.enabled=true",
            "--set",
            "keys.size=2048",
        ],
        None,
    );
    let selector = format!("app.kubernetes.io/instance={RELEASE}");
    let pods = wait_for(
        "two controller Pods Ready",
        Duration::from_secs(240),
        || async {
            let pods = ready_pods(&ctl.name, &selector);
            (pods.len() == 2).then_some(pods)
        },
    )
    .await;
    report(&format!(
        "node chart install: 2 controller Pods Ready in {:.1} s",
        t_install.elapsed().as_secs_f64()
    ));
    for pod in &pods {
        let spec = &pod["spec"];
        let c = &spec["containers"][0];
        assert_eq!(c["image"], format!("ghcr.io/kseal/kseal-controller:{tag}"));
        assert_eq!(c["imagePullPolicy"], "Never");
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"],
            true,
            "{}",
            name(pod)
        );
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        let non_root = c["securityContext"]["runAsNonRoot"] == true
            || spec["securityContext"]["runAsNonRoot"] == true;
        assert!(non_root, "{}: runAsNonRoot", name(pod));
        let uid = c["securityContext"]["runAsUser"]
            .as_i64()
            .or_else(|| spec["securityContext"]["runAsUser"].as_i64())
            .expect("runAsUser");
        assert_ne!(uid, 0, "{}", name(pod));
        assert!(
            c["readinessProbe"]["httpGet"].is_object() && c["livenessProbe"]["httpGet"].is_object()
        );
        let status = &pod["status"]["containerStatuses"][0];
        assert_eq!(status["ready"], true);
        assert!(status["state"]["running"].is_object());
        assert_eq!(spec["nodeName"], "kseal-node");
    }
    report(&format!(
        "node pods:\n{}",
        kubectl(&["get", "pods", "-A", "-o", "wide"])
    ));

    // --- the certificate through the service proxy ---------------------------------------------
    let fetched = run(
        &bin.join("kubeseal"),
        &[
            "--fetch-cert",
            "--controller-namespace",
            &ctl.name,
            "--controller-name",
            RELEASE,
        ],
        None,
    );
    assert!(
        fetched.starts_with("-----BEGIN CERTIFICATE-----"),
        "kubeseal --fetch-cert"
    );
    let kseal = kseal_cli();
    let kseal_cert = run(
        &kseal,
        &[
            "cert",
            "--controller-namespace",
            &ctl.name,
            "--controller-name",
            RELEASE,
        ],
        None,
    );
    assert_eq!(
        kseal_cert.trim(),
        fetched.trim(),
        "kseal cert and kubeseal --fetch-cert differ"
    );

    // --- the PodDisruptionBudget: one eviction passes, the second is refused -------------------
    // Evictions go through kubectl: the same two evictions sent with kube's `Api::evict` were
    // both let through (three runs), see docs/testing.md.
    let pods = wait_for(
        "two controller Pods Ready again",
        Duration::from_secs(120),
        || async {
            let pods = ready_pods(&ctl.name, &selector);
            (pods.len() == 2).then_some(pods)
        },
    )
    .await;
    wait_for(
        "the deleted leader gone and the PDB settled on 2 healthy, 1 disruption allowed",
        Duration::from_secs(90),
        || async {
            // A stale status (from before the leader was deleted) would let both evictions
            // through or refuse both: wait until no Pod is terminating and the disruption
            // controller has seen the current generation and both healthy Pods.
            let all = json(&["get", "pods", "-n", &ctl.name, "-l", &selector]);
            let pdb = json(&["get", "pdb", "-n", &ctl.name, RELEASE]);
            let st = &pdb["status"];
            (all["items"].as_array().unwrap().len() == 2
                && st["observedGeneration"] == pdb["metadata"]["generation"]
                && st["currentHealthy"] == 2
                && st["expectedPods"] == 2
                && st["disruptionsAllowed"] == 1)
                .then_some(())
        },
    )
    .await;
    let evict = |pod: &str| {
        let body = scratch.path().join(format!("eviction-{pod}.json"));
        std::fs::write(
            &body,
            format!(
                r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{pod}","namespace":"{}"}}}}"#,
                ctl.name
            ),
        )
        .unwrap();
        let path = format!("/api/v1/namespaces/{}/pods/{pod}/eviction", ctl.name);
        Command::new(bin.join("kubectl"))
            .args(["create", "--raw", &path, "-f", body.to_str().unwrap()])
            .output()
            .expect("kubectl create --raw eviction")
    };
    let first = evict(&name(&pods[0]));
    assert!(
        first.status.success(),
        "first eviction should be allowed by the PDB: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = evict(&name(&pods[1]));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success() && err.contains("TooManyRequests"),
        "second eviction should be refused by the PDB (429): {err}"
    );
    report("node pdb: first eviction allowed, second refused (429)");
    let pods = wait_for(
        "two controller Pods Ready after the eviction",
        Duration::from_secs(120),
        || async {
            let pods = ready_pods(&ctl.name, &selector);
            let all = json(&["get", "pods", "-n", &ctl.name, "-l", &selector]);
            (pods.len() == 2 && all["items"].as_array().unwrap().len() == 2).then_some(pods)
        },
    )
    .await;

    // --- the app: seal the example .env, apply the staging overlay ------------------------------
    let ex = scratch.path().join("examples");
    run(
        Path::new("cp"),
        &[
            "-r",
            repo().join("examples").to_str().unwrap(),
            ex.to_str().unwrap(),
        ],
        None,
    );
    std::fs::write(ex.join("certs/staging.pem"), &fetched).unwrap();
    let env_text = std::fs::read_to_string(ex.join(".env.staging.example")).unwrap();
    let vars = parse_env(&env_text);
    let keys: Vec<&str> = vars.keys().map(String::as_str).collect();
    run(&kseal, &["seal", ".env.staging.example", "-w"], Some(&ex));
    let overlay = ex.join("k8s/overlays/node-test");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../staging]\n\
             images:\n  - {{name: ghcr.io/example/shop, newName: kseal.test/env-app, newTag: \"1\"}}\n\
             patches:\n  - target: {{kind: Deployment, name: shop}}\n    patch: |-\n\
             \x20     - {{op: add, path: /spec/template/spec/containers/0/imagePullPolicy, value: Never}}\n\
             \x20     - {{op: add, path: /spec/template/spec/containers/0/env/-, value: {{name: KSEAL_DIGEST_KEYS, value: \"{}\"}}}}\n",
            keys.join(",")
        ),
    )
    .unwrap();
    let t_app = Instant::now();
    kubectl(&["apply", "-k", overlay.to_str().unwrap()]);
    let expected = env_digest(&vars);
    wait_app(2, &expected, Duration::from_secs(180)).await;
    let app_pod = name(&ready_pods(APP_NS, "app.kubernetes.io/component=web")[0]);
    let app_spec = json(&["get", "pod", "-n", APP_NS, &app_pod]);
    assert_eq!(app_spec["spec"]["containers"][0]["image"], APP_IMAGE);
    report(&format!(
        "node app env digest: pod {} sha256 {} == .env.staging.example sha256 {} ({} keys; ready in {:.1} s)",
        app_pod,
        app_digest(&app_pod).unwrap(),
        expected,
        keys.len(),
        t_app.elapsed().as_secs_f64()
    ));

    // --- change one value: kseal seal --only … --merge-into …, apply, restart-on-change ----------
    let changed_key = "SMTP_PASSWORD";
    let mut new_vars = vars.clone();
    new_vars.insert(
        changed_key.into(),
        format!("rotated-{:016x}", OsRng.next_u64()),
    );
    let mut new_env = String::new();
    for line in env_text.lines() {
        match line.split_once('=') {
            Some((k, _)) if k == changed_key => {
                new_env.push_str(&format!("{k}={}\n", new_vars[changed_key]));
            }
            _ => {
                new_env.push_str(line);
                new_env.push('\n');
            }
        }
    }
    std::fs::write(ex.join(".env.staging"), new_env).unwrap();
    run(
        &kseal,
        &[
            "seal",
            ".env.staging",
            "--only",
            changed_key,
            "--merge-into",
            "k8s/overlays/staging/app-env.sealed.yaml",
        ],
        Some(&ex),
    );
    let new_digest = env_digest(&new_vars);
    assert_ne!(new_digest, expected);
    let hash_before = secrets_hash();
    let t_roll = Instant::now();
    kubectl(&["apply", "-k", overlay.to_str().unwrap()]);
    wait_app(2, &new_digest, Duration::from_secs(180)).await;
    let roll = t_roll.elapsed().as_secs_f64();
    let hash_after = secrets_hash();
    assert!(
        hash_after.is_some() && hash_after != hash_before,
        "the rollout was not made by kseal's restart-on-change (kseal.dev/secrets-hash unchanged)"
    );
    report(&format!(
        "node restart-on-change: {roll:.1} s (apply -> both Pods Ready with the new value)"
    ));

    // --- failover: delete the leader Pod ---------------------------------------------------------
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ctl.name);
    let leader = wait_for("a lease holder", Duration::from_secs(60), || async {
        lease_holder(&leases.get(RELEASE).await.ok()?)
    })
    .await;
    let names: Vec<String> = pods.iter().map(name).collect();
    assert!(
        names.contains(&leader),
        "lease holder {leader} is not one of {names:?}"
    );
    let other = names.iter().find(|n| **n != leader).unwrap().clone();
    let t_fail = Instant::now();
    kubectl(&["delete", "pod", "-n", &ctl.name, &leader, "--wait=false"]);
    // The deleted leader releases the Lease on SIGTERM; whichever live replica retries first
    // takes it: the other original one, or the Deployment's replacement Pod.
    let holder = wait_for(
        "another replica takes the lease",
        Duration::from_secs(60),
        || async {
            let holder = lease_holder(&leases.get(RELEASE).await.ok()?)?;
            (holder != leader).then_some(holder)
        },
    )
    .await;
    let failover = t_fail.elapsed().as_secs_f64();
    let live: Vec<String> = ready_pods(&ctl.name, &selector).iter().map(name).collect();
    let pods_now = json(&["get", "pods", "-n", &ctl.name, "-l", &selector]);
    let holder_alive = pods_now["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| name(p) == holder && p["metadata"]["deletionTimestamp"].is_null());
    assert!(
        holder_alive,
        "lease holder {holder} is not a live Pod (Ready: {live:?})"
    );
    let which = if holder == other {
        "the other replica"
    } else {
        "the replacement Pod"
    };
    report(&format!(
        "node failover: {failover:.1} s (leader Pod deleted -> {which} holds the lease)"
    ));

    // --- helm uninstall, then the same with kubectl apply -k (namespaced overlay) ------------------
    run(
        &bin.join("helm"),
        &["uninstall", RELEASE, "-n", &ctl.name, "--wait"],
        None,
    );
    kubectl(&["delete", "namespace", APP_NS, "--wait=false"]);
    kustomize_namespaced(scratch.path(), &tag).await;
    report(&format!(
        "node test total: {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
}
