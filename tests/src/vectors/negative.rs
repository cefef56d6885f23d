//! The negative vectors: every wrong-label row of `docs/wire-format.md` §8.2, a wrong key of each
//! size, and the malformed inputs M1–M11 of §8.3, each on a value sealed to each key size.

use kseal_core::{ScopeKind, sealed};

use super::{
    NAMESPACE_WIDE_ANNOTATION,
    format::{Expect, annotations},
    generate::{
        Generator, MUTATION_PLAINTEXT, RSA2048, RSA2048_NEWEST, RSA2048_WRONG, RSA4096, Sealing,
        key_label,
    },
};
/// §8.2, plus a wrong key of each size: every row opens with the coarse error.
pub(super) fn wrong_labels(g: &mut Generator) -> Result<(), String> {
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
        let body = sealed::encode_base64(&g.seal(case, sealing)?).into_bytes();
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
    let body = sealed::encode_base64(&g.seal("wk-rsa2048-other-key", &s)?).into_bytes();
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
    let body = sealed::encode_base64(&g.seal("wk-rsa4096-only-rsa2048-keys", &s)?).into_bytes();
    g.failure("wk-rsa4096-only-rsa2048-keys", Expect::OpenFailure, (Strict, "ns", "a"), None, RSA2048, &[RSA2048, RSA2048_WRONG], body, "wrong key: sealed to rsa4096-a, opened with two RSA-2048 keys whose modulus does not match the 512-byte block");
    Ok(())
}

/// §8.3 M1–M11 on a value sealed to each key size.
pub(super) fn malformed(g: &mut Generator) -> Result<(), String> {
    let all_keys = [RSA2048, RSA2048_WRONG, RSA2048_NEWEST, RSA4096];
    let opened_as = (ScopeKind::Strict, "myns", "myname");
    for key in [RSA2048, RSA4096] {
        let bits = key_label(key);
        let s = Sealing::new(key, ScopeKind::Strict, "myns", "myname", MUTATION_PLAINTEXT);
        // M10 needs a '+' or '/' in the base64 (a random production seal may lack both).
        let good = g.seal_where(&format!("m-base-{bits}"), &s, |blob| {
            sealed::encode_base64(blob).contains(['+', '/'])
        })?;
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
