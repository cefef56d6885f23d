//! One test per diagnostic code (`E001`…`E017`, `W101`…`W103`).

use super::*;

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
