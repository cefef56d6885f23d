//! Language-neutral test vectors for one sealed value (`docs/wire-format.md` §8): the file format,
//! a parser and writer for it, and the deterministic generator behind `tests/vectors/`.
//!
//! # File format
//!
//! One case per file, named after the case (no extension). Header lines `field: value`, one
//! blank line, then the body: the base64 sealed value exactly as it would appear in
//! `spec.encryptedData`, byte for byte, with no newline added at the end (a body may contain
//! `\r\n` line breaks on purpose, R9). Header fields, in the order the generator writes them:
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `expect` | yes | one of [`Expect`]: `success`, `open failure`, `too short`, `base64 failure` |
//! | `source` | no | who produced the body when it was not this generator, e.g. `kubeseal v0.36.1` |
//! | `scope` | yes | the scope the *decryptor* uses: `strict`, `namespace-wide` or `cluster-wide` |
//! | `namespace` | for strict and namespace-wide | the SealedSecret's `metadata.namespace` |
//! | `name` | for strict | the SealedSecret's `metadata.name` |
//! | `annotations` | no | the SealedSecret's outer `metadata.annotations` that decide the scope (§5), as `key=value` pairs separated by `, `; present but empty means "none". When present, §5 applied to them must give `scope` |
//! | `key` | yes | private key file in `tests/fixtures/keys/`; for `success`, the key that must open the value |
//! | `keys` | no | the decryptor's whole key set, in try order, separated by `, `; it must contain `key`. Absent means just `key` |
//! | `plaintext-sha256` | for `success` | lowercase hex SHA-256 of the plaintext |
//! | `comment` | yes | one line saying what the case pins, with its §8 id |
//!
//! Every failure expectation ends in the same error text, `no key could decrypt secret`
//! ([`COARSE_ERROR`]); the expectation only says at which stage it must fail, which the runner
//! checks with the core's lower-level functions.

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use kseal_core::{
    Certificate, KeySet, NamespaceName, ObjectName, PrivateKey, Scope, ScopeKind, seal_with_rng,
    sealed,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;
use sha2::{Digest as _, Sha256};

/// The only error text any failing vector may produce (Bitnami's `ErrNoKeyCouldDecrypt`).
pub const COARSE_ERROR: &str = "no key could decrypt secret";

pub use kseal_crds::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};

/// What opening the body must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Base64 decoding fails (§3: missing padding, URL-safe alphabet, spaces).
    Base64Failure,
    /// The base64 decodes and the blob splits, but no key opens it: wrong key, wrong label,
    /// a flipped bit, a missing tag (§6 step 3).
    OpenFailure,
    /// It opens with `key`, giving a plaintext whose SHA-256 is `plaintext-sha256`.
    Success,
    /// The base64 decodes but the blob is shorter than 2 bytes or than its length prefix
    /// claims (§6 step 1, Bitnami `ErrTooShort`).
    TooShort,
}

impl Expect {
    /// All expectations, in the order the README lists them.
    pub const ALL: [Self; 4] = [
        Self::Success,
        Self::OpenFailure,
        Self::TooShort,
        Self::Base64Failure,
    ];

    /// The header spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base64Failure => "base64 failure",
            Self::OpenFailure => "open failure",
            Self::Success => "success",
            Self::TooShort => "too short",
        }
    }

    /// Parses the header spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// One parsed vector file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    /// `expect:`.
    pub expect: Expect,
    /// `source:`; `None` for vectors this module generates.
    pub source: Option<String>,
    /// `scope:`, the decryptor's scope kind.
    pub scope: ScopeKind,
    /// `namespace:`, empty when absent.
    pub namespace: String,
    /// `name:`, empty when absent.
    pub name: String,
    /// `annotations:`; `None` when the header is absent.
    pub annotations: Option<Vec<(String, String)>>,
    /// `key:`.
    pub key: String,
    /// `keys:`; empty when absent (the set is then just `key`).
    pub keys: Vec<String>,
    /// `plaintext-sha256:`.
    pub plaintext_sha256: Option<String>,
    /// `comment:`.
    pub comment: String,
    /// Everything after the blank line.
    pub body: Vec<u8>,
}

