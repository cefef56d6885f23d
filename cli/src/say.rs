//! Every line kseal writes on stderr, in one voice: `kseal: …` notes (what was written, which
//! kseal.yaml is used, summaries), `kseal: warning: …`, `kseal: hint: …` and
//! `kseal: error: …`, plus pre-rendered diagnostic blocks (`.env` errors with their source
//! line) and the progress bar of long runs. Commands call these instead of `eprintln!`, so
//! that the prefixes are written once; [`crate::exit::Failure::print`] uses them too.
//!
//! kseal has no `--quiet` flag: stdout carries the results, stderr only these lines. A flag
//! would be honoured here, in one place.
//!
//! None of these may be given a secret value: messages name files, documents, items and keys.

use std::fmt::Display;

/// `kseal: TEXT`: what was done, or a summary.
pub(crate) fn note(text: impl Display) {
    eprintln!("kseal: {text}");
}

/// `kseal: warning: TEXT`: something to look at that does not fail the command.
pub(crate) fn warning(text: impl Display) {
    eprintln!("kseal: warning: {text}");
}

/// `kseal: hint: TEXT`: what to do next.
pub(crate) fn hint(text: impl Display) {
    eprintln!("kseal: hint: {text}");
}

/// `kseal: error: TEXT`: a problem reported while the command goes on (the final error of a
/// failed command is a [`crate::exit::Failure`]).
pub(crate) fn error(text: impl Display) {
    eprintln!("kseal: error: {text}");
}

/// A diagnostic rendered elsewhere with its own prefixes (e.g. `.env` errors), as it is.
pub(crate) fn block(text: impl Display) {
    eprintln!("{text}");
}

/// Redraws a progress line in place (`\r`, no newline); [`clear_progress`] removes it.
pub(crate) fn progress(text: impl Display) {
    eprint!("\r{text}");
}

/// Erases the progress line drawn by [`progress`].
pub(crate) fn clear_progress() {
    eprint!("\r\x1b[K");
}
