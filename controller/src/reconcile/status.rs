//! The Synced condition: what the status becomes after an attempt, whether it must be written,
//! and what to do when a write of it conflicts. Pure: the clock is an argument.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kseal_crds::{SealedSecret, SealedSecretCondition, SealedSecretStatus};

use crate::error::ReconcileError;

/// The status after one attempt.
#[derive(Debug, Clone)]
pub(super) struct NextStatus {
    /// The status to write.
    pub(super) status: SealedSecretStatus,
    /// Whether it must be written: the condition flipped, the generation moved or the message
    /// changed.
    pub(super) write: bool,
    /// The Synced condition before this attempt.
    pub(super) old_condition: Option<SealedSecretCondition>,
}

/// The status after an attempt that failed with `message` (`None`: succeeded) at `now`.
pub(super) fn next_status(ss: &SealedSecret, message: Option<&str>, now: Time) -> NextStatus {
    let old = ss.status.clone().unwrap_or_default();
    let old_condition = old.synced().cloned();
    let mut status = old;
    let flipped_or_generation =
        status.record_sync(message.map_or(Ok(()), Err), now, ss.metadata.generation);
    let message_changed = old_condition
        .as_ref()
        .is_some_and(|c| c.message.as_deref() != message);
    NextStatus {
        status,
        write: flipped_or_generation || message_changed,
        old_condition,
    }
}

/// The text for the status condition (Bitnami writes the bare error, without "Failed to unseal").
pub(super) fn status_message(e: &ReconcileError) -> String {
    match e {
        ReconcileError::Unseal(u) => u.to_string(),
        other => other.to_string(),
    }
}

/// What a reconcile that changes no Secret does about the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusCheck {
    /// The cached status is what this outcome would write.
    Current,
    /// The cached status is behind (e.g. a failed attempt's `Synced=False` seen late): write it.
    Write,
    /// The cached object predates our own last status write: writing now would send a stale
    /// resourceVersion (409 Conflict, then a GET); look again when the cache has caught up.
    WaitForCache,
}

/// Whether a successful reconcile that changed no Secret must write the status. `own_status_write`
/// is the resourceVersion our own last status write produced, if that is still to be seen.
pub(super) fn status_check(
    ss: &SealedSecret,
    own_status_write: Option<&str>,
    update_status: bool,
    now: Time,
) -> StatusCheck {
    if !update_status || !next_status(ss, None, now).write {
        return StatusCheck::Current;
    }
    match own_status_write {
        Some(own) if ss.metadata.resource_version.as_deref() != Some(own) => {
            StatusCheck::WaitForCache
        }
        _ => StatusCheck::Write,
    }
}

/// What to do after a status write answered 409 Conflict, given the object read again.
#[derive(Debug, Clone)]
pub(super) enum AfterConflict {
    /// Same generation, status still behind: write this onto the current object.
    Write(SealedSecretStatus),
    /// Same generation and the current object's status already says this: nothing to write.
    Current,
    /// The spec moved meanwhile: this attempt's outcome is stale; the conflict stands (a new
    /// reconcile follows the new generation).
    GenerationMoved,
}

