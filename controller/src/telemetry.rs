//! Structured logs, text or JSON (`--log-format`), that carry names and namespaces, never
//! values: nothing in this crate formats a Secret or a decrypted item.

use tracing::Level;
use tracing_subscriber::fmt::writer::MakeWriterExt as _;

use crate::args::LogFormat;

/// Installs the global subscriber. Warnings and errors go to stderr; info and below go to stdout
/// when `info_stdout` (Bitnami's `--log-info-stdout`, default true), else to stderr too.
pub fn init(format: LogFormat, level: Level, info_stdout: bool) {
    let errors = std::io::stderr.with_max_level(Level::WARN);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(false);
    // try_init: a second call (tests) keeps the first subscriber.
    match (format, info_stdout) {
        (LogFormat::Json, true) => {
            let _ = builder
                .json()
                .with_writer(errors.or_else(std::io::stdout))
                .try_init();
        }
        (LogFormat::Json, false) => {
            let _ = builder.json().with_writer(std::io::stderr).try_init();
        }
        (LogFormat::Text, true) => {
            let _ = builder
                .with_writer(errors.or_else(std::io::stdout))
                .try_init();
        }
        (LogFormat::Text, false) => {
            let _ = builder.with_writer(std::io::stderr).try_init();
        }
    }
}
