//! Hostile `spec.template.data` against the real `kseal-controller`: every template bomb of
//! `docs/templates.md` and a few more, each in its own SealedSecret, all at once.
//!
//! With the control plane (`tests/cluster/`), [`template_bombs_against_the_controller`] asserts
//! that the controller process stays up, `/healthz` answers within 1 s throughout, the RSS of
//! the controller and its rendering children stays under the chart's 256 MiB limit, each bomb
//! gets `Synced=False` naming its template key and the limit it hit, a good SealedSecret
//! created right after syncs with the right bytes, and the canary appears in no log, event,
//! status or metric. Without a cluster, the `sandbox_*` tests run the real rendering child
//! (`kseal-controller __render-template`) directly, and measure its cost.
//!
//! Each attack prints one line: what it tried and what held.

mod support;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use kseal_controller::template::{Sandbox, sandbox};
use kseal_core::SecretBytes;
use kseal_crds::{SealedSecret, SealedSecretSpec};
use kseal_template::{InProcess, Plaintexts, Renderer, limits};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use support::*;

/// One hostile SealedSecret: a template under `key`, optionally with real sealed items, and the
/// texts of which the Synced=False message must contain one.
struct Bomb {
    name: &'static str,
    tried: &'static str,
    key: &'static str,
    template: String,
    items: Vec<(&'static str, Vec<u8>)>,
    held: &'static [&'static str],
}

fn bomb(name: &'static str, tried: &'static str, template: impl Into<String>) -> Bomb {
    Bomb {
        name,
        tried,
        key: "out.txt",
        template: template.into(),
        items: Vec::new(),
        held: &[],
    }
}

impl Bomb {
    fn held(mut self, texts: &'static [&'static str]) -> Self {
        self.held = texts;
        self
    }

    fn items(mut self, items: Vec<(&'static str, Vec<u8>)>) -> Self {
        self.items = items;
        self
    }

    fn key(mut self, key: &'static str) -> Self {
        self.key = key;
        self
    }
}

/// Over the CPU, wall-clock or in-process time limit: which one ends the render depends on the
/// machine's load.
const OUT_OF_TIME: &[&str] = &[
    "limit of 2 s of CPU time",
    "longer than the limit of 5 s",
    "over the CPU limit of 2 s, or out of memory",
];