/// Our copy was stale (e.g. our own earlier status write): decide again on `latest` instead of
/// failing and redoing the RSA work.
pub(super) fn after_conflict(
    ss: &SealedSecret,
    latest: &SealedSecret,
    message: Option<&str>,
    now: Time,
) -> AfterConflict {
    if latest.metadata.generation != ss.metadata.generation {
        return AfterConflict::GenerationMoved;
    }
    let next = next_status(latest, message, now);
    if next.write {
        AfterConflict::Write(next.status)
    } else {
        AfterConflict::Current
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use kseal_crds::UnsealError;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    /// A SealedSecret at `generation` whose status records `synced` (`Ok`, or `Err(message)`)
    /// observed at `observed`.
    fn sealed(generation: i64, synced: Option<(Result<(), &str>, i64)>) -> SealedSecret {
        let mut ss = SealedSecret::new("s", Default::default());
        ss.metadata.generation = Some(generation);
        if let Some((outcome, observed)) = synced {
            let mut status = SealedSecretStatus::default();
            status.record_sync(outcome, at(1), Some(observed));
            ss.status = Some(status);
        }
        ss
    }

    /// A status that says `Synced=False` (a failed attempt's write, seen late) needs a write
    /// even when the Secret is the verified one; `Synced=True` at this generation does not.
    #[test]
    fn status_behind_is_detected() {
        let now = Time(Timestamp::now());
        let mut ss = SealedSecret::new("s", Default::default());
        ss.metadata.generation = Some(3);
        let mut failed = SealedSecretStatus::default();
        failed.record_sync(Err("Secret \"s\" was modified"), now.clone(), Some(3));
        ss.status = Some(failed);
        assert!(next_status(&ss, None, now.clone()).write);
        let synced = next_status(&ss, None, now.clone()).status;
        ss.status = Some(synced);
        assert!(!next_status(&ss, None, now).write);
    }

    /// When the status must be written, for each kind of attempt and earlier status.
    #[test]
    fn when_the_status_is_written() {
        let cases: &[(&str, SealedSecret, Option<&str>, bool)] = &[
            ("first success", sealed(1, None), None, true),
            ("first failure", sealed(1, None), Some("no key"), true),
            ("success again", sealed(1, Some((Ok(()), 1))), None, false),
            ("new generation", sealed(2, Some((Ok(()), 1))), None, true),
            (
                "flip to failure",
                sealed(1, Some((Ok(()), 1))),
                Some("x"),
                true,
            ),
            (
                "flip to success",
                sealed(1, Some((Err("x"), 1))),
                None,
                true,
            ),
            (
                "same failure",
                sealed(1, Some((Err("x"), 1))),
                Some("x"),
                false,
            ),
            (
                "other failure",
                sealed(1, Some((Err("x"), 1))),
                Some("y"),
                true,
            ),
        ];
        for (what, ss, message, write) in cases {
            let next = next_status(ss, *message, at(2));
            assert_eq!(next.write, *write, "{what}");
            assert_eq!(
                next.old_condition.is_some(),
                ss.status.is_some(),
                "{what}: old condition"
            );
            let synced = next.status.synced().expect("a Synced condition");
            assert_eq!(synced.is_true(), message.is_none(), "{what}");
            assert_eq!(synced.message.as_deref(), *message, "{what}");
            assert_eq!(
                synced.last_update_time,
                Some(at(2)),
                "{what}: the clock given"
            );
        }
    }

    /// A status that looks behind only because the cache predates our own status write waits
    /// for the cache; without such a write, or once the cache holds it, the status decides.
    #[test]
    fn own_status_write_not_cached_yet() {
        let now = || Time(Timestamp::now());
        let mut ss = SealedSecret::new("s", Default::default());
        ss.metadata.generation = Some(1);
        ss.metadata.resource_version = Some("10".into());
        // No status yet: the cache is from before our write "11".
        assert_eq!(
            status_check(&ss, Some("11"), true, now()),
            StatusCheck::WaitForCache
        );
        assert_eq!(status_check(&ss, None, true, now()), StatusCheck::Write);
        assert_eq!(
            status_check(&ss, Some("11"), false, now()),
            StatusCheck::Current
        );
        // The cache holds our write: its status decides.
        let synced = next_status(&ss, None, now()).status;
        ss.status = Some(synced);
        ss.metadata.resource_version = Some("11".into());
        assert_eq!(
            status_check(&ss, Some("11"), true, now()),
            StatusCheck::Current
        );
        // Our write is cached but says Synced=False: behind, written.
        let mut failed = SealedSecretStatus::default();
        failed.record_sync(Err("no key could decrypt secret"), now(), Some(1));
        ss.status = Some(failed);
        assert_eq!(
            status_check(&ss, Some("11"), true, now()),
            StatusCheck::Write
        );
    }

    /// After a 409 on the status write: the current object decides, unless the spec moved.
    #[test]
    fn status_conflicts() {
        let ours = sealed(1, None);
        // Someone (our earlier write) already recorded this success.
        let latest = sealed(1, Some((Ok(()), 1)));
        assert!(matches!(
            after_conflict(&ours, &latest, None, at(2)),
            AfterConflict::Current
        ));
        // The current object still says False: write True onto it.
        let latest = sealed(1, Some((Err("x"), 1)));
        match after_conflict(&ours, &latest, None, at(2)) {
            AfterConflict::Write(status) => {
                assert!(status.synced().unwrap().is_true());
            }
            other => panic!("{other:?}"),
        }
        // A failure whose message the current object does not hold yet.
        assert!(matches!(
            after_conflict(&ours, &latest, Some("y"), at(2)),
            AfterConflict::Write(_)
        ));
        // The spec moved on: this attempt's outcome is stale.
        let latest = sealed(2, Some((Err("x"), 1)));
        assert!(matches!(
            after_conflict(&ours, &latest, None, at(2)),
            AfterConflict::GenerationMoved
        ));
    }

    /// The status holds the bare unseal error (Bitnami); other errors as they read.
    #[test]
    fn status_messages() {
        let unseal = UnsealError::Decrypt {
            failed: vec!["a".into()],
            bad_base64: vec![],
        };
        assert_eq!(
            status_message(&ReconcileError::Unseal(unseal)),
            "no key could decrypt secret (a)"
        );
        assert_eq!(
            status_message(&ReconcileError::Unmanaged("app".into())),
            "Resource \"app\" already exists and is not managed by SealedSecret"
        );
        assert_eq!(
            status_message(&ReconcileError::Task("cancelled".into())),
            "unseal task failed: cancelled"
        );
    }
}
