//! `spec.template` renders the same bytes in both controllers.

use super::*;

/// `spec.template.data` entries using the functions kseal documents (Go builtins and its sprig
/// subset), each compared between the two controllers.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "dsn",
        "postgres://{{ .user }}:{{ .password }}@{{ .host }}:5432/app",
    ),
    ("basic", "{{ printf \"%s:%s\" .user .password | b64enc }}"),
    (
        "cases",
        "{{ .user | upper }} {{ lower \"MiXeD\" }} {{ title \"hello world\" }}",
    ),
    ("sha", "{{ sha256sum .password }}"),
    ("quotes", "{{ quote .note }} {{ squote .user }}"),
    // Same name as an item: the rendered value replaces the decrypted one in both.
    (
        "hosts",
        "{{ range $i, $h := splitList \",\" .hosts }}{{ if $i }};{{ end }}{{ $i }}={{ trim $h }}{{ end }}",
    ),
    ("join", "{{ list .user .host | join \"/\" }}"),
    (
        "logic",
        "{{ if eq .user \"admin\" }}admin{{ else }}user{{ end }} {{ len .password }} {{ and .user .host }} {{ or \"\" .host }} {{ not true }}",
    ),
    (
        "defaults",
        "{{ default \"fallback\" \"\" }} {{ .user | default \"x\" }} {{ coalesce \"\" .host }}",
    ),
    ("missing", "[{{ .missing }}]"),
    (
        "json",
        "{{ toJson .user }} {{ toJson .greeting }} {{ toJson .pem }}",
    ),
    ("printf-d", "{{ printf \"%5d|%+d|%d\" 42 3 -1 }}"),
    ("printf-s", "{{ printf \"%s|%v|%d\" .user true 7 }}"),
    ("printf-x", "{{ printf \"%x\" .user }}"),
    (
        "strings",
        "{{ replace \"-\" \"_\" .host }} {{ trimSuffix \".example\" .host }} {{ trimPrefix \"db\" .host }} {{ hasPrefix \"db\" .host }} {{ hasSuffix \"x\" .host }} {{ contains \"ex\" .host }}",
    ),
    (
        "cut",
        "{{ trunc 3 .user }} {{ substr 1 3 .host }} {{ repeat 2 \"ab\" }} {{ nospace \"a b c\" }} {{ trimAll \"*\" \"**x**\" }} {{ cat .user .host }}",
    ),
    (
        "base",
        "{{ \"aGVsbG8=\" | b64dec }} {{ b32enc .user }} {{ \"MFSG22LO\" | b32dec }}",
    ),
    (
        "ternary",
        "{{ ternary \"yes\" \"no\" (eq .host \"db.example\") }} {{ empty .empty }} {{ toString 7 }}",
    ),
    ("indent", "{{ .pem | indent 2 }}|{{ .pem | nindent 4 }}"),
    (
        "index",
        "{{ index . \"user\" }} {{ print .user 1 2 }} {{ println .user }}",
    ),
    (
        "cmp",
        "{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1 2 }} {{ ne .user \"x\" }}",
    ),
    // Go's url.QueryEscape: space as `+`, everything but `A-Za-z0-9-_.~` escaped.
    (
        "urlquery",
        "{{ urlquery .note }} {{ .password | urlquery }} {{ urlquery .user 1 2 }}",
    ),
    // strconv.Quote: quotes added, printable non-ASCII kept, `\"` and `\t` escaped.
    (
        "printf-q",
        "{{ printf \"%q|%+q|%#q\" .note .greeting .user }}",
    ),
    (
        "printf-flags",
        "{{ printf \"%05d|%-4d|%+05d|%x|%#x|%8.3f|%-6s|\" 42 7 3 255 255 3.14159 .user }}",
    ),
    (
        "printf-misuse",
        "{{ printf \"%d|%s|%z\" .user 5 1 }}{{ printf \"%d\" }}{{ printf \"%d\" 1 2 }}",
    ),
    (
        "print",
        "{{ print .missing 1 2 .user }}|{{ list 1 .user | toString }}",
    ),
    // encoding/json: `<`, `>`, `&` as \u003c, \u003e, \u0026.
    (
        "toJson-html",
        "{{ toJson .password }} {{ toJson .note }} {{ mustToJson (list .user 1 true) }}",
    ),
];

/// The items the templates see.
fn template_items() -> Data {
    BTreeMap::from([
        ("user".into(), b"admin".to_vec()),
        (
            "password".into(),
            format!("p@ss w0rd/&<>?\"'{CANARY}").into_bytes(),
        ),
        ("host".into(), b"db.example".to_vec()),
        ("hosts".into(), b"a.example, b.example ,c.example".to_vec()),
        (
            "note".into(),
            "Grüße 🔐 \"quoted\"\ttab <b>&amp;".as_bytes().to_vec(),
        ),
        (
            "greeting".into(),
            "Grüße 🔐 \"quoted\"\ttab".as_bytes().to_vec(),
        ),
        ("empty".into(), Vec::new()),
        (
            "pem".into(),
            b"-----BEGIN X-----\nAAAA\n-----END X-----".to_vec(),
        ),
    ])
}

