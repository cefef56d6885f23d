//! The `pq-hybrid` parser and opening path on arbitrary input (`docs/pq-format.md` §6).
//!
//! The first byte chooses how the rest is used:
//! - `0`: as a whole value: `PqSealedValue::parse` then `to_bytes` gives back exactly the input,
//!   the marker test agrees with the parser, and opening fails only with the one coarse error;
//! - `1`: behind the marker, so mutations reach X-Wing decapsulation and AES-GCM;
//! - `2`: as edits (position, xor) and a truncation applied to one valid sealed value: any
//!   change must be refused with the coarse error, no change must open to the original value;
//! - otherwise: as base64 text through `open_any_base64`.
#![no_main]

use std::sync::OnceLock;

use kseal_core::{
    Encryption, KeySet, NamespaceName, ObjectName, PqPrivateKey, PrivateKey, Scope, SecretKeyName,
    pq,
};
use libfuzzer_sys::fuzz_target;

/// A test-only key (published on purpose, see tests/fixtures/keys/README.md).
const KEY: &[u8] = include_bytes!("../../../tests/fixtures/keys/rsa2048-a.key");
const VALUE: &[u8] = b"fuzz plaintext";

struct Fixture {
    keys: KeySet,
    scope: Scope,
    item: SecretKeyName,
    sealed: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pq_key = PqPrivateKey::from_seed(&[0x42; 32]).expect("invariant: 32-byte seed");
        let scope = Scope::Strict {
            namespace: NamespaceName::parse("myns").expect("invariant: valid namespace"),
            name: ObjectName::parse("myname").expect("invariant: valid name"),
        };
        let item = SecretKeyName::parse("k").expect("invariant: valid key");
        let sealed = pq::seal(pq_key.public_key(), &scope, &item, VALUE);
        let key = PrivateKey::from_pem(KEY)
            .expect("invariant: the fixture key parses")
            .with_pq(pq_key);
        Fixture {
            keys: [key].into_iter().collect(),
            scope,
            item,
            sealed,
        }
    })
}

fn must_not_open(f: &Fixture, blob: &[u8]) {
    if let Err(e) = pq::open_any(&f.keys, &f.scope, &f.item, blob, None) {
        assert_eq!(e.to_string(), "no key could decrypt secret");
    }
    if let Err(e) = pq::open(&f.keys, &f.scope, &f.item, blob, None) {
        assert_eq!(e.to_string(), "no key could decrypt secret");
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => {
            if let Ok(value) = pq::format::PqSealedValue::parse(rest) {
                assert_eq!(
                    value.to_bytes(),
                    rest,
                    "parse then to_bytes changed the bytes"
                );
                assert_eq!(Encryption::of(rest), Encryption::PqHybrid);
            } else if rest.len() >= pq::format::sealed_len(0) {
                assert_eq!(Encryption::of(rest), Encryption::Rsa);
            }
            must_not_open(f, rest);
        }
        1 => must_not_open(f, &[&pq::format::MAGIC[..], rest].concat()),
        2 => {
            let mut blob = f.sealed.clone();
            let (truncate, edits) = rest.split_first().map_or((0, &[][..]), |(t, e)| (*t, e));
            for edit in edits.chunks_exact(3) {
                let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % blob.len();
                blob[at] ^= edit[2];
            }
            blob.truncate(blob.len() - usize::from(truncate).min(blob.len()));
            let opened = pq::open_any(&f.keys, &f.scope, &f.item, &blob, None);
            if blob == f.sealed {
                assert_eq!(
                    opened
                        .expect("the unchanged value opens")
                        .plaintext
                        .expose(),
                    VALUE
                );
            } else {
                assert_eq!(
                    opened.map(|_| ()).unwrap_err().to_string(),
                    "no key could decrypt secret",
                    "a changed value opened"
                );
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest)
                && let Err(e) = pq::open_any_base64(&f.keys, &f.scope, &f.item, text, None)
            {
                assert_eq!(e.to_string(), "no key could decrypt secret");
            }
        }
    }
});
