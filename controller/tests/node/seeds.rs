//! The seeds' apps on real Pods (`controller/tests/seeds.rs` checks them against the API server
//! with a controller process and no Pods): seed 002, one Secret per service
//! (`examples/k8s/services`), and seed 001, the single Helm chart (`examples/helm/api`), each
//! sealed with the node's controller certificate, Ready through the examples' own `/healthz`
//! probes, every container seeing exactly its sealed values (digests).

use std::time::Instant;

use crate::{
    apps::{Example, clear_namespace},
    kubectl::{APP_IMAGE, Kube, digest_keys_patch, post_renderer},
    support::report,
};

pub(crate) const SERVICES_NS: &str = "shop-services-staging";
pub(crate) const API_NS: &str = "api-staging";
const SERVICES: [&str; 3] = ["catalog", "checkout", "mailer"];

/// Asserts the Pod's container `c` probes `/healthz` on its `http` port for readiness and
/// liveness, as the example declares (the Pod being Ready means the app answered there).
fn assert_healthz_probes(kube: &Kube, ns: &str, pod: &str, container: usize) {
    let p = kube.json(&["get", "pod", "-n", ns, pod]);
    let c = &p["spec"]["containers"][container];
    assert_eq!(c["image"], APP_IMAGE, "{ns}/{pod}");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            c[probe]["httpGet"]["path"], "/healthz",
            "{ns}/{pod} {probe}"
        );
        assert_eq!(c[probe]["httpGet"]["port"], "http", "{ns}/{pod} {probe}");
    }
}

/// Seed 002: `kseal seal .env.<service>.staging.example -w` for each service (kseal.yaml names
/// the Secret, namespace and overlay file), `kubectl apply -k` of a test overlay on
/// `k8s/services/overlays/staging` that swaps the images → each service's Pod is Ready and
/// sees its own `.env`'s values and none of the other services' (the digest is over the keys
/// of all three files; a key that is not in the service's own file must be unset).
pub(crate) async fn services(kube: &Kube, ex: &Example) {
    clear_namespace(kube, SERVICES_NS);
    let envs: Vec<_> = SERVICES
        .iter()
        .map(|s| {
            let file = format!(".env.{s}.staging.example");
            kube.kseal(&["seal", &file, "-w"], Some(&ex.dir));
            ex.env(&file)
        })
        .collect();
    let mut all: Vec<&str> = envs.iter().flat_map(|e| e.keys()).collect();
    all.sort_unstable();
    all.dedup();
    let overlay = ex.dir.join("k8s/services/overlays/node-test");
    std::fs::create_dir_all(&overlay).unwrap();
    let mut text = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../staging]\nimages:\n",
    );
    for s in SERVICES {
        text.push_str(&format!(
            "  - {{name: ghcr.io/example/{s}, newName: kseal.test/env-app, newTag: \"1\"}}\n"
        ));
    }
    text.push_str("patches:\n");
    for s in SERVICES {
        text.push_str(&digest_keys_patch(s, &["containers/0"], &all));
        text.push_str(
            "      - {op: add, path: /spec/template/spec/containers/0/imagePullPolicy, value: Never}\n",
        );
    }
    std::fs::write(overlay.join("kustomization.yaml"), text).unwrap();
    let t = Instant::now();
    kube.kubectl(&["apply", "-k", overlay.to_str().unwrap()]);
    for (s, env) in SERVICES.iter().zip(&envs) {
        let selector = format!("app.kubernetes.io/name={s}");
        let (_, pods) = kube
            .wait_digest(SERVICES_NS, &selector, None, 1, &env.digest_over(&all))
            .await;
        assert_healthz_probes(kube, SERVICES_NS, &pods[0], 0);
    }
    report(&format!(
        "node seed services: catalog, checkout, mailer Ready through /healthz, each seeing exactly its own sealed .env (digests over all {} keys) in {:.1} s",
        all.len(),
        t.elapsed().as_secs_f64()
    ));
    clear_namespace(kube, SERVICES_NS);
}

/// Seed 001: `kseal seal .env.api.staging.example -w` (into the chart's `secrets/`), `helm
/// upgrade --install api helm/api -n api-staging` with the test image through the chart's
/// values and `KSEAL_DIGEST_KEYS` added by a post-renderer → the migration init container
/// completes having seen only `DATABASE_URL`, then both api Pods are Ready through `/healthz`
/// seeing every key of the `.env`.
pub(crate) async fn api(kube: &Kube, ex: &Example, scratch: &std::path::Path) {
    clear_namespace(kube, API_NS);
    let file = ".env.api.staging.example";
    kube.kseal(&["seal", file, "-w"], Some(&ex.dir));
    let env = ex.env(file);
    let keys = env.keys();
    let patch = digest_keys_patch("api", &["containers/0", "initContainers/0"], &keys);
    let renderer = post_renderer(&scratch.join("post-render-api"), &patch);
    let (repository, tag) = APP_IMAGE.split_once(':').unwrap();
    let t = Instant::now();
    kube.helm(
        &[
            "upgrade",
            "--install",
            "api",
            "helm/api",
            "-n",
            API_NS,
            "--set",
            &format!("image.repository={repository}"),
            "--set-string",
            &format!("image.tag={tag}"),
            "--set",
            "image.pullPolicy=Never",
            "--post-renderer",
            renderer.to_str().unwrap(),
        ],
        Some(&ex.dir),
    );
    let selector = "app.kubernetes.io/instance=api";
    let (_, pods) = kube
        .wait_digest(API_NS, selector, Some("api"), 2, &env.digest())
        .await;
    let migrate = env.only(&["DATABASE_URL"]).digest_over(&keys);
    for pod in &pods {
        assert_eq!(
            kube.app_digest(API_NS, pod, Some("migrate")).as_deref(),
            Some(migrate.as_str()),
            "{pod}: the migrate init container must see DATABASE_URL only"
        );
        assert_healthz_probes(kube, API_NS, pod, 0);
    }
    report(&format!(
        "node seed api: helm install -> migrate init container (DATABASE_URL only) done, 2 api Pods Ready through /healthz with the .env's digest in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    kube.helm(&["uninstall", "api", "-n", API_NS, "--wait"], None);
    clear_namespace(kube, API_NS);
}
