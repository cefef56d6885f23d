//! Errors of the controller library. Messages name objects and items, never values.

use kseal_crds::{ScopeError, SpecProblem};

use crate::{metrics::UnsealErrorReason, template::TemplateError};

/// Why a SealedSecret does not unseal. The text goes into the `ErrUnsealFailed` event (as
/// `Failed to unseal: <text>`) and the Synced condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsealError {
    /// Items could not be decrypted (wrong key, wrong scope, tampering) or are not base64.
    /// With decryption failures only, the text is exactly Bitnami's.
    #[error("{}", decrypt_message(failed, bad_base64))]
    Decrypt {
        /// Items no key could open, in document order.
        failed: Vec<String>,
        /// Items whose value is not valid standard base64.
        bad_base64: Vec<String>,
    },
    /// `encryptedData` and the legacy `data` are both set.
    #[error(
        "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
    )]
    BothFormats,
    /// The legacy `spec.data` is set and `--accept-deprecated-v1-data=false`.
    #[error(
        "the deprecated field 'data' is not accepted by this controller (--accept-deprecated-v1-data=false); re-seal the Secret into 'encryptedData'"
    )]
    V1Disabled,
    /// The legacy blob decrypted, but not to a JSON Secret.
    #[error("the deprecated field 'data' does not hold a Secret")]
    V1NotASecret,
    /// The SealedSecret's name or namespace cannot form the scope label.
    #[error("{0}")]
    Scope(ScopeError),
    /// The spec is malformed (deserialization tolerated it so other objects keep flowing).
    #[error("{}", problems_message(.0))]
    Spec(Vec<SpecProblem>),
    /// `spec.template.data` did not render.
    #[error("{0}")]
    Template(TemplateError),
    /// The unsealed data exceeds what a Secret may hold.
    #[error("unsealed data is {bytes} bytes, over the 1 MiB limit of a Secret")]
    TooLarge {
        /// Total size of all values.
        bytes: usize,
    },
}

/// How many items or problems a message names; the rest are counted. A SealedSecret may hold
/// any number of broken items, and the message lands in its status, an event and a log line.
const NAMED_AT_MOST: usize = 20;

/// The first [`NAMED_AT_MOST`] of `parts` joined by `separator`, then `and N more` if any.
fn capped(parts: impl ExactSizeIterator<Item = String>, separator: &str) -> String {
    let more = parts.len().saturating_sub(NAMED_AT_MOST);
    let mut text = parts
        .take(NAMED_AT_MOST)
        .collect::<Vec<_>>()
        .join(separator);
    if more > 0 {
        text.push_str(&format!("{separator}and {more} more"));
    }
    text
}

fn decrypt_message(failed: &[String], bad_base64: &[String]) -> String {
    let mut parts = Vec::new();
    if !bad_base64.is_empty() {
        parts.push(capped(
            bad_base64
                .iter()
                .map(|item| format!("item {item:?}: value is not valid base64")),
            "; ",
        ));
    }
    if !failed.is_empty() {
        parts.push(format!(
            "no key could decrypt secret ({})",
            capped(failed.iter().cloned(), ", ")
        ));
    }
    parts.join("; ")
}

fn problems_message(problems: &[SpecProblem]) -> String {
    capped(problems.iter().map(ToString::to_string), "; ")
}

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
        assert_eq!(e.to_string(), "no key could decrypt secret (k1, k2)");
        assert_eq!(
            ReconcileError::Unseal(e).to_string(),
            "failed to unseal: no key could decrypt secret (k1, k2)"
        );
        assert_eq!(
            ReconcileError::Unmanaged("app".into()).to_string(),
            "Resource \"app\" already exists and is not managed by SealedSecret"
        );
        let e = UnsealError::Decrypt {
            failed: vec!["B".into()],
            bad_base64: vec!["A".into()],
        };
        assert_eq!(
            e.to_string(),
            "item \"A\": value is not valid base64; no key could decrypt secret (B)"
        );
    }

    #[test]
    fn many_broken_items_give_a_short_message() {
        let names = |p: &str| (0..100_000).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let e = UnsealError::Decrypt {
            failed: names("k"),
            bad_base64: names("b"),
        };
        let text = e.to_string();
        assert!(text.len() < 2048, "{} bytes", text.len());
        assert!(text.contains("k19, and 99980 more)"), "{text}");
        assert!(text.contains("; and 99980 more; no key could decrypt secret (k0, k1,"));
    }
}
