use std::net::Ipv4Addr;

use axum::routing::get;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpSocket,
};

use super::*;

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_millis(1500),
        max_age: Duration::from_secs(60),
        drain: Duration::from_secs(5),
        max_connections: 64,
        max_per_ip: 8,
    }
}

/// Serves a `/healthz` router under `limits`; returns its address and metrics.
async fn start(limits: ConnectionLimits) -> (SocketAddr, Arc<Metrics>) {
    let listener = bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::new());
    let router = Router::new().route("/healthz", get(|| async { "ok\n" }));
    tokio::spawn(serve(listener, router, limits, metrics.clone()));
    (addr, metrics)
}

/// A connection to `addr` from the loopback address `127.0.0.<from>`.
async fn connect(addr: SocketAddr, from: u8) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, from), 0)))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// Waits (at most `limit`) until the server closes `stream`; how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

/// `GET /healthz` on a new connection from `127.0.0.<from>`: its latency.
async fn healthz(addr: SocketAddr, from: u8) -> Duration {
    let start = Instant::now();
    let mut s = connect(addr, from).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    start.elapsed()
}

#[tokio::test]
async fn half_sent_requests_are_closed_and_do_not_starve_healthz() {
    let limits = limits();
    let (addr, metrics) = start(limits).await;
    // Each half-sent request's time from its connect to its closing by the server.
    let mut waiting = Vec::new();
    for _ in 0..40 {
        let opened = Instant::now();
        let mut s = connect(addr, 2).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        waiting.push(tokio::spawn(async move {
            closed_within(&mut s, limits.header_timeout * 3)
                .await
                .expect("a half-sent request is closed");
            opened.elapsed()
        }));
    }
    // /healthz from another address answers at once while they are open.
    let worst = healthz(addr, 1).await;
    assert!(worst < Duration::from_secs(1), "healthz took {worst:?}");

    let mut closed = Vec::new();
    for w in waiting {
        closed.push(w.await.unwrap());
    }
    // The per-address cap: 8 are served, the other 32 are closed at once.
    let at_once = closed
        .iter()
        .filter(|t| **t < limits.header_timeout / 2)
        .count();
    assert_eq!(at_once, 40 - limits.max_per_ip, "{closed:?}");
    // The 8 are closed after the header timeout.
    for t in closed.iter().filter(|t| **t >= limits.header_timeout / 2) {
        assert!(
            *t >= limits.header_timeout && *t < limits.header_timeout * 2,
            "closed after {t:?}"
        );
    }
    assert!(
        metrics
            .render()
            .contains(r#"http_connections_rejected_total{reason="max_connections_per_ip"} 32"#),
        "{}",
        metrics.render()
    );
    // Their slots are free again.
    healthz(addr, 2).await;
}

#[tokio::test]
async fn the_global_cap_holds() {
    let limits = ConnectionLimits {
        max_connections: 5,
        ..limits()
    };
    let (addr, metrics) = start(limits).await;
    let mut held = Vec::new();
    for from in 10..20 {
        held.push(connect(addr, from).await);
    }
    let mut kept = 0;
    for s in &mut held {
        if closed_within(s, Duration::from_millis(100)).await.is_none() {
            kept += 1;
        }
    }
    assert_eq!(kept, 5);
    assert!(
        metrics
            .render()
            .contains(r#"http_connections_rejected_total{reason="max_connections"} 5"#)
    );
}

#[tokio::test]
async fn idle_and_old_connections_are_closed() {
    let limits = ConnectionLimits {
        max_age: Duration::from_millis(1200),
        idle_timeout: Duration::from_millis(400),
        header_timeout: Duration::from_secs(5),
        ..limits()
    };
    let (addr, _) = start(limits).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    // Kept alive after a response, then closed once idle.
    let mut s = connect(addr, 3).await;
    s.write_all(request).await.unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let after = closed_within(&mut s, Duration::from_secs(3))
        .await
        .expect("idle connection closed");
    assert!(after < Duration::from_secs(1), "closed after {after:?}");

    // A busy connection is closed after its maximum age, between two requests.
    let start = Instant::now();
    let mut s = connect(addr, 3).await;
    let mut answered = 0;
    loop {
        if s.write_all(request).await.is_err() {
            break;
        }
        match s.read(&mut buf).await {
            Ok(n) if n > 0 => answered += 1,
            _ => break,
        }
        assert!(start.elapsed() < Duration::from_secs(5), "never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered > 3, "{answered} answers");
    assert!(start.elapsed() >= limits.max_age, "{:?}", start.elapsed());
}
