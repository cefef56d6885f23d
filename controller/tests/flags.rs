//! The binary's flags and their `SEALED_SECRETS_<FLAG>` environment fallbacks; no cluster needed.

use std::process::Command;

fn controller() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kseal-controller"));
    c.env_remove("KUBECONFIG");
    c
}

#[test]
fn version() {
    let out = controller().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kseal-controller "));
}

#[test]
fn every_flag_has_its_bitnami_env_variable() {
    let out = controller().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "key-prefix",
        "key-size",
        "key-ttl",
        "my-cn",
        "key-renew-period",
        "key-order-priority",
        "key-cutoff-time",
        "accept-deprecated-v1-data",
        "all-namespaces",
        "additional-namespaces",
        "label-selector",
        "rate-limit",
        "rate-limit-burst",
        "privatekey-annotations",
        "privatekey-labels",
        "old-gc-behavior",
        "update-status",
        "watch-for-secrets",
        "skip-recreate",
        "max-unseal-retries",
        "kubeclient-qps",
        "kubeclient-burst",
        "log-info-stdout",
        "log-level",
        "log-format",
        "listen-addr",
        "listen-metrics-addr",
        "read-timeout",
        "write-timeout",
    ] {
        let env = format!(
            "SEALED_SECRETS_{}",
            flag.to_ascii_uppercase().replace('-', "_")
        );
        assert!(help.contains(&format!("--{flag}")), "--{flag} missing");
        assert!(help.contains(&env), "{env} missing");
    }
    assert!(
        help.contains("rotate-period"),
        "deprecated alias --rotate-period"
    );
}

#[test]
fn environment_is_read_and_the_command_line_wins() {
    // An invalid prefix from the environment is rejected before any API call…
    let out = controller()
        .env("SEALED_SECRETS_KEY_PREFIX", "Not_Valid")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key-prefix"));
    // …and a command-line value overrides it (the run then fails later, for lack of a cluster,
    // not on the prefix).
    let out = controller()
        .env("SEALED_SECRETS_KEY_PREFIX", "Not_Valid")
        .args([
            "--key-prefix",
            "valid-prefix",
            "--kubeconfig",
            "/nonexistent",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("--key-prefix must"), "{stderr}");
    assert!(stderr.contains("kubeconfig"), "{stderr}");
}
