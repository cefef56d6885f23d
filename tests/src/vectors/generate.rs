//! The generator behind `tests/vectors/`: every case of `docs/wire-format.md` §8 that is a single
//! sealed value, sealed for the fixture keys. The positive cases are here, the wrong-label,
//! wrong-key and malformed ones in `negative`.
//!
//! [`Sealer::Seeded`] seals with [`seal_with_rng`] (the `rsa` crate, a ChaCha20 RNG seeded from
//! the case name): the committed files, reproducible byte for byte. [`Sealer::Production`] seals
//! the very same cases with [`kseal_core::seal`], the AWS-LC path `kseal seal` uses, so the
//! vectors' checks also run on production output (random, so never committed).

use kseal_core::{ScopeKind, seal_with_rng, sealed};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;
use sha2::{Digest as _, Sha256};

use super::{
    CLUSTER_WIDE_ANNOTATION, GeneratedFile, NAMESPACE_WIDE_ANNOTATION,
    format::{Expect, Vector, annotations, hex, scope_of},
    is_vector_file_name, load_cert, negative,
};

/// Which seal path produces the vectors' bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealer {
    /// [`seal_with_rng`] with a ChaCha20 RNG seeded from the case name: the committed files.
    Seeded,
    /// [`kseal_core::seal`]: AWS-LC's RSA-OAEP with the OS-seeded CSPRNG, as in `kseal seal`,
    /// `kseal rotate` and the controller's `/v1/rotate`. Different bytes on every run.
    Production,
}

impl Sealer {
    /// The `source:` header of the vectors this sealer makes (`None` for the committed set).
    pub fn source(self) -> Option<&'static str> {
        match self {
            Self::Seeded => None,
            Self::Production => Some("kseal_core::seal (AWS-LC), sealed at test time"),
        }
    }
}

pub(super) const RSA2048: &str = "rsa2048-a.key";
pub(super) const RSA2048_WRONG: &str = "rsa2048-b.key";
pub(super) const RSA2048_NEWEST: &str = "rsa2048-c.key";
pub(super) const RSA4096: &str = "rsa4096-a.key";

/// How a case is sealed: which key, under which scope, what plaintext.
#[derive(Clone, Copy)]
pub(super) struct Sealing<'a> {
    pub(super) key: &'a str,
    pub(super) scope: ScopeKind,
    pub(super) namespace: &'a str,
    pub(super) name: &'a str,
    pub(super) plaintext: &'a [u8],
}

impl<'a> Sealing<'a> {
    pub(super) const fn new(
        key: &'a str,
        scope: ScopeKind,
        namespace: &'a str,
        name: &'a str,
        plaintext: &'a [u8],
    ) -> Self {
        Self {
            key,
            scope,
            namespace,
            name,
            plaintext,
        }
    }
}

/// The value for the M-series mutations: 30 bytes, so that the binary length
/// (`2 + k + 30 + 16`: 304 or 560) is not a multiple of 3 for either key size and the base64
/// has padding for M9 to remove.
pub(super) const MUTATION_PLAINTEXT: &[u8] = b"CANARY-mutation-test-plaintext";

pub(super) struct Generator {
    files: Vec<GeneratedFile>,
    sealer: Sealer,
}

impl Generator {
    /// The RNG for one case, seeded from its name: adding or removing a case leaves every
    /// other file unchanged.
    fn rng(name: &str) -> ChaCha20Rng {
        let seed: [u8; 32] = Sha256::digest(format!("kseal test vector {name}")).into();
        ChaCha20Rng::from_seed(seed)
    }

    /// Seals case `name` with this generator's [`Sealer`].
    pub(super) fn seal(&self, name: &str, s: &Sealing<'_>) -> Result<Vec<u8>, String> {
        let cert = load_cert(s.key)?;
        let scope = scope_of(s.scope, s.namespace, s.name)?;
        Ok(match self.sealer {
            Sealer::Seeded => seal_with_rng(&cert, &scope, s.plaintext, &mut Self::rng(name)),
            Sealer::Production => kseal_core::seal(&cert, &scope, s.plaintext),
        })
    }

