//! The produced Secret through its life: create, update, delete and garbage collection;
//! unmanaged, managed and patched Secrets; a wrong key, then the live key, and malformed
//! SealedSecrets; immutable Secrets.

use super::*;

/// Seal → apply → exact Secret with ownerRef; update; tamper and delete → restored; delete the
/// SealedSecret → Secret garbage-collected; no canary anywhere; a restart writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn lifecycle() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, app) = (&env.client, &env.app);
    let mut controller = env.controller(&[]);
    let cert = controller.certificate().await;

    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();
    let items: &[(&str, &[u8])] = &[("PASSWORD", CANARY.as_bytes()), ("USER", b"admin")];
    let mut ss = seal(&cert, &app.name, "db", items);
    ss.spec.template.metadata = Some(Default::default());
    ss.spec.template.metadata.as_mut().unwrap().labels =
        Some(BTreeMap::from([("team".into(), "a".into())]));
    let created = ssapi.create(&PostParams::default(), &ss).await.unwrap();

    let secret = secret_with(&secrets, "db", &expect(items)).await;
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "SealedSecret");
    assert_eq!(Some(&owner.uid), created.metadata.uid.as_ref());
    assert_eq!(owner.controller, Some(true));
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        secret.metadata.labels,
        Some(BTreeMap::from([("team".into(), "a".into())]))
    );
    wait_synced(&ssapi, "db", "True").await;
    wait_for("Unsealed event", Duration::from_secs(20), || async {
        events(client, &app.name, "db")
            .await
            .iter()
            .any(|(r, m)| r == "Unsealed" && m == "SealedSecret unsealed successfully")
            .then_some(())
    })
    .await;

    // Update: a new item.
    let items2: &[(&str, &[u8])] = &[
        ("PASSWORD", CANARY.as_bytes()),
        ("USER", b"admin"),
        ("HOST", b"db.local"),
    ];
    let mut current = ssapi.get("db").await.unwrap();
    let scope = current.scope().unwrap();
    seal_items(&mut current, &cert, &scope, &[("HOST", b"db.local")]);
    ssapi
        .replace("db", &PostParams::default(), &current)
        .await
        .unwrap();
    secret_with(&secrets, "db", &expect(items2)).await;

    // Tampered: restored.
    let tamper = serde_json::json!({"data": {"USER": "ZXZpbA==", "EXTRA": "eA=="}});
    secrets
        .patch("db", &PatchParams::default(), &Patch::Merge(&tamper))
        .await
        .unwrap();
    secret_with(&secrets, "db", &expect(items2)).await;

    // Deleted: recreated.
    secrets
        .delete("db", &DeleteParams::default())
        .await
        .unwrap();
    secret_with(&secrets, "db", &expect(items2)).await;

    // A restart with nothing changed: no Secret write, no status write, no event. The state is
    // taken once the old process is gone: its status write and event for the recreated Secret
    // may still be in flight when the Secret is seen.
    controller.kill();
    let before_secret = secrets.get("db").await.unwrap().metadata.resource_version;
    let before_ss = ssapi.get("db").await.unwrap().metadata.resource_version;
    let before_events = events(client, &app.name, "db").await.len();
    let controller = env.controller(&[]);
    controller.certificate().await;
    // The killed leader's Lease must expire first (15 s by default).
    wait_for(
        "restarted controller unsealed (request counted)",
        Duration::from_secs(45),
        || async {
            (controller.metric("sealed_secrets_controller_unseal_requests_total") == Some(1.0))
                .then_some(())
        },
    )
    .await;
    hold_for(
        "the restarted controller writes nothing (Secret, status, events)",
        Duration::from_secs(2),
        || async {
            secrets.get("db").await.unwrap().metadata.resource_version == before_secret
                && ssapi.get("db").await.unwrap().metadata.resource_version == before_ss
                && events(client, &app.name, "db").await.len() == before_events
        },
    )
    .await;

    // Deleting the SealedSecret garbage-collects the Secret (kube-controller-manager GC).
    ssapi.delete("db", &DeleteParams::default()).await.unwrap();
    secret_gone(&secrets, "db").await;

    env.assert_no_canary(&controller).await;
}

