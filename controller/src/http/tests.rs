use std::collections::BTreeMap;

use axum::{body::Body, http::Method};
use kseal_core::Scope;
use tower::ServiceExt as _;

use super::*;
use crate::{
    args::KeyOrderPriority,
    fixtures::{cert, private_key, seal_into, sealed},
    keys::key_secret,
};

const CANARY: &[u8] = b"hunter2-canary-5d1e";

/// An API whose only key is fixture key 2.
fn state(accept_v1_data: bool) -> ApiState {
    let keys = Arc::new(KeyRegistry::new(
        "sealed-secrets-key",
        KeyOrderPriority::CertNotBefore,
    ));
    let none = BTreeMap::new();
    let mut secret = key_secret(
        "sealed-secrets-key",
        "ctl",
        &private_key(2),
        &cert(2),
        &none,
        &none,
    );
    secret.metadata.name = Some("sealed-secrets-keyabcde".into());
    keys.apply(&secret, true);
    ApiState {
        keys,
        metrics: Arc::new(Metrics::new()),
        limiter: Arc::new(RateLimiter::new(0, 0)),
        trusted_proxies: Arc::default(),
        heavy: Arc::new(Semaphore::new(2)),
        options: UnsealOptions { accept_v1_data },
        timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
    }
}

async fn call(
    state: &ApiState,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body))
        .unwrap();
    send(state, request).await
}

/// Runs `request` through the API router as from a peer at 10.1.2.3.
async fn send(state: &ApiState, mut request: Request) -> (StatusCode, Vec<u8>) {
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 1, 2, 3], 40000))));
    let response = api_router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body.to_vec())
}

async fn post(state: &ApiState, path: &str, ss: &SealedSecret) -> (StatusCode, Vec<u8>) {
    call(state, Method::POST, path, serde_json::to_vec(ss).unwrap()).await
}

/// A SealedSecret whose `password` is [`CANARY`] and whose template asks whether the password
/// starts with `guess`: an error in one branch only, so that rendering would answer the question.
fn oracle(guess: &str, key: usize) -> SealedSecret {
    let mut ss = sealed("app", "db", &[("password", CANARY)], key);
    ss.spec.template.data = Some(BTreeMap::from([(
        "probe".to_owned(),
        format!(
            r#"{{{{ if hasPrefix "{guess}" .password }}}}ok{{{{ else }}}}{{{{ b64dec "!" }}}}{{{{ end }}}}"#
        ),
    )]));
    ss
}

fn assert_no_canary(text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    assert!(
        !text.contains(std::str::from_utf8(CANARY).unwrap()),
        "plaintext in an answer"
    );
}

#[tokio::test]
async fn the_template_oracle_answers_the_same_for_right_and_wrong_guesses() {
    let state = state(true);
    // The template really would tell them apart: rendering fails for the wrong guess only.
    let keys = state.keys.snapshot();
    assert!(crate::fixtures::unseal(&oracle("h", 2), &keys.keys).is_ok());
    assert!(crate::fixtures::unseal(&oracle("x", 2), &keys.keys).is_err());

    for key in [2, 0] {
        let expected = if key == 2 {
            StatusCode::OK
        } else {
            StatusCode::CONFLICT
        };
        let right = post(&state, "/v1/verify", &oracle("h", key)).await;
        let wrong = post(&state, "/v1/verify", &oracle("x", key)).await;
        assert_eq!(right, (expected, Vec::new()), "verify, key {key}");
        assert_eq!(right, wrong, "verify, key {key}");

        let right = post(&state, "/v1/rotate", &oracle("h", key)).await;
        let wrong = post(&state, "/v1/rotate", &oracle("x", key)).await;
        assert_eq!(right.0, wrong.0, "rotate, key {key}");
        assert_no_canary(&right.1);
        if key == 2 {
            assert_eq!(right.0, StatusCode::OK);
            // The answers differ only in the fresh ciphertext, which is random.
            let shape = |body: &[u8]| {
                let mut ss: SealedSecret = serde_json::from_slice(body).unwrap();
                let names: Vec<String> =
                    ss.spec.encrypted_data.names().map(str::to_owned).collect();
                ss.spec.encrypted_data = names.iter().map(|n| (n.clone(), "")).collect();
                ss.spec.template.data = None;
                ss
            };
            assert_eq!(shape(&right.1), shape(&wrong.1));
        } else {
            assert_eq!(right, wrong, "rotate errors name items only");
            assert_eq!(
                String::from_utf8_lossy(&right.1),
                "no key could decrypt secret (password)\n"
            );
        }
    }
}