impl Vector {
    /// Parses a vector file. Unknown or repeated header fields are errors, so a typo cannot
    /// silently drop a check.
    pub fn parse(file: &[u8]) -> Result<Self, String> {
        let split = file
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or("no blank line between header and body")?;
        let header = std::str::from_utf8(&file[..split]).map_err(|_| "header is not UTF-8")?;
        let body = file[split + 2..].to_vec();

        let mut fields: Vec<(&str, &str)> = Vec::new();
        for line in header.split('\n') {
            let (field, value) = line
                .split_once(':')
                .ok_or_else(|| format!("header line without ':': {line:?}"))?;
            let value = value.strip_prefix(' ').unwrap_or(value);
            if fields.iter().any(|(f, _)| *f == field) {
                return Err(format!("header field {field:?} repeated"));
            }
            fields.push((field, value));
        }
        let take = |field: &str| {
            fields
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, v)| (*v).to_owned())
        };
        const KNOWN: [&str; 10] = [
            "expect",
            "source",
            "scope",
            "namespace",
            "name",
            "annotations",
            "key",
            "keys",
            "plaintext-sha256",
            "comment",
        ];
        if let Some((unknown, _)) = fields.iter().find(|(f, _)| !KNOWN.contains(f)) {
            return Err(format!("unknown header field {unknown:?}"));
        }
        let required =
            |field: &str| take(field).ok_or_else(|| format!("missing header field {field:?}"));

        let expect = required("expect")?;
        let expect =
            Expect::parse(&expect).ok_or_else(|| format!("unknown expectation {expect:?}"))?;
        let scope = required("scope")?;
        let scope = ScopeKind::parse(&scope).ok_or_else(|| format!("unknown scope {scope:?}"))?;
        let annotations = take("annotations")
            .map(|a| parse_annotations(&a))
            .transpose()?;
        let keys = take("keys").map(|k| split_list(&k)).unwrap_or_default();
        let vector = Self {
            expect,
            source: take("source"),
            scope,
            namespace: take("namespace").unwrap_or_default(),
            name: take("name").unwrap_or_default(),
            annotations,
            key: required("key")?,
            keys,
            plaintext_sha256: take("plaintext-sha256"),
            comment: required("comment")?,
            body,
        };
        if expect == Expect::Success && vector.plaintext_sha256.is_none() {
            return Err("a success vector needs plaintext-sha256".into());
        }
        if !vector.keys.is_empty() && !vector.keys.contains(&vector.key) {
            return Err("keys must contain key".into());
        }
        Ok(vector)
    }

    /// The file bytes; `Vector::parse(&v.to_bytes()) == Ok(v)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = String::new();
        let mut line = |field: &str, value: &str| {
            // Writing to a String cannot fail. An empty value gets no trailing space.
            let _ = if value.is_empty() {
                writeln!(header, "{field}:")
            } else {
                writeln!(header, "{field}: {value}")
            };
        };
        line("expect", self.expect.as_str());
        if let Some(source) = &self.source {
            line("source", source);
        }
        line("scope", self.scope.as_str());
        if !self.namespace.is_empty() {
            line("namespace", &self.namespace);
        }
        if !self.name.is_empty() {
            line("name", &self.name);
        }
        if let Some(annotations) = &self.annotations {
            let pairs: Vec<String> = annotations
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            line("annotations", &pairs.join(", "));
        }
        line("key", &self.key);
        if !self.keys.is_empty() {
            line("keys", &self.keys.join(", "));
        }
        if let Some(digest) = &self.plaintext_sha256 {
            line("plaintext-sha256", digest);
        }
        line("comment", &self.comment);
        let mut out = header.into_bytes();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    /// The decryptor's scope, built from `scope`, `namespace` and `name`.
    pub fn decrypt_scope(&self) -> Result<Scope, String> {
        scope_of(self.scope, &self.namespace, &self.name)
    }

    /// The decryptor's key files in try order.
    pub fn key_files(&self) -> Vec<&str> {
        if self.keys.is_empty() {
            vec![self.key.as_str()]
        } else {
            self.keys.iter().map(String::as_str).collect()
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_annotations(s: &str) -> Result<Vec<(String, String)>, String> {
    split_list(s)
        .into_iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("annotation without '=': {pair:?}"))
        })
        .collect()
}

