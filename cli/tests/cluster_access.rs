//! `--kubeconfig` and `--context` on every cluster command, and errors that name the API server
//! and the cause. No cluster is needed: the kubeconfig points at a loopback port nothing listens
//! on.

mod common;

use common::TempDir;

/// A kubeconfig with two contexts: `down` (a closed loopback port) and `other` (a second closed
/// port); `down` is current.
fn kubeconfig(dir: &std::path::Path) -> (String, u16, u16) {
    let closed = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (a, b) = (closed(), closed());
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: down\nclusters:\n- name: down\n  cluster: {{server: \"http://127.0.0.1:{a}\"}}\n- name: other\n  cluster: {{server: \"http://127.0.0.1:{b}\"}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: down\n  context: {{cluster: down, user: u}}\n- name: other\n  context: {{cluster: other, user: u}}\n"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    (path.display().to_string(), a, b)
}

#[test]
fn every_cluster_command_takes_kubeconfig_and_context() {
    let tmp = TempDir::new("cluster-access");
    let d = tmp.path();
    let (config, a, b) = kubeconfig(d);
    std::fs::write(d.join("sealed.yaml"), "kind: SealedSecret\n").unwrap();
    let commands: [&[&str]; 5] = [
        &["cert"],
        &["keys", "--cluster", "--no-config"],
        &["verify", "--cluster", "--no-config", "sealed.yaml"],
        &["rotate", "--no-config", "sealed.yaml"],
        &["backup", "-o", "keys.yaml"],
    ];
    for command in commands {
        for (context, port) in [(None, a), (Some("other"), b)] {
            let mut args = command.to_vec();
            args.extend(["--kubeconfig", &config]);
            if let Some(c) = context {
                args.extend(["--context", c]);
            }
            // KUBECONFIG points elsewhere: the flag wins.
            let run = common::kseal(&args, "", d, &[("KUBECONFIG", "/nonexistent")]);
            assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
            let server = format!("cannot reach the API server http://127.0.0.1:{port}: ");
            assert!(run.stderr.contains(&server), "{args:?}: {}", run.stderr);
            assert!(
                run.stderr.to_lowercase().contains("connection refused"),
                "{args:?}: {}",
                run.stderr
            );
            assert!(
                run.stderr.contains("kseal: hint: is the cluster running"),
                "{args:?}: {}",
                run.stderr
            );
            assert!(!run.stderr.contains("is the controller installed"));
        }
    }

    let run = common::kseal(
        &["cert", "--kubeconfig", &config, "--context", "nope"],
        "",
        d,
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!("kubeconfig {config}: ")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    let run = common::kseal(&["cert", "--kubeconfig", "missing.yaml"], "", d, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("kseal: error: cannot read kubeconfig missing.yaml: "),
        "{}",
        run.stderr
    );
}

#[test]
fn kseal_yaml_names_a_context_per_cluster() {
    let tmp = TempDir::new("cluster-context");
    let d = tmp.path();
    std::fs::create_dir(d.join(".git")).unwrap();
    let (config, a, b) = kubeconfig(d);
    let cert = common::fixtures().join("test.pem");
    std::fs::write(d.join(".env"), "A=1\n").unwrap();
    std::fs::write(
        d.join("kseal.yaml"),
        format!(
            "secrets:\n  - input: .env\n    name: a\n    namespace: b\n    clusters:\n      - {{name: eu, cert: {c}, output: eu.yaml, context: other}}\n      - {{name: us, cert: {c}, output: us.yaml}}\n",
            c = cert.display()
        ),
    )
    .unwrap();
    common::kseal(&["seal", ".env", "-w"], "", d, &[]).ok();
    let env = [("KUBECONFIG", config.as_str())];
    let reach = |port: u16| format!("cannot reach the API server http://127.0.0.1:{port}: ");
    // eu.yaml goes through its cluster's context, us.yaml through the current one.
    for (file, port) in [("eu.yaml", b), ("us.yaml", a)] {
        let run = common::kseal(&["verify", "--cluster", file], "", d, &env);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stderr.contains(&reach(port)), "{file}: {}", run.stderr);
    }
    // rotate tries every cluster and reports each failure.
    let run = common::kseal(&["rotate"], "", d, &env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&reach(a)) && run.stderr.contains(&reach(b)),
        "{}",
        run.stderr
    );
    // --context wins over kseal.yaml.
    let run = common::kseal(
        &["verify", "--cluster", "--context", "down", "eu.yaml"],
        "",
        d,
        &env,
    );
    assert!(run.stderr.contains(&reach(a)), "{}", run.stderr);
}
