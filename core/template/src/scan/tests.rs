use super::*;

fn refused(text: &str) -> String {
    check(text).expect_err(text).to_string()
}

#[test]
fn ordinary_templates_pass() {
    for text in [
        "plain text with } and {",
        "{{ .user }}:{{ .pass | b64enc }}",
        r#"{{ if eq .a "x" }}{{ range splitList "," .b }}{{ . }}{{ end }}{{ else if .c }}c{{ else }}d{{ end }}"#,
        r#"{{ define "row" }}{{ . | quote }}{{ end }}{{ template "row" .user }}"#,
        r#"{{ block "b" . }}{{ .x }}{{ end }}{{ template "b" . }}"#,
        "{{/* a comment with {{ and ü */}}{{- .x -}} ü text",
        r#"{{ "Grüße 🔐" }}{{ `raw ü` }}{{ 'ü' }}{{ "tab\t" }}"#,
        "{{ (((.a))) }}",
    ] {
        assert_eq!(check(text), Ok(()), "{text}");
    }
}

#[test]
fn recursion_is_refused() {
    let e = refused(r#"{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}"#);
    assert!(e.contains("template \"a\" calls itself"), "{e}");
    let e = refused(
        r#"{{define "a"}}{{template "b"}}{{end}}{{define "b"}}{{if 1}}{{template "a"}}{{end}}{{end}}{{template "a"}}"#,
    );
    assert!(e.contains("calls itself"), "{e}");
    let e = refused(r#"{{block "a" .}}{{template "a" .}}{{end}}"#);
    assert!(e.contains("calls itself"), "{e}");
    let e = refused(r#"x{{template "" .}}"#);
    assert!(e.contains("{{template \"\"}}"), "{e}");
    // A recursive define that is never called never runs.
    assert_eq!(check(r#"{{define "a"}}{{template "a"}}{{end}}"#), Ok(()));
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(150), ")".repeat(150));
    assert!(refused(&deep).contains("limit of 100"));
    let ifs = format!("{}x{}", "{{if 1}}".repeat(101), "{{end}}".repeat(101));
    assert!(refused(&ifs).contains("limit of 100"));
    let ok = format!("{}x{}", "{{if 1}}".repeat(90), "{{end}}".repeat(90));
    assert_eq!(check(&ok), Ok(()));
    let else_ifs = format!("{{{{if 0}}}}{}{{{{end}}}}", "{{else if 0}}".repeat(101));
    assert!(refused(&else_ifs).contains("limit of 100"));
    // A chain of templates, each nesting two levels (its `if` and the call): 120 in all.
    let mut chain = String::new();
    for i in 0..60 {
        chain.push_str(&format!(
            "{{{{define \"t{i}\"}}}}{{{{if 1}}}}{{{{template \"t{}\"}}}}{{{{end}}}}{{{{end}}}}",
            i + 1
        ));
    }
    chain.push_str("{{template \"t0\"}}");
    assert!(refused(&chain).contains("limit of 100"));
}

#[test]
fn wide_template_graphs_are_checked_in_linear_time() {
    // 60 templates each calling the next twice: 2^60 paths, one visit each.
    let mut text = String::new();
    for i in 0..60 {
        text.push_str(&format!(
            "{{{{define \"t{i}\"}}}}{{{{template \"t{n}\"}}}}{{{{template \"t{n}\"}}}}{{{{end}}}}",
            n = i + 1
        ));
    }
    text.push_str("{{template \"t0\"}}");
    assert_eq!(check(&text), Ok(()));
}

#[test]
fn text_the_engine_mis_lexes_is_refused() {
    assert!(refused("{{ ü }}").contains("non-ASCII"));
    assert!(refused("{{ 1€ }}").contains("line 1"));
    assert!(refused("{{ x \u{a0}}}").contains("non-ASCII"));
    // Found by the fuzzer: the engine's left trim cut into the character and panicked.
    assert!(refused("ü{{- .x }}").contains("right after a non-ASCII character"));
    assert!(refused("ü \n {{- /* c */}}").contains("right after a non-ASCII"));
    assert_eq!(check("ü x {{- .x }}ü {{ .y -}} ü"), Ok(()));
    assert!(refused("a\n{{ .x\u{a0}}}").contains("line 2"));
    assert!(refused(r#"{{ "\é" }}"#).contains("backslash"));
    assert!(refused(r#"{{ "\u0041ü" }}"#).contains("backslash"));
    assert!(refused(r#"{{ template "\x61" }}"#).contains("backslash"));
    // Found by the fuzzer: the engine's unquoting panicked on this raw string.
    assert!(refused("{{`a\\`}}").contains("lone backslash"));
    assert_eq!(check(r"{{ `a\\` }}"), Ok(()));
    // Found by the fuzzer: the engine's unquoting looped forever on these.
    for text in [
        r#"{{ "\u" }}"#,
        r#"{{ "a\x4" }}"#,
        r#"{{ "\x41\x" }}"#,
        r#"{{ `\u12` }}"#,
    ] {
        assert!(refused(text).contains("hex digits"), "{text}");
    }
    assert_eq!(check(r#"{{ "\x41\u00e9" }}"#), Ok(()));
}

#[test]
fn actions_open_at_the_end_are_refused() {
    // Found by the fuzzer: each of these made the engine loop forever.
    for text in [
        "{{{{- ",
        "{{ x ",
        "{{ -",
        "a {{ .x | upper  ",
        "{{ (",
        "{{- /&{{- u -",
        "{{ define temaaaablock \"b\" ",
        "{{ define.  }{ ",
        // A vertical tab is whitespace to the engine: the action goes on past the newline.
        "{{\u{b}\rx .pass (list 0 ",
        "{{ else \u{b}\n if",
    ] {
        assert!(refused(text).contains("unclosed action"), "{text:?}");
    }
}

#[test]
fn engine_errors_are_left_to_the_engine() {
    for text in [
        "{{ \"open",
        "{{ ) }}",
        "{{/* open",
        "{{ .x\n}}",
        "{{ template .x }}",
    ] {
        assert_eq!(check(text), Ok(()), "{text}");
    }
}
