//! Tests of the `.env` reader. Values that must never be echoed contain [`CANARY`]; every
//! diagnostic a test produces is checked for both halves of it.

use super::*;

/// A value that must never appear in diagnostics or `Debug` output.
const CANARY: &str = "CANARY-s3cr3t";

fn options(format: EnvFormat) -> ParseOptions<'static> {
    ParseOptions {
        format,
        ..ParseOptions::default()
    }
}

/// Asserts that nothing derived from a diagnostic contains either half of the canary.
fn assert_hidden(d: &Diagnostic) {
    let shown = [d.render(".env"), format!("{d:?}"), d.to_string()];
    let (first, second) = CANARY.split_once('-').unwrap();
    for text in shown {
        assert!(
            !text.contains(first) && !text.contains(second),
            "value leaked: {text}"
        );
    }
}

/// Parses and checks every diagnostic (error or warning) for leaks.
fn run(src: &[u8], options: &ParseOptions<'_>) -> Result<Parsed, ParseError> {
    let result = parse(src, options);
    match &result {
        Ok(parsed) => {
            parsed.warnings.iter().for_each(assert_hidden);
            let debug = format!("{parsed:?}");
            assert!(
                !debug.contains("CANARY") && !debug.contains("s3cr3t"),
                "{debug}"
            );
        }
        Err(e) => {
            e.diagnostics.iter().for_each(assert_hidden);
            assert!(!e.to_string().contains("CANARY"));
        }
    }
    result
}

/// The entries as `(key, value)` text pairs (values are UTF-8 in these tests).
fn pairs(parsed: &Parsed) -> Vec<(String, String)> {
    parsed
        .entries
        .iter()
        .map(|e| {
            (
                e.key.to_string(),
                String::from_utf8(e.value.expose().to_vec()).unwrap(),
            )
        })
        .collect()
}

/// Parses `src` in `format`, which must succeed, and returns the pairs.
fn accept(format: EnvFormat, src: &str) -> Vec<(String, String)> {
    match run(src.as_bytes(), &options(format)) {
        Ok(parsed) => pairs(&parsed),
        Err(e) => panic!("{src:?} rejected: {:#?}", e.diagnostics),
    }
}

/// The value of the single entry of `src` in `format`.
fn value(format: EnvFormat, src: &str) -> String {
    let entries = accept(format, src);
    assert_eq!(entries.len(), 1, "{src:?}: {entries:?}");
    entries[0].1.clone()
}

/// The codes of all diagnostics (errors and warnings) of a rejected `src`.
fn rejected(format: EnvFormat, src: &[u8]) -> Vec<Code> {
    match run(src, &options(format)) {
        Ok(parsed) => panic!("{src:?} accepted: {:?}", pairs(&parsed)),
        Err(e) => e.diagnostics.iter().map(|d| d.code).collect(),
    }
}

/// The codes of the warnings of an accepted `src`.
fn warnings(format: EnvFormat, src: &str) -> Vec<Code> {
    run(src.as_bytes(), &options(format))
        .unwrap()
        .warnings
        .iter()
        .map(|d| d.code)
        .collect()
}

/// The only diagnostic of `src` in strict mode; asserts its code and position.
fn only(src: &[u8], code: Code, line: usize, column: usize) -> Diagnostic {
    only_with(src, &ParseOptions::default(), code, line, column)
}

fn only_with(
    src: &[u8],
    options: &ParseOptions<'_>,
    code: Code,
    line: usize,
    column: usize,
) -> Diagnostic {
    let diagnostics = match run(src, options) {
        Ok(parsed) => parsed.warnings,
        Err(e) => e.diagnostics,
    };
    assert_eq!(
        diagnostics.len(),
        1,
        "{:?}: {diagnostics:#?}",
        String::from_utf8_lossy(src)
    );
    let d = diagnostics.into_iter().next().unwrap();
    assert_eq!((d.code, d.line, d.column), (code, line, column), "{d:#?}");
    d
}

// ---------------------------------------------------------------------------------------------
// One test per code.

