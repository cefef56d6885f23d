//! The command-line tools across: the kseal CLI against the Bitnami controller, and kubeseal's
//! commands (`--fetch-cert`, `--validate`, `--re-encrypt`, `--recovery-unseal`) against kseal's.

use super::*;

/// The kseal CLI against the real Bitnami controller through the API server's service proxy, as
/// a team that has not changed its controller uses it: `kseal cert` fetches Bitnami's
/// certificate; `kseal verify --cluster` asks its `/v1/verify`; `kseal keys --cluster` falls
/// back to the one certificate Bitnami serves (it has no `/v1/certs`); `kseal rotate` re-seals a
/// kubeseal file (no key annotation) through its `/v1/rotate` and leaves a kseal file that is
/// already sealed to the newest key alone.
#[tokio::test(flavor = "multi_thread")]
async fn kseal_cli_against_bitnami() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let started = Instant::now();
    let tools = Tools::find();
    let scratch = TempDir::new("interop-cli");
    let ctl = TestNamespace::new(&client, "interop-cli-ctl").await;
    let app = TestNamespace::new(&client, "interop-cli-app").await;
    let _rbac = BitnamiRbac::install(&client, &ctl.name, &[&app.name]).await;
    let theirs = BitnamiController::start(&ctl.name, &[&app.name], 2048);
    let cert = theirs.certificate().await;
    let fingerprint = cert.fingerprint().to_string();
    cluster_sh(&[
        "expose",
        &ctl.name,
        "sealed-secrets-controller",
        &theirs.name,
        "8080",
        "http",
    ]);
    let target = ["--controller-namespace", ctl.name.as_str()];
    let kseal = |args: &[&str], stdin: &[u8]| -> String {
        let (ok, out, err) = run_tool(&tools.kseal, args, stdin);
        assert!(ok, "kseal {}: {err}", args.join(" "));
        String::from_utf8(out).unwrap()
    };

    let pem = kseal(&[&["cert"][..], &target].concat(), b"");
    assert_eq!(
        kseal_core::Certificate::from_pem(pem.as_bytes())
            .expect("kseal cert printed a certificate")
            .fingerprint()
            .to_string(),
        fingerprint,
        "kseal cert through the proxy is Bitnami's certificate"
    );
    let cert_path = scratch.write("bitnami.pem", pem.as_bytes());
    let cert_arg = cert_path.to_str().unwrap();

    // One file from kubeseal (no key annotation), one from kseal (annotated).
    let dir = scratch.join("k8s");
    std::fs::create_dir_all(&dir).unwrap();
    let values = manifest_values();
    let manifest = secret_manifest(&app.name, "from-kubeseal", &values);
    let (ok, sealed, err) = run_tool(
        &tools.kubeseal,
        &["--cert", cert_arg, "-o", "yaml"],
        &manifest,
    );
    assert!(ok, "kubeseal: {err}");
    let kubeseal_file = dir.join("from-kubeseal.yaml");
    std::fs::write(&kubeseal_file, &sealed).unwrap();
    let (env, env_values) = dotenv_values();
    let kseal_yaml = kseal(
        &[
            "seal",
            "--no-config",
            "--cert",
            cert_arg,
            "--name",
            "from-kseal",
            "-n",
            &app.name,
        ],
        env.as_bytes(),
    );
    let kseal_file = dir.join("from-kseal.yaml");
    std::fs::write(&kseal_file, &kseal_yaml).unwrap();
    let apply = |file: &Path| {
        let (ok, _, err) = run_tool(
            &tools.kubectl,
            &["apply", "-f", file.to_str().unwrap()],
            b"",
        );
        assert!(ok, "kubectl apply {}: {err}", file.display());
    };
    apply(&kubeseal_file);
    apply(&kseal_file);
    for (name, want) in [("from-kubeseal", &values), ("from-kseal", &env_values)] {
        unsealed(&client, &app.name, name, want)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let dir_arg = dir.to_str().unwrap();
    let verify = [
        &["verify", "--no-config", "--cluster", dir_arg][..],
        &target,
    ]
    .concat();
    kseal(&verify, b"");
    let keys = kseal(
        &[&["keys", "--no-config", "--cluster", dir_arg][..], &target].concat(),
        b"",
    );
    // Without /v1/certs the newest certificate is the one key listed: `-` for its Secret and
    // creation time, marked newest, in use by the kseal file.
    let row = keys.lines().find(|l| l.starts_with(&fingerprint));
    assert!(
        row.is_some_and(|r| {
            let cols: Vec<&str> = r.split_whitespace().collect();
            cols[1..5] == ["-", "-", "yes", "1"] && r.contains("in use")
        }),
        "kseal keys --cluster does not list Bitnami's certificate {fingerprint} as the newest:\n{keys}"
    );

    let kseal_before = std::fs::read(&kseal_file).unwrap();
    kseal(
        &[&["rotate", "--no-config", dir_arg][..], &target].concat(),
        b"",
    );
    assert_eq!(
        std::fs::read(&kseal_file).unwrap(),
        kseal_before,
        "kseal rotate rewrote a file already sealed to the newest key"
    );
    let rotated: serde_json::Value =
        serde_yaml::from_slice(&std::fs::read(&kubeseal_file).unwrap()).unwrap();
    assert_eq!(
        rotated["metadata"]["annotations"][kseal_crds::KEY_FINGERPRINT_ANNOTATION],
        fingerprint.as_str(),
        "the kubeseal file was re-sealed through /v1/rotate and annotated"
    );
    let original: serde_json::Value = serde_yaml::from_slice(&sealed).unwrap();
    assert_ne!(
        rotated["spec"]["encryptedData"], original["spec"]["encryptedData"],
        "/v1/rotate returned fresh ciphertext"
    );
    // Bitnami unseals the re-sealed file: /v1/verify, then applied over the old one.
    kseal(&verify, b"");
    apply(&kubeseal_file);
    unsealed(&client, &app.name, "from-kubeseal", &values)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    report(&format!(
        "interop kseal CLI against bitnami: ok, cert, verify --cluster ×2, keys --cluster (newest only, no /v1/certs), rotate through /v1/rotate (1 of 2 files re-sealed) ({:.1}s)",
        started.elapsed().as_secs_f64()
    ));
}

