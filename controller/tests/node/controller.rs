//! The controller on the node: its image, the Helm chart with two replicas (probes, security
//! context, the certificate through the service proxy), the PodDisruptionBudget, failover, and
//! the kustomize `namespaced` overlay.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};

use crate::{
    kubectl::{Kube, name},
    support::{harness_bin, report, tools::repo, wait_for},
};

/// Release and object name of the controller (the name kubeseal looks for by default).
pub(crate) const RELEASE: &str = "sealed-secrets-controller";

/// The images the node runs, built for this run.
pub(crate) struct Images {
    /// Tag of `ghcr.io/kseal/kseal-controller` (this build's binary).
    pub(crate) tag: String,
    pub(crate) controller_tar: PathBuf,
    pub(crate) app_tar: PathBuf,
}

/// Builds the controller image around this build's binary (controller/deploy/image/build-oci.sh)
/// and the app images (tests/cluster/images.sh).
pub(crate) fn build_images(kube: &Kube, dir: &Path) -> Images {
    let out = kube.run(
        &repo().join("controller/deploy/image/build-oci.sh"),
        &[
            "--binary",
            env!("CARGO_BIN_EXE_kseal-controller"),
            dir.to_str().unwrap(),
        ],
        None,
    );
    let tag = out
        .lines()
        .find_map(|l| l.split_once("(ghcr.io/kseal/kseal-controller:"))
        .and_then(|(_, rest)| rest.split(';').next())
        .expect("image tag in build-oci.sh output")
        .to_owned();
    let app = kube.run(&repo().join("tests/cluster/images.sh"), &[], None);
    Images {
        tag,
        controller_tar: dir.join("kseal-controller.tar"),
        app_tar: PathBuf::from(app.lines().last().expect("images.sh prints its dir"))
            .join("env-app.tar"),
    }
}

