//! The controller and the example apps as users run them, on the test cluster's node
//! (`cluster.sh up --node`: containerd, kubelet, kube-scheduler; tests/cluster/README.md "The
//! node"). One test per cluster, each in phases (`support::Phases`: a failing phase is reported
//! and the later ones still run):
//!
//! `controller_and_apps_on_the_node`, on the shared cluster:
//! 1. `images`: the kseal-controller image (controller/deploy/image/build-oci.sh around this
//!    build's binary) and the app stand-in (tests/cluster/images.sh) imported into the node;
//! 2. `chart`: the controller's Helm chart, two replicas, namespace-scoped → both Pods Ready
//!    through their probes, non-root, read-only root; `kubeseal --fetch-cert` and `kseal cert`
//!    agree (controller.rs); `pdb`: one eviction passes, the second is refused;
//! 3. `kustomize-app`, `umbrella-chart`: the example's staging `.env` sealed with that
//!    certificate, deployed with the kustomize overlay and with the umbrella chart → Pods Ready
//!    and seeing exactly the sealed values; one value re-sealed → restart-on-change (apps.rs);
//! 4. `seed-services`, `seed-api`: seed 002 (`examples/k8s/services`) and seed 001
//!    (`examples/helm/api`) on Pods, Ready through their `/healthz` probes (seeds.rs);
//! 5. `failover`: deleting the leader Pod hands the Lease over; `kustomize-namespaced`: the
//!    `namespaced` overlay, after `helm uninstall`.
//!
//! `kustomize_base_on_a_private_node`: the cluster-wide base on a private control plane and node
//! of its own (base.rs).
//!
//! Values are compared by sha256 digests only; no value is printed.

#[path = "../support/mod.rs"]
mod support;

mod apps;
mod base;
mod controller;
mod kubectl;
mod seeds;

use std::time::Instant;

use support::{Phases, TempDir, TestNamespace, cluster, cluster_sh, report};

use crate::{
    apps::{Example, SHOP_NS},
    controller::RELEASE,
    kubectl::Kube,
    seeds::{API_NS, SERVICES_NS},
};

/// The two tests run one after the other: each builds images and runs a node's worth of Pods,
/// and the timings they print should not include the other's load (2 cores here).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether the shared cluster has a node; `false` after the `NOT RUN` line when it has none
/// and no cluster is required (with `CI` or `KSEAL_CLUSTER` set it panics instead).
fn node_running() -> bool {
    if cluster_sh(&["status"]).lines().any(|l| l == "KSEAL_NODE=1") {
        return true;
    }
    if std::env::var_os("CI").is_some() || std::env::var_os("KSEAL_CLUSTER").is_some() {
        panic!(
            "the cluster has no node: start it with `tests/cluster/cluster.sh up --node` (tests/run-all.sh does)"
        );
    }
    eprintln!("NOT RUN: the cluster has no node (tests/cluster/cluster.sh up --node)");
    false
}

/// The phases that need the chart's controller Pods, in order (not run when "chart" fails).
const ON_THE_CHART: [&str; 6] = [
    "pdb",
    "kustomize-app",
    "umbrella-chart",
    "seed-services",
    "seed-api",
    "failover",
];

#[tokio::test(flavor = "multi_thread")]
async fn controller_and_apps_on_the_node() {
    let Some(client) = cluster().await else {
        return;
    };
    if !node_running() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let mut phases = Phases::new("controller_and_apps_on_the_node");
    let kube = Kube::shared();
    let scratch = TempDir::new("kseal-node");
    let t0 = Instant::now();

    let images = phases
        .run("images", async {
            let images = controller::build_images(&kube, &scratch.path().join("image"));
            for tar in [&images.controller_tar, &images.app_tar] {
                cluster_sh(&["import-image", tar.to_str().unwrap()]);
            }
            report(&format!(
                "node images built and imported in {:.1} s",
                t0.elapsed().as_secs_f64()
            ));
            images
        })
        .await;
    let Some(images) = images else {
        for p in ["chart"]
            .iter()
            .chain(&ON_THE_CHART)
            .chain(&["kustomize-namespaced"])
        {
            phases.not_run(p, "images");
        }
        return phases.finish();
    };

    // The apps' namespaces exist before the chart, which makes its Roles in them.
    let watched = [SHOP_NS, SERVICES_NS, API_NS];
    for ns in watched {
        kube.kubectl(&[
            "delete",
            "namespace",
            ns,
            "--ignore-not-found",
            "--wait=true",
        ]);
        kube.kubectl(&["create", "namespace", ns]);
    }
    let ctl = TestNamespace::new(&client, "kseal-node").await;
    let cert = phases
        .run(
            "chart",
            controller::install_chart(&kube, &ctl.name, &watched, &images.tag),
        )
        .await;
    if let Some(cert) = cert {
        phases
            .run("pdb", controller::pdb(&kube, &ctl.name, scratch.path()))
            .await;
        let ex = Example::new(scratch.path(), &cert);
        phases
            .run("kustomize-app", apps::kustomize_app(&kube, &ex))
            .await;
        phases
            .run(
                "umbrella-chart",
                apps::umbrella_chart(&kube, &ex, scratch.path()),
            )
            .await;
        phases
            .run("seed-services", seeds::services(&kube, &ex))
            .await;
        phases
            .run("seed-api", seeds::api(&kube, &ex, scratch.path()))
            .await;
        phases
            .run("failover", controller::failover(&kube, &client, &ctl.name))
            .await;
    } else {
        for p in ON_THE_CHART {
            phases.not_run(p, "chart");
        }
    }
    let _ = kube.try_run(
        &support::harness_bin().join("helm"),
        &["uninstall", RELEASE, "-n", &ctl.name, "--wait"],
        None,
    );
    for ns in watched {
        kube.kubectl(&["delete", "namespace", ns, "--wait=false"]);
    }
    phases
        .run(
            "kustomize-namespaced",
            controller::kustomize_namespaced(&kube, scratch.path(), &images.tag),
        )
        .await;
    report(&format!(
        "node test total: {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    phases.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn kustomize_base_on_a_private_node() {
    // The shared cluster decides whether cluster tests run here, and its settings the private
    // one's (which brings its own node).
    if cluster().await.is_none() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let mut phases = Phases::new("kustomize_base_on_a_private_node");
    phases.run("base", base::kustomize_base()).await;
    phases.finish();
}