/// An existing unmanaged Secret is refused (ErrUpdateFailed); `managed` takes it over and
/// `patch` merges into it.
#[tokio::test(flavor = "multi_thread")]
async fn unmanaged_managed_patch() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, app) = (&env.client, &env.app);
    let controller = env.controller(&[]);
    let cert = controller.certificate().await;
    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();

    let mut theirs = Secret::default();
    theirs.metadata.name = Some("taken".into());
    theirs.data = Some(BTreeMap::from([("OLD".into(), bytes(b"keep"))]));
    secrets
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    let items: &[(&str, &[u8])] = &[("TOKEN", CANARY.as_bytes())];
    ssapi
        .create(
            &PostParams::default(),
            &seal(&cert, &app.name, "taken", items),
        )
        .await
        .unwrap();
    let ss = wait_synced(&ssapi, "taken", "False").await;
    let message = synced(&ss).unwrap().1.unwrap();
    assert_eq!(
        message,
        "Resource \"taken\" already exists and is not managed by SealedSecret"
    );
    wait_for("ErrUpdateFailed event", Duration::from_secs(20), || async {
        events(client, &app.name, "taken")
            .await
            .iter()
            .any(|(r, m)| r == "ErrUpdateFailed" && *m == message)
            .then_some(())
    })
    .await;
    assert_eq!(
        secret_data(&secrets.get("taken").await.unwrap()),
        expect(&[("OLD", b"keep")])
    );

    // managed: taken over, replaced wholesale, owned.
    let annotate = |key: &str| serde_json::json!({"metadata": {"annotations": {key: "true"}}});
    secrets
        .patch(
            "taken",
            &PatchParams::default(),
            &Patch::Merge(&annotate(MANAGED_ANNOTATION)),
        )
        .await
        .unwrap();
    let s = secret_with(&secrets, "taken", &expect(items)).await;
    assert!(s.metadata.owner_references.is_some());
    wait_synced(&ssapi, "taken", "True").await;

    // patch: merged, not owned.
    let mut other = Secret::default();
    other.metadata.name = Some("shared".into());
    other.metadata.annotations = Some(BTreeMap::from([(PATCH_ANNOTATION.into(), "true".into())]));
    other.data = Some(BTreeMap::from([("OLD".into(), bytes(b"keep"))]));
    secrets
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    ssapi
        .create(
            &PostParams::default(),
            &seal(&cert, &app.name, "shared", items),
        )
        .await
        .unwrap();
    let s = secret_with(
        &secrets,
        "shared",
        &expect(&[("OLD", b"keep"), ("TOKEN", CANARY.as_bytes())]),
    )
    .await;
    assert_eq!(s.metadata.owner_references, None);
    wait_synced(&ssapi, "shared", "True").await;

    env.assert_no_canary(&controller).await;
}

