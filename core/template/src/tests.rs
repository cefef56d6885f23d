//! Rendering end to end: what users write, errors, the limits, and bytes recorded from Go.

use super::*;

fn render(template: &str, items: &[(&str, &str)]) -> Result<String, TemplateError> {
    let templates = BTreeMap::from([("out".to_owned(), template.to_owned())]);
    let items = items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), SecretBytes::copy_from(v.as_bytes())))
        .collect();
    render_all(&templates, &items).map(|m| String::from_utf8(m["out"].expose().to_vec()).unwrap())
}

#[test]
fn what_users_write() {
    let items = [("user", "admin"), ("pass", "s3cr3t"), ("host", "db")];
    for (template, want) in [
        ("{{ .user }}", "admin"),
        (r#"{{ index . "pass" }}"#, "s3cr3t"),
        (
            "postgres://{{ .user }}:{{ .pass }}@{{ .host }}:5432/app",
            "postgres://admin:s3cr3t@db:5432/app",
        ),
        (
            r#"{{ printf "%s:%s" .user .pass | b64enc }}"#,
            "YWRtaW46czNjcjN0",
        ),
        (r#"{{ "YWRtaW4=" | b64dec }}"#, "admin"),
        ("{{ .user | upper }}", "ADMIN"),
        ("{{ .user | quote }}", "\"admin\""),
        ("{{ .user | squote }}", "'admin'"),
        (r#"{{ .missing | default "fallback" }}"#, "fallback"),
        (r#"{{ .user | default "fallback" }}"#, "admin"),
        (r#"{{ replace "a" "A" .user }}"#, "Admin"),
        (
            r#"{{ if eq .user "admin" }}yes{{ else }}no{{ end }}"#,
            "yes",
        ),
        (r#"{{ .user | trimPrefix "ad" }}"#, "min"),
        ("{{ .user | sha256sum | trunc 8 }}", "8c6976e5"),
        (
            "user: {{ .user }}\npass: {{ .pass | nindent 2 }}",
            "user: admin\npass: \n  s3cr3t",
        ),
        (r#"{{ list .user .host | join "," }}"#, "admin,db"),
        ("{{ .user | toJson }}", "\"admin\""),
        (r#"{{ "hello" | b32enc }}"#, "NBSWY3DP"),
        (r#"{{ "NBSWY3DP" | b32dec }}"#, "hello"),
        ("{{ .user | title }}", "Admin"),
        ("{{ cat .user .host }}", "admin db"),
    ] {
        assert_eq!(render(template, &items).unwrap(), want, "{template}");
    }
}

#[test]
fn unknown_function_is_named() {
    let e = render("{{ .pass | htpasswd }}", &[("pass", "s3cr3t")]).unwrap_err();
    assert_eq!(e.key, "out");
    assert!(e.message.contains("\"htpasswd\" is not supported"), "{e}");
    assert!(!e.to_string().contains("s3cr3t"));
    let e = render("{{ env \"HOME\" }}", &[]).unwrap_err();
    assert!(e.message.contains("\"env\""), "{e}");
}

#[test]
fn parse_errors_are_short() {
    let long = format!("{{{{ end \"{}\" }}}}", "x".repeat(10_000));
    let e = render(&long, &[]).unwrap_err();
    assert!(e.message.starts_with("cannot parse: "), "{e}");
    assert!(
        e.message.chars().count() < 400,
        "{} characters",
        e.message.len()
    );
}

#[test]
fn errors_never_show_values() {
    for template in [
        r#"{{ index . "nope" 3 }}"#,
        "{{ .pass | b64dec }}",
        "{{ lt .pass 3 }}",
        "{{ len 3 }}",
        "{{ range .pass }}{{ end }}",
        "{{ .pass.field }}",
    ] {
        let e = render(template, &[("pass", "s3cr3t-canary")]);
        if let Err(e) = e {
            assert!(!e.to_string().contains("canary"), "{template}: {e}");
        }
    }
}

fn limit(template: &str) -> String {
    render(template, &[("pass", "s3cr3t-canary")])
        .expect_err(template)
        .to_string()
}

#[test]
fn bombs_stop_at_a_named_limit() {
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(120), ")".repeat(120));
    for (template, want) in [
        (
            r#"{{ indent 1000000000000000000 "x" }}"#,
            "template \"out\": indent width 1000000000000000000 over the limit 1048576",
        ),
        (
            r#"{{ repeat 1000000000 "x" }}"#,
            "repeat count 1000000000 over the limit 1048576",
        ),
        (
            r#"{{ repeat 1048576 "xy" }}"#,
            "repeat: result of 2097152 bytes over the limit",
        ),
        (
            r#"{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}"#,
            "template \"a\" calls itself",
        ),
        (
            r#"{{ range splitList "" (repeat 1000000 "x") }}{{ . }}{{ end }}"#,
            "splitList: list of 1000000 elements over the limit 65536",
        ),
        (
            r#"{{ range splitList "," (repeat 60000 "x,") }}{{ repeat 100 "y" }}{{ end }}"#,
            "output exceeds the 1 MiB Secret limit",
        ),
        (
            r#"{{ replace "" "xxxxxxxxxxxxxxxx" (repeat 1000000 "a") }}"#,
            "replace: result of 17000016 bytes over the limit",
        ),
        (
            r#"{{ printf "%2000000d" 1 }}"#,
            "printf width 2000000 over the limit 1048576",
        ),
        (
            r#"{{ printf "%.2000000f" 1.5 }}"#,
            "printf precision 2000000 over the limit",
        ),
        (
            r#"{{ printf "%1048576d%1048576d" 1 2 }}"#,
            "printf: result of 2097152 bytes over the limit",
        ),
        (
            r#"{{ printf "%*d" 99999999 1 }}"#,
            "printf width 99999999 over the limit",
        ),
        (
            r#"{{ trunc 99999999999 .pass }}"#,
            "trunc count 99999999999 over the limit",
        ),
        (
            r#"{{ substr 0 -99999999999 .pass }}"#,
            "substr end -99999999999 over the limit",
        ),
        (
            r#"{{ join (repeat 1000000 "x") (list 1 2 3) }}"#,
            "join: result of 2000003 bytes over the limit",
        ),
        (deep.as_str(), "nesting deeper than the limit of 100"),
        ("{{ ü }}", "non-ASCII character in an action"),
    ] {
        let got = limit(template);
        assert!(
            got.contains(want),
            "{template}\n  want {want:?}\n  got  {got:?}"
        );
        assert!(!got.contains("canary"), "{got}");
    }
}

#[test]
fn lists_cannot_nest_without_bound() {
    let nest = "{{ $x := list }}".to_owned() + &"{{ $x := list $x }}".repeat(40) + "{{ len $x }}";
    assert!(limit(&nest).contains("nested deeper than the limit of 32"));
}

#[test]
fn the_output_budget_is_shared_by_items_and_templates() {
    let big = "x".repeat(600 << 10);
    let templates = BTreeMap::from([
        ("a".to_owned(), "{{ .big }}".to_owned()),
        ("b".to_owned(), "{{ .big }}".to_owned()),
    ]);
    let items = BTreeMap::from([("big".to_owned(), SecretBytes::from(big.clone()))]);
    let e = render_all(&templates, &items).unwrap_err();
    assert_eq!(
        e.key, "a",
        "the item and the first template are already over"
    );
    assert!(
        e.message
            .starts_with("output exceeds the 1 MiB Secret limit"),
        "{e}"
    );
    // A template that replaces the item frees the item's share.
    let templates = BTreeMap::from([("big".to_owned(), "{{ .big }}".to_owned())]);
    assert_eq!(
        render_all(&templates, &items).unwrap()["big"].len(),
        big.len()
    );
    let templates = BTreeMap::from([
        ("big".to_owned(), "{{ .big }}".to_owned()),
        ("c".to_owned(), "{{ .big }}".to_owned()),
    ]);
    assert_eq!(render_all(&templates, &items).unwrap_err().key, "c");
}

#[test]
fn the_time_budget_stops_busy_templates() {
    let templates = BTreeMap::from([(
        "slow".to_owned(),
        r#"{{ range splitList "," (repeat 60000 ",") }}{{ range splitList "," (repeat 60000 ",") }}{{ if eq 1 2 }}{{ end }}{{ end }}{{ end }}"#
            .to_owned(),
    )]);
    let start = std::time::Instant::now();
    let e = render_announced(
        &templates,
        &BTreeMap::new(),
        Duration::from_millis(50),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(e.key, "slow");
    assert!(
        e.message.contains("rendering took longer than the limit"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn keys_are_announced_before_they_render() {
    let templates = BTreeMap::from([
        ("a".to_owned(), "x".to_owned()),
        ("b".to_owned(), "{{ repeat 2000000 \"x\" }}".to_owned()),
        ("c".to_owned(), "never".to_owned()),
    ]);
    let mut seen = Vec::new();
    let e = render_announced(&templates, &BTreeMap::new(), limits::MAX_TIME, &mut |k| {
        seen.push(k.to_owned())
    })
    .unwrap_err();
    assert_eq!(seen, ["a", "b"]);
    assert_eq!(e.key, "b");
}

#[test]
fn split_list_splits_like_go() {
    assert_eq!(
        render(r#"{{ splitList "" "aü" | join "," }}"#, &[]).unwrap(),
        "a,ü"
    );
    assert_eq!(
        render(r#"{{ splitList "," ",a," | len }}"#, &[]).unwrap(),
        "3"
    );
}

#[test]
fn many_small_templates_render() {
    let templates: BTreeMap<String, String> = (0..500)
        .map(|i| (format!("k{i}"), format!("{{{{ .user }}}}-{i}")))
        .collect();
    let items = BTreeMap::from([("user".to_owned(), SecretBytes::copy_from(b"admin"))]);
    let out = InProcess.render(&templates, &items).unwrap();
    assert_eq!(out.len(), 500);
    assert_eq!(out["k42"].expose(), b"admin-42");
}

/// The items of [`go_outputs`]: quotes, tabs, non-ASCII, HTML, control and format
/// characters, and URL syntax.
const GO_ITEMS: &[(&str, &str)] = &[
    ("user", "admin"),
    ("pass", "s3cr3t"),
    ("host", "db"),
    ("note", "Grüße 🔐 \"quoted\"\ttab <b>&amp;"),
    (
        "ctl",
        "a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff}",
    ),
    ("html", "<a href='x'>&</a>"),
    ("space", "a b+c/d?e=f&g#h%i"),
];

/// Bytes Go 1.26's `text/template` with sprig v3.3.0's `GenericFuncMap` rendered for these
/// templates over [`GO_ITEMS`] (a `map[string]string`), recorded from a Go program.
#[test]
fn go_outputs() {
    let cases: &[(&str, &str)] = &[
        (
            "{{ urlquery .note }} {{ .space | urlquery }}",
            "Gr%C3%BC%C3%9Fe+%F0%9F%94%90+%22quoted%22%09tab+%3Cb%3E%26amp%3B a+b%2Bc%2Fd%3Fe%3Df%26g%23h%25i",
        ),
        (
            "{{ urlquery \"a\" 1 2 \"b\" }}|{{ urlquery 1 2 }}|{{ urlquery .missing }}|{{ urlquery \"~-_.\" }}",
            "a1+2b|1+2|%3Cno+value%3E|~-_.",
        ),
        (
            "{{ printf \"%q\" .note }}",
            "\"Grüße 🔐 \\\"quoted\\\"\\ttab <b>&amp;\"",
        ),
        (
            "{{ printf \"%q\" .ctl }}",
            "\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"",
        ),
        ("{{ printf \"%05d|%-4d|\" 42 7 }}", "00042|7   |"),
        (
            "{{ printf \"%5d|%+d|%d|% d|%-05d|%+05d|%05d\" 42 3 -1 5 6 7 -8 }}",
            "   42|+3|-1| 5|6    |+0007|-0008",
        ),
        (
            "{{ toJson .html }} {{ toJson .note }} {{ toJson .ctl }}",
            "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\" \"Grüße 🔐 \\\"quoted\\\"\\ttab \\u003cb\\u003e\\u0026amp;\" \"a\\u0000b\\u0007c\u{7f}d\u{a0}e\\u2028f\u{200b}g\u{feff}\"",
        ),
        (
            "{{ mustToJson .html }}|{{ toPrettyJson (list .html 1) }}|{{ toRawJson .html }}",
            "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\"|[\n  \"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\",\n  1\n]|\"<a href='x'>&</a>\"",
        ),
        (
            "{{ quote .ctl }}",
            "\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"",
        ),
        (
            "{{ printf \"%s|%v|%d|%t|%%|%x|%X\" .user true 7 false .user .user }}",
            "admin|true|7|false|%|61646d696e|61646D696E",
        ),
        (
            "{{ printf \"%x|%X|% x|%#x|%# x|%08x|%x|%X\" 255 255 .user .user .user 255 -255 \"ü\" }}",
            "ff|FF|61 64 6d 69 6e|0x61646d696e|0x61 0x64 0x6d 0x69 0x6e|000000ff|-ff|C3BC",
        ),
        (
            "{{ printf \"%f|%.2f|%8.3f|%-8.1f|%+.1f|%v|%v|%e|%g\" 3.14159 3.14159 3.14159 2.5 2.25 1.5 0.0000015 1234.5678 0.000012 }}",
            "3.141590|3.14|   3.142|2.5     |+2.2|1.5|1.5e-06|1.234568e+03|1.2e-05",
        ),
        (
            "{{ printf \"%s|%d|%v\" .missing .missing .missing }}",
            "%!s(<nil>)|%!d(<nil>)|<nil>",
        ),
        ("{{ printf \"%d %s\" \"x\" 5 }}", "%!d(string=x) %!s(int=5)"),
        (
            "{{ printf \"%v|%s|%q|%d\" (list \"a\" 1) (list \"a\" \"b\") (list \"a\" \"b\") (list 1 2) }}",
            "[a 1]|[a b]|[\"a\" \"b\"]|[1 2]",
        ),
        (
            "{{ printf \"%v\" . }}",
            "map[ctl:a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff} host:db html:<a href='x'>&</a> note:Grüße 🔐 \"quoted\"\ttab <b>&amp; pass:s3cr3t space:a b+c/d?e=f&g#h%i user:admin]",
        ),
        (
            "{{ printf \"%10s|%-10s|%.2s|%5.1s|%05s|%x\" \"ab\" \"ab\" \"héllo\" \"xyz\" \"ab\" \"\" }}",
            "        ab|ab        |hé|    x|000ab|",
        ),
        (
            "{{ printf \"%10q|%-10q|%+q|%#q|%.3q\" \"ab\" \"ab\" \"Grüße\" \"ab\" \"abcdef\" }}",
            "      \"ab\"|\"ab\"      |\"Gr\\u00fc\\u00dfe\"|`ab`|\"abc\"",
        ),
        (
            "{{ printf \"%t|%t|%5t\" true \"x\" false }}",
            "true|%!t(string=x)|false",
        ),
        (
            "{{ printf \"%c|%U|%o|%O|%b|%#o\" 65 65 8 8 5 8 }}",
            "A|U+0041|10|0o10|101|010",
        ),
        (
            "{{ printf \"%*d|%-*d|%.*f\" 5 1 4 2 2 3.14159 }}",
            "    1|2   |3.14",
        ),
        (
            "{{ print .missing 1 2 \"a\" 3 true .missing }}|{{ println 1 \"a\" 2 }}",
            "<nil> 1 2a3 true <nil>|1 a 2\n",
        ),
        (
            "{{ printf \"%v %v %v %v\" 0.1 0.00000125 12345678.5 123456789.5 }}",
            "0.1 1.25e-06 1.23456785e+07 1.234567895e+08",
        ),
        (
            "{{ printf \"%5.2f|%05.1f|%-6.2f|%+06.1f|% .2f\" 1.234 1.5 2.5 3.25 4.125 }}",
            " 1.23|001.5|2.50  |+003.2| 4.12",
        ),
        (
            "{{ printf \"%6.2x|%#X|%#v|%#v\" 255 255 \"a\" 1 }}",
            "    ff|0XFF|\"a\"|1",
        ),
        (
            "{{ quote 1 true .missing \"a\" }}|{{ squote 1 .missing }}",
            "\"1\" \"true\" \"a\"|'1'",
        ),
        (
            "{{ printf \"%#08x|%08.3d|%#o|%#b|%O|%x|%#5x|%-#8x|\" 255 7 8 5 8 -255 1 1 }}",
            "0x000000ff|     007|010|0b101|0o10|-ff|  0x1|0x1     |",
        ),
        (
            "{{ printf \"%5d|%-5d\" \"x\" \"y\" }}|{{ printf \"%d\" (list \"a\" 1 .missing) }}|{{ printf \"%v|%5v|%s\" (list \"a\" .missing) (list 1 \"b\") (list .missing) }}",
            "%!d(string=    x)|%!d(string=y    )|[%!d(string=a) 1 <nil>]|[a <nil>]|[    1     b]|[<nil>]",
        ),
        (
            "{{ printf \"%05t|%05v|%-5v|%5v|\" true .missing .missing true }}",
            "0true|<nil>|<nil>| true|",
        ),
        (
            "{{ printf \"%c|%q|%q|%+q|%U|%#U|%.0d|%5.0d|%x\" 97 97 39 252 252 97 0 0 \"\" }}",
            "a|'a'|'\\''|'\\u00fc'|U+00FC|U+0061 'a'||     |",
        ),
        (
            "{{ printf \"%!|%5%|%-+ 0#\" }}",
            "%!!(MISSING)|%|%!(NOVERB)",
        ),
        (
            "{{ printf \"%d %d\" 1 2 3 \"x\" .missing }}",
            "1 2%!(EXTRA int=3, string=x, <nil>)",
        ),
        (
            "{{ printf \"%*d|%*d\" -5 1 \"x\" 2 }}",
            "1    |%!(BADWIDTH)2",
        ),
        (
            "{{ printf \"%e|%E|%.2e|%.0e|%g|%G|%v|%v|%v\" 1234.5678 0.000012 1234.5678 5.5 0.00001 1e-7 100000.5 1234567.5 0.0001 }}",
            "1.234568e+03|1.200000E-05|1.23e+03|6e+00|1e-05|1E-07|100000.5|1.2345675e+06|0.0001",
        ),
        (
            "{{ printf \"%.1f|%.1f|%.0f|%.0f|%.2f\" 0.25 0.35 0.5 1.5 1.005 }}",
            "0.2|0.3|0|2|1.00",
        ),
        (
            "{{ printf \"%10.3e|%-10.1f|%010.2f|%+010.2f|% 010.2f\" 1.5 1.5 1.5 1.5 1.5 }}",
            " 1.500e+00|1.5       |0000001.50|+000001.50| 000001.50",
        ),
        (
            "{{ toJson (list 1 1.5 0.000001 0.0000001 \"x\" true .missing) }}",
            "[1,1.5,0.000001,1e-7,\"x\",true,null]",
        ),
        (
            "{{ printf \"%s\" 1.5 }}|{{ printf \"%t\" 1 }}|{{ printf \"%q\" 1.5 }}|{{ printf \"%s\" true }}",
            "%!s(float64=1.5)|%!t(int=1)|%!q(float64=1.5)|%!s(bool=true)",
        ),
        (
            "{{ printf \"%.3s|%.10s|%-8q|%08q|%x|% X|%#X|%.2x\" \"Grüße\" \"ab\" \"a\" \"a\" \"Grüß\" \"ab\" \"ab\" \"abc\" }}",
            "Grü|ab|\"a\"     |00000\"a\"|4772c3bcc39f|61 62|0X6162|6162",
        ),
        (
            "{{ print \"a\" \"b\" 1 2 \"c\" .missing (list 1 2) }}|{{ println }}|{{ print }}",
            "ab1 2c<nil> [1 2]|\n|",
        ),
        (
            "{{ printf \"%v|%d|%s\" . . . }}",
            "map[ctl:a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff} host:db html:<a href='x'>&</a> note:Grüße 🔐 \"quoted\"\ttab <b>&amp; pass:s3cr3t space:a b+c/d?e=f&g#h%i user:admin]|map[%!d(string=ctl):%!d(string=a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff}) %!d(string=host):%!d(string=db) %!d(string=html):%!d(string=<a href='x'>&</a>) %!d(string=note):%!d(string=Grüße 🔐 \"quoted\"\ttab <b>&amp;) %!d(string=pass):%!d(string=s3cr3t) %!d(string=space):%!d(string=a b+c/d?e=f&g#h%i) %!d(string=user):%!d(string=admin)]|map[ctl:a\u{0}b\u{7}c\u{7f}d\u{a0}e\u{2028}f\u{200b}g\u{feff} host:db html:<a href='x'>&</a> note:Grüße 🔐 \"quoted\"\ttab <b>&amp; pass:s3cr3t space:a b+c/d?e=f&g#h%i user:admin]",
        ),
        (
            "{{ printf \"%5s|%-5s|%5.1q\" (list \"a\") (list \"b\") (list \"xyz\") }}",
            "[    a]|[b    ]|[  \"x\"]",
        ),
        ("{{ printf \"%v %v\" 'a' 1.0 }}", "97 1"),
        (
            "{{ printf \"%#q|%#q|%#q\" \"a`b\" \"a\\tb\" \"a\\nb\" }}",
            "\"a`b\"|`a\tb`|\"a\\nb\"",
        ),
        (
            "{{ printf \"%z\" 1 }}|{{ printf \"%d\" }}|{{ printf \"%!\" }}|{{ printf \"100%\" }}",
            "%!z(int=1)|%!d(MISSING)|%!!(MISSING)|100%!(NOVERB)",
        ),
        (
            "{{ .note | quote }} {{ quote .ctl .user }} {{ squote .user }}",
            "\"Grüße 🔐 \\\"quoted\\\"\\ttab <b>&amp;\" \"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\" \"admin\" 'admin'",
        ),
        (
            "{{ toString (list 1 \"a\" .missing true) }}|{{ list \"a\" 2 | join \",\" }}|{{ cat \"a\" 1 true }}",
            "[1 a <nil> true]|a,2|a 1 true",
        ),
        (
            "{{ urlquery .html }}|{{ urlquery .ctl }}|{{ urlquery \"\" }}|{{ urlquery 12 }}",
            "%3Ca+href%3D%27x%27%3E%26%3C%2Fa%3E|a%00b%07c%7Fd%C2%A0e%E2%80%A8f%E2%80%8Bg%EF%BB%BF||12",
        ),
        (
            "{{ toRawJson .html }}|{{ mustToJson (list .html .ctl) }}|{{ toPrettyJson . }}|{{ mustToPrettyJson (list) }}|{{ toJson (list) }}|{{ toRawJson . }}|{{ mustToRawJson .user }}",
            "\"<a href='x'>&</a>\"|[\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\",\"a\\u0000b\\u0007c\u{7f}d\u{a0}e\\u2028f\u{200b}g\u{feff}\"]|{\n  \"ctl\": \"a\\u0000b\\u0007c\u{7f}d\u{a0}e\\u2028f\u{200b}g\u{feff}\",\n  \"host\": \"db\",\n  \"html\": \"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\",\n  \"note\": \"Grüße 🔐 \\\"quoted\\\"\\ttab \\u003cb\\u003e\\u0026amp;\",\n  \"pass\": \"s3cr3t\",\n  \"space\": \"a b+c/d?e=f\\u0026g#h%i\",\n  \"user\": \"admin\"\n}|[]|[]|{\"ctl\":\"a\\u0000b\\u0007c\u{7f}d\u{a0}e\\u2028f\u{200b}g\u{feff}\",\"host\":\"db\",\"html\":\"<a href='x'>&</a>\",\"note\":\"Grüße 🔐 \\\"quoted\\\"\\ttab <b>&amp;\",\"pass\":\"s3cr3t\",\"space\":\"a b+c/d?e=f&g#h%i\",\"user\":\"admin\"}|\"admin\"",
        ),
        (
            "{{ toJson 1 }}|{{ toJson -7 }}|{{ toJson true }}|{{ toJson .missing }}|{{ toJson 0.5 }}|{{ toJson 0.0000012 }}|{{ toJson 123456789.125 }}",
            "1|-7|true|null|0.5|0.0000012|123456789.125",
        ),
        (
            "{{ printf \"%v|%v|%v|%v|%v|%v\" 0.5 2.5 0.00012 0.000012 123456.5 1234567.25 }}",
            "0.5|2.5|0.00012|1.2e-05|123456.5|1.23456725e+06",
        ),
        (
            "{{ printf \"%g|%G|%e|%E|%f|%F\" 0.000012 1234567.25 0.5 3.5e-10 1e-10 123456789.987654321 }}",
            "1.2e-05|1.23456725E+06|5.000000e-01|3.500000E-10|0.000000|123456789.987654",
        ),
        (
            "{{ printf \"%s %d %v %q %x %X %t\" .note 42 .user .user .user .user true }}",
            "Grüße 🔐 \"quoted\"\ttab <b>&amp; 42 admin \"admin\" 61646d696e 61646D696E true",
        ),
        (
            "{{ printf \"%q|%+q|%#q|%x\" .ctl .ctl .ctl .ctl }}",
            "\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"|\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"|\"a\\x00b\\ac\\x7fd\\u00a0e\\u2028f\\u200bg\\ufeff\"|61006207637f64c2a065e280a866e2808b67efbbbf",
        ),
        (
            "{{ printf \"%8.3f|%-8.3f|%08.3f|%+08.3f|% 8.3f|%-+8.1f|%.0f|%.0f|%.0f\" 3.14159 3.14159 3.14159 3.14159 3.14159 2.25 2.5 3.5 0.4 }}",
            "   3.142|3.142   |0003.142|+003.142|   3.142|+2.2    |2|4|0",
        ),
        (
            "{{ printf \"%d|%5d|%-5d|%05d|%+d|% d|%+5d|%-+5d|%x|%X|%#x|%o|%b|%c|%q|%U\" -42 -42 -42 -42 42 42 42 42 3054 3054 3054 64 10 128272 128272 128272 }}",
            "-42|  -42|-42  |-0042|+42| 42|  +42|+42  |bee|BEE|0xbee|100|1010|🔐|'🔐'|U+1F510",
        ),
    ];
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|(template, want)| match render(template, GO_ITEMS) {
            Ok(got) if got == *want => None,
            other => Some(format!("{template}\n  want {want:?}\n  got  {other:?}")),
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} differ:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}