#[test]
fn e001_invalid_utf8_nul_and_lone_cr() {
    let d = only(b"A=1\nB=CANARY-s3cr3t\xff\n", Code::E001, 2, 16);
    assert_eq!(d.message, "file is not valid UTF-8 text at byte 19");
    assert_eq!((d.masked_line.as_deref(), d.caret), (None, None));
    assert_eq!(d.severity, Severity::Error);

    let d = only(b"A=CANARY\0s3cr3t", Code::E001, 1, 9);
    assert!(
        d.message.ends_with("at byte 8 (a NUL byte)"),
        "{}",
        d.message
    );
    let d = only(b"A=CANARY\rs3cr3t\n", Code::E001, 1, 9);
    assert!(d.message.contains("CR not followed by LF"));
    only(b"A=1\r", Code::E001, 1, 4);
    // Columns count characters: `é` is two bytes.
    let d = only(
        "A=é".bytes().chain([0xff]).collect::<Vec<_>>().as_slice(),
        Code::E001,
        1,
        4,
    );
    assert!(d.message.contains("byte 4"));
    // A BOM is not a column.
    only(b"\xef\xbb\xbfA=\xff", Code::E001, 1, 3);
}

#[test]
fn e001_one_per_line_and_capped() {
    assert_eq!(
        rejected(EnvFormat::Strict, b"A=\xff\nB=\x00\nC=1\n"),
        [Code::E001, Code::E001]
    );
    let binary: Vec<u8> = (0..100).flat_map(|_| [0xffu8, b'\n']).collect();
    assert_eq!(
        rejected(EnvFormat::Strict, &binary).len(),
        sink::MAX_ENCODING_DIAGNOSTICS
    );
}

#[test]
fn e002_missing_equals() {
    let d = only(b"# c\nFOO\n", Code::E002, 2, 4);
    assert_eq!(d.message, "missing '=' after key 'FOO'");
    assert_eq!(d.masked_line.as_deref(), Some("FOO"));
    assert_eq!(d.caret, Some((4, 1)));
    assert!(d.hint.contains("`FOO=`"));
    only(b"export DB_HOST # inherited\n", Code::E002, 1, 15);
    // More than a comment after the word: nothing is shown.
    let d = only(b"DB_HOST localhost", Code::E002, 1, 1);
    assert_eq!(d.masked_line.as_deref(), Some(MASK));
}

#[test]
fn e002_pasted_value_is_not_shown() {
    // A password pasted under its key: the line must not be echoed as a "key".
    let e = parse(b"DB_PASSWORD=\nCANARY-s3cr3t\n", &ParseOptions::default()).unwrap_err();
    let d = &e.diagnostics[1];
    assert_eq!((d.code, d.line, d.column), (Code::E002, 2, 1));
    assert_eq!(d.masked_line.as_deref(), Some(MASK));
    assert_hidden(d);
    for line in [
        "hunter2s3cr3t",
        "AKIACANARY7S3CR3T",
        "CANARYs3cr3tMIIEpAIBAAKCAQEA",
        "CANARY s3cr3t",
    ] {
        let d = only(line.as_bytes(), Code::E002, 1, 1);
        assert!(!d.render(".env").contains(line), "{line}");
    }
}

#[test]
fn e003_invalid_key() {
    let d = only(b"my-key=CANARY-s3cr3t", Code::E003, 1, 1);
    assert_eq!(d.message, "invalid key 'my-key'");
    assert_eq!(d.masked_line.as_deref(), Some("my-key=********"));
    assert_eq!(d.caret, Some((1, 6)));
    assert_eq!(
        only(b"1KEY=x", Code::E003, 1, 1).message,
        "invalid key '1KEY'"
    );
    assert_eq!(
        only(b"a.b=x", Code::E003, 1, 1).message,
        "invalid key 'a.b'"
    );
    assert_eq!(
        only(b"=CANARY-s3cr3t", Code::E003, 1, 1).message,
        "missing key before '='"
    );
    // A base64 fragment that happens to contain '=' is not quoted back.
    let d = only(b"CANARY+s3cr3t/x==", Code::E003, 1, 1);
    assert_eq!(d.masked_line.as_deref(), Some(MASK));
    let long = format!("{}=x", "K".repeat(254));
    assert_eq!(rejected(EnvFormat::Strict, long.as_bytes()), [Code::E003]);
}

