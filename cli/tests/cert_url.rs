//! `--cert URL`: the certificate is fetched over HTTP(S), as kubeseal's `--cert` allows, e.g.
//! from a controller's `/v1/cert.pem`. A loopback server stands in for the controller.

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    path::Path,
    process::{Command, Stdio},
    thread,
};

/// Serves `responses` in order, one connection each, on 127.0.0.1; returns the base URL.
fn serve(responses: Vec<(u16, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for (status, body) in responses {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        }
    });
    format!("http://{addr}")
}

fn seal_with(url: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .args([
            "seal",
            "--no-config",
            "--name",
            "app",
            "-n",
            "shop",
            "--cert",
            url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"A=1\n").unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn fetches_the_certificate_from_a_url() {
    let pem = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test.pem"))
        .unwrap();
    let base = serve(vec![(200, pem), (404, b"not found".to_vec())]);

    let ok = seal_with(&format!("{base}/v1/cert.pem"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("kind: SealedSecret"));

    let missing = seal_with(&format!("{base}/v1/cert.pem"));
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.starts_with(&format!(
            "kseal: error: cannot fetch certificate from {base}/v1/cert.pem: "
        )),
        "{stderr}"
    );
}

#[test]
fn cert_write_creates_missing_folders() {
    let pem = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test.pem"))
        .unwrap();
    let base = serve(vec![(200, pem.clone())]);
    let dir = kseal_test_support::TempDir::new("cert-w");
    let out = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .args([
            "cert",
            "--cert-url",
            &format!("{base}/v1/cert.pem"),
            "-w",
            "certs/prod/cert.pem",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let written = std::fs::read(dir.join("certs/prod/cert.pem"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(written.unwrap(), pem);
}
