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

/// The chart's promises: CRD copies, unsealer rules everywhere, lint and render.
#[path = "deploy/chart.rs"]
mod chart;
/// The example app repository (`examples/`) with the `kseal` binary.
#[path = "deploy/examples.rs"]
mod examples;
/// Installing on the test control plane.
#[path = "deploy/install.rs"]
mod install;
/// Least privilege: RBAC, key backups and the NetworkPolicy, chart and Kustomize alike.
#[path = "deploy/rbac.rs"]
mod rbac;
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