/// The controller chart installed in `ns`: two replicas, watching `watched` only,
/// restart-on-change, the PodDisruptionBudget → both Pods Ready, non-root, read-only root;
/// `kubeseal --fetch-cert` and `kseal cert` agree. Returns the certificate (PEM).
pub(crate) async fn install_chart(kube: &Kube, ns: &str, watched: &[&str], tag: &str) -> String {
    let chart = repo().join("controller/deploy/helm/kseal");
    let t = Instant::now();
    kube.helm(
        &[
            "upgrade",
            "--install",
            RELEASE,
            chart.to_str().unwrap(),
            "-n",
            ns,
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
            &format!("watch.namespaces={{{}}}", watched.join(",")),
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
            let pods = kube.ready_pods(ns, &selector);
            (pods.len() == 2).then_some(pods)
        },
    )
    .await;
    report(&format!(
        "node chart install: 2 controller Pods Ready in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    for pod in &pods {
        let spec = &pod["spec"];
        let c = &spec["containers"][0];
        assert_eq!(c["image"], format!("ghcr.io/kseal/kseal-controller:{tag}"));
        assert_eq!(c["imagePullPolicy"], "Never");
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{}", name(pod));
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        let non_root =
            sc["runAsNonRoot"] == true || spec["securityContext"]["runAsNonRoot"] == true;
        assert!(non_root, "{}: runAsNonRoot", name(pod));
        let uid = sc["runAsUser"]
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
    certificate(kube, ns).await
}

/// `kubeseal --fetch-cert` and `kseal cert` through the API server's service proxy: the same
/// certificate (PEM), retried until the Service's endpoints follow the Pods' readiness.
pub(crate) async fn certificate(kube: &Kube, ns: &str) -> String {
    let kubeseal = harness_bin().join("kubeseal");
    let who = ["--controller-namespace", ns, "--controller-name", RELEASE];
    let fetched = wait_for(
        "kubeseal --fetch-cert through the service proxy",
        Duration::from_secs(60),
        || async {
            let args = [&["--fetch-cert"][..], &who[..]].concat();
            let (ok, out, _) = kube.try_run(&kubeseal, &args, None);
            ok.then_some(out)
        },
    )
    .await;
    assert!(
        fetched.starts_with("-----BEGIN CERTIFICATE-----"),
        "kubeseal --fetch-cert"
    );
    let kseal_cert = kube.kseal(&[&["cert"][..], &who[..]].concat(), None);
    assert_eq!(
        kseal_cert.trim(),
        fetched.trim(),
        "kseal cert and kubeseal --fetch-cert differ"
    );
    fetched
}

/// The PodDisruptionBudget: with its status settled on 2 healthy Pods, one eviction passes and
/// the second is refused (429). Evictions go through kubectl: the same two sent with kube's
/// `Api::evict` were both let through (three runs), see docs/testing.md.
pub(crate) async fn pdb(kube: &Kube, ns: &str, scratch: &Path) {
    let selector = format!("app.kubernetes.io/instance={RELEASE}");
    let pods = wait_for(
        "the PDB settled on 2 healthy Pods, 1 disruption allowed",
        Duration::from_secs(120),
        || async {
            // A stale status would let both evictions through or refuse both: wait until no
            // Pod is terminating and the disruption controller has seen both healthy Pods.
            let ready = kube.ready_pods(ns, &selector);
            let all = kube.json(&["get", "pods", "-n", ns, "-l", &selector]);
            let pdb = kube.json(&["get", "pdb", "-n", ns, RELEASE]);
            let st = &pdb["status"];
            (ready.len() == 2
                && all["items"].as_array()?.len() == 2
                && st["observedGeneration"] == pdb["metadata"]["generation"]
                && st["currentHealthy"] == 2
                && st["expectedPods"] == 2
                && st["disruptionsAllowed"] == 1)
                .then_some(ready)
        },
    )
    .await;
    let evict = |pod: &str| {
        let body = scratch.join(format!("eviction-{pod}.json"));
        std::fs::write(
            &body,
            format!(
                r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{pod}","namespace":"{ns}"}}}}"#
            ),
        )
        .unwrap();
        let path = format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction");
        Command::new(harness_bin().join("kubectl"))
            .env("KUBECONFIG", &kube.kubeconfig)
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
    wait_for(
        "two controller Pods Ready after the eviction",
        Duration::from_secs(120),
        || async {
            let all = kube.json(&["get", "pods", "-n", ns, "-l", &selector]);
            (kube.ready_pods(ns, &selector).len() == 2 && all["items"].as_array()?.len() == 2)
                .then_some(())
        },
    )
    .await;
}

fn lease_holder(lease: &Lease) -> Option<String> {
    lease.spec.as_ref()?.holder_identity.clone()
}

/// Deleting the Lease holder's Pod hands the Lease to another live replica (the deleted
/// leader releases it on SIGTERM; the other original replica or the Deployment's replacement,
/// whichever retries first).
pub(crate) async fn failover(kube: &Kube, client: &Client, ns: &str) {
    let selector = format!("app.kubernetes.io/instance={RELEASE}");
    let names: Vec<String> = wait_for(
        "two controller Pods Ready before the failover",
        Duration::from_secs(120),
        || async {
            let pods: Vec<String> = kube.ready_pods(ns, &selector).iter().map(name).collect();
            (pods.len() == 2).then_some(pods)
        },
    )
    .await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let leader = wait_for(
        "a lease holder among the Pods",
        Duration::from_secs(60),
        || async {
            let holder = lease_holder(&leases.get(RELEASE).await.ok()?)?;
            names.contains(&holder).then_some(holder)
        },
    )
    .await;
    let other = names.iter().find(|n| **n != leader).unwrap().clone();
    let t = Instant::now();
    kube.kubectl(&["delete", "pod", "-n", ns, &leader, "--wait=false"]);
    let holder = wait_for(
        "another replica takes the lease",
        Duration::from_secs(60),
        || async {
            let holder = lease_holder(&leases.get(RELEASE).await.ok()?)?;
            (holder != leader).then_some(holder)
        },
    )
    .await;
    let failover = t.elapsed().as_secs_f64();
    let pods = kube.json(&["get", "pods", "-n", ns, "-l", &selector]);
    let holder_alive = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| name(p) == holder && p["metadata"]["deletionTimestamp"].is_null());
    assert!(holder_alive, "lease holder {holder} is not a live Pod");
    let which = if holder == other {
        "the other replica"
    } else {
        "the replacement Pod"
    };
    report(&format!(
        "node failover: {failover:.1} s (leader Pod deleted -> {which} holds the lease)"
    ));
}

/// A test overlay in `dir` on `controller/deploy/kustomize/<overlay>` (copied there) that only
/// sets the image tag and `imagePullPolicy: Never`; returns the overlay's directory.
pub(crate) fn kustomize_overlay(dir: &Path, overlay: &str, tag: &str) -> PathBuf {
    let src = repo().join("controller/deploy/kustomize");
    let copy = dir.join("kustomize");
    if !copy.exists() {
        let (ok, _, err) = crate::support::tools::try_run(
            Path::new("cp"),
            &["-r", src.to_str().unwrap(), copy.to_str().unwrap()],
            b"",
            None,
        );
        assert!(ok, "copy controller/deploy/kustomize: {err}");
    }
    let test = copy.join(format!("test-{}", overlay.replace('/', "-")));
    std::fs::create_dir_all(&test).unwrap();
    std::fs::write(
        test.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../{overlay}]\n\
             images:\n  - {{name: ghcr.io/kseal/kseal-controller, newTag: \"{tag}\"}}\n\
             patches:\n  - target: {{kind: Deployment, name: {RELEASE}}}\n    patch: |-\n\
             \x20     - {{op: add, path: /spec/template/spec/containers/0/imagePullPolicy, value: Never}}\n"
        ),
    )
    .unwrap();
    test
}

/// `kubectl apply -k` of `overlay` (a [`kustomize_overlay`]), then waits until the controller
/// Deployment in kube-system has `replicas` Ready; returns the Deployment and the seconds.
pub(crate) async fn apply_controller(
    kube: &Kube,
    overlay: &Path,
    replicas: i64,
) -> (serde_json::Value, f64) {
    let t = Instant::now();
    kube.kubectl(&["apply", "-k", overlay.to_str().unwrap()]);
    let d = wait_for(
        &format!("{replicas} controller Pods Ready in kube-system"),
        Duration::from_secs(240),
        || async {
            let d = kube.json(&["get", "deployment", "-n", "kube-system", RELEASE]);
            (d["status"]["readyReplicas"] == replicas).then_some(d)
        },
    )
    .await;
    (d, t.elapsed().as_secs_f64())
}

/// `kubectl apply -k` of controller/deploy/kustomize/overlays/namespaced (kube-system, watching
/// kube-system and `apps`) → two Pods Ready, `--all-namespaces=false`, the certificate through
/// the service proxy. Then everything it made except the CRD (shared with the other tests) is
/// deleted.
pub(crate) async fn kustomize_namespaced(kube: &Kube, scratch: &Path, tag: &str) {
    let overlay = kustomize_overlay(scratch, "overlays/namespaced", tag);
    let made_apps = kube
        .kubectl(&[
            "get",
            "namespace",
            "apps",
            "--ignore-not-found",
            "-o",
            "name",
        ])
        .is_empty();
    if made_apps {
        kube.kubectl(&["create", "namespace", "apps"]);
    }
    let (d, secs) = apply_controller(kube, &overlay, 2).await;
    let args = d["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        args.contains("--all-namespaces=false"),
        "namespaced overlay args: {args}"
    );
    report(&format!(
        "node kustomize namespaced overlay: 2 controller Pods Ready in {secs:.1} s"
    ));
    certificate(kube, "kube-system").await;
    // Delete what the overlay made except the CRD, then the keys and Lease the controller made.
    let rendered = kube.kubectl(&["kustomize", overlay.to_str().unwrap()]);
    let without_crd: Vec<&str> = rendered
        .split("\n---\n")
        .filter(|doc| !doc.contains("kind: CustomResourceDefinition"))
        .collect();
    let objects = scratch.join("kustomize-objects.yaml");
    std::fs::write(&objects, without_crd.join("\n---\n")).unwrap();
    kube.kubectl(&["delete", "-f", objects.to_str().unwrap(), "--wait=true"]);
    kube.kubectl(&[
        "delete",
        "secret",
        "-n",
        "kube-system",
        "-l",
        "sealedsecrets.bitnami.com/sealed-secrets-key",
    ]);
    kube.kubectl(&[
        "delete",
        "lease",
        "-n",
        "kube-system",
        RELEASE,
        "--ignore-not-found",
    ]);
    if made_apps {
        kube.kubectl(&["delete", "namespace", "apps", "--wait=false"]);
    }
}
