//! The harness's one error type: what a `try_` helper could not do. Messages name the step and
//! the tool, and hold no Secret data.

use std::path::PathBuf;

/// Why a harness step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// A program could not be started.
    #[error("cannot run {}: {error}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// `tests/cluster/build.sh --print-bindir` says the Go tools are not built yet.
    #[error(
        "the Go tools (kubectl, kubeseal, helm, …) are not built: run tests/cluster/build.sh (tests/run-all.sh does)"
    )]
    GoToolsMissing,
    /// The API server refused the CRD for another reason than "already exists".
    #[error("create the CRD: {0}")]
    CreateCrd(kube::Error),
    /// The CRD did not become established in time.
    #[error("the SealedSecret CRD was not established within 30 s")]
    CrdNotEstablished,
    /// The API server refused a namespace.
    #[error("create namespace {name}: {error}")]
    CreateNamespace {
        /// The namespace.
        name: String,
        /// Why.
        error: kube::Error,
    },
    /// `cluster.sh` failed: the last lines of its stderr.
    #[error("{0}")]
    ClusterSh(String),
}
