use std::time::Duration;

use super::*;

fn flags(args: &[&str]) -> Flags {
    use clap::Parser as _;
    Flags::try_parse_from(std::iter::once("kseal-controller").chain(args.iter().copied()))
        .expect("flags parse")
}

fn pod() -> Environment {
    Environment {
        pod_namespace: Some("sealed".into()),
        service_account_namespace: Some("from-sa\n".into()),
        pod_name: Some("controller-0".into()),
        hostname: "node-1\n".into(),
        pid: 42,
    }
}

fn error(args: &[&str]) -> String {
    Config::new(flags(args), &pod())
        .expect_err("invalid flags are refused")
        .to_string()
}

/// Every refused flag is named in the message.
#[test]
fn errors_name_the_flag() {
    let dir = std::env::temp_dir().join("kseal-config-test-no-such-dir");
    let dir_flag = format!("--key-backup-dir={}", dir.display());
    let cases: &[(&[&str], &str)] = &[
        (
            &["--log-level=loud"],
            "unknown --log-level \"LOUD\" (INFO or ERROR)",
        ),
        (
            &["--key-size=1000"],
            "--key-size: unsupported RSA key size of 1000 bits",
        ),
        (
            &["--key-cutoff-time=2006-01-02"],
            "--key-cutoff-time \"2006-01-02\" is not RFC1123Z",
        ),
        (
            &["--privatekey-labels=a=1,b"],
            "--privatekey-labels: \"b\" is not key=value",
        ),
        (
            &["--privatekey-annotations=x"],
            "--privatekey-annotations: \"x\" is not key=value",
        ),
        (
            &["--key-prefix=Not_Valid"],
            "--key-prefix must be 1-245 characters of [a-z0-9-]",
        ),
        (&["--key-prefix="], "--key-prefix must"),
        (
            &["--key-backup-secret=nope"],
            "--key-backup-secret \"nope\": expected NAMESPACE/NAME",
        ),
        (
            &["--key-backup-secret=a/-b"],
            "--key-backup-secret \"a/-b\": name \"-b\" is not a valid Kubernetes name",
        ),
        (
            &["--key-backup-secret=sealed/sealed-secrets-key"],
            "--key-backup-secret \"sealed/sealed-secrets-key\": a Secret named like --key-prefix \
             in the controller namespace is the legacy key Secret; choose another name",
        ),
        (&[&dir_flag], "not a directory (mount a volume there)"),
    ];
    for (args, expected) in cases {
        let message = error(args);
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    assert!(error(&[&dir_flag]).starts_with("--key-backup-dir "));
}

#[test]
fn log_levels() {
    for (text, level) in [
        ("INFO", Level::INFO),
        ("info", Level::INFO),
        ("ERROR", Level::ERROR),
        ("Debug", Level::DEBUG),
        ("WARNING", Level::WARN),
        ("TRACE", Level::TRACE),
    ] {
        assert_eq!(log_level(text).unwrap(), level, "{text}");
    }
}

#[test]
fn cutoff_is_rfc1123z() {
    let t = cutoff("Mon, 02 Jan 2006 15:04:05 -0700").unwrap().unwrap();
    assert_eq!(
        t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
        1_136_239_445
    );
    assert_eq!(cutoff("").unwrap(), None);
    assert!(cutoff("2006-01-02").is_err());
}

#[test]
fn key_value_lists() {
    let parse = |text| key_values("--privatekey-labels", text);
    assert_eq!(
        parse("a=1, b=2").unwrap(),
        BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])
    );
    assert!(parse("a").is_err());
    assert!(parse("").unwrap().is_empty());
}

#[test]
fn targets_parse() {
    assert_eq!(
        backup_secret("backup/keys", "kube-system", "sealed-secrets-key").unwrap(),
        ("backup".to_owned(), "keys".to_owned())
    );
    for bad in ["nope", "/x", "a/", "A/b", "a/b/c", "a/-b", "a b/c"] {
        assert!(
            backup_secret(bad, "kube-system", "sealed-secrets-key").is_err(),
            "{bad}"
        );
    }
    // The legacy key name in the controller namespace would be loaded as a key.
    assert!(
        backup_secret(
            "kube-system/sealed-secrets-key",
            "kube-system",
            "sealed-secrets-key"
        )
        .is_err()
    );
    assert!(
        backup_secret(
            "other/sealed-secrets-key",
            "kube-system",
            "sealed-secrets-key"
        )
        .is_ok()
    );
}