/// Renders `templates` over [`template_items`] in both controllers, which share one key: the
/// same cluster-wide SealedSecret goes into a namespace of each. Returns the differing keys
/// (names and lengths only) after checking both Secrets otherwise agree.
async fn render_in_both(client: &Client, templates: &[(&str, &str)]) -> (Vec<String>, String) {
    let tools = Tools::find();
    let scratch = TempDir::new("interop-tmpl");
    let ctl_k = TestNamespace::new(client, "interop-tmpl-ctl-k").await;
    let app_k = TestNamespace::new(client, "interop-tmpl-app-k").await;
    let ctl_b = TestNamespace::new(client, "interop-tmpl-ctl-b").await;
    let app_b = TestNamespace::new(client, "interop-tmpl-app-b").await;

    // One key for both, installed as a Bitnami-shaped key Secret before either starts.
    let (key, cert) = kseal_core::keys::generate(&kseal_core::CertParams {
        key_size: kseal_core::KeySize::Rsa2048,
        not_before: std::time::SystemTime::now() - Duration::from_secs(3600),
        validity: Duration::from_secs(86_400),
        common_name: String::new(),
        serial: [7; 16],
    })
    .unwrap();
    for ns in [&ctl_k.name, &ctl_b.name] {
        let secret = kseal_controller::keys::key_secret(
            "sealed-secrets-key",
            ns,
            &key,
            &cert,
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let _rbac = BitnamiRbac::install(client, &ctl_b.name, &[&app_b.name]).await;
    let theirs = BitnamiController::start(&ctl_b.name, &[&app_b.name], 2048);
    let additional = format!("--additional-namespaces={}", app_k.name);
    let ours = Controller::start_with_key_size(
        &kubeconfig(),
        &ctl_k.name,
        2048,
        &["--all-namespaces=false", &additional],
    );
    for served in [theirs.certificate().await, ours.certificate().await] {
        assert_eq!(
            served.fingerprint(),
            cert.fingerprint(),
            "the shared key is served"
        );
    }

    let items = template_items();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "rendered", "namespace": app_k.name,
                     "labels": {"app": "web", "tier": "db"},
                     "annotations": {"team": "a", "note": "x=y"}},
        "type": "example.com/rendered",
        "data": items.iter().map(|(k, v)| (k.clone(), b64(v))).collect::<BTreeMap<_, _>>()
    }))
    .unwrap();
    let cert_path = scratch.write("shared.pem", cert.to_pem().as_bytes());
    let mut sealed = tools
        .seal_manifest(Sealer::Kseal, &cert_path, ScopeKind::ClusterWide, manifest)
        .await
        .unwrap();
    sealed["spec"]["template"]["data"] = templates
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    for ns in [&app_k.name, &app_b.name] {
        create_as(client, sealed.clone(), ns, "rendered")
            .await
            .unwrap();
    }

    let synced_secret = |ns: String| {
        let client = client.clone();
        async move {
            let ssapi: Api<SealedSecret> = Api::namespaced(client.clone(), &ns);
            wait_synced(&ssapi, "rendered", "True").await;
            Api::<Secret>::namespaced(client, &ns)
                .get("rendered")
                .await
                .unwrap()
        }
    };
    let (k, b) = tokio::join!(
        synced_secret(app_k.name.clone()),
        synced_secret(app_b.name.clone())
    );
    let (kd, bd) = (secret_data(&k), secret_data(&b));
    let differing = bd
        .keys()
        .chain(kd.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|key| kd.get(*key) != bd.get(*key))
        .map(|key| {
            format!(
                "{key}: kseal {} bytes, Bitnami {} bytes",
                kd.get(key).map_or(0, Vec::len),
                bd.get(key).map_or(0, Vec::len)
            )
        })
        .collect();
    let expected_keys: std::collections::BTreeSet<&str> = items
        .keys()
        .map(String::as_str)
        .chain(templates.iter().map(|(k, _)| *k))
        .collect();
    for (who, data) in [("kseal-controller", &kd), ("Bitnami", &bd)] {
        let got: std::collections::BTreeSet<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(got, expected_keys, "{who}: the rendered Secret's keys");
    }
    let (mut ks, mut bs) = (shape(&k), shape(&b));
    (ks.data, bs.data) = (String::new(), String::new());
    assert_eq!(ks, bs, "the controllers made different Secrets");
    assert_eq!(k.type_.as_deref(), Some("example.com/rendered"));
    assert_no_canary(&[("kseal-controller logs", &ours.logs())]);
    (differing, digest(&kd))
}

/// A template SealedSecret (Go builtins and every sprig function kseal documents, over UTF-8,
/// quotes, tabs, multi-line and empty items, with labels, annotations and a custom type) renders
/// the same Secret bytes in kseal-controller and Bitnami's controller.
#[tokio::test(flavor = "multi_thread")]
async fn template_renders_the_same_in_both_controllers() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let started = Instant::now();
    let (differing, digest) = render_in_both(&client, TEMPLATES).await;
    assert!(
        differing.is_empty(),
        "the controllers rendered different data: {}",
        differing.join("; ")
    );
    report(&format!(
        "interop template: ok, {} template keys + {} items render the same bytes in both controllers, sha256 {digest} ({:.1}s)",
        TEMPLATES.len(),
        template_items().len(),
        started.elapsed().as_secs_f64()
    ));
}
