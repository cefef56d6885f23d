use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

/// Reads `text` as JSON values with the file limits.
fn values(text: &str) -> Documents<JsonValue> {
    read::<JsonValue>(text.as_bytes(), &Limits::FILES).unwrap()
}

/// Runs `work` and fails if it took a second or more: the limits must answer quickly.
fn quickly<T>(work: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = work();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    out
}

#[test]
fn yaml_documents_spans_and_numbers() {
    let text = "# header\n---\na: 1\n---\n# only a comment\n---\n~\n---\nb: [1, 2]\n...\n";
    let docs = values(text);
    assert_eq!(docs.syntax, Syntax::Yaml);
    let got: Vec<(usize, &str, Value)> = docs
        .documents
        .iter()
        .map(|d| {
            (
                d.number,
                &text[d.span.clone()],
                d.value.as_ref().unwrap().0.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "---\na: 1\n", json!({"a": 1})),
            (2, "---\nb: [1, 2]\n...\n", json!({"b": [1, 2]})),
        ],
        "comment-only, null and header-only documents are no documents"
    );
}

#[test]
fn directives_stay_with_their_document() {
    let docs = values("%YAML 1.2\n---\na: 1\n---\nb: 2\n");
    let got: Vec<Value> = docs
        .into_values()
        .unwrap()
        .into_iter()
        .map(|v| v.0)
        .collect();
    assert_eq!(got, [json!({"a": 1}), json!({"b": 2})]);
}

#[test]
fn one_broken_document_does_not_hide_the_others() {
    let text = "kind: A\n---\nkind: B\n  bad: [\n---\nkind: C\n";
    let docs = values(text);
    assert_eq!(docs.documents.len(), 3);
    assert!(docs.documents[0].value.is_ok() && docs.documents[2].value.is_ok());
    let e = docs.first_error().unwrap();
    assert_eq!((e.document, e.line, e.column), (2, Some(4), Some(6)));
    assert_eq!(
        e.to_string(),
        "4:6: document 2: not valid YAML: mapping values are not allowed in this context"
    );
    assert_eq!(
        docs.into_values().unwrap_err().document,
        2,
        "into_values gives the first error"
    );
}

#[test]
fn json_streams_and_their_first_error() {
    let text = "{\"kind\": \"A\"}\n  [1]\n{\"kind\": \"B\",\n";
    let docs = values(text);
    assert_eq!(docs.syntax, Syntax::Json);
    assert_eq!(docs.documents.len(), 3);
    assert_eq!(&text[docs.documents[1].span.clone()], "[1]");
    let e = docs.first_error().unwrap();
    assert_eq!((e.document, e.problem.clone()), (3, Problem::EndsEarly));
    assert_eq!(
        e.to_string(),
        "4:0: document 3: not valid JSON: input ends inside a value"
    );
}

#[test]
fn typed_documents_report_their_shape_without_quoting() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Named {
        name: u32,
    }
    for text in ["name: CANARY-secret\n", "{\"name\": \"CANARY-secret\"}"] {
        let e = read::<Named>(text.as_bytes(), &Limits::FILES)
            .unwrap()
            .into_values()
            .unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.starts_with("1:"), "{shown}");
        assert!(shown.contains("document 1: not valid"), "{shown}");
    }
}

#[test]
fn a_document_marker_bomb_meets_the_document_limit() {
    let bomb = "---\n".repeat(3_000_000);
    let e = quickly(|| read::<JsonValue>(bomb.as_bytes(), &Limits::FILES).unwrap_err());
    assert_eq!(e, ReadError::TooManyDocuments { limit: 10_000 });
    assert_eq!(e.to_string(), "input has more than 10000 documents");
    let json_bomb = "{}".repeat(20_000);
    let e = quickly(|| read::<JsonValue>(json_bomb.as_bytes(), &Limits::FILES).unwrap_err());
    assert_eq!(e, ReadError::TooManyDocuments { limit: 10_000 });
    // At the limit, empty documents are read and left out.
    let at_limit = "---\n".repeat(10_000);
    assert!(quickly(|| values(&at_limit)).documents.is_empty());
}