    /// [`Generator::seal`] until `wanted` holds for the blob. A seeded case gives the same
    /// bytes every time, so it must hold at once; a production seal is random, and a property
    /// of its bytes (M10 needs a `+` or `/` in the base64) may take another try.
    pub(super) fn seal_where(
        &self,
        name: &str,
        s: &Sealing<'_>,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, String> {
        let tries = match self.sealer {
            Sealer::Seeded => 1,
            Sealer::Production => 16,
        };
        for _ in 0..tries {
            let blob = self.seal(name, s)?;
            if wanted(&blob) {
                return Ok(blob);
            }
        }
        Err(format!(
            "{name}: no seal in {tries} tries has the property the case needs"
        ))
    }

    fn push(&mut self, name: &str, mut vector: Vector) {
        debug_assert!(is_vector_file_name(name));
        vector.source = self.sealer.source().map(str::to_owned);
        self.files.push(GeneratedFile {
            name: name.to_owned(),
            contents: vector.to_bytes(),
        });
    }

    /// A case whose decryptor uses the same scope and metadata as the sealer.
    fn success(
        &mut self,
        name: &str,
        s: &Sealing<'_>,
        annotations: Option<Vec<(String, String)>>,
        comment: &str,
    ) -> Result<(), String> {
        let body = sealed::encode_base64(&self.seal(name, s)?).into_bytes();
        self.success_body(name, s, annotations, Vec::new(), body, comment);
        Ok(())
    }

    pub(super) fn success_body(
        &mut self,
        name: &str,
        s: &Sealing<'_>,
        annotations: Option<Vec<(String, String)>>,
        keys: Vec<String>,
        body: Vec<u8>,
        comment: &str,
    ) {
        self.push(
            name,
            Vector {
                expect: Expect::Success,
                source: None,
                scope: s.scope,
                namespace: s.namespace.to_owned(),
                name: s.name.to_owned(),
                annotations,
                key: s.key.to_owned(),
                keys,
                plaintext_sha256: Some(hex(&Sha256::digest(s.plaintext))),
                comment: comment.to_owned(),
                body,
            },
        );
    }

    /// A failure case: `body` opened by `key` (or `keys`) under `opened_as`.
    #[allow(clippy::too_many_arguments)] // one call per table row reads best flat
    pub(super) fn failure(
        &mut self,
        name: &str,
        expect: Expect,
        opened_as: (ScopeKind, &str, &str),
        annotations: Option<Vec<(String, String)>>,
        key: &str,
        keys: &[&str],
        body: Vec<u8>,
        comment: &str,
    ) {
        let (scope, namespace, name_) = opened_as;
        self.push(
            name,
            Vector {
                expect,
                source: None,
                scope,
                namespace: namespace.to_owned(),
                name: name_.to_owned(),
                annotations,
                key: key.to_owned(),
                keys: keys.iter().map(|k| (*k).to_owned()).collect(),
                plaintext_sha256: None,
                comment: comment.to_owned(),
                body,
            },
        );
    }
}

/// The annotations kubeseal writes on the outer metadata for a scope (§5.1).
fn kubeseal_annotations(scope: ScopeKind) -> Option<Vec<(String, String)>> {
    match scope {
        ScopeKind::Strict => annotations(&[]),
        ScopeKind::NamespaceWide => annotations(&[(NAMESPACE_WIDE_ANNOTATION, "true")]),
        ScopeKind::ClusterWide => annotations(&[(CLUSTER_WIDE_ANNOTATION, "true")]),
    }
}

pub(super) fn key_label(key: &str) -> &'static str {
    if key == RSA4096 { "rsa4096" } else { "rsa2048" }
}