fn bombs() -> Vec<Bomb> {
    let sixty_thousand = r#"{{ $l := splitList "," (repeat 60000 ",") }}"#;
    let big = format!("{CANARY}-{}", "b".repeat(400 << 10)).into_bytes();
    vec![
        bomb("indent", "indent by 10^18", r#"{{ indent 1000000000000000000 "x" }}"#)
            .held(&["indent width 1000000000000000000 over the limit 1048576"]),
        bomb(
            "recursion",
            "a template that calls itself",
            r#"{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}"#,
        )
        .held(&["template \"a\" calls itself"]),
        bomb(
            "range-split",
            "range over splitList of a 1 MB repeat",
            r#"{{ range splitList "" (repeat 1000000 "x") }}{{ . }}{{ end }}"#,
        )
        .held(&["splitList: list of 1000000 elements over the limit 65536"]),
        bomb(
            "range-output",
            "range writing 6 MB",
            r#"{{ range splitList "," (repeat 60000 "x,") }}{{ repeat 100 "y" }}{{ end }}"#,
        )
        .key("config.yaml")
        .held(&["output exceeds the 1 MiB Secret limit"]),
        bomb(
            "replace-empty",
            "replace \"\" over 1 MB (4 GiB in Go)",
            r#"{{ replace "" (repeat 4000 "x") (repeat 1000000 "a") }}"#,
        )
        .held(&["replace: result of 4001004000 bytes over the limit"]),
        bomb(
            "empty-ranges",
            "nested range over one list with an empty body (no function, no output)",
            format!("{sixty_thousand}{{{{ range $l }}}}{{{{ range $l }}}}{{{{ end }}}}{{{{ end }}}}"),
        )
        .held(OUT_OF_TIME),
        bomb(
            "busy-ranges",
            "nested range calling eq 3.6 billion times",
            format!(
                "{sixty_thousand}{{{{ range $l }}}}{{{{ range $l }}}}{{{{ if eq 1 2 }}}}{{{{ end }}}}{{{{ end }}}}{{{{ end }}}}"
            ),
        )
        .held(&["rendering took longer than the limit of 1 s"]),
        bomb("printf-width", "printf %99999999d", r#"{{ printf "%99999999d" 1 }}"#)
            .held(&["printf width 99999999 over the limit 1048576"]),
        bomb(
            "printf-wide",
            "printf of two numbers, each padded to 1048576",
            r#"{{ printf "%1048576d%1048576d" 1 2 }}"#,
        )
        .held(&["printf: result of 2097152 bytes over the limit"]),
        bomb(
            "parens",
            "5000 nested parentheses",
            format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000)),
        )
        .held(&["nesting deeper than the limit of 100"]),
        bomb(
            "blocks",
            "5000 nested if blocks",
            format!("{}x{}", "{{ if 1 }}".repeat(5000), "{{ end }}".repeat(5000)),
        )
        .held(&["nesting deeper than the limit of 100"]),
        bomb(
            "list-nest",
            "a list nested 200 deep through variables",
            format!(
                "{{{{ $x := list }}}}{}{{{{ len $x }}}}",
                "{{ $x := list $x }}".repeat(200)
            ),
        )
        .held(&["nested deeper than the limit of 32"]),
        bomb("lexer", "a non-ASCII character where the engine's lexer panics", "{{ 1€ }}")
            .held(&["non-ASCII character in an action"]),
        bomb(
            "many-items-reads",
            "a 400 KiB item read 100 times",
            r#"{{ range splitList "," (repeat 99 ",") }}{{ $.big }}{{ end }}"#,
        )
        .items(vec![("big", big.clone())])
        .held(&["output exceeds the 1 MiB Secret limit"]),
        bomb(
            "clones",
            "list of 600 copies of a 400 KiB item (the engine copies each)",
            format!("{{{{ len (list {}) }}}}", ".big ".repeat(600)),
        )
        .items(vec![("big", big)])
        .held(&["memory limit of 96 MiB", "out of memory"]),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn template_bombs_against_the_controller() {
    let Some(client) = require_cluster().await else {
        return;
    };
    let ctl = TestNamespace::new(&client, "kseal-ctl").await;
    let app = TestNamespace::new(&client, "kseal-app").await;
    let scope = format!("--additional-namespaces={}", app.name);
    let controller = Controller::start(
        &kubeconfig(),
        &ctl.name,
        &["--all-namespaces=false", &scope],
    );
    let cert = controller.certificate().await;
    let api: Api<SealedSecret> = Api::namespaced(client.clone(), &app.name);
    let watchdog = controller.watchdog();

    let bombs = bombs();
    let started = Instant::now();
    for b in &bombs {
        let items: Vec<(&str, &[u8])> = b.items.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        let mut ss = if items.is_empty() {
            let mut ss = SealedSecret::new(b.name, SealedSecretSpec::default());
            ss.metadata.namespace = Some(app.name.clone());
            ss
        } else {
            seal(&cert, &app.name, b.name, &items)
        };
        ss.spec.template.data = Some(BTreeMap::from([(b.key.to_owned(), b.template.clone())]));
        api.create(&PostParams::default(), &ss).await.unwrap();
    }
    // Many templates at once in one SealedSecret, each small, together over the Secret limit.
    let mut many = SealedSecret::new("many-templates", SealedSecretSpec::default());
    many.metadata.namespace = Some(app.name.clone());
    many.spec.template.data = Some(
        (0..2000)
            .map(|i| (format!("k{i:04}"), r#"{{ repeat 1000 "x" }}"#.to_owned()))
            .collect(),
    );
    api.create(&PostParams::default(), &many).await.unwrap();

    for b in &bombs {
        let ss = wait_synced(&api, b.name, "False").await;
        let message = synced(&ss).and_then(|(_, m)| m).unwrap_or_default();
        assert!(
            message.contains(&format!("template {:?}: ", b.key)),
            "{}: the message does not name the key: {message}",
            b.name
        );
        assert!(
            b.held.iter().any(|h| message.contains(h)),
            "{}: want one of {:?}, got: {message}",
            b.name,
            b.held
        );
        assert!(
            !message.contains(CANARY),
            "{}: the canary is in the status",
            b.name
        );
        report(&format!(
            "hostile template {}: tried {}; held: Synced=False \"{message}\" ({:.1} s after creation)",
            b.name,
            b.tried,
            started.elapsed().as_secs_f64()
        ));
    }
    let ss = wait_synced(&api, "many-templates", "False").await;
    let message = synced(&ss).and_then(|(_, m)| m).unwrap_or_default();
    assert!(
        message.starts_with("template \"k10") && message.contains("output exceeds the 1 MiB"),
        "many-templates: {message}"
    );
    report(&format!(
        "hostile template many-templates: tried 2000 templates of 1000 bytes each in one \
         SealedSecret; held: Synced=False \"{message}\""
    ));

    // A good SealedSecret right after: synced, with the right bytes.
    let mut good = seal(
        &cert,
        &app.name,
        "good",
        &[("user", b"admin"), ("pass", CANARY.as_bytes())],
    );
    good.spec.template.data = Some(BTreeMap::from([(
        "url".to_owned(),
        "postgres://{{ .user }}:{{ .pass }}@db/app".to_owned(),
    )]));
    let created = Instant::now();
    api.create(&PostParams::default(), &good).await.unwrap();
    wait_synced(&api, "good", "True").await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), &app.name);
    let secret = secrets.get("good").await.unwrap();
    let data = secret_data(&secret);
    assert_eq!(data.get("user").map(Vec::as_slice), Some(&b"admin"[..]));
    assert!(
        data.get("url")
            .is_some_and(|u| *u == format!("postgres://admin:{CANARY}@db/app").into_bytes()),
        "the rendered url differs"
    );
    let held = watchdog.assert_healthy("template bombs");
    report(&format!(
        "hostile template aftermath: a good SealedSecret created after the bombs synced in \
         {:.1} s with the right bytes; {}",
        created.elapsed().as_secs_f64(),
        held.summary()
    ));

    let sealed = api.list(&ListParams::default()).await.unwrap();
    assert_no_canary(&[
        ("controller logs", &controller.logs()),
        ("events", &all_events_json(&client, &app.name).await),
        (
            "SealedSecrets",
            &serde_json::to_string(&sealed.items).unwrap(),
        ),
        ("metrics", &controller.metrics_text()),
    ]);
}

fn items() -> Plaintexts {
    BTreeMap::from([
        ("user".to_owned(), SecretBytes::copy_from(b"admin")),
        ("pass".to_owned(), SecretBytes::copy_from(CANARY.as_bytes())),
    ])
}

fn one(key: &str, template: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(key.to_owned(), template.to_owned())])
}

