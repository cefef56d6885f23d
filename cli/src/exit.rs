//! Exit codes and the one error type the commands return.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failure: I/O, network, a certificate or key that cannot be used |
//! | 2 | usage: bad flags, or a value neither the flags nor `kseal.yaml` provide |
//! | 3 | invalid input: `.env` diagnostics, a malformed manifest or `kseal.yaml` |
//! | 4 | a sealed value could not be decrypted with the given keys, or the controller cannot unseal it (`verify --cluster`, `rotate` through the controller) |
//! | 5 | a check found problems (`verify`, `guard`, `rotate --check`, `cert --check`) |

use std::{fmt, process::ExitCode};

use crate::say;

/// Exit code of a failed run; see the module table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    Failure = 1,
    Usage = 2,
    Input = 3,
    Decrypt = 4,
    Check = 5,
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> Self {
        ExitCode::from(code as u8)
    }
}

/// A failed command: what went wrong, what to do, and the exit code.
///
/// `message` and `hints` are printed as `kseal: error: …` and `kseal: hint: …`; `details` are
/// pre-rendered blocks (e.g. `.env` diagnostics) printed before them. None may contain a
/// secret value: build them from names, paths and positions only.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: Code,
    pub(crate) message: String,
    pub(crate) hints: Vec<String>,
    pub(crate) details: Vec<String>,
}

impl Failure {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hints: Vec::new(),
            details: Vec::new(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self::new(Code::Input, message)
    }

    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Self::new(Code::Failure, message)
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Prints the details, `kseal: error: MESSAGE` and `kseal: hint: …` lines on stderr.
    pub(crate) fn print(&self) {
        for detail in &self.details {
            say::block(detail);
        }
        say::error(&self.message);
        for hint in &self.hints {
            say::hint(hint);
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::runtime(e.to_string())
    }
}

pub(crate) type Result<T, E = Failure> = std::result::Result<T, E>;

/// Declares a small error type that is one message (`struct NAME(String)`), printable with
/// `{}` and built from a `String` or `&str` (so `?` converts). For helpers below the commands,
/// whose callers put the file's name in front and make a [`Failure`] of it. The message names
/// fields, documents and positions, never a value.
macro_rules! message_error {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub(crate) struct $name(pub(crate) String);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(message: String) -> Self {
                Self(message)
            }
        }

        impl From<&str> for $name {
            fn from(message: &str) -> Self {
                Self(message.to_owned())
            }
        }
    };
}
pub(crate) use message_error;