#[test]
fn a_huge_input_is_refused_before_parsing() {
    let huge = vec![b'a'; Limits::REQUEST.max_bytes + 1];
    let e = read::<JsonValue>(&huge, &Limits::REQUEST).unwrap_err();
    assert_eq!(
        e,
        ReadError::TooLarge {
            bytes: (2 << 20) + 1,
            limit: 2 << 20
        }
    );
    assert!(matches!(
        read_one::<JsonValue>(&huge, &Limits::REQUEST),
        Err(OneError::Read(ReadError::TooLarge { .. }))
    ));
}

#[test]
fn deep_nesting_meets_the_limits_quickly() {
    let depth = 100_000;
    let flow = format!("a:\n  b: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let e = quickly(|| values(&flow)).into_values().unwrap_err();
    assert_eq!(e.problem, Problem::TooDeep { limit: 1000 });
    assert_eq!((e.line, e.column), (Some(2), Some(1006)));
    assert_eq!(
        e.to_string(),
        "2:1006: document 1: not valid YAML: nested deeper than 1000 levels"
    );
    let e = quickly(|| values(&format!("{}1\n", "- ".repeat(depth))))
        .into_values()
        .unwrap_err();
    assert_eq!(e.problem, Problem::RecursionLimit);
    let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let e = quickly(|| values(&json)).into_values().unwrap_err();
    assert_eq!(e.problem, Problem::RecursionLimit);
    assert_eq!(e.syntax, Syntax::Json);
}

#[test]
fn billion_laughs_meets_the_alias_budget() {
    let mut bomb = String::from(
        "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    let e = quickly(|| values(&bomb)).into_values().unwrap_err();
    assert_eq!(e.problem, Problem::RepetitionLimit);
    assert_eq!(
        e.to_string(),
        "document 1: not valid YAML: repetition limit exceeded"
    );
}

#[test]
fn not_utf8_names_the_offset() {
    let e = read::<JsonValue>(b"a: 1\nb: \xff\n", &Limits::FILES).unwrap_err();
    assert_eq!(
        e.to_string(),
        "input is not UTF-8 (invalid byte at offset 8)"
    );
}

#[test]
fn read_one_takes_exactly_one_object() {
    let one = |text: &str| read_one::<JsonValue>(text.as_bytes(), &Limits::REQUEST);
    assert_eq!(one("---\na: 1\n---\n").unwrap().0, json!({"a": 1}));
    assert_eq!(one("{a: 1}").unwrap().0, json!({"a": 1}), "flow-style YAML");
    assert_eq!(one(" {\"a\": 1}").unwrap().0, json!({"a": 1}));
    assert_eq!(one("a: 1\n---\nb: 2\n"), Err(OneError::Several));
    assert_eq!(one("a: 1\n---\nb: [\n"), Err(OneError::Several));
    assert_eq!(one("# nothing\n"), Err(OneError::Empty));
    assert_eq!(one(""), Err(OneError::Empty));
    let e = one(&format!("{}{}", "[".repeat(200), "]".repeat(200))).unwrap_err();
    assert!(
        matches!(&e, OneError::Document(d) if d.problem == Problem::RecursionLimit && d.syntax == Syntax::Json),
        "a JSON limit is not retried as YAML: {e:?}"
    );
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Named {
        name: u32,
    }
    let e = read_one::<Named>(b"{\"name\": \"x\"}", &Limits::REQUEST).unwrap_err();
    assert!(
        matches!(&e, OneError::Document(d) if matches!(d.problem, Problem::Shape(_))),
        "a JSON value of the wrong shape is not retried as YAML: {e:?}"
    );
}

#[test]
fn messages_lose_quoted_input() {
    assert_eq!(
        scrub_parser_message("invalid value: string \"s3cr3t\", expected x at line 3 column 4"),
        "invalid value: string \"…\", expected x"
    );
}
