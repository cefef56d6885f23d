//! The child's protocol in memory, and the controller's process handling against stand-in
//! children (`/bin/sh` scripts using only shell builtins: the child's environment is empty).
//! The real child (`kseal-controller __render-template`) is exercised by
//! `controller/tests/hostile_templates.rs`.

use std::time::Instant;

use kseal_core::SecretBytes;

use super::*;

fn templates(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn items() -> Plaintexts {
    BTreeMap::from([("pass".to_owned(), SecretBytes::copy_from(b"s3cr3t-canary"))])
}

/// The child's side (`serve`) and the controller's (`exchange`) joined by a buffer.
fn round_trip(templates: &BTreeMap<String, String>) -> Answer {
    let request = frame::encode_request(templates, &items()).unwrap();
    let mut answer = Vec::new();
    serve(&mut &request[..], &mut answer).unwrap();
    let keys: Vec<String> = templates.keys().cloned().collect();
    exchange(Some(io::sink()), Some(&answer[..]), &request, &keys)
}

#[test]
fn a_child_answers_what_renders_in_process() {
    let t = templates(&[("a", "{{ .pass | upper }}"), ("b", "x")]);
    let answer = round_trip(&t);
    assert_eq!(answer.announced.as_deref(), Some("b"));
    let rendered = answer.outcome.unwrap().unwrap();
    assert_eq!(rendered, kseal_template::render_all(&t, &items()).unwrap());
    assert_eq!(rendered["a"].expose(), b"S3CR3T-CANARY");
}

#[test]
fn a_child_reports_the_limit_and_the_key() {
    let t = templates(&[
        ("a", "x"),
        ("b", r#"{{ repeat 1000000000 "x" }}"#),
        ("c", "y"),
    ]);
    let answer = round_trip(&t);
    assert_eq!(answer.announced.as_deref(), Some("b"));
    let e = answer.outcome.unwrap().unwrap_err();
    assert_eq!(
        e.to_string(),
        "template \"b\": repeat count 1000000000 over the limit 1048576"
    );
}

#[test]
fn answers_that_break_the_protocol_are_garbage() {
    let keys = vec!["a".to_owned()];
    let mut unknown_key = Vec::new();
    frame::write_frame(&mut unknown_key, &Frame::Key("zz".into())).unwrap();
    let mut missing_value = Vec::new();
    frame::write_frame(&mut missing_value, &Frame::Done).unwrap();
    let mut long_message = Vec::new();
    frame::write_frame(
        &mut long_message,
        &Frame::Error("a".into(), "m".repeat(5000)),
    )
    .unwrap();
    let mut too_large = Vec::new();
    frame::write_frame(
        &mut too_large,
        &Frame::Value("a".into(), SecretBytes::new(vec![b'x'; MAX_VALUE + 100])),
    )
    .unwrap();
    for (what, bytes) in [
        ("unknown key", unknown_key),
        ("done without values", missing_value),
        ("long message", long_message),
        ("too large", too_large),
        ("noise", b"running 0 tests\n".to_vec()),
    ] {
        let answer = exchange(Some(io::sink()), Some(&bytes[..]), b"", &keys);
        assert!(answer.garbled, "{what}");
        assert!(answer.outcome.is_none(), "{what}");
    }
}

fn sh(script: &str, wall: Duration) -> Sandbox {
    Sandbox::with_command("/bin/sh", ["-c", script], wall)
}

fn render_with(sandbox: &Sandbox) -> TemplateError {
    sandbox
        .render(&templates(&[("a", "x"), ("b", "y")]), &items())
        .unwrap_err()
}

#[test]
fn a_child_that_hangs_is_killed_at_the_deadline() {
    let start = Instant::now();
    let e = render_with(&sh(
        "read x; while :; do :; done",
        Duration::from_millis(300),
    ));
    assert_eq!(e.key, "a");
    assert!(
        e.message
            .starts_with("rendering took longer than the limit"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn signals_and_notes_name_the_limit_and_the_last_announced_key() {
    // `K`, length 1, key `b`: the child announced "b" before it died.
    let announce_b = r"printf 'K\000\000\000\001b';";
    let wall = Duration::from_secs(10);
    for (script, want) in [
        ("kill -XCPU $$", "more than the limit of 2 s of CPU time"),
        (
            "kill -KILL $$",
            "over the CPU limit of 2 s, or out of memory",
        ),
        (
            "echo 'memory allocation of 99 bytes failed' >&2; kill -ABRT $$",
            "more than the memory limit of 96 MiB",
        ),
        (
            "echo \"thread 'main' has overflowed its stack\" >&2; kill -ABRT $$",
            "needed more stack",
        ),
        (
            "echo 'kseal-render: panic' >&2; exit 101",
            "the template engine failed",
        ),
        ("kill -SEGV $$", "stopped by signal 11"),
        ("exit 3", "could not set its resource limits"),
        ("exit 0", "ended without an answer"),
    ] {
        let e = render_with(&sh(&format!("{announce_b} {script}"), wall));
        assert_eq!(e.key, "b", "{script}");
        assert!(e.message.contains(want), "{script}: {e}");
    }
}

#[test]
fn a_missing_program_is_reported() {
    let e = render_with(&Sandbox::new("/nonexistent/kseal-controller"));
    assert_eq!(e.key, "a");
    assert!(
        e.message.starts_with("cannot start the template renderer"),
        "{e}"
    );
}

#[test]
fn no_templates_start_no_child() {
    let sandbox = Sandbox::new("/nonexistent/kseal-controller");
    assert_eq!(
        sandbox.render(&BTreeMap::new(), &items()),
        Ok(BTreeMap::new())
    );
}

#[test]
fn permits_limit_children() {
    let permits = Permits::new(2);
    let a = permits.try_acquire();
    let b = permits.try_acquire();
    assert!(a.is_some() && b.is_some());
    assert!(permits.try_acquire().is_none());
    drop(a);
    let c = permits.try_acquire();
    assert!(c.is_some());
    // Both permits are held: this acquire returns only once `b` is dropped.
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            let _held = permits.acquire();
            tx.send(()).unwrap();
        });
        drop(b);
        rx.recv().unwrap();
    });
}