/// Builds a [`Scope`] from its kind and the SealedSecret's namespace and name.
pub fn scope_of(kind: ScopeKind, namespace: &str, name: &str) -> Result<Scope, String> {
    let namespace_name = || NamespaceName::parse(namespace).map_err(|e| e.to_string());
    Ok(match kind {
        ScopeKind::Strict => Scope::Strict {
            namespace: namespace_name()?,
            name: ObjectName::parse(name).map_err(|e| e.to_string())?,
        },
        ScopeKind::NamespaceWide => Scope::NamespaceWide {
            namespace: namespace_name()?,
        },
        ScopeKind::ClusterWide => Scope::ClusterWide,
    })
}

/// `docs/wire-format.md` §5 applied to a vector's `annotations:` header, through the product's own
/// rule (`kseal_crds::scope_kind_from_annotations`), so the vectors test what the controller
/// and the CLI use.
pub fn scope_from_annotations(annotations: &[(String, String)]) -> ScopeKind {
    let map: std::collections::BTreeMap<String, String> = annotations.iter().cloned().collect();
    kseal_crds::scope_kind_from_annotations(&map)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `tests/vectors/`.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// `tests/fixtures/keys/`.
pub fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("keys")
}

/// Whether a directory entry of `tests/vectors/` is a vector file: vectors have no extension,
/// so `README.md` and dot-files are skipped.
pub fn is_vector_file_name(name: &str) -> bool {
    !name.contains('.')
}

/// Loads a fixture private key by file name (`rsa2048-a.key`).
pub fn load_key(file: &str) -> Result<PrivateKey, String> {
    let pem = fs::read(keys_dir().join(file)).map_err(|e| format!("{file}: {e}"))?;
    PrivateKey::from_pem(&pem).map_err(|e| format!("{file}: {e}"))
}

/// Loads the certificate that belongs to a fixture key (`rsa2048-a.key` → `rsa2048-a.crt`).
pub fn load_cert(key_file: &str) -> Result<Certificate, String> {
    let file = format!("{}.crt", key_file.strip_suffix(".key").unwrap_or(key_file));
    let pem = fs::read(keys_dir().join(&file)).map_err(|e| format!("{file}: {e}"))?;
    Certificate::from_pem(&pem).map_err(|e| format!("{file}: {e}"))
}

/// Loads key files, in this order, into a key set.
pub fn load_key_set<'a>(files: impl IntoIterator<Item = &'a str>) -> Result<KeySet, String> {
    files.into_iter().map(load_key).collect()
}

/// A generated vector file: its name in `tests/vectors/` and its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// The file name (no extension).
    pub name: String,
    /// The file contents.
    pub contents: Vec<u8>,
}

// ---------------------------------------------------------------------------------------------
// The generator.

const RSA2048: &str = "rsa2048-a.key";
const RSA2048_WRONG: &str = "rsa2048-b.key";
const RSA2048_NEWEST: &str = "rsa2048-c.key";
const RSA4096: &str = "rsa4096-a.key";

/// How a case is sealed: which key, under which scope, what plaintext.
#[derive(Clone, Copy)]
struct Sealing<'a> {
    key: &'a str,
    scope: ScopeKind,
    namespace: &'a str,
    name: &'a str,
    plaintext: &'a [u8],
}

