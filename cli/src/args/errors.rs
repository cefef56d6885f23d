//! clap's own errors (an unknown flag, a missing value, a typo in a command) in kseal's voice:
//! `kseal: error: …` and `kseal: hint: …` lines on stderr, exit code 2 (usage), like the
//! errors kseal raises itself. Help and `--version` are printed as clap prints them.

use std::process::ExitCode;

use clap::error::{Error, ErrorKind};

use crate::exit::{Code, Failure};

/// Prints a parse error (or help/version, which clap reports as errors) and gives the exit code.
pub(crate) fn usage_error(e: &Error) -> ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return u8::try_from(e.exit_code()).map_or(ExitCode::FAILURE, ExitCode::from);
    }
    let failure = in_kseal_voice(&e.render().to_string());
    failure.print();
    failure.code.into()
}

/// clap's text (`error: …`, indented details, `  tip: …`, `Usage: …`, `For more information,
/// try '--help'.`) as one message and hints.
fn in_kseal_voice(text: &str) -> Failure {
    let mut message = String::new();
    let mut hints = Vec::new();
    let mut usage: Option<&str> = None;
    let mut more = false;
    let mut in_message = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = line.strip_prefix("error: ") {
            message = rest.trim().to_owned();
            in_message = true;
        } else if trimmed.is_empty() {
            in_message = false;
        } else if let Some(tip) = trimmed.strip_prefix("tip: ") {
            hints.push(tip.to_owned());
        } else if let Some(rest) = line.strip_prefix("Usage: ") {
            usage = Some(rest.trim());
        } else if trimmed.starts_with("For more information") {
            more = true;
        } else if in_message && trimmed.starts_with('[') && trimmed.ends_with(']') {
            // `[possible values: a, b]`
            message = format!("{message}; {}", &trimmed[1..trimmed.len() - 1]);
        } else if in_message {
            // The details of a multi-line message (e.g. the missing arguments).
            message = if message.ends_with(':') {
                format!("{message} {trimmed}")
            } else {
                format!("{message}, {trimmed}")
            };
        } else {
            hints.push(trimmed.to_owned());
        }
    }
    if message.is_empty() {
        message = "invalid arguments".to_owned();
    }
    let mut failure = Failure::new(Code::Usage, message);
    for hint in hints {
        failure = failure.hint(hint);
    }
    if let Some(usage) = usage {
        // `kseal seal [OPTIONS] [INPUT]`: the command is the words before the first placeholder.
        let command: Vec<&str> = usage
            .split_whitespace()
            .take_while(|w| !w.starts_with(['[', '<', '-']))
            .collect();
        failure = failure
            .hint(format!("usage: {usage}"))
            .hint(format!("see `{} --help`", command.join(" ")));
    } else if more {
        failure = failure.hint("see --help");
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_text_becomes_error_and_hints() {
        let f = in_kseal_voice(
            "error: unexpected argument '--nme' found\n\n  tip: a similar argument exists: '--name'\n\nUsage: kseal seal --name <NAME> [INPUT]\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(f.code, Code::Usage);
        assert_eq!(f.message, "unexpected argument '--nme' found");
        assert_eq!(
            f.hints,
            [
                "a similar argument exists: '--name'",
                "usage: kseal seal --name <NAME> [INPUT]",
                "see `kseal seal --help`"
            ]
        );
        let f = in_kseal_voice(
            "error: the following required arguments were not provided:\n  --out <DIR>\n\nUsage: kseal keygen --out <DIR>\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(
            f.message,
            "the following required arguments were not provided: --out <DIR>"
        );
        let f = in_kseal_voice(
            "error: invalid value 'foo' for '--scope <SCOPE>'\n  [possible values: strict, cluster-wide]\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(
            f.message,
            "invalid value 'foo' for '--scope <SCOPE>'; possible values: strict, cluster-wide"
        );
        assert_eq!(f.hints, ["see --help"]);
    }
}