fn real_child() -> Sandbox {
    Sandbox::new(env!("CARGO_BIN_EXE_kseal-controller"))
}

/// The real child renders what the in-process renderer renders, and every bomb gets the
/// message the in-process limits or the child's resource limits give.
#[test]
fn sandbox_real_child_renders_and_refuses() {
    let sandbox = real_child();
    let templates = BTreeMap::from([
        (
            "a".to_owned(),
            "{{ .user }}:{{ .pass | b64enc }}".to_owned(),
        ),
        ("b".to_owned(), r#"{{ printf "%05d" 42 }}"#.to_owned()),
    ]);
    assert_eq!(
        sandbox.render(&templates, &items()).unwrap(),
        InProcess.render(&templates, &items()).unwrap()
    );
    for b in bombs() {
        let items: Plaintexts = b
            .items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretBytes::copy_from(v)))
            .collect();
        let start = Instant::now();
        let e = sandbox
            .render(&one(b.key, &b.template), &items)
            .unwrap_err();
        assert_eq!(e.key, b.key, "{}", b.name);
        assert!(
            b.held.iter().any(|h| e.message.contains(h)),
            "{}: want one of {:?}, got: {e}",
            b.name,
            b.held
        );
        assert!(!e.message.contains(CANARY), "{}", b.name);
        report(&format!(
            "hostile template child {}: tried {}; held: \"{e}\" in {} ms",
            b.name,
            b.tried,
            start.elapsed().as_millis()
        ));
    }
}