/// Replaces the last data character before the padding with the next alphabet character,
/// which sets a non-zero unused bit and leaves the decoded bytes unchanged (R13).
fn set_trailing_bits(canonical: &str) -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data = canonical.trim_end_matches('=');
    if data.len() == canonical.len() {
        return Err("R13 needs a padded encoding".into());
    }
    let last = *data.as_bytes().last().ok_or("empty encoding")?;
    let index = ALPHABET
        .iter()
        .position(|&c| c == last)
        .ok_or("not base64")?;
    // The unused bits of the last character are its low 2 or 4 bits, canonically zero, so the
    // next character (index + 1) only differs in an unused bit.
    let bumped = ALPHABET[index + 1] as char;
    Ok(format!(
        "{}{bumped}{}",
        &data[..data.len() - 1],
        &canonical[data.len()..]
    ))
}

/// Breaks `text` into lines of `width` characters joined by `newline`, ending with `newline`.
fn wrap(text: &str, width: usize, newline: &str) -> String {
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(width) {
        // Base64 is ASCII, so every chunk boundary is a character boundary.
        out.push_str(std::str::from_utf8(chunk).expect("invariant: base64 is ASCII"));
        out.push_str(newline);
    }
    out
}

/// Every generated vector, in a fixed order: [`generate_with`]`(`[`Sealer::Seeded`]`)`.
/// Deterministic: the same fixture keys give the same bytes on every run and every machine.
pub fn generate() -> Result<Vec<GeneratedFile>, String> {
    generate_with(Sealer::Seeded)
}

