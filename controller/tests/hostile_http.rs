//! Hostile HTTP clients against a real `kseal-controller` on the real control plane
//! (`tests/cluster/`): each attack on the API listener prints one line saying what it tried and
//! what held (`support::report`). Throughout, a [`watchdog::Watchdog`] asserts that the process
//! stays up, `/healthz` answers within 1 s and the RSS stays under the Helm chart's limit;
//! afterwards a good SealedSecret still syncs with the right bytes, and the canary sealed in the
//! attacks appears in no response, log, event, status or metric.
//!
//! Attacks come from their own loopback addresses (127.0.0.x), so each has its own rate-limit
//! key and per-address connection cap, as separate pods would; the watchdog probes from
//! 127.0.0.1. The contract they test is `docs/http-api.md`.

mod support;

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Secret;
use kseal_crds::SealedSecret;
use kube::{Api, api::PostParams};
use support::*;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpSocket, TcpStream},
};

/// The controller's header timeout in this test (shorter than the default, to keep it quick).
const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
/// The controller's body timeout in this test (the default is 30 s).
const BODY_TIMEOUT: Duration = Duration::from_secs(3);
/// The peer this test's controller trusts for `X-Forwarded-For`.
const TRUSTED: u8 = 5;

/// A connection to `addr` from `127.0.0.<from>`.
async fn connect(from: u8, addr: &str) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, from), 0)))?;
    socket.connect(addr.parse().unwrap()).await
}

/// One request from `127.0.0.<from>` on its own connection: (status, body). The body is written
/// alongside reading, since the server may answer before it has read all of it.
async fn request(
    from: u8,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let stream = connect(from, addr).await.expect("connect");
    let (mut rx, mut tx) = stream.into_split();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: kseal\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let body = body.to_vec();
    let writer = tokio::spawn(async move {
        let _ = tx.write_all(head.as_bytes()).await;
        let _ = tx.write_all(&body).await;
        tx
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), rx.read_to_end(&mut answer))
        .await
        .expect("an answer within 30 s")
        .expect("read the answer");
    drop(writer.await);
    parse(&answer)
}

fn parse(answer: &[u8]) -> (u16, Vec<u8>) {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP head");
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (status, answer[split + 4..].to_vec())
}

/// Every answer of the attacks, for the canary check.
#[derive(Default)]
struct Answers(Vec<u8>);

impl Answers {
    fn keep(&mut self, answer: (u16, Vec<u8>)) -> (u16, Vec<u8>) {
        self.0.extend_from_slice(&answer.1);
        answer
    }
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).trim_end().to_owned()
}

/// A SealedSecret whose `password` is the canary, with a template that renders only if the
/// password starts with `guess`: rendering it would answer the guess.
fn oracle(cert: &kseal_core::Certificate, ns: &str, guess: &str) -> SealedSecret {
    let mut ss = seal(cert, ns, "db", &[("password", CANARY.as_bytes())]);
    ss.spec.template.data = Some(BTreeMap::from([(
        "probe".to_owned(),
        format!(
            r#"{{{{ if hasPrefix "{guess}" .password }}}}ok{{{{ else }}}}{{{{ b64dec "!" }}}}{{{{ end }}}}"#
        ),
    )]));
    ss
}

/// `ss` with its ciphertexts blanked, to compare two re-sealed answers (fresh ciphertexts are
/// random).
fn shape(body: &[u8]) -> SealedSecret {
    let mut ss: SealedSecret = serde_json::from_slice(body).expect("a SealedSecret");
    let names: Vec<String> = ss.spec.encrypted_data.names().map(str::to_owned).collect();
    ss.spec.encrypted_data = names.into_iter().map(|n| (n, "")).collect();
    ss
}

/// A JSON SealedSecret `ns/big` with `n` items, each a short invalid value.
fn many_items(ns: &str, n: usize) -> Vec<u8> {
    let items: Vec<String> = (0..n).map(|i| format!("\"{i:x}\":\"A\"")).collect();
    format!(
        r#"{{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{{"name":"big","namespace":"{ns}"}},"spec":{{"encryptedData":{{{}}}}}}}"#,
        items.join(",")
    )
    .into_bytes()
}

/// Billion laughs: nine levels of nine aliases each.
fn yaml_bomb() -> String {
    let mut bomb = String::from(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: a, namespace: b}\nspec:\n  encryptedData:\n    a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "    a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    bomb
}

