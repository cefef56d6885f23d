//! Kubectl mode (§5.1).

use super::*;

#[test]
fn kubectl_matrix_rows() {
    use EnvFormat::Kubectl as K;
    assert_eq!(value(K, r#"A="x""#), r#""x""#);
    assert_eq!(value(K, "A='x'"), "'x'");
    assert_eq!(value(K, "A=ab#cd"), "ab#cd");
    assert_eq!(value(K, "A=v # c"), "v # c");
    assert_eq!(value(K, "A=p$ss"), "p$ss");
    assert_eq!(value(K, "A=a b"), "a b");
    assert_eq!(value(K, "A=v  "), "v  ");
    assert_eq!(rejected(K, b"A = v"), [Code::E003]);
    assert_eq!(rejected(K, b"export A=v"), [Code::E003]);
    assert_eq!(rejected(K, b"A=1\nA=2"), [Code::E015]);
    assert_eq!(value(K, r#"A="a\tb""#), r#""a\tb""#);
    assert_eq!(value(K, r#"A="l1\nl2""#), r#""l1\nl2""#);
    assert_eq!(rejected(K, b"A: v"), [Code::E003]);
    assert_eq!(
        accept(K, "A=1\r\nB=2\r\n"),
        [("A".into(), "1".into()), ("B".into(), "2".into())]
    );
    // No multi-line values: the second line is a key of its own, and not a valid one.
    assert_eq!(rejected(K, b"A=\"l1\nl2\""), [Code::E003]);
}

#[test]
fn kubectl_lines() {
    use EnvFormat::Kubectl as K;
    assert_eq!(value(K, "\u{feff}A=1"), "1");
    assert_eq!(rejected(K, "A=1\n\u{feff}B=2".as_bytes()), [Code::E003]);
    assert_eq!(value(K, " \t\u{a0}A=1"), "1");
    assert_eq!(
        accept(K, "# c\n  # c\n\n   \nA=b=c\n"),
        [("A".into(), "b=c".into())]
    );
    assert_eq!(
        accept(K, "my.env-name=1\n_x=2\n-y=3"),
        [
            ("my.env-name".into(), "1".into()),
            ("_x".into(), "2".into()),
            ("-y".into(), "3".into())
        ]
    );
    for bad in ["1A=x", "..a=x", ".=x", "a/b=x", "=x", "A B=x"] {
        assert_eq!(rejected(K, bad.as_bytes()), [Code::E003], "{bad}");
    }
    let d = only_with(b"KEY =CANARY-s3cr3t", &options(K), Code::E003, 1, 1);
    assert_eq!(d.message, "invalid key 'KEY '");
    assert!(d.hint.contains("IsEnvVarName"));
    assert_eq!(
        only_with(b"export KEY=x", &options(K), Code::E003, 1, 1).message,
        "invalid key 'export KEY'"
    );
    // Values are bytes as written: a NUL and a CR in the middle stay, one CR before LF goes.
    let parsed = run(b"A=a\0b\rc\r\r\nB=x\r", &options(K)).unwrap();
    assert_eq!(parsed.entries[0].value.expose(), b"a\0b\rc\r");
    assert_eq!(parsed.entries[1].value.expose(), b"x");
    assert_eq!(
        parsed.warnings.iter().map(|d| d.code).collect::<Vec<_>>(),
        [Code::W102]
    );
    // Lines are independent: an invalid one does not hide the others.
    let e = run(b"A=\xff\nB=1\nB=2\n", &options(K)).unwrap_err();
    let at: Vec<_> = e
        .diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.column))
        .collect();
    assert_eq!(at, [(Code::E001, 1, 3), (Code::E015, 3, 1)]);
    assert_eq!(warnings(K, "lower=1"), [Code::W103]);
}

#[test]
fn kubectl_long_lines() {
    use EnvFormat::Kubectl as K;
    let fits = format!("A={}", "x".repeat(65535 - 2));
    assert_eq!(value(K, &fits).len(), 65533);
    let too_long = format!("A={}\nB=1\n", "x".repeat(65536 - 2));
    let d = only_with(too_long.as_bytes(), &options(K), Code::E018, 1, 1);
    assert_eq!(d.masked_line, None);
    // The CR counts: kubectl's scanner holds it until the line is complete.
    let with_cr = format!("A={}\r\n", "x".repeat(65535 - 2));
    assert_eq!(rejected(K, with_cr.as_bytes()), [Code::E018]);
}

#[test]
fn kubectl_bare_key_reads_the_environment() {
    let lookup = |name: &str| (name == "FROM_CI").then(|| SecretBytes::copy_from(b"CANARY-s3cr3t"));
    let options = ParseOptions {
        format: EnvFormat::Kubectl,
        environment: Some(&lookup),
        ..ParseOptions::default()
    };
    let parsed = run(b"A=1\nFROM_CI\n  UNSET\n", &options).unwrap();
    let got: Vec<_> = parsed
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.expose(), e.from_environment))
        .collect();
    assert_eq!(
        got,
        [
            ("A", &b"1"[..], false),
            ("FROM_CI", b"CANARY-s3cr3t", true),
            ("UNSET", b"", true)
        ]
    );
    let at: Vec<_> = parsed
        .warnings
        .iter()
        .map(|d| (d.code, d.line, d.column))
        .collect();
    assert_eq!(
        at,
        [(Code::W107, 2, 1), (Code::W107, 3, 3), (Code::W101, 3, 8)]
    );
    assert_eq!(
        parsed.warnings[0].message,
        "value of 'FROM_CI' is taken from the environment"
    );
    assert_eq!(
        parsed.warnings[1].message,
        "'UNSET' is not set in the environment; its value is empty"
    );
    // Without a lookup, as with an unset variable, the value is empty.
    let parsed = run(b"X", &options_kubectl()).unwrap();
    assert!(parsed.entries[0].from_environment && parsed.entries[0].value.is_empty());
    // --deny-empty turns the empty result into an error.
    let deny = ParseOptions {
        deny_empty: true,
        ..options_kubectl()
    };
    assert_eq!(
        run(b"X", &deny)
            .unwrap_err()
            .errors()
            .map(|d| d.code)
            .collect::<Vec<_>>(),
        [Code::W101]
    );
}

fn options_kubectl() -> ParseOptions<'static> {
    options(EnvFormat::Kubectl)
}