#[test]
fn e003_with_secret_keys() {
    let secret = ParseOptions {
        keys: KeyRule::SecretKey,
        ..ParseOptions::default()
    };
    let parsed = run(b"tls.crt=x\nmy-key=y\n.hidden=z\nlower=1\n", &secret).unwrap();
    assert_eq!(parsed.entries.len(), 4);
    assert!(parsed.warnings.is_empty(), "no W103 with --keys=secret");
    let d = only_with(b"..x=CANARY-s3cr3t", &secret, Code::E003, 1, 1);
    assert!(d.hint.contains("'..'"));
    only_with(b"a/b=CANARY-s3cr3t", &secret, Code::E003, 1, 1);
}

#[test]
fn e004_whitespace_around_equals() {
    let d = only(b"FOO = CANARY-s3cr3t", Code::E004, 1, 4);
    assert_eq!(d.masked_line.as_deref(), Some("FOO = ********"));
    assert_eq!(d.caret, Some((4, 3)));
    assert_eq!(
        only(b"FOO =CANARY-s3cr3t", Code::E004, 1, 4).caret,
        Some((4, 1))
    );
    assert_eq!(
        only(b"FOO=\tCANARY-s3cr3t", Code::E004, 1, 5)
            .masked_line
            .as_deref(),
        Some("FOO= ********")
    );
    only(b"FOO= # CANARY-s3cr3t", Code::E004, 1, 5);
    only(b"FOO=  ", Code::E004, 1, 5);
    assert_eq!(
        rejected(EnvFormat::Strict, b"export =1"),
        [Code::W103, Code::E004]
    );
}

#[test]
fn e005_whitespace_in_unquoted_value() {
    let d = only(b"FOO=CANARY s3cr3t", Code::E005, 1, 5);
    assert_eq!(d.masked_line.as_deref(), Some("FOO=********"));
    assert_eq!(d.caret, Some((5, 8)));
    only("FOO=CANARY\u{a0}s3cr3t".as_bytes(), Code::E005, 1, 5);
    only("FOO=CANARY-s3cr3t\u{feff}".as_bytes(), Code::E005, 1, 5);
    // A tab before '#' does not start a comment for compose (§8.3).
    assert_eq!(
        rejected(EnvFormat::Strict, b"FOO=CANARY\t# s3cr3t"),
        [Code::E005, Code::E006]
    );
}

#[test]
fn e006_hash_in_unquoted_value() {
    let d = only(b"  FOO=CANARY#s3cr3t", Code::E006, 1, 7);
    assert_eq!(d.masked_line.as_deref(), Some("  FOO=********"));
    only(b"FOO=#CANARY-s3cr3t", Code::E006, 1, 5);
}

#[test]
fn e007_dollar() {
    only(b"FOO=CANARY$s3cr3t", Code::E007, 1, 5);
    only(b"FOO=\"CANARY${s3cr3t}\"", Code::E007, 1, 5);
    let d = only(b"FOO='CANARY${s3cr3t}'", Code::E007, 1, 5);
    assert!(d.hint.contains("python-dotenv"));
    // A `$` without `{` is literal everywhere inside single quotes.
    assert_eq!(
        value(EnvFormat::Strict, "FOO='CANARY$s3cr3t'"),
        "CANARY$s3cr3t"
    );
}

#[test]
fn e008_backslash_or_quote_in_unquoted_value() {
    only(b"FOO=CANARY\\s3cr3t", Code::E008, 1, 5);
    only(b"FOO=CANARY's3cr3t", Code::E008, 1, 5);
    only(b"FOO=CANARY\"s3cr3t", Code::E008, 1, 5);
    only(b"FOO=CANARY`s3cr3t", Code::E008, 1, 5);
}