#[tokio::test]
async fn rotate_decrypts_once_and_keeps_the_template() {
    let state = state(true);
    let mut ss = oracle("x", 2);
    let scope = ss.scope().unwrap();
    seal_into(&mut ss, &scope, &[("second", b"two")], 2);
    let (status, body) = post(&state, "/v1/rotate", &ss).await;
    assert_eq!(status, StatusCode::OK);
    let rotated: SealedSecret = serde_json::from_slice(&body).unwrap();
    assert_eq!(rotated.spec.template, ss.spec.template);
    assert_eq!(
        rotated.spec.encrypted_data.names().collect::<Vec<_>>(),
        ["password", "second"]
    );
    let opened = rotated
        .open_items(&state.keys.snapshot().keys, UnsealOptions::default())
        .unwrap();
    assert_eq!(opened.rsa_operations, 2, "one RSA operation per item");
    assert_eq!(opened.items[0].1.expose(), CANARY);
    assert_eq!(opened.items[1].1.expose(), b"two");
}

#[tokio::test]
async fn rotate_encryption_is_one_of_the_two_formats_and_never_a_silent_rsa_result() {
    let state = state(true);
    let ss = sealed("app", "db", &[("password", CANARY)], 2);
    // `rsa` (and the last of repeated parameters, as for any query) re-seals as RSA.
    for path in [
        "/v1/rotate?encryption=rsa",
        "/v1/rotate?encryption=pq-hybrid&encryption=rsa&other=1",
    ] {
        let (status, body) = post(&state, path, &ss).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let rotated: SealedSecret = serde_json::from_slice(&body).unwrap();
        let value = rotated.spec.encrypted_data.get("password").unwrap();
        assert_eq!(
            kseal_core::Encryption::of_base64(value.as_sealed().unwrap()),
            kseal_core::Encryption::Rsa
        );
    }
    for bad in ["PQ", "", "pq-hybrid%00", "rsa,pq-hybrid"] {
        let (status, body) = post(&state, &format!("/v1/rotate?encryption={bad}"), &ss).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(body, b"encryption must be rsa or pq-hybrid\n");
    }
    // The only key has no X-Wing part: pq-hybrid is refused by item name, not sealed as RSA.
    let (status, body) = post(&state, "/v1/rotate?encryption=pq-hybrid", &ss).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("\"password\"") && text.contains("X-Wing"),
        "{text}"
    );
    assert_no_canary(&body);
}

/// A SealedSecret in the legacy format: `spec.data` holds a whole sealed JSON Secret.
fn legacy(plaintext: &[u8]) -> SealedSecret {
    let mut ss = sealed("app", "old", &[], 2);
    let scope: Scope = ss.scope().unwrap();
    ss.spec.data = Some(kseal_core::seal_base64(&cert(2), &scope, plaintext));
    ss
}

