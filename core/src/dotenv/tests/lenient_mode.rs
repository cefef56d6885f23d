//! Lenient mode (python-dotenv).

use super::*;

#[test]
fn lenient_matrix_rows() {
    use EnvFormat::Lenient as L;
    assert_eq!(value(L, r#"A="x""#), "x");
    assert_eq!(value(L, "A='x'"), "x");
    assert_eq!(value(L, "A=ab#cd"), "ab#cd");
    assert_eq!(value(L, "A=v # c"), "v");
    assert_eq!(value(L, "A=p$ss"), "p$ss");
    assert_eq!(value(L, "A=a b"), "a b");
    assert_eq!(value(L, "A=v  "), "v");
    assert_eq!(value(L, "A = v"), "v");
    assert_eq!(value(L, "export A=v"), "v");
    assert_eq!(value(L, r#"A="a\tb""#), "a\tb");
    assert_eq!(value(L, r#"A="l1\nl2""#), "l1\nl2");
    assert_eq!(value(L, "A=\"l1\r\nl2\""), "l1\nl2");
    assert_eq!(rejected(L, b"A: v"), [Code::E014]);
    assert_eq!(
        accept(L, "A=1\r\nB='x'\r\n"),
        [("A".into(), "1".into()), ("B".into(), "x".into())]
    );
}

#[test]
fn lenient_bare_keys_and_duplicates() {
    use EnvFormat::Lenient as L;
    let parsed = run(b"A=1\nBARE\nB=2\nA=3\n", &options(L)).unwrap();
    assert_eq!(
        pairs(&parsed),
        [("A".into(), "3".into()), ("B".into(), "2".into())]
    );
    assert_eq!(parsed.entries[0].line, 4);
    let at: Vec<_> = parsed
        .warnings
        .iter()
        .map(|d| (d.code, d.line, d.column))
        .collect();
    assert_eq!(at, [(Code::W106, 2, 1), (Code::W105, 4, 1)]);
    assert_eq!(
        parsed.warnings[0].message,
        "no '=' after key 'BARE'; the line is skipped"
    );
    assert_eq!(
        parsed.warnings[1].message,
        "duplicate key 'A' (first defined at line 1); the last value wins"
    );
    // A pasted value on its own line is skipped without being shown.
    let d = only_with(b"CANARY-s3cr3t\n", &options(L), Code::W106, 1, 1);
    assert_eq!(d.masked_line.as_deref(), Some(MASK));
    assert_eq!(warnings(L, "export A # c"), [Code::W106]);
}

#[test]
fn lenient_quotes_and_escapes() {
    use EnvFormat::Lenient as L;
    assert_eq!(value(L, r#"A="a\"b\\c\'d""#), "a\"b\\c'd");
    assert_eq!(value(L, r#"A="\a\b\f\r\v\x""#), "\u{7}\u{8}\u{c}\r\u{b}\\x");
    assert_eq!(value(L, r#"A='a\'b\\c\nd'"#), "a'b\\c\\nd");
    assert_eq!(value(L, r#"A="x\\""#), "x\\");
    assert_eq!(value(L, "A=\"x\"#c"), "x");
    assert_eq!(value(L, "A='x'  # c"), "x");
    assert_eq!(value(L, "A=  # only a comment"), "");
    assert_eq!(value(L, "A=#not-a-comment"), "#not-a-comment");
    assert_eq!(value(L, "A=v\t#c"), "v");
    assert_eq!(value(L, "A=v\u{a0}"), "v");
    assert_eq!(value(L, "\u{feff}A=1"), "1");
    assert_eq!(accept(L, "'Q'=v"), [("Q".into(), "v".into())]);
    let pem = "-----BEGIN X-----\nabc\n-----END X-----";
    assert_eq!(value(L, &format!("A=\"{pem}\"\n")), pem);
    assert_eq!(
        accept(L, "\n\n  A=1\n\t\n# c\n  # c\nB=2"),
        [("A".into(), "1".into()), ("B".into(), "2".into())]
    );
}

#[test]
fn lenient_never_interpolates() {
    let parsed = run(
        b"A=1\nB=${A}\nC='${A}'\nD=$A\n",
        &options(EnvFormat::Lenient),
    )
    .unwrap();
    assert_eq!(
        pairs(&parsed)[1..],
        [
            ("B".into(), "${A}".into()),
            ("C".into(), "${A}".into()),
            ("D".into(), "$A".into())
        ]
    );
    let at: Vec<_> = parsed.warnings.iter().map(|d| (d.code, d.line)).collect();
    assert_eq!(at, [(Code::W108, 2), (Code::W108, 3)]);
}

#[test]
fn lenient_unparseable_lines_are_errors() {
    use EnvFormat::Lenient as L;
    assert_eq!(rejected(L, b"A=\"x\" junk"), [Code::E010]);
    assert_eq!(rejected(L, b"=x"), [Code::E003]);
    assert_eq!(rejected(L, b"'=x"), [Code::E003]);
    assert_eq!(rejected(L, b"FOO BAR=1"), [Code::E003]);
    assert_eq!(rejected(L, b"FOO bar"), [Code::E002]);
    assert_eq!(rejected(L, b"my-key=1"), [Code::E003]);
    assert_eq!(rejected(L, b"A=1\nB=\"open\nC=1\n"), [Code::E009]);
    assert_eq!(rejected(L, b"A=\xff"), [Code::E001]);
    // Parsing continues after an unreadable line, as python-dotenv does.
    let e = run(b"A=\"x\" y\nB=1\nB C\n", &options(L)).unwrap_err();
    let at: Vec<_> = e.diagnostics.iter().map(|d| (d.code, d.line)).collect();
    assert_eq!(at, [(Code::E010, 1), (Code::E002, 3)]);
    let secret = ParseOptions {
        format: L,
        keys: KeyRule::SecretKey,
        ..ParseOptions::default()
    };
    assert_eq!(
        run(b"my-key=1", &secret).unwrap().entries[0].key.as_str(),
        "my-key"
    );
}