#[test]
fn e009_unterminated_quote() {
    let d = only(b"A=1\nFOO=\"CANARY-s3cr3t\nBAR=1\n", Code::E009, 2, 5);
    assert_eq!(d.message, "unterminated quote opened at line 2, column 5");
    let d = only(
        b"FOO='CANARY-s3cr3t\n\nBAR=CANARY s3cr3t\n",
        Code::E009,
        1,
        5,
    );
    assert_eq!(d.caret, Some((5, 8)));
    // `\'` does not close a single-quoted value (python-dotenv reads it as an escape).
    only(b"FOO='CANARY\\'", Code::E009, 1, 5);
}

#[test]
fn e010_text_after_closing_quote() {
    only(b"FOO=\"CANARY\"s3cr3t", Code::E010, 1, 5);
    only(b"FOO='CANARY' s3cr3t", Code::E010, 1, 5);
    // An inline comment needs whitespace before '#'.
    only(b"FOO=\"CANARY-s3cr3t\"#c", Code::E010, 1, 5);
    // Reported at the value's start even when the closing quote is lines further down.
    only(b"FOO=\"CANARY\ns3cr3t\" junk\n", Code::E010, 1, 5);
}

#[test]
fn e011_unsupported_escape() {
    only(b"FOO=\"CANARY\\ts3cr3t\"", Code::E011, 1, 5);
    only(b"FOO=\"CANARY\\\ns3cr3t\"", Code::E011, 1, 5);
    only(b"FOO=\"CANARY\\u0041s3cr3t\"", Code::E011, 1, 5);
}

#[test]
fn e012_escape_in_single_quotes() {
    only(b"FOO='CANARY\\\\s3cr3t'", Code::E012, 1, 5);
    only(b"FOO='CANARY\\'s3cr3t'", Code::E012, 1, 5);
    assert_eq!(value(EnvFormat::Strict, r"FOO='C:\path\to'"), r"C:\path\to");
}

#[test]
fn e013_backticks() {
    only(b"FOO=`CANARY-s3cr3t`", Code::E013, 1, 5);
    // A multi-line backtick value is skipped as a whole, so its lines are not read as keys.
    let codes = rejected(
        EnvFormat::Strict,
        b"FOO=`CANARY\ns3cr3t\nMORE_S3CR3T`\nBAR=1\n",
    );
    assert_eq!(codes, [Code::E013]);
}

#[test]
fn e014_colon_separator() {
    let d = only(b"FOO: CANARY-s3cr3t", Code::E014, 1, 4);
    assert_eq!(d.masked_line.as_deref(), Some("FOO: ********"));
    assert_eq!(d.caret, Some((4, 1)));
    only(b"FOO: CANARY=s3cr3t", Code::E014, 1, 4);
    only(b"FOO:", Code::E014, 1, 4);
}

#[test]
fn e015_duplicate_key() {
    let d = only(
        b"FOO=CANARY-s3cr3t\n\nFOO=CANARY-s3cr3t\n",
        Code::E015,
        3,
        1,
    );
    assert_eq!(d.message, "duplicate key 'FOO' (first defined at line 1)");
    assert_eq!(d.caret, Some((1, 3)));
    // A key whose first definition had an error still counts.
    assert_eq!(
        rejected(EnvFormat::Strict, b"FOO=a b\nexport FOO=c\n"),
        [Code::E005, Code::E015]
    );
}

#[test]
fn e016_trailing_whitespace() {
    let d = only(b"FOO=CANARY-s3cr3t  ", Code::E016, 1, 5);
    assert_eq!(d.masked_line.as_deref(), Some("FOO=********"));
    only(b"FOO=CANARY-s3cr3t\t\r\n", Code::E016, 1, 5);
}

