//! The sealed-value parser and the opening path on arbitrary input (`docs/wire-format.md` §6:
//! "never panic on any input; fuzz the parser").
//!
//! Asserts non-malleability: whatever `SealedValue::parse` accepts, `to_bytes` gives back
//! exactly the input. Also checks that Go-compatible base64 decoding round-trips, and that
//! opening arbitrary text or bytes with a fixed key set either succeeds or fails with the one
//! coarse error, never panicking. Seed the corpus with the bodies of `tests/vectors/` (see
//! README.md) so mutations reach the RSA and AES-GCM paths.
#![no_main]

use std::sync::OnceLock;

use kseal_core::{KeySet, NamespaceName, ObjectName, PrivateKey, Scope, open, open_base64, sealed};
use libfuzzer_sys::fuzz_target;

/// A test-only key (published on purpose, see tests/fixtures/keys/README.md); the vectors'
/// success cases for RSA-2048 are sealed to it.
const KEY: &[u8] = include_bytes!("../../../tests/fixtures/keys/rsa2048-a.key");

fn fixture() -> &'static (KeySet, Scope) {
    static FIXTURE: OnceLock<(KeySet, Scope)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = PrivateKey::from_pem(KEY).expect("invariant: the fixture key parses");
        let scope = Scope::Strict {
            namespace: NamespaceName::parse("myns").expect("invariant: valid namespace"),
            name: ObjectName::parse("myname").expect("invariant: valid name"),
        };
        ([key].into_iter().collect(), scope)
    })
}

fuzz_target!(|data: &[u8]| {
    let (keys, scope) = fixture();

    // Binary layout: parse ∘ to_bytes is the identity on everything parse accepts.
    if let Ok(value) = sealed::SealedValue::parse(data) {
        assert_eq!(
            value.to_bytes(),
            data,
            "parse then to_bytes changed the bytes"
        );
        assert_eq!(value.rsa_block.len() + value.aead.len() + 2, data.len());
    }
    if let Err(e) = open(keys, scope, data, None) {
        assert_eq!(e.to_string(), "no key could decrypt secret");
    }

    // Text: Go-compatible base64 and the full opening path.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = sealed::decode_base64(text) {
        let canonical = sealed::encode_base64(&bytes);
        assert_eq!(
            sealed::decode_base64(&canonical).as_deref(),
            Ok(&bytes[..]),
            "encode/decode round trip"
        );
        assert_eq!(sealed::is_canonical_base64(text), canonical == text);
    }
    if let Err(e) = open_base64(keys, scope, text, None) {
        assert_eq!(e.to_string(), "no key could decrypt secret");
    }
});
