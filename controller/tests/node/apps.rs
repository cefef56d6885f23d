//! The example app (`examples/`) on the node, sealed with the running controller's certificate
//! as its repository does it: the kustomize staging overlay and the umbrella Helm chart
//! (`helm/shop`), each Ready with the env digest of the sealed `.env`, then one value changed
//! with `kseal seal --only … --merge-into …` and rolled out by restart-on-change.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use rand_core::{OsRng, RngCore as _};

use crate::{
    kubectl::{APP_IMAGE, EnvFile, Kube, digest_keys_patch, post_renderer},
    support::{report, tools::repo},
};

/// The namespace the example's staging files are sealed for (strict scope).
pub(crate) const SHOP_NS: &str = "shop-staging";
/// The value the change steps re-seal.
const CHANGED_KEY: &str = "SMTP_PASSWORD";

/// A scratch copy of `examples/` whose `certs/staging.pem` is the running controller's.
pub(crate) struct Example {
    pub(crate) dir: PathBuf,
}

impl Example {
    pub(crate) fn new(scratch: &Path, cert_pem: &str) -> Self {
        let dir = scratch.join("examples");
        let (ok, _, err) = crate::support::tools::try_run(
            Path::new("cp"),
            &[
                "-r",
                repo().join("examples").to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
            b"",
            None,
        );
        assert!(ok, "copy examples/: {err}");
        std::fs::write(dir.join("certs/staging.pem"), cert_pem).unwrap();
        Self { dir }
    }

    pub(crate) fn env(&self, file: &str) -> EnvFile {
        EnvFile::read(&self.dir.join(file))
    }

    /// Writes `.env.staging`: `.env.staging.example` with [`CHANGED_KEY`] set to a fresh
    /// random value, and re-seals that one value into `sealed` as a user would (`kseal seal
    /// .env.staging --only … --merge-into …`); returns the new values.
    fn change_one_value(&self, kube: &Kube, sealed: &str) -> EnvFile {
        let value = format!("rotated-{:016x}", OsRng.next_u64());
        let text = std::fs::read_to_string(self.dir.join(".env.staging.example")).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            match line.split_once('=') {
                Some((k, _)) if k == CHANGED_KEY => out.push_str(&format!("{k}={value}\n")),
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        std::fs::write(self.dir.join(".env.staging"), out).unwrap();
        kube.kseal(
            &[
                "seal",
                ".env.staging",
                "--only",
                CHANGED_KEY,
                "--merge-into",
                sealed,
            ],
            Some(&self.dir),
        );
        let new = self.env(".env.staging");
        assert_eq!(
            new.keys(),
            self.env(".env.staging.example").keys(),
            ".env.staging"
        );
        new
    }
}

/// Deletes the apps' objects in `ns` (not the namespace: the controller's Role for it lives
/// there) and waits until their Pods and Secrets are gone.
pub(crate) fn clear_namespace(kube: &Kube, ns: &str) {
    kube.kubectl(&[
        "delete",
        "deployment,service,sealedsecret",
        "--all",
        "-n",
        ns,
        "--cascade=foreground",
        "--wait=true",
        "--timeout=180s",
    ]);
}

/// The restart-on-change digest the controller wrote on a Deployment's pod template.
fn secrets_hash(kube: &Kube, ns: &str, deployment: &str) -> Option<String> {
    let d = kube.json(&["get", "deployment", "-n", ns, deployment]);
    d["spec"]["template"]["metadata"]["annotations"]["kseal.dev/secrets-hash"]
        .as_str()
        .map(str::to_owned)
}

/// The kustomize staging overlay with the image swapped by a test overlay: both Pods Ready with
/// the `.env`'s digest, then the restart-on-change rollout after one value is re-sealed.
pub(crate) async fn kustomize_app(kube: &Kube, ex: &Example) {
    clear_namespace(kube, SHOP_NS);
    let env = ex.env(".env.staging.example");
    let keys = env.keys();
    kube.kseal(&["seal", ".env.staging.example", "-w"], Some(&ex.dir));
    let overlay = ex.dir.join("k8s/overlays/node-test");
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
    // The chart's web Pods carry the same name and component labels, never an instance label.
    let selector = "app.kubernetes.io/component=web,!app.kubernetes.io/instance";
    let t = Instant::now();
    kube.kubectl(&["apply", "-k", overlay.to_str().unwrap()]);
    let expected = env.digest();
    let (_, pods) = kube
        .wait_digest(SHOP_NS, selector, None, 2, &expected)
        .await;
    let spec = kube.json(&["get", "pod", "-n", SHOP_NS, &pods[0]]);
    assert_eq!(spec["spec"]["containers"][0]["image"], APP_IMAGE);
    // Digests are shortened in the output: equal is what matters, and a full SHA-256 of the
    // values is more than a log needs.
    let short = |d: &str| format!("{}…{}", &d[..8], &d[d.len() - 8..]);
    report(&format!(
        "node app env digest: pod {} sha256 {} == .env.staging.example sha256 {} ({} keys; ready in {:.1} s)",
        pods[0],
        short(&kube.app_digest(SHOP_NS, &pods[0], None).unwrap()),
        short(&expected),
        keys.len(),
        t.elapsed().as_secs_f64()
    ));

    // One value changed: kseal seal --only … --merge-into …, apply, restart-on-change.
    let new_env = ex.change_one_value(kube, "k8s/overlays/staging/app-env.sealed.yaml");
    let new_digest = new_env.digest();
    assert_ne!(new_digest, expected);
    let hash_before = secrets_hash(kube, SHOP_NS, "shop");
    let t = Instant::now();
    kube.kubectl(&["apply", "-k", overlay.to_str().unwrap()]);
    kube.wait_digest(SHOP_NS, selector, None, 2, &new_digest)
        .await;
    let roll = t.elapsed().as_secs_f64();
    let hash_after = secrets_hash(kube, SHOP_NS, "shop");
    assert!(
        hash_after.is_some() && hash_after != hash_before,
        "the rollout was not made by kseal's restart-on-change (kseal.dev/secrets-hash unchanged)"
    );
    report(&format!(
        "node restart-on-change: {roll:.1} s (apply -> both Pods Ready with the new value)"
    ));
    clear_namespace(kube, SHOP_NS);
}

/// The keys the umbrella chart's worker reads (`secretKeys` of `charts/worker/values.yaml`).
fn worker_keys(ex: &Example) -> Vec<String> {
    let text = std::fs::read_to_string(ex.dir.join("helm/shop/charts/worker/values.yaml")).unwrap();
    let values: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    values["secretKeys"]
        .as_array()
        .expect("worker secretKeys")
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// `helm upgrade --install shop helm/shop -n shop-staging -f helm/shop/values-staging.yaml`, the
/// test app image set through the chart's values, and `KSEAL_DIGEST_KEYS` added by a
/// post-renderer (the app's digest over every key of the `.env`, in the web and the worker
/// containers).
fn helm_shop(kube: &Kube, ex: &Example, renderer: &Path) {
    let (repository, tag) = APP_IMAGE.split_once(':').unwrap();
    kube.helm(
        &[
            "upgrade",
            "--install",
            "shop",
            "helm/shop",
            "-n",
            SHOP_NS,
            "-f",
            "helm/shop/values-staging.yaml",
            "--set",
            &format!("global.image.repository={repository}"),
            "--set-string",
            &format!("global.image.tag={tag}"),
            "--set",
            "global.image.pullPolicy=Never",
            "--post-renderer",
            renderer.to_str().unwrap(),
        ],
        Some(&ex.dir),
    );
}

/// The umbrella chart: `web` (every key, `envFrom`) and `worker` (its `secretKeys` only,
/// `secretKeyRef`) Ready through their probes with the digests of the sealed `.env` (the
/// worker's: its keys, the others empty); then one value re-sealed, `helm upgrade`, and
/// restart-on-change rolls both Deployments to Pods that see the new value.
pub(crate) async fn umbrella_chart(kube: &Kube, ex: &Example, scratch: &Path) {
    clear_namespace(kube, SHOP_NS);
    let sealed = "helm/shop/secrets/app-env.staging.sealed.yaml";
    kube.kseal(
        &["seal", ".env.staging.example", "-w", sealed],
        Some(&ex.dir),
    );
    let env = ex.env(".env.staging.example");
    let keys = env.keys();
    let worker: Vec<String> = worker_keys(ex);
    let worker_only: Vec<&str> = worker.iter().map(String::as_str).collect();
    let patches = [
        digest_keys_patch("shop-web", &["containers/0"], &keys),
        digest_keys_patch("shop-worker", &["containers/0"], &keys),
    ]
    .concat();
    let renderer = post_renderer(&scratch.join("post-render-shop"), &patches);
    let web = "app.kubernetes.io/instance=shop,app.kubernetes.io/component=web";
    let wk = "app.kubernetes.io/instance=shop,app.kubernetes.io/component=worker";

    let t = Instant::now();
    helm_shop(kube, ex, &renderer);
    let (want_web, want_worker) = (env.digest(), env.only(&worker_only).digest_over(&keys));
    kube.wait_digest(SHOP_NS, web, None, 2, &want_web).await;
    let (_, workers) = kube.wait_digest(SHOP_NS, wk, None, 1, &want_worker).await;
    let installed = t.elapsed().as_secs_f64();
    report(&format!(
        "node pods (the controller's and the umbrella chart's, rollouts finished):\n{}",
        kube.kubectl(&["get", "pods", "-A", "-o", "wide"])
    ));
    let pod = kube.json(&["get", "pod", "-n", SHOP_NS, &workers[0]]);
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], APP_IMAGE);
    assert_eq!(c["imagePullPolicy"], "Never");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");

    // One value changed, re-sealed into the chart's file, helm upgrade.
    assert!(
        worker_only.contains(&CHANGED_KEY),
        "the worker reads the changed key"
    );
    let new_env = ex.change_one_value(kube, sealed);
    let hashes = |d: &str| secrets_hash(kube, SHOP_NS, d);
    let before = (hashes("shop-web"), hashes("shop-worker"));
    let t = Instant::now();
    helm_shop(kube, ex, &renderer);
    let new_web = new_env.digest();
    let new_worker = new_env.only(&worker_only).digest_over(&keys);
    assert!(new_web != want_web && new_worker != want_worker);
    kube.wait_digest(SHOP_NS, web, None, 2, &new_web).await;
    kube.wait_digest(SHOP_NS, wk, None, 1, &new_worker).await;
    let roll = t.elapsed().as_secs_f64();
    let after = (hashes("shop-web"), hashes("shop-worker"));
    assert!(
        after.0.is_some() && after.1.is_some() && after.0 != before.0 && after.1 != before.1,
        "the rollout was not made by kseal's restart-on-change (kseal.dev/secrets-hash unchanged)"
    );
    report(&format!(
        "node umbrella chart: helm install -> 2 web + 1 worker Pods Ready with the .env's digests in {installed:.1} s; \
         restart-on-change {roll:.1} s (helm upgrade -> all 3 Pods replaced, seeing the new value)"
    ));
    kube.helm(&["uninstall", "shop", "-n", SHOP_NS, "--wait"], None);
    clear_namespace(kube, SHOP_NS);
}