/// The controller namespace: the flag, else `POD_NAMESPACE`, else the ServiceAccount's file,
/// else `default`. The identity: the flag, else `POD_NAME`, else host name and process id.
#[test]
fn identities() {
    let none = Environment {
        hostname: "node-1\n".into(),
        pid: 42,
        ..Environment::default()
    };
    let sa_only = Environment {
        service_account_namespace: Some("from-sa\n".into()),
        pod_namespace: Some(String::new()),
        pod_name: Some(String::new()),
        ..none.clone()
    };
    let cases: &[(&[&str], &Environment, &str, &str)] = &[
        (&[], &pod(), "sealed", "controller-0"),
        (
            &[
                "--controller-namespace=flag-ns",
                "--leader-election-identity=me",
            ],
            &pod(),
            "flag-ns",
            "me",
        ),
        (&[], &sa_only, "from-sa", "node-1_42"),
        (&[], &none, "default", "node-1_42"),
    ];
    for (args, env, namespace, identity) in cases {
        let config = Config::new(flags(args), env).unwrap();
        assert_eq!(config.namespace, *namespace, "{args:?}");
        assert_eq!(config.identity, *identity, "{args:?}");
        assert_eq!(config.keygen.namespace, *namespace);
        assert_eq!(config.backup.namespace, *namespace);
        assert_eq!(config.reconcile.trusted.namespace, *namespace);
        assert_eq!(
            config.leader.as_ref().map(|l| l.identity.as_str()),
            Some(*identity)
        );
    }
}

/// All namespaces by default; scoped to the own namespace plus the additional ones when asked.
#[test]
fn watched_namespaces_follow_the_flags() {
    let scope = |args: &[&str]| Config::new(flags(args), &pod()).unwrap().namespaces;
    assert!(scope(&[]).is_empty());
    assert_eq!(scope(&["--all-namespaces=false"]), ["sealed"]);
    assert_eq!(
        scope(&["--additional-namespaces", "b, c,sealed,,b"]),
        ["sealed", "b", "c"]
    );
}

#[test]
fn namespaces() {
    assert_eq!(watched_namespaces("kube-system", ""), ["kube-system"]);
    assert_eq!(watched_namespaces("a", "b, c,a,,b"), ["a", "b", "c"]);
}

/// The defaults give Bitnami's behaviour; the options reach the pieces that use them.
#[test]
fn flags_reach_their_pieces() {
    let c = Config::new(flags(&[]), &pod()).unwrap();
    assert_eq!(c.log.level, Level::INFO);
    assert!(c.reconcile.update_status && c.reconcile.accept_v1_data);
    assert_eq!(c.keygen.key_size, KeySize::Rsa4096);
    assert_eq!(c.keygen.cutoff, None);
    assert_eq!(c.http.timeout, Duration::from_secs(240));
    assert_eq!(c.http.limits.drain, Duration::from_secs(240));
    assert_eq!(c.http.limits.max_per_ip, 64);
    assert!(c.backup.secret.is_none() && c.backup.dir.is_none());
    let c = Config::new(
        flags(&[
            "--leader-elect=false",
            "--key-backup-secret=backup/keys",
            "--privatekey-labels=team=a",
            "--max-unseal-retries=2",
            "--key-size=2048",
            "--log-level=debug",
        ]),
        &pod(),
    )
    .unwrap();
    assert!(c.leader.is_none());
    assert_eq!(c.backup.secret, Some(("backup".into(), "keys".into())));
    assert_eq!(c.reconcile.trusted.backup, c.backup.secret);
    assert_eq!(c.keygen.labels.get("team").map(String::as_str), Some("a"));
    assert_eq!(c.reconcile.max_retries, 2);
    assert_eq!(c.keygen.key_size, KeySize::Rsa2048);
    assert_eq!(c.log.level, Level::DEBUG);
}
