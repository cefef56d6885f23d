//! `kseal unseal` prints exactly the Secret the controller writes (issue 16, "One unseal path").
//!
//! - [`cli_prints_what_the_reconciler_builds`]: for a table of SealedSecrets (plain, templated,
//!   namespace-wide, cluster-wide, legacy `spec.data`, template metadata, type and immutable,
//!   skip-set-owner-references, no UID), the real `kseal` binary's output against
//!   `SealedSecret::unseal` with the renderer the reconciler uses (the sandboxed child of the
//!   real `kseal-controller` binary). No cluster needed.
//! - [`controller_writes_what_kseal_unseal_prints`]: one templated SealedSecret through the real
//!   controller on the real API server; the Secret read back against `kseal unseal` of the
//!   SealedSecret read back, with the controller's own key Secrets as `--key`.
//!
//! Secrets are compared field by field; data values only as digests, so a failure never prints
//! plaintext.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use k8s_openapi::{
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kseal_controller::template::Sandbox;
use kseal_core::Scope;
use kseal_crds::{
    CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, SEALED_SECRETS_KEY_LABEL,
    SKIP_SET_OWNER_REFERENCES_ANNOTATION, SealedSecret, UnsealOptions,
    fixtures::{key_pems, keyset, seal_into, seal_v1, sealed},
};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use support::{
    CANARY, Controller, TestNamespace, cluster, kseal_cli, kubeconfig, run_tool, wait_for,
    wait_synced,
};

/// A short digest of secret bytes, for messages: length and a SHA-256 prefix.
fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    let hash = Sha256::digest(bytes);
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{} bytes sha256:{hex}", bytes.len())
}

fn data_digests(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), digest(&v.0)))
        .collect()
}

/// The fields a Secret is made of, without data values (compared as digests).
#[derive(Debug, PartialEq)]
struct Shape {
    name: Option<String>,
    namespace: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    finalizers: Option<Vec<String>>,
    owner_references: Option<Vec<OwnerReference>>,
    type_: Option<String>,
    immutable: Option<bool>,
    data: BTreeMap<String, String>,
    string_data: bool,
}

fn shape(s: &Secret) -> Shape {
    let nonempty_map = |m: &Option<BTreeMap<String, String>>| m.clone().filter(|m| !m.is_empty());
    Shape {
        name: s.metadata.name.clone(),
        namespace: s.metadata.namespace.clone(),
        labels: nonempty_map(&s.metadata.labels),
        annotations: nonempty_map(&s.metadata.annotations),
        finalizers: s.metadata.finalizers.clone().filter(|f| !f.is_empty()),
        owner_references: s
            .metadata
            .owner_references
            .clone()
            .filter(|o| !o.is_empty()),
        type_: s.type_.clone(),
        immutable: s.immutable,
        data: data_digests(s),
        string_data: s.string_data.is_some(),
    }
}

fn assert_same(case: &str, printed: &Secret, written: &Secret) {
    let (p, w) = (shape(printed), shape(written));
    assert_eq!(p.name, w.name, "{case}: metadata.name");
    assert_eq!(p.namespace, w.namespace, "{case}: metadata.namespace");
    assert_eq!(p.labels, w.labels, "{case}: metadata.labels");
    assert_eq!(p.annotations, w.annotations, "{case}: metadata.annotations");
    assert_eq!(p.finalizers, w.finalizers, "{case}: metadata.finalizers");
    assert_eq!(
        p.owner_references, w.owner_references,
        "{case}: metadata.ownerReferences"
    );
    assert_eq!(p.type_, w.type_, "{case}: type");
    assert_eq!(p.immutable, w.immutable, "{case}: immutable");
    assert_eq!(p.data, w.data, "{case}: data (digests)");
    assert_eq!(p.string_data, w.string_data, "{case}: stringData");
    assert_eq!(p, w, "{case}");
}

