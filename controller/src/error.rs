//! Errors of the controller library. Messages name objects and items, never values.

use kseal_crds::UnsealError;

use crate::metrics::UnsealErrorReason;

/// A key Secret that cannot be used; it is skipped and reported, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySecretError {
    /// A required field of the `kubernetes.io/tls` Secret is missing.
    #[error("key Secret has no data.{0}")]
    Missing(&'static str),
    /// `tls.crt` does not parse.
    #[error("data.tls.crt: {0}")]
    Certificate(kseal_core::KeyError),
    /// `tls.key` does not parse (the message never holds key material).
    #[error("data.tls.key: {0}")]
    PrivateKey(kseal_core::KeyError),
    /// `tls.crt` and `tls.key` hold different keys.
    #[error("data.tls.crt and data.tls.key do not belong together")]
    Mismatch,
    /// `xwing.key` does not parse (the message never holds key material).
    #[error("data.xwing.key: {0}")]
    PqKey(kseal_core::KeyError),
    /// `xwing.key` is not the post-quantum key the certificate in `tls.crt` carries.
    #[error("data.tls.crt and data.xwing.key do not belong together")]
    PqMismatch,
}

/// An error of one reconcile, with the metric label Bitnami uses for it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// The SealedSecret does not unseal.
    #[error("failed to unseal: {0}")]
    Unseal(UnsealError),
    /// Reading the target Secret failed.
    #[error("cannot read Secret: {0}")]
    Fetch(#[source] kube::Error),
    /// Creating or updating the Secret failed.
    #[error("cannot write Secret: {0}")]
    Update(#[source] kube::Error),
    /// The Secret exists and is not ours.
    #[error("Resource {0:?} already exists and is not managed by SealedSecret")]
    Unmanaged(String),
    /// The Secret is immutable and differs.
    #[error("{0}")]
    Immutable(String),
    /// The Secret asked for is one the controller trusts (a key Secret, the key backup):
    /// [`crate::protected`]. The text names the Secret and the rule.
    #[error("{0}")]
    Protected(String),
    /// Writing the status failed.
    #[error("cannot update status: {0}")]
    Status(#[source] kube::Error),
    /// The blocking decrypt task panicked or was cancelled.
    #[error("unseal task failed: {0}")]
    Task(String),
}

impl ReconcileError {
    /// Whether the API server failed rather than the object: a request that did not get an
    /// answer, or one answered 409 (conflict), 429 (throttled) or 5xx. Retrying may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Fetch(e) | Self::Update(e) | Self::Status(e) => match e {
                kube::Error::Api(s) => s.code == 409 || s.code == 429 || s.code >= 500,
                _ => true,
            },
            _ => false,
        }
    }

    /// The `reason` label of `sealed_secrets_controller_unseal_errors_total`.
    pub fn metric_label(&self) -> UnsealErrorReason {
        match self {
            Self::Unseal(_) | Self::Task(_) => UnsealErrorReason::Unseal,
            Self::Fetch(_) => UnsealErrorReason::Fetch,
            Self::Update(_) | Self::Immutable(_) => UnsealErrorReason::Update,
            Self::Unmanaged(_) | Self::Protected(_) => UnsealErrorReason::Unmanaged,
            Self::Status(_) => UnsealErrorReason::Status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_is_the_api_servers_failure() {
        let api = |code| {
            let mut s = kube::core::Status::failure("x", "y");
            s.code = code;
            kube::Error::Api(s.boxed())
        };
        let unreachable = || kube::Error::Service(Box::new(std::io::Error::other("refused")));
        assert!(ReconcileError::Fetch(unreachable()).is_transient());
        assert!(ReconcileError::Status(api(409)).is_transient());
        assert!(ReconcileError::Update(api(503)).is_transient());
        assert!(ReconcileError::Update(api(429)).is_transient());
        assert!(!ReconcileError::Update(api(422)).is_transient());
        assert!(!ReconcileError::Fetch(api(403)).is_transient());
        assert!(!ReconcileError::Unmanaged("a".into()).is_transient());
        assert!(!ReconcileError::Unseal(UnsealError::TooLarge { bytes: 1 }).is_transient());
    }

    #[test]
    fn bitnami_wording() {
        let e = UnsealError::Decrypt {
            failed: vec!["k1".into(), "k2".into()],
            bad_base64: vec![],
        };
        // UnsealError's own wording is tested with it (crds/src/unseal/error.rs).
        assert_eq!(
            ReconcileError::Unseal(e).to_string(),
            "failed to unseal: no key could decrypt secret (k1, k2)"
        );
        assert_eq!(
            ReconcileError::Unmanaged("app".into()).to_string(),
            "Resource \"app\" already exists and is not managed by SealedSecret"
        );
    }
}
