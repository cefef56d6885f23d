//! Strict mode: the §7.1 matrix and the accepted forms, and what every diagnostic shows (the
//! rendered form, `Debug`, random inputs): never a value.

use super::*;

#[test]
fn strict_matrix_rows() {
    use EnvFormat::Strict as S;
    assert_eq!(value(S, r#"A="x""#), "x");
    assert_eq!(value(S, "A='x'"), "x");
    assert_eq!(rejected(S, b"A=ab#cd"), [Code::E006]);
    assert_eq!(value(S, "A=v # c"), "v");
    assert_eq!(rejected(S, b"A=p$ss"), [Code::E007]);
    assert_eq!(rejected(S, b"A=a b"), [Code::E005]);
    assert_eq!(rejected(S, b"A=v  "), [Code::E016]);
    assert_eq!(rejected(S, b"A = v"), [Code::E004]);
    assert_eq!(value(S, "export A=v"), "v");
    assert_eq!(rejected(S, b"A"), [Code::E002]);
    assert_eq!(rejected(S, b"A=1\nA=2"), [Code::E015]);
    assert_eq!(rejected(S, br#"A="a\tb""#), [Code::E011]);
    assert_eq!(value(S, r#"A="l1\nl2""#), "l1\nl2");
    assert_eq!(value(S, "A=\"l1\nl2\""), "l1\nl2");
    assert_eq!(rejected(S, b"A: v"), [Code::E014]);
    assert_eq!(
        accept(S, "A=1\r\nB=\"x\"\r\n"),
        [("A".into(), "1".into()), ("B".into(), "x".into())]
    );
}

#[test]
fn strict_pem_in_double_and_single_quotes() {
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";
    for quote in ['"', '\''] {
        let src = format!("# key\nTLS_KEY={quote}{pem}{quote}\nNEXT=1\n");
        let parsed = run(src.as_bytes(), &ParseOptions::default()).unwrap();
        assert_eq!(
            pairs(&parsed),
            [("TLS_KEY".into(), pem.into()), ("NEXT".into(), "1".into())]
        );
        assert_eq!((parsed.entries[0].line, parsed.entries[1].line), (2, 6));
        // CRLF inside the quotes becomes LF.
        let crlf = src.replace('\n', "\r\n");
        assert_eq!(accept(EnvFormat::Strict, &crlf)[0].1, pem);
    }
}

#[test]
fn strict_accepted_forms() {
    use EnvFormat::Strict as S;
    assert_eq!(value(S, "\u{feff}A=1"), "1");
    assert_eq!(value(S, "TOKEN=abc=="), "abc==");
    assert_eq!(
        value(S, "URL=postgres://u@h:5432/db?sslmode=require"),
        "postgres://u@h:5432/db?sslmode=require"
    );
    assert_eq!(accept(S, "export=1"), [("export".into(), "1".into())]);
    assert_eq!(accept(S, "exported=1"), [("exported".into(), "1".into())]);
    assert_eq!(value(S, "export\tA=v"), "v");
    assert_eq!(value(S, "  \tA=v"), "v");
    assert_eq!(value(S, "A=\"x\" \t# comment"), "x");
    assert_eq!(value(S, "A=\"x\"\t# comment"), "x");
    assert_eq!(value(S, "A='x'   "), "x");
    assert_eq!(value(S, "A=v #"), "v");
    assert_eq!(value(S, "A=v\t # c"), "v");
    assert_eq!(value(S, r#"A="a # b""#), "a # b");
    assert_eq!(value(S, r#"A='p$ss'"#), "p$ss");
    assert_eq!(value(S, r#"A="C:\\path \"q\"""#), r#"C:\path "q""#);
    assert_eq!(value(S, "A=\"it's\""), "it's");
    assert_eq!(value(S, "A='say \"hi\"'"), "say \"hi\"");
    assert_eq!(value(S, "A=ünïcödé€"), "ünïcödé€");
    assert_eq!(value(S, "A=a=b=c"), "a=b=c");
    assert_eq!(rejected(S, b"A=x#"), [Code::E006]);
    assert_eq!(accept(S, "\n# only comments\n   \n\t# indented\n"), []);
    assert_eq!(accept(S, ""), []);
}

#[test]
fn strict_lines_after_multiline_values_keep_their_numbers() {
    let e = parse(
        b"A=\"l1\nl2\"\nB=x y\nC='\n'\nD=p$\n",
        &ParseOptions::default(),
    )
    .unwrap_err();
    let at: Vec<_> = e.diagnostics.iter().map(|d| (d.code, d.line)).collect();
    assert_eq!(at, [(Code::E005, 3), (Code::W102, 4), (Code::E007, 6)]);
}

#[test]
fn strict_unquoted_multiline_value_does_not_leak() {
    // A PEM key pasted without quotes: every continuation line is an error, none is echoed.
    let src = "TLS_KEY=-----BEGIN PRIVATE KEY-----\nMIIEvQIBCANARYs3cr3tADANBgkqhkiG9w0B\nAQEFAASCBKcwggSj+CANARY/s3cr3t==\n-----END PRIVATE KEY-----\n";
    let e = run(src.as_bytes(), &ParseOptions::default()).unwrap_err();
    let codes: Vec<_> = e.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::E005, Code::E002, Code::E003, Code::E002]);
}

#[test]
fn error_aggregation_in_line_order() {
    let e = run(b"A=a b\nB=ok\nC=x#y\nD\n", &ParseOptions::default()).unwrap_err();
    let at: Vec<_> = e.diagnostics.iter().map(|d| (d.code, d.line)).collect();
    assert_eq!(at, [(Code::E005, 1), (Code::E006, 3), (Code::E002, 4)]);
    assert_eq!(e.to_string(), "3 errors in .env input");
    assert_eq!(e.errors().count(), 3);

    // Warnings travel with the errors, in order; the summary counts errors only.
    let e = run(b"lower=1\nA=\nB=a b\n", &ParseOptions::default()).unwrap_err();
    let at: Vec<_> = e.diagnostics.iter().map(|d| (d.code, d.line)).collect();
    assert_eq!(at, [(Code::W103, 1), (Code::W101, 2), (Code::E005, 3)]);
    assert_eq!(e.to_string(), "1 error in .env input");
    // Several problems in one statement: key, separator and value.
    assert_eq!(
        rejected(EnvFormat::Strict, b"my-key = a$b"),
        [Code::E003, Code::E004, Code::E007]
    );
}

#[test]
fn render_golden_error() {
    let src = format!("{}DB_PASSWORD=ab#cd\n", "# comment\n".repeat(11));
    let e = parse(src.as_bytes(), &ParseOptions::default()).unwrap_err();
    assert_eq!(
        e.diagnostics[0].render(".env.staging"),
        "kseal: .env.staging:12:13: error[E006]: '#' inside an unquoted value\n   \
         12 | DB_PASSWORD=********\n      \
         |             ^^^^^^^^\n\
         kseal: hint: quote the value; for Node's dotenv `#` starts a comment"
    );
    assert_eq!(
        e.diagnostics[0].to_string(),
        "12:13: error[E006]: '#' inside an unquoted value"
    );
}

#[test]
fn render_golden_warning_and_bare() {
    let parsed = parse(b"A=1\n\nEMPTY=\n", &ParseOptions::default()).unwrap();
    assert_eq!(
        parsed.warnings[0].render(".env"),
        "kseal: .env:3:7: warning[W101]: empty value for 'EMPTY'\n    \
         3 | EMPTY=\n      \
         |       ^\n\
         kseal: hint: `--deny-empty` turns this into an error"
    );
    let e = parse(b"A=\xff", &ParseOptions::default()).unwrap_err();
    assert_eq!(
        e.diagnostics[0].render("x.env"),
        "kseal: x.env:1:3: error[E001]: file is not valid UTF-8 text at byte 2\n\
         kseal: hint: save the file as UTF-8 with LF or CRLF line ends"
    );
    // Tabs are shown as spaces so the caret lines up; the gutter widens for long files.
    let mut d = parse(b"\tA=a b", &ParseOptions::default())
        .unwrap_err()
        .diagnostics
        .remove(0);
    assert_eq!(d.masked_line.as_deref(), Some(" A=********"));
    d.line = 1_234_567;
    assert!(
        d.render("f")
            .contains("\n1234567 |  A=********\n        |    ^^^^^^^^\n")
    );
}

#[test]
fn debug_output_hides_values() {
    let parsed = parse(b"A=CANARY-s3cr3t\n", &ParseOptions::default()).unwrap();
    let debug = format!("{parsed:?}");
    assert!(!debug.contains("CANARY"), "{debug}");
    assert!(
        debug.contains("\"A\"") && debug.contains("13 bytes"),
        "{debug}"
    );
    let lookup = |_: &str| None;
    let options = ParseOptions {
        environment: Some(&lookup),
        ..ParseOptions::default()
    };
    assert!(format!("{options:?}").contains("environment: Some(\"<fn>\")"));
}

/// Broken inputs in every mode: no diagnostic may contain any part of the value.
#[test]
fn no_diagnostic_echoes_a_value() {
    let lines = [
        "K=CANARY s3cr3t",
        "K=CANARY#s3cr3t",
        "K=CANARY$s3cr3t",
        "K=CANARY\\s3cr3t",
        "K=\"CANARY\\ts3cr3t\"",
        "K=\"CANARY\"s3cr3t",
        "K='CANARY\\\\s3cr3t'",
        "K=`CANARY s3cr3t`",
        "K: CANARY s3cr3t",
        "K=CANARY-s3cr3t  ",
        "K = CANARY-s3cr3t",
        "K=\"CANARY-s3cr3t",
        "K='CANARY-s3cr3t",
        "CANARY-s3cr3t",
        "CANARY s3cr3t",
        "CANARY/s3cr3t==",
        "CANARY+s3cr3t=",
        "CANARY:s3cr3t",
        "'CANARY-s3cr3t",
        "K",
        "K=\n",
        "K=\"CANARY\ns3cr3t\n\"",
        "export CANARY s3cr3t",
        "K='CANARY${s3cr3t}'",
        "K=\"CANARY-s3cr3t\" # CANARY-s3cr3t",
        "K=CANARY-s3cr3t\nK=CANARY",
        "CANARY s3cr3t=1",
        "\u{feff}CANARY-s3cr3t",
        "K=CANARY\u{a0}s3cr3t",
        "K=CANARY\ts3cr3t",
        "k=\"CANARY-s3cr3t\r\n\"",
        "CANARY+s3cr3t=\"x",
        "CANARY+s3cr3t=\"x\" y",
        "CANARY+s3cr3t='x'",
        "'CANARY s3cr3t'=1",
        "CANARY-S3CR3T\n",
    ];
    for format in [EnvFormat::Strict, EnvFormat::Kubectl, EnvFormat::Lenient] {
        for line in lines {
            for src in [line.to_owned(), format!("A=1\n{line}\nB=2\n")] {
                // Only the diagnostics: in kubectl mode a bare line is a key by definition, and
                // keys are public (the Debug output of entries shows them).
                match parse(src.as_bytes(), &options(format)) {
                    Ok(parsed) => parsed.warnings.iter().for_each(assert_hidden),
                    Err(e) => e.diagnostics.iter().for_each(assert_hidden),
                }
            }
        }
    }
}

#[test]
fn kubectl_pasted_value_becomes_a_key_but_is_not_shown() {
    let src = b"DB_PASSWORD=\nCANARY-s3cr3t\nCANARY-s3cr3t\n";
    let e = parse(src, &options(EnvFormat::Kubectl)).unwrap_err();
    e.diagnostics.iter().for_each(assert_hidden);
    let got: Vec<_> = e
        .diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (Code::W101, 1, "empty value for 'DB_PASSWORD'"),
            (
                Code::W107,
                2,
                "the key on this line is not set in the environment; its value is empty"
            ),
            (Code::W101, 2, "empty value for the key on this line"),
            (
                Code::W107,
                3,
                "the key on this line is not set in the environment; its value is empty"
            ),
            (Code::E015, 3, "duplicate key (first defined at line 2)"),
        ]
    );
    assert_eq!(e.diagnostics[1].masked_line.as_deref(), Some(MASK));
    assert!(e.diagnostics[1].hint.contains("pasted value"));
}

/// Random lines built from the characters that matter to the grammar: no mode may panic, and
/// every position and caret must lie on the (masked) line it describes.
#[test]
fn random_inputs_keep_the_invariants() {
    const PIECES: &[&str] = &[
        "A", "b", "_", "-", ".", "1", "=", "==", " ", "\t", "\"", "'", "`", "\\", "#", "$", "${",
        "}", ":", "\n", "\r\n", "\r", "export ", "é", "\u{feff}", "\u{a0}", "\0", "KEY=", "x y",
    ];
    // xorshift64: deterministic, so a failure is reproducible.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..4000 {
        let len = (next() % 24) as usize;
        let src: String = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let lines = src.split('\n').count();
        for format in [EnvFormat::Strict, EnvFormat::Kubectl, EnvFormat::Lenient] {
            let deny_empty = next() % 2 == 0;
            let options = ParseOptions {
                format,
                deny_empty,
                ..ParseOptions::default()
            };
            let diagnostics = match parse(src.as_bytes(), &options) {
                Ok(parsed) => {
                    assert!(
                        parsed
                            .entries
                            .iter()
                            .all(|e| e.line >= 1 && e.line <= lines),
                        "{src:?}"
                    );
                    parsed.warnings
                }
                Err(e) => {
                    assert!(e.errors().count() > 0, "{src:?}");
                    e.diagnostics
                }
            };
            for d in diagnostics {
                assert!(
                    d.line >= 1 && d.line <= lines && d.column >= 1,
                    "{src:?} {format}: {d:?}"
                );
                if let (Some(masked), Some((start, width))) = (&d.masked_line, d.caret) {
                    let chars = masked.chars().count();
                    assert!(
                        width >= 1 && start + width <= chars + 2,
                        "{src:?} {format}: {d:?}"
                    );
                    assert!(
                        !masked.contains(['\n', '\r', '\t', '\0']),
                        "{src:?} {format}: {d:?}"
                    );
                }
            }
        }
    }
}