/// Reads one HTTP/1.1 answer with a Content-Length from a kept-alive connection: its status.
async fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            if buf.len() >= end + 4 + length {
                let status = head.split_whitespace().nth(1)?.parse().ok();
                buf.drain(..end + 4 + length);
                return status;
            }
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_http() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let ctl = TestNamespace::new(&client, "kseal-ctl").await;
    let app = TestNamespace::new(&client, "kseal-app").await;
    let header_timeout = format!("--http-header-timeout={}s", HEADER_TIMEOUT.as_secs());
    let body_timeout = format!("--http-body-timeout={}s", BODY_TIMEOUT.as_secs());
    let trusted = format!("--trusted-proxies=127.0.0.{TRUSTED}");
    let additional = format!("--additional-namespaces={}", app.name);
    let controller = Controller::start(
        &kubeconfig(),
        &ctl.name,
        &[
            "--all-namespaces=false",
            &additional,
            &header_timeout,
            &body_timeout,
            &trusted,
        ],
    );
    let cert = controller.certificate().await;
    let api = controller.api.clone();
    let watchdog = controller.watchdog();
    wait_for(
        "the watchdog's first probe",
        Duration::from_secs(10),
        || async { (watchdog.seen().probes > 0).then_some(()) },
    )
    .await;
    let mut answers = Answers::default();

    // 1. The template oracle: a right and a wrong guess about the canary's first letter.
    let right = oracle(&cert, &app.name, &CANARY[..1]);
    let wrong = oracle(&cert, &app.name, "#");
    let mut seen = Vec::new();
    for path in ["/v1/verify", "/v1/rotate"] {
        let mut both = Vec::new();
        for guess in [&right, &wrong] {
            let body = serde_json::to_vec(guess).unwrap();
            both.push(answers.keep(request(10, &api, "POST", path, &[], &body).await));
        }
        let (a, b) = (&both[0], &both[1]);
        assert_eq!(a.0, 200, "{path}: {}", text(&a.1));
        assert_eq!(a.0, b.0, "{path}: the status tells the guesses apart");
        if path == "/v1/verify" {
            assert!(
                a.1.is_empty() && b.1.is_empty(),
                "verify answers with an empty body"
            );
        } else {
            let (mut sa, mut sb) = (shape(&a.1), shape(&b.1));
            sa.spec.template.data = None;
            sb.spec.template.data = None;
            assert_eq!(sa, sb, "rotate answers differ beyond the fresh ciphertext");
        }
        seen.push(format!("{path} {}/{}", a.0, b.0));
    }
    let held = watchdog.assert_healthy("template oracle");
    report(&format!(
        "hostile http: template oracle, right vs wrong guess of the first letter: {} (identical), {}",
        seen.join(", "),
        held.summary()
    ));

    // 2. Forged X-Forwarded-For: a new value per request from one untrusted peer.
    let ss = serde_json::to_vec(&seal(&cert, &app.name, "xff", &[("k", b"v")])).unwrap();
    let (mut passed, mut limited) = (0, 0);
    let start = Instant::now();
    for i in 0..200u32 {
        let forged = format!("203.0.{}.{}", i / 256, i % 256);
        let (status, body) = answers.keep(
            request(
                11,
                &api,
                "POST",
                "/v1/verify",
                &[("X-Forwarded-For", &forged)],
                &ss,
            )
            .await,
        );
        match status {
            429 => limited += 1,
            200 => passed += 1,
            other => panic!("forged XFF: unexpected {other} {}", text(&body)),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // The default limit: 2 per second with a burst of 2.
    let allowed = 2.0 + 2.0 * elapsed + 1.0;
    assert!(
        f64::from(passed) <= allowed,
        "{passed} of 200 forged requests passed in {elapsed:.1} s"
    );
    // From the trusted proxy, the right-most entry is the client: 40 clients, 1 request each.
    let mut trusted_passed = 0;
    for i in 0..40u32 {
        let chain = format!("198.51.100.7, 192.0.2.{i}");
        let (status, _) = answers.keep(
            request(
                TRUSTED,
                &api,
                "POST",
                "/v1/verify",
                &[("X-Forwarded-For", &chain)],
                &ss,
            )
            .await,
        );
        trusted_passed += u32::from(status == 200);
    }
    assert_eq!(
        trusted_passed, 40,
        "distinct clients behind the trusted proxy"
    );
    let held = watchdog.assert_healthy("forged X-Forwarded-For");
    report(&format!(
        "hostile http: forged X-Forwarded-For, 200 requests with a new value each from one untrusted peer: {passed} passed, {limited} got 429 in {elapsed:.1} s; 40 clients behind the trusted proxy: {trusted_passed} passed; {}",
        held.summary()
    ));

    // 3. 160,000 items in one body (quadratic parsing took minutes).
    let body = many_items(&app.name, 160_000);
    let start = Instant::now();
    let (status, reply) = answers.keep(request(12, &api, "POST", "/v1/verify", &[], &body).await);
    let took = start.elapsed();
    assert_eq!(status, 409, "{}", text(&reply));
    assert!(took < Duration::from_secs(10), "160k items took {took:?}");
    let held = watchdog.assert_healthy("160k items");
    report(&format!(
        "hostile http: 160,000 items in a {} KiB body: {status} in {} ms, {}",
        body.len() >> 10,
        took.as_millis(),
        held.summary()
    ));

    // 4. Bodies that are not one SealedSecret: bombs, nesting, bad UTF-8, several documents.
    let depth = 100_000;
    let one = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: a, namespace: b}\nspec: {encryptedData: {}}\n";
    let mut not_utf8 = one.as_bytes().to_vec();
    not_utf8.insert(20, 0xff);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("YAML billion laughs", yaml_bomb().into_bytes(), "limit exceeded"),
        (
            "JSON item nested 100,000 deep",
            format!(
                r#"{{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{{"name":"a","namespace":"b"}},"spec":{{"encryptedData":{{"x":{}{}}}}}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes(),
            "recursion limit exceeded",
        ),
        (
            "YAML item nested 100,000 deep",
            format!(
                "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {{name: a, namespace: b}}\nspec:\n  encryptedData:\n    x: {}{}\n",
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes(),
            "YAML nested deeper than 1000 levels",
        ),
        ("invalid UTF-8", not_utf8, "not UTF-8"),
        ("two documents", format!("{one}---\n{one}").into_bytes(), "several documents"),
    ];
    // Each case from its own address, so the rate limit (2 per path) never answers instead.
    for ((what, body, says), from) in cases.into_iter().zip(20..) {
        for path in ["/v1/verify", "/v1/rotate"] {
            let start = Instant::now();
            let (status, reply) = answers.keep(request(from, &api, "POST", path, &[], &body).await);
            let took = start.elapsed();
            assert!(
                status == 500 && text(&reply).contains(says),
                "{what} on {path}: {status} {}",
                text(&reply)
            );
            assert!(took < Duration::from_secs(5), "{what}: {took:?}");
        }
        let held = watchdog.assert_healthy(what);
        report(&format!(
            "hostile http: {what} ({} KiB): 500 \"{says}\" on verify and rotate, {}",
            body.len() >> 10,
            held.summary()
        ));
    }

    // 5. Oversized bodies: a declared 3 MiB is refused before it is sent.
    let stream = connect(14, &api).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    tx.write_all(b"POST /v1/verify HTTP/1.1\r\nHost: kseal\r\nContent-Length: 3145728\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), rx.read(&mut answer))
        .await
        .expect("413 before the body")
        .unwrap();
    let (status, reply) = answers.keep(parse(&answer[..n]));
    assert_eq!(status, 413, "{}", text(&reply));
    let full = vec![b' '; 3 << 20];
    let (status_full, _) = answers.keep(request(15, &api, "POST", "/v1/rotate", &[], &full).await);
    assert_eq!(status_full, 413);
    let held = watchdog.assert_healthy("oversized bodies");
    report(&format!(
        "hostile http: 3 MiB bodies: declared 413 after {} ms without reading it, sent 413; {}",
        start.elapsed().as_millis(),
        held.summary()
    ));

    // 6. Slow-loris: 200 half-sent requests from one peer.
    // Each connection's time from its connect to its closing by the server.
    let mut waiting = Vec::new();
    for _ in 0..200 {
        let opened = Instant::now();
        let mut s = connect(16, &api).await.unwrap();
        let _ = s
            .write_all(b"POST /v1/verify HTTP/1.1\r\nHost: kseal\r\nX-Slow: ")
            .await;
        waiting.push(tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let closed = tokio::time::timeout(HEADER_TIMEOUT * 3, s.read(&mut buf))
                .await
                .expect("every half-sent request is closed");
            assert!(
                matches!(closed, Ok(0) | Err(_)),
                "an answer to half a request"
            );
            opened.elapsed()
        }));
    }
    let mut closures = Vec::new();
    for w in waiting {
        closures.push(w.await.unwrap());
    }
    let last = closures.iter().max().copied().unwrap_or_default();
    let at_once = closures
        .iter()
        .filter(|t| **t < Duration::from_secs(1))
        .count();
    assert!(last < HEADER_TIMEOUT * 2, "the last closed after {last:?}");
    assert_eq!(
        at_once,
        200 - 64,
        "over the per-address cap (64) closed at once"
    );
    let rejected = controller
        .metric(r#"sealed_secrets_controller_http_connections_rejected_total{reason="max_connections_per_ip"}"#)
        .unwrap_or(0.0);
    assert!(rejected >= 136.0, "{rejected} rejections counted");
    let held = watchdog.assert_healthy("slow-loris");
    report(&format!(
        "hostile http: slow-loris 200 half-sent requests from one peer: {at_once} closed at once (per-address cap 64), the rest after {:.1} s (header timeout {} s), {}",
        last.as_secs_f64(),
        HEADER_TIMEOUT.as_secs(),
        held.summary()
    ));

    // 6b. Slow bodies: 40 requests from 40 peers (one each, under the rate limit) whose headers
    // announce 100 KiB and whose body stops after 10 bytes. Each is answered 408 within the
    // body timeout and its connection closed, instead of holding its slot for the 4-minute
    // request timeout.
    let mut waiting = Vec::new();
    for from in 100..140u8 {
        let opened = Instant::now();
        let mut s = connect(from, &api).await.unwrap();
        s.write_all(
            b"POST /v1/verify HTTP/1.1\r\nHost: kseal\r\nContent-Length: 102400\r\n\r\n{\"kind\":",
        )
        .await
        .unwrap();
        waiting.push(tokio::spawn(async move {
            let mut answer = Vec::new();
            tokio::time::timeout(BODY_TIMEOUT * 4, s.read_to_end(&mut answer))
                .await
                .expect("a slow body is answered and its connection closed")
                .expect("read the answer");
            (parse(&answer), opened.elapsed())
        }));
    }
    let mut slowest = Duration::ZERO;
    for w in waiting {
        let ((status, body), took) = w.await.unwrap();
        assert_eq!(status, 408, "slow body: {}", text(&body));
        assert!(
            took >= BODY_TIMEOUT && took < BODY_TIMEOUT * 3,
            "slow body answered after {took:?}"
        );
        slowest = slowest.max(took);
        answers.keep((status, body));
    }
    let held = watchdog.assert_healthy("slow bodies");
    report(&format!(
        "hostile http: slow bodies from 40 peers (10 of 102400 bytes sent): all 408 and closed, the last after {:.1} s (body timeout {} s), {}",
        slowest.as_secs_f64(),
        BODY_TIMEOUT.as_secs(),
        held.summary()
    ));

    // 7. 20,000 made-up methods on one kept-alive connection.
    let mut s = connect(17, &api).await.unwrap();
    let mut buf = Vec::new();
    let mut statuses = BTreeMap::new();
    for i in 0..20_000 {
        let request = format!("M{i:05} /healthz HTTP/1.1\r\nHost: kseal\r\n\r\n");
        s.write_all(request.as_bytes()).await.unwrap();
        let status = read_answer(&mut s, &mut buf).await.expect("an answer");
        *statuses.entry(status).or_insert(0) += 1;
    }
    let metrics = controller.metrics_text();
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("sealed_secrets_controller_http_requests_total{"))
        .count();
    assert!(series <= 30, "{series} series of http_requests_total");
    assert!(
        !metrics.contains("M19999"),
        "a made-up method became a label"
    );
    let held = watchdog.assert_healthy("made-up methods");
    report(&format!(
        "hostile http: 20,000 made-up methods: answers {statuses:?}, http_requests_total has {series} series, /metrics {} KiB, {}",
        metrics.len() >> 10,
        held.summary()
    ));

    // Afterwards: a good SealedSecret syncs with the right bytes.
    let ssapi: Api<SealedSecret> = Api::namespaced(client.clone(), &app.name);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &app.name);
    let items: &[(&str, &[u8])] = &[("PASSWORD", CANARY.as_bytes()), ("USER", b"admin")];
    ssapi
        .create(
            &PostParams::default(),
            &seal(&cert, &app.name, "good", items),
        )
        .await
        .unwrap();
    wait_synced(&ssapi, "good", "True").await;
    let secret = secrets.get("good").await.unwrap();
    let want: BTreeMap<String, Vec<u8>> = items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect();
    assert!(
        secret_data(&secret) == want,
        "the good Secret's data differs"
    );
    let held = watchdog.stop();
    assert!(
        held.failures.is_empty() && !held.exited,
        "{:?}",
        held.failures
    );

    let sealed = ssapi.list(&Default::default()).await.unwrap();
    assert_no_canary(&[
        ("HTTP answers", &String::from_utf8_lossy(&answers.0)),
        ("controller logs", &controller.logs()),
        ("events", &all_events_json(&client, &app.name).await),
        (
            "SealedSecrets",
            &serde_json::to_string(&sealed.items).unwrap(),
        ),
        ("metrics", &controller.metrics_text()),
    ]);
    report(&format!(
        "hostile http: afterwards a good SealedSecret synced with the right bytes; no canary in {} KiB of answers, logs, events, status or metrics; {}",
        answers.0.len() >> 10,
        held.summary()
    ));
}