/// Every vector case, in a fixed order, with bodies from `sealer`: the same names, headers
/// (but `source:`) and checks for both sealers.
pub fn generate_with(sealer: Sealer) -> Result<Vec<GeneratedFile>, String> {
    let mut g = Generator {
        files: Vec::new(),
        sealer,
    };
    let (ns, name) = ("myns", "myname");

    // R1–R3 × R7: each scope with each key size, annotated as kubeseal writes them.
    for key in [RSA2048, RSA4096] {
        for (id, scope) in [
            ("r1", ScopeKind::Strict),
            ("r2", ScopeKind::NamespaceWide),
            ("r3", ScopeKind::ClusterWide),
        ] {
            let bits = key_label(key);
            let case = format!("{id}-{scope}-{bits}");
            let prefix = if key == RSA4096 { "Ag" } else { "AQ" };
            let s = Sealing::new(key, scope, ns, name, b"postgres://app:example@db:5432/app");
            let comment = format!(
                "{}; {bits} key, so the body starts with {prefix} (R7)",
                match id {
                    "r1" => "R1 strict scope, label myns/myname",
                    "r2" => "R2 namespace-wide scope, label myns",
                    _ => "R3 cluster-wide scope, empty label",
                }
            );
            g.success(&case, &s, kubeseal_annotations(scope), &comment)?;
        }
    }

    // R4: empty plaintext; the blob is 2 + k + 16 bytes (530 → 708 characters for RSA-4096).
    for key in [RSA2048, RSA4096] {
        let s = Sealing::new(key, ScopeKind::Strict, ns, name, b"");
        let len = sealed::sealed_base64_len(if key == RSA4096 { 512 } else { 256 }, 0);
        let comment = format!(
            "R4 empty value: the AES part is the 16-byte tag alone, {len} base64 characters"
        );
        g.success(&format!("r4-empty-{}", key_label(key)), &s, None, &comment)?;
    }

    // R5: every byte value, not UTF-8.
    let all_bytes: Vec<u8> = (0..=255).collect();
    for key in [RSA2048, RSA4096] {
        let s = Sealing::new(key, ScopeKind::NamespaceWide, ns, name, &all_bytes);
        g.success(
            &format!("r5-all-bytes-{}", key_label(key)),
            &s,
            None,
            "R5 binary value holding the bytes 0x00 to 0xff in order",
        )?;
    }

    // R8: three keys, value sealed to the oldest, which is tried last; the runner also tries
    // every other order.
    let s = Sealing::new(
        RSA2048,
        ScopeKind::ClusterWide,
        ns,
        name,
        b"sealed to the oldest key",
    );
    let body = sealed::encode_base64(&g.seal("r8-three-keys-oldest", &s)?).into_bytes();
    let keys = vec![
        RSA2048_NEWEST.to_owned(),
        RSA2048_WRONG.to_owned(),
        RSA2048.to_owned(),
    ];
    g.success_body("r8-three-keys-oldest", &s, None, keys, body, "R8 key set of three RSA-2048 keys, newest first; sealed to the oldest (rsa2048-a); opens in every key order");
    let body = sealed::encode_base64(&g.seal("r8-mixed-sizes-oldest", &s)?).into_bytes();
    let keys = vec![
        RSA4096.to_owned(),
        RSA2048_NEWEST.to_owned(),
        RSA2048_WRONG.to_owned(),
        RSA2048.to_owned(),
    ];
    g.success_body("r8-mixed-sizes-oldest", &s, None, keys, body, "R8 key set mixing sizes; the RSA-4096 key cannot take a 256-byte block and is skipped; sealed to rsa2048-a");

    // R9: line breaks inside the base64 are skipped, as Go's decoder does.
    let s = Sealing::new(RSA4096, ScopeKind::Strict, ns, name, b"wrapped in the YAML");
    let text = sealed::encode_base64(&g.seal("r9-crlf-wrapped", &s)?);
    g.success_body(
        "r9-crlf-wrapped",
        &s,
        None,
        Vec::new(),
        wrap(&text, 76, "\r\n").into_bytes(),
        "R9 base64 wrapped at 76 characters with CRLF, ending in CRLF; the line breaks are ignored",
    );
    let text = sealed::encode_base64(&g.seal("r9-lf-wrapped", &s)?);
    g.success_body(
        "r9-lf-wrapped",
        &s,
        None,
        Vec::new(),
        wrap(&text, 64, "\n").into_bytes(),
        "R9 base64 wrapped at 64 characters with LF, ending in LF; the line breaks are ignored",
    );

    // R10: both scope annotations "true": cluster-wide wins, so a cluster-wide value opens.
    let s = Sealing::new(
        RSA2048,
        ScopeKind::ClusterWide,
        ns,
        name,
        b"both annotations",
    );
    let both = annotations(&[
        (CLUSTER_WIDE_ANNOTATION, "true"),
        (NAMESPACE_WIDE_ANNOTATION, "true"),
    ]);
    g.success("r10-both-annotations-cluster-wide", &s, both, "R10 both scope annotations are \"true\": cluster-wide wins (§5), so the empty label is used")?;

    // R13: a non-zero unused bit in the last quantum, accepted as Go accepts it. A 3-byte
    // plaintext gives a binary length of 1 mod 3 ("==", 4 unused bits); 4 bytes give 2 mod 3
    // ("=", 2 unused bits).
    for (case, plaintext, padding) in [
        ("r13-trailing-bits-double-padding", &b"abc"[..], "=="),
        ("r13-trailing-bits-single-padding", &b"abcd"[..], "="),
    ] {
        let s = Sealing::new(RSA2048, ScopeKind::Strict, ns, name, plaintext);
        let canonical = sealed::encode_base64(&g.seal(case, &s)?);
        if !canonical.ends_with(padding) || canonical.ends_with(&format!("={padding}")) {
            return Err(format!("{case}: expected {padding:?} padding"));
        }
        let body = set_trailing_bits(&canonical)?.into_bytes();
        let comment = format!(
            "R13 non-zero unused bits before {padding:?}: not canonical, still accepted as Go's decoder does"
        );
        g.success_body(case, &s, None, Vec::new(), body, &comment);
    }

    negative::wrong_labels(&mut g)?;
    negative::malformed(&mut g)?;
    Ok(g.files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bits_keep_the_bytes() {
        let canonical = sealed::encode_base64(b"abcd");
        let bumped = set_trailing_bits(&canonical).unwrap();
        assert_ne!(bumped, canonical);
        assert_eq!(sealed::decode_base64(&bumped).unwrap(), b"abcd");
        let canonical = sealed::encode_base64(b"abc\x01");
        assert_eq!(
            sealed::decode_base64(&set_trailing_bits(&canonical).unwrap()).unwrap(),
            b"abc\x01"
        );
    }
}