#[test]
fn e017_too_large() {
    let half = "x".repeat(600 * 1024);
    let src = format!("A={half}\nB={half}\n");
    let d = only(src.as_bytes(), Code::E017, 2, 3);
    assert_eq!(
        d.message,
        format!(
            "Secret data would be {} bytes; the Kubernetes limit is 1 MiB (1048576 bytes)",
            2 * half.len()
        )
    );
    assert_eq!(d.masked_line.as_deref(), Some("B=********"));
    // Exactly at the limit is fine.
    let exact = format!("A={}\n", "x".repeat(MAX_SECRET_DATA));
    assert_eq!(
        accept(EnvFormat::Strict, &exact)[0].1.len(),
        MAX_SECRET_DATA
    );
    // The limit applies in every mode (kubectl's lines are shorter than 64 KiB).
    assert_eq!(rejected(EnvFormat::Lenient, src.as_bytes()), [Code::E017]);
    let many: String = (0..20)
        .map(|i| format!("K{i}={}\n", "x".repeat(60_000)))
        .collect();
    let d = only_with(
        many.as_bytes(),
        &options(EnvFormat::Kubectl),
        Code::E017,
        18,
        5,
    );
    assert!(d.message.contains("1200000 bytes"), "{}", d.message);
}

#[test]
fn w101_empty_value() {
    let d = only(b"FOO=\n", Code::W101, 1, 5);
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.message, "empty value for 'FOO'");
    assert_eq!(
        (d.masked_line.as_deref(), d.caret),
        (Some("FOO="), Some((5, 1)))
    );
    assert_eq!(value(EnvFormat::Strict, "FOO="), "");
    assert_eq!(value(EnvFormat::Strict, "FOO=''"), "");
    assert_eq!(value(EnvFormat::Strict, "FOO=\"\" # none"), "");

    let deny = ParseOptions {
        deny_empty: true,
        ..ParseOptions::default()
    };
    let d = only_with(b"FOO=\"\"", &deny, Code::W101, 1, 5);
    assert_eq!(d.severity, Severity::Error);
    assert!(d.render(".env").contains("error[W101]"));
}

#[test]
fn w102_trailing_newline() {
    let d = only(b"FOO=\"CANARY-s3cr3t\n\"", Code::W102, 1, 5);
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.message, "value of 'FOO' ends with a newline");
    only(b"FOO=\"CANARY-s3cr3t\\n\"", Code::W102, 1, 5);
}

#[test]
fn w103_lowercase_key() {
    let d = only(b"foo=CANARY-s3cr3t", Code::W103, 1, 1);
    assert_eq!(d.message, "key 'foo' is not upper case");
    assert_eq!(d.caret, Some((1, 3)));
    assert_eq!(
        warnings(EnvFormat::Strict, "Foo_Bar=1\nFOO=2"),
        [Code::W103]
    );
}

// ---------------------------------------------------------------------------------------------
// Strict mode: the §7.1 matrix and the accepted forms.

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

// ---------------------------------------------------------------------------------------------
// Kubectl mode (§5.1).

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

// ---------------------------------------------------------------------------------------------
// Lenient mode (python-dotenv).

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

// ---------------------------------------------------------------------------------------------
// The small API.

#[test]
fn names_round_trip() {
    for format in [EnvFormat::Strict, EnvFormat::Kubectl, EnvFormat::Lenient] {
        assert_eq!(EnvFormat::parse(format.as_str()), Some(format));
        assert_eq!(format.to_string(), format.as_str());
    }
    assert_eq!(EnvFormat::default(), EnvFormat::Strict);
    assert_eq!(EnvFormat::parse("Strict"), None);
    for keys in [KeyRule::EnvVar, KeyRule::SecretKey] {
        assert_eq!(KeyRule::parse(keys.as_str()), Some(keys));
    }
    assert_eq!(KeyRule::default(), KeyRule::EnvVar);
    assert_eq!(Code::E006.to_string(), "E006");
    assert_eq!(Code::W101.as_str(), "W101");
    assert_eq!(Code::E017.default_severity(), Severity::Error);
    assert_eq!(Code::W108.default_severity(), Severity::Warning);
    let defaults = ParseOptions::default();
    assert!(!defaults.deny_empty && defaults.environment.is_none());
}
