//! What a finished attempt tells the world: which event (if any), what the log line says, and
//! whether a failure is retried. Pure.
//!
//! Events are recorded on change only (`docs/controller-compat.md` §6): a Secret written or a
//! status flipped for a success; a status change, or a first condition, for a failure. A
//! restart of the controller therefore causes no event storm.

use crate::{
    error::ReconcileError,
    events::{ERR_UNSEAL_FAILED, ERR_UPDATE_FAILED, EventType, UNSEALED, UNSEALED_MESSAGE},
};

use super::status::status_message;

/// How an attempt ended.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome<'a> {
    /// The Secret is what the SealedSecret says; `wrote`: this attempt created or updated it.
    Synced {
        /// Whether the Secret was written.
        wrote: bool,
    },
    /// The attempt failed.
    Failed(&'a ReconcileError),
}

/// An event to record (and, for failures, the text of the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Notice {
    pub(super) type_: EventType,
    pub(super) reason: &'static str,
    pub(super) message: String,
}

impl Notice {
    /// The event that describes `outcome`, in Bitnami's reasons and wording.
    pub(super) fn of(outcome: Outcome<'_>) -> Self {
        match outcome {
            Outcome::Synced { .. } => Self {
                type_: EventType::Normal,
                reason: UNSEALED,
                message: UNSEALED_MESSAGE.to_owned(),
            },
            Outcome::Failed(e @ (ReconcileError::Unseal(_) | ReconcileError::Task(_))) => Self {
                type_: EventType::Warning,
                reason: ERR_UNSEAL_FAILED,
                message: format!("Failed to unseal: {}", status_message(e)),
            },
            Outcome::Failed(e) => Self {
                type_: EventType::Warning,
                reason: ERR_UPDATE_FAILED,
                message: status_message(e),
            },
        }
    }
}

/// The event to record for `outcome`, if any. `status_changed`: the Synced condition needed a
/// write (flip, new generation, new message); `had_condition`: there was a Synced condition
/// before this attempt.
pub(super) fn event(
    outcome: Outcome<'_>,
    status_changed: bool,
    had_condition: bool,
) -> Option<Notice> {
    let publish = match outcome {
        Outcome::Synced { wrote } => wrote || status_changed,
        Outcome::Failed(_) => status_changed || !had_condition,
    };
    publish.then(|| Notice::of(outcome))
}

/// What the controller does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterFailure {
    /// Retry with backoff ([`super::retry`]).
    Retry,
    /// Retrying cannot help; a spec change or a deleted Secret triggers again. The failure
    /// count is forgotten.
    AwaitChange,
}

/// Whether a failure is retried.
pub(super) fn after_failure(e: &ReconcileError) -> AfterFailure {
    match e {
        ReconcileError::Immutable(_) | ReconcileError::Protected(_) => AfterFailure::AwaitChange,
        _ => AfterFailure::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kseal_crds::UnsealError;

    fn api(code: u16) -> kube::Error {
        let mut s = kube::core::Status::failure("x", "y");
        s.code = code;
        kube::Error::Api(s.boxed())
    }

    fn undecryptable() -> ReconcileError {
        ReconcileError::Unseal(UnsealError::Decrypt {
            failed: vec!["password".into()],
            bad_base64: vec![],
        })
    }

    /// Which event each outcome gets, if any.
    #[test]
    fn events_on_change_only() {
        let unseal = undecryptable();
        let unmanaged = ReconcileError::Unmanaged("app".into());
        let unsealed = Some((EventType::Normal, UNSEALED));
        let unseal_failed = Some((EventType::Warning, ERR_UNSEAL_FAILED));
        let update_failed = Some((EventType::Warning, ERR_UPDATE_FAILED));
        let cases = [
            // (what, outcome, status changed, had a condition, event)
            (
                "wrote",
                Outcome::Synced { wrote: true },
                false,
                true,
                unsealed,
            ),
            (
                "flipped",
                Outcome::Synced { wrote: false },
                true,
                true,
                unsealed,
            ),
            ("echo", Outcome::Synced { wrote: false }, false, true, None),
            (
                "first",
                Outcome::Synced { wrote: false },
                false,
                false,
                None,
            ),
            (
                "fail new",
                Outcome::Failed(&unseal),
                true,
                true,
                unseal_failed,
            ),
            (
                "fail first",
                Outcome::Failed(&unseal),
                false,
                false,
                unseal_failed,
            ),
            ("fail again", Outcome::Failed(&unseal), false, true, None),
            (
                "not ours",
                Outcome::Failed(&unmanaged),
                true,
                true,
                update_failed,
            ),
            (
                "not ours again",
                Outcome::Failed(&unmanaged),
                false,
                true,
                None,
            ),
        ];
        for (what, outcome, changed, had, expected) in cases {
            let got = event(outcome, changed, had).map(|n| (n.type_, n.reason));
            assert_eq!(got, expected, "{what}");
        }
    }

    /// Bitnami's event texts: "Failed to unseal: <error>" for unseal failures, the bare error
    /// for write failures.
    #[test]
    fn event_wording() {
        assert_eq!(
            Notice::of(Outcome::Synced { wrote: true }).message,
            "SealedSecret unsealed successfully"
        );
        assert_eq!(
            Notice::of(Outcome::Failed(&undecryptable())).message,
            "Failed to unseal: no key could decrypt secret (password)"
        );
        assert_eq!(
            Notice::of(Outcome::Failed(&ReconcileError::Task("panicked".into()))).reason,
            ERR_UNSEAL_FAILED
        );
        assert_eq!(
            Notice::of(Outcome::Failed(&ReconcileError::Unmanaged("app".into()))).message,
            "Resource \"app\" already exists and is not managed by SealedSecret"
        );
    }

    #[test]
    fn which_failures_are_retried() {
        for (what, e, after) in [
            ("unseal", undecryptable(), AfterFailure::Retry),
            (
                "fetch",
                ReconcileError::Fetch(api(500)),
                AfterFailure::Retry,
            ),
            (
                "update",
                ReconcileError::Update(api(422)),
                AfterFailure::Retry,
            ),
            (
                "status",
                ReconcileError::Status(api(409)),
                AfterFailure::Retry,
            ),
            (
                "unmanaged",
                ReconcileError::Unmanaged("a".into()),
                AfterFailure::Retry,
            ),
            (
                "immutable",
                ReconcileError::Immutable("a".into()),
                AfterFailure::AwaitChange,
            ),
            (
                "protected",
                ReconcileError::Protected("a".into()),
                AfterFailure::AwaitChange,
            ),
        ] {
            assert_eq!(after_failure(&e), after, "{what}");
        }
    }
}