/// A wrong key gives Synced=False and ErrUnsealFailed; a key Secret added while the controller
/// runs is used without a restart. Malformed SealedSecrets fail one by one, naming the item,
/// and never block a good one.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_key_then_live_key_and_malformed() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, ctl, app) = (&env.client, &env.ctl, &env.app);
    let controller = env.controller(&[]);
    let good_cert = controller.certificate().await;
    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();

    // A key the controller does not have.
    let (other_key, other_cert) = kseal_core::keys::generate(&kseal_core::CertParams {
        key_size: kseal_core::KeySize::Rsa2048,
        not_before: std::time::SystemTime::now() - Duration::from_secs(3600),
        validity: Duration::from_secs(86_400),
        common_name: String::new(),
        serial: [9; 16],
    })
    .unwrap();
    let items: &[(&str, &[u8])] = &[("K", CANARY.as_bytes())];
    ssapi
        .create(
            &PostParams::default(),
            &seal(&other_cert, &app.name, "wrong", items),
        )
        .await
        .unwrap();
    let ss = wait_synced(&ssapi, "wrong", "False").await;
    assert_eq!(
        synced(&ss).unwrap().1.as_deref(),
        Some("no key could decrypt secret (K)")
    );
    wait_for("ErrUnsealFailed event", Duration::from_secs(20), || async {
        events(client, &app.name, "wrong")
            .await
            .iter()
            .any(|(r, m)| {
                r == "ErrUnsealFailed" && m == "Failed to unseal: no key could decrypt secret (K)"
            })
            .then_some(())
    })
    .await;

    // Malformed ones, next to a good one.
    let mut bad_b64 = seal(&good_cert, &app.name, "bad-b64", &[("OK", b"1")]);
    bad_b64
        .spec
        .encrypted_data
        .insert("BROKEN", "%%%not-base64");
    let mut wrong_scope = seal(&good_cert, &app.name, "elsewhere", &[("MOVED", b"1")]);
    wrong_scope.metadata.name = Some("wrong-scope".into());
    let huge_value = vec![b'x'; 600 * 1024];
    let huge = seal(
        &good_cert,
        &app.name,
        "huge",
        &[("BIG1", &huge_value), ("BIG2", &huge_value)],
    );
    let mut template = seal(
        &good_cert,
        &app.name,
        "template",
        &[("P", CANARY.as_bytes())],
    );
    template.spec.template.data = Some(BTreeMap::from([(
        "htpasswd".into(),
        "{{ htpasswd \"u\" .P }}".into(),
    )]));
    let good = seal(&good_cert, &app.name, "good", &[("G", b"fine")]);
    for ss in [&bad_b64, &wrong_scope, &template, &good] {
        ssapi.create(&PostParams::default(), ss).await.unwrap();
    }
    // The huge one may be refused by the API server itself (request too large); either way it
    // must not stop the others.
    let huge_created = ssapi.create(&PostParams::default(), &huge).await.is_ok();
    secret_with(&secrets, "good", &expect(&[("G", b"fine")])).await;
    for (name, expected) in [
        ("bad-b64", "item \"BROKEN\": value is not valid base64"),
        ("wrong-scope", "no key could decrypt secret (MOVED)"),
        (
            "template",
            "template \"htpasswd\": function \"htpasswd\" is not supported",
        ),
    ] {
        let ss = wait_synced(&ssapi, name, "False").await;
        let message = synced(&ss).unwrap().1.unwrap_or_default();
        assert!(message.contains(expected), "{name}: {message}");
    }
    if huge_created {
        let ss = wait_synced(&ssapi, "huge", "False").await;
        assert!(
            synced(&ss)
                .unwrap()
                .1
                .unwrap()
                .contains("over the 1 MiB limit")
        );
    }

    // Add the missing key as a key Secret while the controller runs.
    let key_secret = kseal_controller::keys::key_secret(
        "sealed-secrets-key",
        &ctl.name,
        &other_key,
        &other_cert,
        &BTreeMap::new(),
        &BTreeMap::new(),
    );
    let keys: Api<Secret> = Api::namespaced(client.clone(), &ctl.name);
    keys.create(&PostParams::default(), &key_secret)
        .await
        .unwrap();
    secret_with(&secrets, "wrong", &expect(items)).await;
    wait_synced(&ssapi, "wrong", "True").await;
    // The newest key (by NotBefore) is still the one served.
    assert_eq!(
        controller.certificate().await.fingerprint(),
        good_cert.fingerprint()
    );

    // A key Secret that does not parse is reported and skipped, never fatal.
    let mut junk = Secret::default();
    junk.metadata.name = Some("sealed-secrets-keyjunk".into());
    junk.metadata.labels = Some(BTreeMap::from([(
        kseal_crds::SEALED_SECRETS_KEY_LABEL.into(),
        "active".into(),
    )]));
    junk.data = Some(BTreeMap::from([
        ("tls.crt".into(), bytes(b"junk")),
        ("tls.key".into(), bytes(b"junk")),
    ]));
    keys.create(&PostParams::default(), &junk).await.unwrap();
    wait_for("invalid key metric", Duration::from_secs(20), || async {
        (controller.metric("sealed_secrets_controller_invalid_key_secrets") == Some(1.0))
            .then_some(())
    })
    .await;
    wait_for(
        "ErrInvalidKeySecret event",
        Duration::from_secs(20),
        || async {
            (!events(client, &ctl.name, "sealed-secrets-keyjunk")
                .await
                .is_empty())
            .then_some(())
        },
    )
    .await;
    assert!(http(&controller.api, "GET", "/healthz", b"").unwrap().0 == 200);

    env.assert_no_canary(&controller).await;
}

/// An immutable Secret whose data would change is reported (Synced=False, ErrUpdateFailed) and
/// not retried; deleting it lets the controller recreate it with the new data.
#[tokio::test(flavor = "multi_thread")]
async fn immutable_secret() {
    let Some(env) = Env::new().await else {
        return;
    };
    let (client, app) = (&env.client, &env.app);
    let controller = env.controller(&[]);
    let cert = controller.certificate().await;
    let ssapi: Api<SealedSecret> = env.api();
    let secrets: Api<Secret> = env.api();
    let mut ss = seal(&cert, &app.name, "frozen", &[("A", CANARY.as_bytes())]);
    ss.spec.template.immutable = Some(true);
    ssapi.create(&PostParams::default(), &ss).await.unwrap();
    let s = secret_with(&secrets, "frozen", &expect(&[("A", CANARY.as_bytes())])).await;
    assert_eq!(s.immutable, Some(true));
    wait_synced(&ssapi, "frozen", "True").await;

    let mut current = ssapi.get("frozen").await.unwrap();
    let scope = current.scope().unwrap();
    seal_items(&mut current, &cert, &scope, &[("A", b"new")]);
    ssapi
        .replace("frozen", &PostParams::default(), &current)
        .await
        .unwrap();
    let failed = wait_synced(&ssapi, "frozen", "False").await;
    let message = synced(&failed).unwrap().1.unwrap_or_default();
    assert!(message.contains("is immutable"), "{message}");
    wait_for("ErrUpdateFailed event", Duration::from_secs(20), || async {
        events(client, &app.name, "frozen")
            .await
            .iter()
            .any(|(r, m)| r == "ErrUpdateFailed" && m.contains("is immutable"))
            .then_some(())
    })
    .await;

    secrets
        .delete("frozen", &DeleteParams::default())
        .await
        .unwrap();
    secret_with(&secrets, "frozen", &expect(&[("A", b"new")])).await;
    wait_synced(&ssapi, "frozen", "True").await;
    env.assert_no_canary(&controller).await;
}
