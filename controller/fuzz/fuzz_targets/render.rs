//! The template renderer (`kseal_template::render_all`, the in-process layer): any
//! template text over fixed items. Asserts that rendering never panics and stays within its
//! limits: an `Ok` result fits the 1 MiB Secret limit, an error names the template key and
//! never holds an item's value. Run with `-rss_limit_mb` and `-timeout` so that memory or time
//! the in-process limits do not bound shows up as a finding (the controller's child process
//! bounds those with resource limits).
#![no_main]

use std::collections::BTreeMap;

use kseal_core::{MAX_SECRET_DATA, SecretBytes};
use kseal_template as template;
use libfuzzer_sys::fuzz_target;

const CANARY: &str = "fuzz-canary-5e1d";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let templates = BTreeMap::from([("key".to_owned(), text.to_owned())]);
    let items = BTreeMap::from([
        ("user".to_owned(), SecretBytes::copy_from(b"admin")),
        ("pass".to_owned(), SecretBytes::from(format!("{CANARY}-\"<&>\u{2028}"))),
        ("list".to_owned(), SecretBytes::copy_from(b"a,b,c")),
    ]);
    match template::render_all(&templates, &items) {
        Ok(out) => {
            let size: usize = out.values().map(SecretBytes::len).sum();
            assert!(size <= MAX_SECRET_DATA, "{size} bytes rendered");
        }
        Err(e) => {
            assert_eq!(e.key, "key");
            // Only a template that spells the canary out itself may show it in an error.
            assert!(!e.message.contains(CANARY) || text.contains(CANARY), "{}", e.message);
        }
    }
});