/// Runs `kseal unseal --key KEYFILE -o FORMAT` on `ss`; returns the one Secret it printed.
fn kseal_unseal(key_file: &Path, ss: &SealedSecret, format: &str) -> Secret {
    let input = serde_json::to_vec(ss).unwrap();
    let key = key_file.to_str().unwrap();
    let (ok, stdout, stderr) = run_tool(
        &kseal_cli(),
        &["unseal", "--key", key, "-o", format],
        &input,
    );
    assert!(ok, "kseal unseal failed: {stderr}");
    let text = std::str::from_utf8(&stdout).expect("UTF-8 output");
    let raw: serde_json::Value = match format {
        "json" => serde_json::from_str(text).expect("one JSON Secret"),
        _ => serde_yaml::from_str(text).expect("one YAML Secret"),
    };
    assert_eq!(raw["apiVersion"], "v1", "apiVersion printed");
    assert_eq!(raw["kind"], "Secret", "kind printed");
    serde_json::from_value(raw).expect("a Secret")
}

/// A directory for key files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        use rand_core::{OsRng, RngCore as _};
        let dir = std::env::temp_dir().join(format!("kseal-{what}-{:08x}", OsRng.next_u32()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The table: (case, SealedSecret sealed to fixture key 1).
fn cases() -> Vec<(&'static str, SealedSecret)> {
    let items: &[(&str, &[u8])] = &[("user", b"admin"), ("pass", CANARY.as_bytes())];
    let mut out = Vec::new();

    out.push(("plain", sealed("shop", "plain", items, 1)));

    let mut ss = sealed("shop", "templated", items, 1);
    ss.spec.template.data = Some(map(&[
        (
            "url",
            "postgres://{{ .user }}:{{ .pass | urlquery }}@db/app",
        ),
        ("user", "{{ .user | upper }}"),
        ("config.json", r#"{{ list .user .pass | toJson }}"#),
    ]));
    out.push(("templated", ss));

    for (case, annotation, scope) in [
        (
            "namespace-wide",
            NAMESPACE_WIDE_ANNOTATION,
            Scope::NamespaceWide {
                namespace: "shop".parse().unwrap(),
            },
        ),
        ("cluster-wide", CLUSTER_WIDE_ANNOTATION, Scope::ClusterWide),
    ] {
        let mut ss = sealed("shop", case, &[], 1);
        ss.metadata.annotations = Some(map(&[(annotation, "true")]));
        seal_into(&mut ss, &scope, items, 1);
        out.push((case, ss));
    }

    let mut ss = sealed("shop", "legacy", &[], 1);
    seal_v1(
        &mut ss,
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "legacy", "labels": {"from": "v1"}, "annotations": {"a": "v1"}},
            "type": "kubernetes.io/basic-auth",
            "data": {"username": "YWRtaW4="},
            "stringData": {"password": CANARY}
        }),
        1,
    );
    ss.spec.template.metadata = Some(ObjectMeta {
        labels: Some(map(&[("tier", "template")])),
        ..ObjectMeta::default()
    });
    out.push(("legacy spec.data", ss));

    let mut ss = sealed("shop", "metadata", items, 1);
    ss.spec.template.type_ = Some("kubernetes.io/basic-auth".into());
    ss.spec.template.immutable = Some(true);
    ss.spec.template.metadata = Some(ObjectMeta {
        name: Some("ignored".into()),
        namespace: Some("ignored".into()),
        labels: Some(map(&[("app", "shop"), ("tier", "db")])),
        annotations: Some(map(&[("note", "rotated quarterly")])),
        finalizers: Some(vec!["example.com/keep".into()]),
        ..ObjectMeta::default()
    });
    ss.spec.template.data = Some(map(&[("password", "{{ .pass }}")]));
    out.push(("template labels, annotations, type, immutable", ss));

    let mut ss = sealed("shop", "ownerless", items, 1);
    ss.spec.template.metadata = Some(ObjectMeta {
        annotations: Some(map(&[(SKIP_SET_OWNER_REFERENCES_ANNOTATION, "true")])),
        ..ObjectMeta::default()
    });
    out.push(("skip-set-owner-references", ss));
    out
}