/// What a render in a child costs: spawn, limits, request, render, answer.
#[test]
fn sandbox_child_overhead() {
    let sandbox = real_child();
    let templates = one("url", "postgres://{{ .user }}:{{ .pass }}@db/app");
    let runs = 20u32;
    let start = Instant::now();
    for _ in 0..runs {
        sandbox.render(&templates, &items()).unwrap();
    }
    let child = start.elapsed() / runs;
    let start = Instant::now();
    for _ in 0..runs {
        InProcess.render(&templates, &items()).unwrap();
    }
    let in_process = start.elapsed() / runs;
    report(&format!(
        "hostile template child cost: a small template takes {:.2} ms per render in a child \
         process, {:.3} ms in process",
        child.as_secs_f64() * 1e3,
        in_process.as_secs_f64() * 1e3
    ));
    assert!(child < Duration::from_secs(1), "{child:?} per child render");
}

/// The child's memory while it renders (sampled during a CPU-bound render that the CPU limit
/// ends): VmPeak stays under its address-space limit.
#[test]
fn sandbox_child_memory() {
    let me = std::process::id();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let render = thread::spawn(move || {
        let template = r#"{{ $l := splitList "," (repeat 60000 ",") }}{{ range $l }}{{ range $l }}{{ end }}{{ end }}"#;
        let e = real_child()
            .render(&one("spin", template), &items())
            .unwrap_err();
        flag.store(true, Ordering::Relaxed);
        e
    });
    let mut seen: Option<(u64, u64, u64)> = None;
    while !done.load(Ordering::Relaxed) {
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(cmdline) = std::fs::read(format!("/proc/{name}/cmdline")) else {
                continue;
            };
            if !cmdline
                .windows(sandbox::CHILD_ARG.len())
                .any(|w| w == sandbox::CHILD_ARG.as_bytes())
            {
                continue;
            }
            let Ok(status) = std::fs::read_to_string(format!("/proc/{name}/status")) else {
                continue;
            };
            let field = |f: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(f))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let ppid = field("PPid:");
            if ppid == u64::from(me) {
                let now = (field("VmPeak:"), field("VmSize:"), field("VmHWM:"));
                seen = Some(seen.map_or(now, |s| (s.0.max(now.0), s.1.max(now.1), s.2.max(now.2))));
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    let e = render.join().unwrap();
    assert!(OUT_OF_TIME.iter().any(|h| e.message.contains(h)), "{e}");
    let (peak, size, hwm) = seen.expect("the child was seen while it ran");
    report(&format!(
        "hostile template child memory: VmPeak {} MiB, VmSize {} MiB, VmHWM (peak RSS) {} MiB \
         while spinning; held: \"{e}\"",
        peak >> 10,
        size >> 10,
        hwm >> 10
    ));
    assert!(peak * 1024 <= sandbox::MEMORY, "VmPeak {peak} kB");
    assert!(limits::MAX_TIME < sandbox::WALL_TIME);
}