#[tokio::test]
async fn legacy_data_is_refused_when_disabled() {
    let secret = br#"{"apiVersion":"v1","kind":"Secret","data":{"a":"aHVudGVy"}}"#;
    let (on, off) = (state(true), state(false));
    assert_eq!(
        post(&on, "/v1/verify", &legacy(secret)).await,
        (StatusCode::OK, Vec::new())
    );
    assert_eq!(
        post(&off, "/v1/verify", &legacy(secret)).await,
        (StatusCode::CONFLICT, Vec::new())
    );
    let (status, body) = post(&on, "/v1/rotate", &legacy(secret)).await;
    assert_eq!(status, StatusCode::OK);
    let rotated: SealedSecret = serde_json::from_slice(&body).unwrap();
    assert_ne!(rotated.spec.data, legacy(secret).spec.data, "re-sealed");
    let (status, body) = post(&off, "/v1/rotate", &legacy(secret)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        String::from_utf8_lossy(&body).contains("--accept-deprecated-v1-data=false"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // The legacy plaintext is never parsed here: "not a Secret" and "a Secret" answer the same.
    let not_json = b"hunter2-canary-5d1e, not JSON";
    assert_eq!(
        post(&on, "/v1/verify", &legacy(not_json)).await,
        (StatusCode::OK, Vec::new())
    );
    assert_eq!(
        post(&on, "/v1/rotate", &legacy(not_json)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let state = state(true);
    for path in ["/v1/verify", "/v1/rotate"] {
        // A declared length over the limit is refused before the body is read.
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_LENGTH, MAX_BODY + 1)
            .body(Body::empty())
            .unwrap();
        let declared = send(&state, request).await;
        let too_large = (
            StatusCode::PAYLOAD_TOO_LARGE,
            b"request body is larger than 2 MiB\n".to_vec(),
        );
        assert_eq!(declared, too_large, "{path}");
        let (status, _) = call(&state, Method::POST, path, vec![b' '; MAX_BODY + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        // Without a Content-Length, the limit stops the read.
        let chunks = futures::stream::iter(
            (0..=MAX_BODY / 65_536)
                .map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 65_536]))),
        );
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .body(Body::from_stream(chunks))
            .unwrap();
        let (status, _) = send(&state, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}, streamed");
    }
}

#[tokio::test]
async fn made_up_methods_do_not_add_series() {
    let state = state(true);
    for i in 0..20_000 {
        let method = Method::from_bytes(format!("M{i}").as_bytes()).unwrap();
        call(&state, method, "/healthz", Vec::new()).await;
    }
    call(&state, Method::GET, "/healthz", Vec::new()).await;
    let text = state.metrics.render();
    let series = text
        .lines()
        .filter(|l| l.starts_with("sealed_secrets_controller_http_requests_total{"))
        .count();
    assert!(series <= 3, "{series} series:\n{text}");
    assert!(text.contains(r#"method="other""#));
    assert!(text.contains(r#"method="GET""#));
    assert!(text.len() < 20_000, "/metrics is {} bytes", text.len());
}

/// `decode` answers quickly, with a message about the shape of the body.
fn decode_fails(body: &[u8], says: &str) {
    let start = Instant::now();
    let e = decode(body)
        .err()
        .unwrap_or_else(|| panic!("accepted; wanted {says:?}"))
        .to_string();
    assert!(e.contains(says), "{e:?} should say {says:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

const ONE: &str = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: a, namespace: b}\nspec: {encryptedData: {}}\n";

#[test]
fn decode_refuses_several_documents() {
    let one = ONE;
    assert!(decode(one.as_bytes()).is_ok());
    let two = format!("{one}---\n{one}");
    assert!(decode(two.as_bytes()).is_err());
    assert!(decode(b"{not json").is_err());
    decode_fails(two.as_bytes(), "found several documents");
    decode_fails(
        format!("{one}---\nnot: a sealed secret\n").as_bytes(),
        "several documents",
    );
    assert!(
        decode(format!("---\n{one}---\n").as_bytes()).is_ok(),
        "empty documents are fine"
    );
    decode_fails(b"", "not a SealedSecret");
}

#[test]
fn decode_refuses_invalid_utf8() {
    let mut body = ONE.as_bytes().to_vec();
    body.insert(20, 0xff);
    decode_fails(&body, "body is not UTF-8 (invalid byte at offset 20)");
}

#[test]
fn decode_refuses_yaml_bombs() {
    // Billion laughs: 9^9 strings from a few hundred bytes.
    let mut bomb = String::from(
        "    a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "    a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    let head = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n";
    // Where a value is read as free-form JSON, expanding it meets serde_yaml's budget.
    decode_fails(
        format!("{head}metadata: {{name: a, namespace: b}}\nspec:\n  encryptedData:\n{bomb}")
            .as_bytes(),
        "YAML repetition limit exceeded",
    );
    decode_fails(
        format!("{head}spec:\n  encryptedData:\n{bomb}metadata:\n  name: a\n  managedFields:\n  - fieldsV1: *a8\n").as_bytes(),
        "YAML repetition limit exceeded",
    );
    // Where it is not read at all (unknown fields), it is skipped without being expanded.
    let start = Instant::now();
    let skipped = format!(
        "{head}metadata: {{name: a, namespace: b}}\nspec:\n  encryptedData: {{}}\n  template:\n{bomb}"
    );
    assert!(decode(skipped.as_bytes()).is_ok());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let top: String = bomb
        .lines()
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    decode_fails(top.as_bytes(), "not a SealedSecret");
}

#[test]
fn decode_refuses_deep_nesting() {
    let depth = 100_000;
    let (open, close) = ("[".repeat(depth), "]".repeat(depth));
    // Nesting where a SealedSecret is expected fails on its type, before any depth.
    decode_fails(format!("{open}{close}").as_bytes(), "not a SealedSecret");
    decode_fails(
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).as_bytes(),
        "not a SealedSecret",
    );
    decode_fails(
        format!("{}1\n", "- ".repeat(depth)).as_bytes(),
        "not a SealedSecret",
    );
    // Nesting inside a free-form field (item values are read as any JSON) meets the limits.
    decode_fails(
        deep_item_json(depth).as_bytes(),
        "recursion limit exceeded at line 1",
    );
    decode_fails(
        deep_item_yaml(depth).as_bytes(),
        "YAML nested deeper than 1000 levels",
    );
    // Below that bound, serde_yaml's own limit answers, as quickly.
    decode_fails(
        deep_item_yaml(999).as_bytes(),
        "YAML recursion limit exceeded",
    );
}

/// A SealedSecret whose item `x` is a list nested `depth` deep, in JSON.
fn deep_item_json(depth: usize) -> String {
    format!(
        "{{\"apiVersion\":\"bitnami.com/v1alpha1\",\"kind\":\"SealedSecret\",\"metadata\":{{\"name\":\"a\",\"namespace\":\"b\"}},\"spec\":{{\"encryptedData\":{{\"x\":{}{}}}}}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

/// The same in YAML (flow style inside block style).
fn deep_item_yaml(depth: usize) -> String {
    format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {{name: a, namespace: b}}\nspec:\n  encryptedData:\n    x: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[test]
fn decode_reads_many_items_quickly() {
    let items: Vec<String> = (0..160_000).map(|i| format!("\"k{i}\":\"AgA\"")).collect();
    let body = format!(
        "{{\"apiVersion\":\"bitnami.com/v1alpha1\",\"kind\":\"SealedSecret\",\"metadata\":{{\"name\":\"a\",\"namespace\":\"b\"}},\"spec\":{{\"encryptedData\":{{{}}}}}}}",
        items.join(",")
    );
    let start = Instant::now();
    let ss = decode(body.as_bytes()).unwrap();
    assert_eq!(ss.spec.encrypted_data.len(), 160_000);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn repeated_item_names_are_refused_by_name() {
    let state = state(true);
    let ss = sealed("app", "dup", &[("A", b"1")], 2);
    let value = ss
        .spec
        .encrypted_data
        .get("A")
        .unwrap()
        .as_sealed()
        .unwrap()
        .to_owned();
    let json = serde_json::to_string(&ss).unwrap().replace(
        r#""encryptedData":{"#,
        &format!(r#""encryptedData":{{"A":"{value}","#),
    );
    let (status, body) = call(
        &state,
        Method::POST,
        "/v1/verify",
        json.clone().into_bytes(),
    )
    .await;
    assert_eq!((status, body), (StatusCode::CONFLICT, Vec::new()));
    let (status, body) = call(&state, Method::POST, "/v1/rotate", json.into_bytes()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "item \"A\": appears more than once in spec.encryptedData\n"
    );
}