/// Every case of the table: `kseal unseal` (JSON and YAML) prints field for field the Secret
/// that `SealedSecret::unseal` builds for the reconciler, with the reconciler's renderer.
#[test]
fn cli_prints_what_the_reconciler_builds() {
    let dir = TempDir::new("unseal-equality");
    // Key 1 only on the CLI side as well as the library side: the same keys open the same items.
    let key_file = dir.0.join("key.pem");
    std::fs::write(&key_file, &key_pems()[1].1).unwrap();
    let keys = keyset(&[1]);
    let renderer = Sandbox::new(env!("CARGO_BIN_EXE_kseal-controller"));
    for (case, ss) in cases() {
        let built = ss
            .unseal(&keys, UnsealOptions::default(), &renderer)
            .unwrap_or_else(|e| panic!("{case}: the controller's path fails: {e}"))
            .secret;
        assert!(!built.data.as_ref().unwrap().is_empty(), "{case}: no data");
        for format in ["json", "yaml"] {
            let printed = kseal_unseal(&key_file, &ss, format);
            assert_same(&format!("{case} (-o {format})"), &printed, &built);
        }
    }

    // A SealedSecret without a UID (a file, not an object read from the cluster): the same
    // Secret, without the ownerReference the API server would refuse (its UID is empty).
    let (_, mut ss) = cases().remove(1);
    ss.metadata.uid = None;
    let mut built = ss
        .unseal(&keys, UnsealOptions::default(), &renderer)
        .unwrap()
        .secret;
    let printed = kseal_unseal(&key_file, &ss, "json");
    assert_eq!(printed.metadata.owner_references, None, "no UID: no owner");
    built.metadata.owner_references = None;
    assert_same("templated, no UID", &printed, &built);
}

/// One templated SealedSecret through the real controller: the Secret it writes is what
/// `kseal unseal` prints for the SealedSecret as the API server holds it, with the controller's
/// key Secrets as the keys.
#[tokio::test(flavor = "multi_thread")]
async fn controller_writes_what_kseal_unseal_prints() {
    let Some(client) = cluster().await else {
        return;
    };
    let ctl = TestNamespace::new(&client, "kseal-eq-ctl").await;
    let app = TestNamespace::new(&client, "kseal-eq-app").await;
    let controller = Controller::start(
        &kubeconfig(),
        &ctl.name,
        &[
            "--all-namespaces=false",
            &format!("--additional-namespaces={}", app.name),
        ],
    );
    let cert = controller.certificate().await;

    let mut ss = support::seal(
        &cert,
        &app.name,
        "equal",
        &[("user", b"admin"), ("pass", CANARY.as_bytes())],
    );
    ss.spec.template.type_ = Some("kubernetes.io/basic-auth".into());
    ss.spec.template.immutable = Some(true);
    ss.spec.template.metadata = Some(ObjectMeta {
        labels: Some(map(&[("app", "shop")])),
        annotations: Some(map(&[("note", "x")])),
        ..ObjectMeta::default()
    });
    ss.spec.template.data = Some(map(&[
        (
            "url",
            "postgres://{{ .user }}:{{ .pass | urlquery }}@db/app",
        ),
        ("user", "{{ .user | upper }}"),
        // A basic-auth Secret must hold `username` or `password` (the API server checks).
        ("username", "{{ .user }}"),
    ]));
    let sealed_api: Api<SealedSecret> = Api::namespaced(client.clone(), &app.name);
    sealed_api
        .create(&PostParams::default(), &ss)
        .await
        .expect("create SealedSecret");
    let stored = wait_synced(&sealed_api, "equal", "True").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &app.name);
    let written = wait_for("Secret written", Duration::from_secs(45), || async {
        secrets.get_opt("equal").await.ok()?
    })
    .await;

    // The controller's keys, as `kubectl get secret -l …-key -o yaml` would give them.
    let keys: Api<Secret> = Api::namespaced(client.clone(), &ctl.name);
    let key_list = keys
        .list(&ListParams::default().labels(SEALED_SECRETS_KEY_LABEL))
        .await
        .expect("list key Secrets");
    assert!(!key_list.items.is_empty(), "the controller made a key");
    let dir = TempDir::new("unseal-equality-cluster");
    let key_file = dir.0.join("keys.yaml");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": key_list.items});
    std::fs::write(&key_file, serde_yaml::to_string(&list).unwrap()).unwrap();

    let printed = kseal_unseal(&key_file, &stored, "yaml");
    assert_eq!(
        written
            .metadata
            .owner_references
            .as_ref()
            .map(|o| o[0].uid.as_str()),
        stored.metadata.uid.as_deref(),
        "owned by the SealedSecret"
    );
    assert_same("through the controller", &printed, &written);
    drop(controller);
}