/// `kubeseal --recovery-unseal` with the given private-key files; the unsealed data or stderr.
fn recovery_unseal(tools: &Tools, keys: &[&Path], sealed: &[u8]) -> Result<Data, String> {
    let keys: Vec<&str> = keys.iter().map(|k| k.to_str().unwrap()).collect();
    let keys = keys.join(",");
    let (ok, out, err) = run_tool(
        &tools.kubeseal,
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            &keys,
            "-o",
            "json",
        ],
        sealed,
    );
    if !ok {
        return Err(err);
    }
    let secret: Secret = serde_json::from_slice(&out).map_err(|e| e.to_string())?;
    Ok(secret_data(&secret))
}

/// Against kseal-controller with 4096-bit keys, running as its ServiceAccount in a network
/// namespace behind the API server's service proxy (the 2048-bit strict-scope basics are in
/// `e2e.rs`): `kubeseal --fetch-cert`; kubeseal-sealed namespace-wide and cluster-wide and
/// kseal-sealed SealedSecrets pass `--validate`; `--recovery-unseal` opens each with kseal's key
/// Secrets as `kubectl get -o yaml` prints them; after a key renewal (SIGUSR1) `--fetch-cert`
/// gives the new certificate and `--re-encrypt` re-seals to the new key only (proven by
/// `--recovery-unseal` with the new key alone), and the re-encrypted object unseals to the same
/// Secret.
#[tokio::test(flavor = "multi_thread")]
async fn kubeseal_commands_against_kseal() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let started = Instant::now();
    let tools = Tools::find();
    let scratch = TempDir::new("interop-kubeseal");
    let ctl = TestNamespace::new(&client, "interop-ks-ctl").await;
    let app = TestNamespace::new(&client, "interop-ks-app").await;
    let controller = proxied_controller(&client, &ctl.name, &app.name, &["--key-size=4096"]).await;
    let first = served_certificate(&controller.api, "kseal-controller", || controller.logs()).await;
    assert_eq!(first.modulus_len(), 512, "a 4096-bit key");
    let target = ["--controller-namespace", ctl.name.as_str()];
    let fetch = || {
        let (ok, pem, err) = run_tool(
            &tools.kubeseal,
            &[&["--fetch-cert"][..], &target].concat(),
            b"",
        );
        assert!(ok, "kubeseal --fetch-cert: {err}");
        kseal_core::Certificate::from_pem(&pem)
            .expect("kubeseal --fetch-cert printed a certificate")
    };
    assert_eq!(fetch().fingerprint(), first.fingerprint());
    let cert_path = scratch.write("first.pem", first.to_pem().as_bytes());

    // Sealed three ways; kubeseal fetches the certificate through the proxy itself.
    let mut cases: Vec<(String, Data, Vec<u8>)> = Vec::new();
    for (name, scope, sealer) in [
        (
            "kubeseal-nswide",
            ScopeKind::NamespaceWide,
            Sealer::Kubeseal,
        ),
        ("kubeseal-clwide", ScopeKind::ClusterWide, Sealer::Kubeseal),
        ("kseal-strict", ScopeKind::Strict, Sealer::Kseal),
    ] {
        let values = manifest_values();
        let sealed_name = match scope {
            ScopeKind::Strict => name.to_owned(),
            _ => format!("{name}-sealed"),
        };
        let manifest = secret_manifest(&app.name, &sealed_name, &values);
        let mut sealed = match sealer {
            Sealer::Kubeseal => {
                let args = [&["--scope", scope.as_str(), "-o", "json"][..], &target].concat();
                let (ok, out, err) = run_tool(&tools.kubeseal, &args, &manifest);
                assert!(ok, "kubeseal {name}: {err}");
                serde_json::from_slice::<serde_json::Value>(&out).unwrap()
            }
            Sealer::Kseal => tools
                .seal_manifest(sealer, &cert_path, scope, manifest)
                .await
                .unwrap(),
        };
        sealed["metadata"]["name"] = name.into();
        sealed["metadata"]["namespace"] = app.name.as_str().into();
        let bytes = serde_json::to_vec(&sealed).unwrap();
        let (ok, _, err) = kubeseal_past_rate_limit(
            &tools.kubeseal,
            &[&["--validate"][..], &target].concat(),
            &bytes,
        )
        .await;
        assert!(ok, "kubeseal --validate {name}: {err}");
        create_as(&client, sealed, &app.name, name).await.unwrap();
        cases.push((name.to_owned(), values, bytes));
    }
    for (name, want, _) in &cases {
        unsealed(&client, &app.name, name, want)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // --recovery-unseal with the key Secrets exactly as a backup has them.
    let (ok, backup, err) = run_tool(
        &tools.kubectl,
        &[
            "-n",
            &ctl.name,
            "get",
            "secret",
            "-l",
            kseal_crds::SEALED_SECRETS_KEY_LABEL,
            "-o",
            "yaml",
        ],
        b"",
    );
    assert!(ok, "kubectl get key Secrets: {err}");
    let backup = scratch.write("backup.yaml", &backup);
    for (name, want, sealed) in &cases {
        let got = recovery_unseal(&tools, &[&backup], sealed)
            .unwrap_or_else(|e| panic!("kubeseal --recovery-unseal {name}: {e}"));
        assert!(
            got == *want,
            "kubeseal --recovery-unseal {name}: {}",
            diff(&got, want)
        );
    }

    // Renewal, then --fetch-cert and --re-encrypt.
    let pid = background_pid(&controller.name).to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-USR1", &pid])
            .status()
            .unwrap()
            .success()
    );
    let second = eventually("a renewed certificate served", || async {
        let (status, body) = http(&controller.api, "GET", "/v1/cert.pem", b"").ok()?;
        let cert = kseal_core::Certificate::from_pem(&body).ok()?;
        (status == 200 && cert.fingerprint() != first.fingerprint()).then_some(cert)
    })
    .await;
    assert_eq!(second.modulus_len(), 512);
    assert_eq!(fetch().fingerprint(), second.fingerprint());
    let keys: Api<Secret> = Api::namespaced(client.clone(), &ctl.name);
    let lp = kube::api::ListParams::default().labels(kseal_crds::SEALED_SECRETS_KEY_LABEL);
    let new_key = keys
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .find_map(|s| {
            let data = secret_data(&s);
            let cert = kseal_core::Certificate::from_pem(data.get("tls.crt")?).ok()?;
            (cert.fingerprint() == second.fingerprint()).then(|| data.get("tls.key").cloned())?
        })
        .expect("the renewed key's Secret");
    let new_key = scratch.write("new.key", &new_key);

    let (name, want, sealed) = &cases[2];
    let (ok, re, err) = kubeseal_past_rate_limit(
        &tools.kubeseal,
        &[&["--re-encrypt", "-o", "json"][..], &target].concat(),
        sealed,
    )
    .await;
    assert!(ok, "kubeseal --re-encrypt: {err}");
    let got = recovery_unseal(&tools, &[&new_key], &re)
        .unwrap_or_else(|e| panic!("the re-encrypted {name} does not open with the new key: {e}"));
    assert!(got == *want, "re-encrypted {name}: {}", diff(&got, want));
    assert!(
        recovery_unseal(&tools, &[&new_key], sealed).is_err(),
        "the original {name} opens with the new key alone"
    );
    let (ok, _, err) = kubeseal_past_rate_limit(
        &tools.kubeseal,
        &[&["--validate"][..], &target].concat(),
        &re,
    )
    .await;
    assert!(ok, "kubeseal --validate of the re-encrypted {name}: {err}");
    let ssapi: Api<SealedSecret> = Api::namespaced(client.clone(), &app.name);
    let mut re: SealedSecret = serde_json::from_slice(&re).unwrap();
    let current = ssapi.get(name).await.unwrap();
    re.metadata.resource_version = current.metadata.resource_version;
    ssapi
        .replace(name, &PostParams::default(), &re)
        .await
        .unwrap();
    unsealed(&client, &app.name, name, want)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let logs = controller.logs();
    assert_no_canary(&[("controller logs", &logs)]);
    assert!(!logs.contains("orbidden"), "RBAC denied something");
    report(&format!(
        "interop kubeseal against kseal-controller (4096): ok, --fetch-cert, --validate ×4, --recovery-unseal ×{}, renewal, --re-encrypt ({:.1}s)",
        cases.len() + 2,
        started.elapsed().as_secs_f64()
    ));
}
