//! The `.env` parser in all three formats (`docs/dotenv.md`): never panic, never report more
//! entries than the input has lines, and render every diagnostic without panicking.
//!
//! The first input byte picks the format, the key rule, `deny_empty` and whether an
//! environment lookup is given; the rest is the file.
#![no_main]

use kseal_core::{
    SecretBytes,
    dotenv::{self, EnvFormat, KeyRule, ParseOptions},
};
use libfuzzer_sys::fuzz_target;

fn environment(name: &str) -> Option<SecretBytes> {
    (name.len() % 2 == 0).then(|| SecretBytes::copy_from(b"from-the-environment"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, source)) = data.split_first() else {
        return;
    };
    let format = match selector % 3 {
        0 => EnvFormat::Strict,
        1 => EnvFormat::Kubectl,
        _ => EnvFormat::Lenient,
    };
    let keys = if selector & 0x04 == 0 {
        KeyRule::EnvVar
    } else {
        KeyRule::SecretKey
    };
    let lookup: &dyn Fn(&str) -> Option<SecretBytes> = &environment;
    let options = ParseOptions {
        format,
        keys,
        deny_empty: selector & 0x08 != 0,
        environment: (selector & 0x10 != 0).then_some(lookup),
    };
    let lines = source.iter().filter(|&&b| b == b'\n').count() + 1;
    match dotenv::parse(source, &options) {
        Ok(parsed) => {
            let n = parsed.entries.len();
            assert!(n <= lines, "{n} entries from {lines} lines");
            for entry in &parsed.entries {
                assert!(
                    (1..=lines).contains(&entry.line),
                    "entry on line {} of {lines}",
                    entry.line
                );
            }
            for warning in &parsed.warnings {
                let _ = warning.render("f");
            }
        }
        Err(error) => {
            assert!(
                error.errors().next().is_some(),
                "a ParseError without an error diagnostic"
            );
            let _ = error.to_string();
            for diagnostic in &error.diagnostics {
                let _ = diagnostic.render("f");
            }
        }
    }
});
