//! The write policy for the produced Secret: what a failed write means. Pure.
//!
//! - a create answered 409 Conflict: the Secret exists after all (not ours, or the Secret watch
//!   is behind); it is read and planned again, once;
//! - an update refused because the Secret is immutable: a message that says how to recover;
//! - anything else is a write failure ([`ReconcileError::Update`]), transient or not
//!   ([`ReconcileError::is_transient`]).
//!
//! (A 409 on the status write is [`super::status::after_conflict`]'s.)

use crate::error::ReconcileError;

/// Whether the API server answered 409 Conflict (a create of an existing object, or an update
/// with a stale resourceVersion).
pub(super) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(ae) if ae.code == 409)
}

/// What to do after a create failed.
#[derive(Debug)]
pub(super) enum CreateFailed {
    /// It exists after all: read it and plan again.
    ReadAndPlanAgain,
    /// The reconcile fails with this.
    Fail(ReconcileError),
}

/// A failed create: read and plan again on the first conflict; `retried` says this create
/// already followed one.
pub(super) fn create_failed(e: kube::Error, retried: bool) -> CreateFailed {
    if is_conflict(&e) && !retried {
        CreateFailed::ReadAndPlanAgain
    } else {
        CreateFailed::Fail(ReconcileError::Update(e))
    }
}

/// A failed update: the API server's refusal to change an immutable Secret gets the message
/// that says how to recover; anything else is a write failure.
pub(super) fn update_failed(name: &str, e: kube::Error) -> ReconcileError {
    if e.to_string()
        .contains("field is immutable when `immutable` is set")
    {
        immutable(name)
    } else {
        ReconcileError::Update(e)
    }
}

/// The Secret is immutable and its data differs from what the SealedSecret holds.
pub(super) fn immutable(name: &str) -> ReconcileError {
    ReconcileError::Immutable(format!(
        "Secret {name:?} is immutable and its data differs from the SealedSecret; delete the Secret so the controller can recreate it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, message: &str) -> kube::Error {
        let mut s = kube::core::Status::failure(message, "Reason");
        s.code = code;
        kube::Error::Api(s.boxed())
    }

    fn unreachable() -> kube::Error {
        kube::Error::Service(Box::new(std::io::Error::other("connection refused")))
    }

    #[test]
    fn conflicts() {
        for (what, e, conflict) in [
            ("409", api(409, "exists"), true),
            ("422", api(422, "invalid"), false),
            ("500", api(500, "etcd"), false),
            ("no answer", unreachable(), false),
        ] {
            assert_eq!(is_conflict(&e), conflict, "{what}");
        }
    }

    /// A create that conflicts is read and planned again once; a second conflict, or any other
    /// error, fails the reconcile as a write failure.
    #[test]
    fn create_failures() {
        for (what, e, retried, again) in [
            ("first conflict", api(409, "exists"), false, true),
            ("second conflict", api(409, "exists"), true, false),
            ("forbidden", api(403, "forbidden"), false, false),
            ("no answer", unreachable(), false, false),
        ] {
            match create_failed(e, retried) {
                CreateFailed::ReadAndPlanAgain => assert!(again, "{what}"),
                CreateFailed::Fail(e) => {
                    assert!(!again, "{what}");
                    assert!(matches!(e, ReconcileError::Update(_)), "{what}: {e}");
                }
            }
        }
    }

    #[test]
    fn update_failures() {
        let refused = api(
            422,
            "Secret \"app\" is invalid: data: Forbidden: field is immutable when `immutable` is set",
        );
        let e = update_failed("app", refused);
        assert!(matches!(e, ReconcileError::Immutable(_)));
        assert_eq!(
            e.to_string(),
            "Secret \"app\" is immutable and its data differs from the SealedSecret; delete the Secret so the controller can recreate it"
        );
        for other in [api(422, "invalid"), api(409, "conflict"), unreachable()] {
            assert!(matches!(
                update_failed("app", other),
                ReconcileError::Update(_)
            ));
        }
    }
}