impl<'a> Sealing<'a> {
    const fn new(
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
const MUTATION_PLAINTEXT: &[u8] = b"CANARY-mutation-test-plaintext";

struct Generator {
    files: Vec<GeneratedFile>,
}

impl Generator {
    /// The RNG for one case, seeded from its name: adding or removing a case leaves every
    /// other file unchanged.
    fn rng(name: &str) -> ChaCha20Rng {
        let seed: [u8; 32] = Sha256::digest(format!("kseal test vector {name}")).into();
        ChaCha20Rng::from_seed(seed)
    }

    fn seal(name: &str, s: &Sealing<'_>) -> Result<Vec<u8>, String> {
        let cert = load_cert(s.key)?;
        let scope = scope_of(s.scope, s.namespace, s.name)?;
        Ok(seal_with_rng(
            &cert,
            &scope,
            s.plaintext,
            &mut Self::rng(name),
        ))
    }

    fn push(&mut self, name: &str, vector: Vector) {
        debug_assert!(is_vector_file_name(name));
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
        let body = sealed::encode_base64(&Self::seal(name, s)?).into_bytes();
        self.success_body(name, s, annotations, Vec::new(), body, comment);
        Ok(())
    }

    fn success_body(
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
    fn failure(
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

fn annotations(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// The annotations kubeseal writes on the outer metadata for a scope (§5.1).
fn kubeseal_annotations(scope: ScopeKind) -> Option<Vec<(String, String)>> {
    match scope {
        ScopeKind::Strict => annotations(&[]),
        ScopeKind::NamespaceWide => annotations(&[(NAMESPACE_WIDE_ANNOTATION, "true")]),
        ScopeKind::ClusterWide => annotations(&[(CLUSTER_WIDE_ANNOTATION, "true")]),
    }
}

fn key_label(key: &str) -> &'static str {
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

/// Every generated vector, in a fixed order. Deterministic: the same fixture keys give the
/// same bytes on every run and every machine.
pub fn generate() -> Result<Vec<GeneratedFile>, String> {
    let mut g = Generator { files: Vec::new() };
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
    let body = sealed::encode_base64(&Generator::seal("r8-three-keys-oldest", &s)?).into_bytes();
    let keys = vec![
        RSA2048_NEWEST.to_owned(),
        RSA2048_WRONG.to_owned(),
        RSA2048.to_owned(),
    ];
    g.success_body("r8-three-keys-oldest", &s, None, keys, body, "R8 key set of three RSA-2048 keys, newest first; sealed to the oldest (rsa2048-a); opens in every key order");
    let body = sealed::encode_base64(&Generator::seal("r8-mixed-sizes-oldest", &s)?).into_bytes();
    let keys = vec![
        RSA4096.to_owned(),
        RSA2048_NEWEST.to_owned(),
        RSA2048_WRONG.to_owned(),
        RSA2048.to_owned(),
    ];
    g.success_body("r8-mixed-sizes-oldest", &s, None, keys, body, "R8 key set mixing sizes; the RSA-4096 key cannot take a 256-byte block and is skipped; sealed to rsa2048-a");

    // R9: line breaks inside the base64 are skipped, as Go's decoder does.
    let s = Sealing::new(RSA4096, ScopeKind::Strict, ns, name, b"wrapped in the YAML");
    let text = sealed::encode_base64(&Generator::seal("r9-crlf-wrapped", &s)?);
    g.success_body(
        "r9-crlf-wrapped",
        &s,
        None,
        Vec::new(),
        wrap(&text, 76, "\r\n").into_bytes(),
        "R9 base64 wrapped at 76 characters with CRLF, ending in CRLF; the line breaks are ignored",
    );
    let text = sealed::encode_base64(&Generator::seal("r9-lf-wrapped", &s)?);
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
        let canonical = sealed::encode_base64(&Generator::seal(case, &s)?);
        if !canonical.ends_with(padding) || canonical.ends_with(&format!("={padding}")) {
            return Err(format!("{case}: expected {padding:?} padding"));
        }
        let body = set_trailing_bits(&canonical)?.into_bytes();
        let comment = format!(
            "R13 non-zero unused bits before {padding:?}: not canonical, still accepted as Go's decoder does"
        );
        g.success_body(case, &s, None, Vec::new(), body, &comment);
    }

    wrong_labels(&mut g)?;
    malformed(&mut g)?;
    Ok(g.files)
}

/// §8.2, plus a wrong key of each size: every row opens with the coarse error.
fn wrong_labels(g: &mut Generator) -> Result<(), String> {
    use ScopeKind::{ClusterWide, NamespaceWide, Strict};
    let plaintext = b"wrong label";
    let strict_a = Sealing::new(RSA2048, Strict, "ns", "a", plaintext);
    let ns_wide = Sealing::new(RSA2048, NamespaceWide, "ns", "a", plaintext);
    let cluster = Sealing::new(RSA2048, ClusterWide, "ns", "a", plaintext);
    type Row<'a> = (
        &'a str,
        &'a Sealing<'a>,
        (ScopeKind, &'a str, &'a str),
        Option<Vec<(String, String)>>,
        &'a str,
    );
    let rows: [Row<'_>; 13] = [
        (
            "wl-strict-opened-as-other-name",
            &strict_a,
            (Strict, "ns", "b"),
            None,
            "§8.2 sealed strict ns/a, opened strict ns/b",
        ),
        (
            "wl-strict-opened-as-other-namespace",
            &strict_a,
            (Strict, "other", "a"),
            None,
            "§8.2 sealed strict ns/a, opened strict other/a",
        ),
        (
            "wl-strict-opened-as-namespace-wide",
            &strict_a,
            (NamespaceWide, "ns", "a"),
            None,
            "§8.2 sealed strict ns/a, opened namespace-wide ns",
        ),
        (
            "wl-strict-opened-as-cluster-wide",
            &strict_a,
            (ClusterWide, "ns", "a"),
            None,
            "§8.2 sealed strict ns/a, opened cluster-wide",
        ),
        (
            "wl-strict-opened-as-concatenated-label",
            &strict_a,
            (NamespaceWide, "nsa", "a"),
            None,
            "§8.2 sealed strict ns/a, opened with label nsa (plain concatenation, as upstream crypto.md wrongly says); label expressed as namespace-wide nsa",
        ),
        (
            "wl-namespace-wide-opened-as-strict",
            &ns_wide,
            (Strict, "ns", "x"),
            None,
            "§8.2 sealed namespace-wide ns, opened strict ns/x",
        ),
        (
            "wl-namespace-wide-opened-as-other-namespace",
            &ns_wide,
            (NamespaceWide, "other", "a"),
            None,
            "§8.2 sealed namespace-wide ns, opened namespace-wide other",
        ),
        (
            "wl-namespace-wide-opened-as-cluster-wide",
            &ns_wide,
            (ClusterWide, "ns", "a"),
            None,
            "§8.2 sealed namespace-wide ns, opened cluster-wide",
        ),
        (
            "wl-cluster-wide-opened-as-strict",
            &cluster,
            (Strict, "ns", "x"),
            None,
            "§8.2 sealed cluster-wide, opened strict ns/x",
        ),
        (
            "wl-cluster-wide-opened-as-namespace-wide",
            &cluster,
            (NamespaceWide, "ns", "a"),
            None,
            "§8.2 sealed cluster-wide, opened namespace-wide ns",
        ),
        (
            "wl-namespace-wide-annotation-capital-true",
            &ns_wide,
            (Strict, "ns", "a"),
            annotations(&[(NAMESPACE_WIDE_ANNOTATION, "True")]),
            "§8.2 sealed namespace-wide ns; the annotation says \"True\", which is not \"true\", so strict ns/a is used",
        ),
        (
            "wl-namespace-wide-annotation-yes",
            &ns_wide,
            (Strict, "ns", "a"),
            annotations(&[(NAMESPACE_WIDE_ANNOTATION, "yes")]),
            "§8.2 sealed namespace-wide ns; the annotation says \"yes\", so strict ns/a is used",
        ),
        (
            "wl-namespace-wide-annotation-in-template-only",
            &ns_wide,
            (Strict, "ns", "a"),
            annotations(&[]),
            "§8.2 sealed namespace-wide ns; the annotation is only in spec.template.metadata, which decryption ignores, so strict ns/a is used",
        ),
    ];
    for (case, sealing, opened_as, annotations, comment) in rows {
        let body = sealed::encode_base64(&Generator::seal(case, sealing)?).into_bytes();
        g.failure(
            case,
            Expect::OpenFailure,
            opened_as,
            annotations,
            RSA2048,
            &[],
            body,
            comment,
        );
    }

    let s = Sealing::new(RSA2048, Strict, "ns", "a", b"wrong key");
    let body = sealed::encode_base64(&Generator::seal("wk-rsa2048-other-key", &s)?).into_bytes();
    g.failure(
        "wk-rsa2048-other-key",
        Expect::OpenFailure,
        (Strict, "ns", "a"),
        None,
        RSA2048_WRONG,
        &[],
        body,
        "wrong key: sealed to rsa2048-a, opened with rsa2048-b only",
    );
    let s = Sealing { key: RSA4096, ..s };
    let body =
        sealed::encode_base64(&Generator::seal("wk-rsa4096-only-rsa2048-keys", &s)?).into_bytes();
    g.failure("wk-rsa4096-only-rsa2048-keys", Expect::OpenFailure, (Strict, "ns", "a"), None, RSA2048, &[RSA2048, RSA2048_WRONG], body, "wrong key: sealed to rsa4096-a, opened with two RSA-2048 keys whose modulus does not match the 512-byte block");
    Ok(())
}

/// §8.3 M1–M11 on a value sealed to each key size.
fn malformed(g: &mut Generator) -> Result<(), String> {
    let all_keys = [RSA2048, RSA2048_WRONG, RSA2048_NEWEST, RSA4096];
    let opened_as = (ScopeKind::Strict, "myns", "myname");
    for key in [RSA2048, RSA4096] {
        let bits = key_label(key);
        let s = Sealing::new(key, ScopeKind::Strict, "myns", "myname", MUTATION_PLAINTEXT);
        let good = Generator::seal(&format!("m-base-{bits}"), &s)?;
        let k = good.len() - 2 - MUTATION_PLAINTEXT.len() - sealed::TAG_LEN;
        let flip = |i: usize| {
            let mut b = good.clone();
            b[i] ^= 0x01;
            b
        };
        let set_prefix = |len: u16| {
            let mut b = good.clone();
            b[..2].copy_from_slice(&len.to_be_bytes());
            b
        };
        let too_large = set_prefix(u16::try_from(good.len()).map_err(|_| "blob too long")?);
        let smaller = set_prefix(u16::try_from(k / 2).map_err(|_| "modulus too long")?);
        // The unmutated value, so a failing mutation is known to fail because of the mutation
        // and not because the base value is broken.
        let control = sealed::encode_base64(&good).into_bytes();
        let comment = format!("control for the M-series on {bits}: the unmutated value opens");
        g.success_body(
            &format!("m-valid-control-{bits}"),
            &s,
            None,
            Vec::new(),
            control,
            &comment,
        );

        /// One binary mutation of the base value.
        struct Mutation<'a> {
            id: &'a str,
            expect: Expect,
            blob: Vec<u8>,
            keys: &'a [&'a str],
            comment: String,
        }
        let mutation = |id, expect, blob, keys, comment: &str| Mutation {
            id,
            expect,
            blob,
            keys,
            comment: comment.to_owned(),
        };
        let binary = [
            mutation(
                "m1-tag-bit",
                Expect::OpenFailure,
                flip(good.len() - 1),
                &[],
                "M1 lowest bit of the last byte (GCM tag) flipped",
            ),
            mutation(
                "m2-ciphertext-bit",
                Expect::OpenFailure,
                flip(2 + k),
                &[],
                "M2 lowest bit of the first AES ciphertext byte flipped",
            ),
            mutation(
                "m3-rsa-block-bit",
                Expect::OpenFailure,
                flip(2 + k / 2),
                &all_keys,
                "M3 a bit in the middle of the RSA block flipped; fails for every key in the set",
            ),
            mutation(
                "m4-truncated-by-one",
                Expect::OpenFailure,
                good[..good.len() - 1].to_vec(),
                &[],
                "M4 last byte removed: the tag is cut",
            ),
            mutation(
                "m4-truncated-into-rsa-block",
                Expect::TooShort,
                good[..2 + k - 1].to_vec(),
                &[],
                &format!("M4 truncated to 2 + L - 1 = {} bytes", 2 + k - 1),
            ),
            mutation(
                "m5-tag-removed",
                Expect::OpenFailure,
                good[..good.len() - sealed::TAG_LEN].to_vec(),
                &[],
                "M5 the 16-byte tag removed",
            ),
            mutation(
                "m6-prefix-larger-than-data",
                Expect::TooShort,
                too_large,
                &[],
                "M6 length prefix set to the whole blob length, more than the bytes after it",
            ),
            mutation(
                "m7-prefix-smaller-than-modulus",
                Expect::OpenFailure,
                smaller,
                &[],
                &format!(
                    "M7 length prefix set to {} (k/2): the RSA block no longer matches the key",
                    k / 2
                ),
            ),
        ];
        for m in binary {
            let body = sealed::encode_base64(&m.blob).into_bytes();
            g.failure(
                &format!("{}-{bits}", m.id),
                m.expect,
                opened_as,
                None,
                key,
                m.keys,
                body,
                &m.comment,
            );
        }

        let text = sealed::encode_base64(&good);
        let unpadded = text.trim_end_matches('=');
        if unpadded.len() == text.len() {
            return Err(format!("M9 on {bits}: the base value has no padding"));
        }
        let url_safe = text.replace('+', "-").replace('/', "_");
        if url_safe == text {
            return Err(format!("M10 on {bits}: the base value has no '+' or '/'"));
        }
        let spaced = format!("{} {}", &text[..76], &text[76..]);
        let textual = [
            (
                "m9-unpadded",
                unpadded.to_owned(),
                "M9 the '=' padding removed",
            ),
            (
                "m10-url-safe",
                url_safe,
                "M10 '+' and '/' replaced by the URL-safe '-' and '_'",
            ),
            ("m11-space", spaced, "M11 a space after the 76th character"),
        ];
        for (id, body, comment) in textual {
            let case = format!("{id}-{bits}");
            g.failure(
                &case,
                Expect::Base64Failure,
                opened_as,
                None,
                key,
                &[],
                body.into_bytes(),
                comment,
            );
        }
    }
    // M8 does not depend on the key size.
    g.failure(
        "m8-empty",
        Expect::TooShort,
        opened_as,
        None,
        RSA4096,
        &[],
        Vec::new(),
        "M8 0-byte input (empty body)",
    );
    let one = sealed::encode_base64(&[0x02]).into_bytes();
    g.failure(
        "m8-one-byte",
        Expect::TooShort,
        opened_as,
        None,
        RSA4096,
        &[],
        one,
        "M8 1-byte input (0x02, half a length prefix)",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let v = Vector {
            expect: Expect::OpenFailure,
            source: Some("kubeseal v0.36.1".into()),
            scope: ScopeKind::Strict,
            namespace: "ns".into(),
            name: "a".into(),
            annotations: Some(Vec::new()),
            key: "rsa2048-a.key".into(),
            keys: vec!["rsa2048-b.key".into(), "rsa2048-a.key".into()],
            plaintext_sha256: None,
            comment: "c".into(),
            body: b"AQ==\r\n".to_vec(),
        };
        let bytes = v.to_bytes();
        assert!(bytes.starts_with(b"expect: open failure\nsource: kubeseal v0.36.1\n"));
        assert!(String::from_utf8_lossy(&bytes).contains("\nannotations:\n"));
        assert_eq!(Vector::parse(&bytes), Ok(v));
    }

    #[test]
    fn header_errors() {
        assert!(
            Vector::parse(b"expect: success\n").is_err(),
            "no blank line"
        );
        let base = "expect: open failure\nscope: strict\nkey: k\ncomment: c\n";
        assert!(Vector::parse(format!("{base}\nAQ==").as_bytes()).is_ok());
        assert!(
            Vector::parse(format!("{base}colour: red\n\n").as_bytes()).is_err(),
            "unknown field"
        );
        assert!(
            Vector::parse(format!("{base}key: k\n\n").as_bytes()).is_err(),
            "repeated field"
        );
        let success = base.replace("open failure", "success");
        assert!(
            Vector::parse(format!("{success}\n").as_bytes()).is_err(),
            "success needs a digest"
        );
    }

    #[test]
    fn annotations_decide_scope_as_bitnami_does() {
        let a = |pairs: &[(&str, &str)]| annotations(pairs).unwrap();
        assert_eq!(scope_from_annotations(&a(&[])), ScopeKind::Strict);
        assert_eq!(
            scope_from_annotations(&a(&[(NAMESPACE_WIDE_ANNOTATION, "true")])),
            ScopeKind::NamespaceWide
        );
        assert_eq!(
            scope_from_annotations(&a(&[(NAMESPACE_WIDE_ANNOTATION, "True")])),
            ScopeKind::Strict
        );
        let both = a(&[
            (NAMESPACE_WIDE_ANNOTATION, "true"),
            (CLUSTER_WIDE_ANNOTATION, "true"),
        ]);
        assert_eq!(scope_from_annotations(&both), ScopeKind::ClusterWide);
    }

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
