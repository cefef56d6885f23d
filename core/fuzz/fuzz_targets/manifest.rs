//! Secret manifest input (`kseal_core::manifest`): arbitrary bytes as the YAML/JSON stream
//! `kseal seal` reads, and as the private-key files recovery reads. Asserts that nothing
//! panics, and that the same bytes also survive `serde_yaml` read as a plain multi-document
//! stream (the parser the manifest reader is built on).
#![no_main]

use kseal_core::manifest;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize as _;

fuzz_target!(|data: &[u8]| {
    let _ = manifest::looks_like_manifest(data);
    if let Err(e) = manifest::parse_secrets(data) {
        let _ = e.to_string();
    }
    if let Err(e) = manifest::parse_private_keys(data) {
        let _ = e.to_string();
    }
    for document in serde_yaml::Deserializer::from_slice(data) {
        if serde_yaml::Value::deserialize(document).is_err() {
            // After an error the stream cannot be resumed reliably; stop as a reader would.
            break;
        }
    }
});
