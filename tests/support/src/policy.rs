//! One policy for tests that need something the machine may not have (the control plane of
//! `tests/cluster/`, or a Go tool `tests/cluster/build.sh` builds): with `CI` or `KSEAL_CLUSTER`
//! set the test fails and says what is missing; otherwise it prints one line
//! `skipped: <test>: <why>` to stderr (shown even when the test passes, and counted by
//! `tests/run-all.sh`) and returns early. A test never passes silently without having run.

use kube::Client;

/// Whether this run must have the control plane and the Go tools: `CI` or `KSEAL_CLUSTER` set
/// (`tests/run-all.sh` sets `KSEAL_CLUSTER=1`).
pub fn cluster_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("KSEAL_CLUSTER").is_some()
}

/// What a test does when `why` keeps it from running: panics when [`cluster_required`],
/// otherwise prints the `skipped:` line. Returns `None` so callers can write
/// `let Some(x) = … else { return skip_or_fail(…) … }`-style code with `?`.
pub fn skip_or_fail<T>(why: &str) -> Option<T> {
    assert!(
        !cluster_required(),
        "{}: {why} (CI/KSEAL_CLUSTER is set, so this test must run)",
        crate::test_name()
    );
    crate::report(&format!("skipped: {}: {why}", crate::test_name()));
    None
}

/// The control plane for a test that needs it: a client for `KUBECONFIG` with the SealedSecret
/// CRD installed, or `None` after [`skip_or_fail`] when no control plane is configured.
pub async fn require_cluster() -> Option<Client> {
    let Some(path) = std::env::var_os("KUBECONFIG") else {
        return skip_or_fail(
            "needs the control plane (run tests/run-all.sh, or \
             `eval \"$(tests/cluster/cluster.sh up)\"` and export KUBECONFIG)",
        );
    };
    let client = crate::cluster::connect(std::path::Path::new(&path)).await;
    crate::cluster::ensure_crd(&client).await;
    Some(client)
}
