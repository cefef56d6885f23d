//! Reading and writing whole SealedSecret documents in the shapes kubeseal and the API server
//! produce (`docs/wire-format.md` §7), including malformed ones the controller must survive.

use kseal_core::{NamespaceName, Scope};
use kseal_crds::{
    EncryptedValue, NAMESPACE_WIDE_ANNOTATION, SealedSecret, SpecProblem, ValueKind,
    scope_kind_from_annotations,
};

// Shortened but realistic ciphertexts (4096-bit keys give the `Ag` prefix).
const DB: &str = "AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq0aV8wS5mY7k1m0Ih6eG7LrT0U2kP5f6bGmJ4bQeN4Q==";
const API: &str = "AgAKx9dVg1cP0mQ2v7W8yZ3bN1cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ5aB6cD7eF8gHA==";

/// kubeseal's YAML mode (§7.1): `---`, sorted keys, `creationTimestamp: null` in both metadata
/// blocks, scope annotation copied into the template.
fn kubeseal_yaml() -> String {
    format!(
        "---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  annotations:
    sealedsecrets.bitnami.com/namespace-wide: \"true\"
  creationTimestamp: null
  name: app-env
  namespace: myns
spec:
  encryptedData:
    DATABASE_URL: {DB}
    API_KEY: {API}
  template:
    metadata:
      annotations:
        sealedsecrets.bitnami.com/namespace-wide: \"true\"
      creationTimestamp: null
      name: app-env
      namespace: myns
    type: Opaque
"
    )
}

/// kubeseal's default JSON mode: struct order, `template` before `encryptedData`.
fn kubeseal_json() -> String {
    format!(
        r#"{{
  "kind": "SealedSecret",
  "apiVersion": "bitnami.com/v1alpha1",
  "metadata": {{
    "name": "app-env",
    "namespace": "myns",
    "creationTimestamp": null,
    "annotations": {{"sealedsecrets.bitnami.com/namespace-wide": "true"}}
  }},
  "spec": {{
    "template": {{
      "metadata": {{
        "name": "app-env",
        "namespace": "myns",
        "creationTimestamp": null,
        "annotations": {{"sealedsecrets.bitnami.com/namespace-wide": "true"}}
      }},
      "type": "Opaque"
    }},
    "encryptedData": {{"DATABASE_URL": "{DB}", "API_KEY": "{API}"}}
  }}
}}"#
    )
}

#[test]
fn reads_kubeseal_yaml() {
    let ss: SealedSecret = serde_yaml::from_str(&kubeseal_yaml()).unwrap();
    assert_eq!(ss.metadata.name.as_deref(), Some("app-env"));
    assert_eq!(
        ss.metadata.creation_timestamp, None,
        "creationTimestamp: null parses"
    );
    assert_eq!(
        ss.scope(),
        Ok(Scope::NamespaceWide {
            namespace: NamespaceName::parse("myns").unwrap()
        })
    );
    let items: Vec<(&str, Option<&str>)> = ss
        .spec
        .encrypted_data
        .iter()
        .map(|(k, v)| (k, v.as_sealed()))
        .collect();
    assert_eq!(
        items,
        [("DATABASE_URL", Some(DB)), ("API_KEY", Some(API))],
        "document order"
    );
    assert!(ss.spec.problems().is_empty());
    let template = &ss.spec.template;
    assert_eq!(template.type_.as_deref(), Some("Opaque"));
    let meta = template.metadata.as_ref().unwrap();
    assert_eq!(meta.name.as_deref(), Some("app-env"));
    assert_eq!(meta.creation_timestamp, None);
    assert_eq!(
        scope_kind_from_annotations(meta.annotations.as_ref().unwrap()),
        ss.scope_kind(),
        "kubeseal copies the scope annotation into the template"
    );
    assert!(ss.status.is_none());
}

#[test]
fn json_and_yaml_read_the_same() {
    let from_yaml: SealedSecret = serde_yaml::from_str(&kubeseal_yaml()).unwrap();
    let from_json: SealedSecret = serde_json::from_str(&kubeseal_json()).unwrap();
    assert_eq!(from_yaml, from_json);
}

#[test]
fn writes_kubeseal_shape() {
    let ss: SealedSecret = serde_yaml::from_str(&kubeseal_yaml()).unwrap();
    let yaml = serde_yaml::to_string(&ss).unwrap();
    // kubeseal's document minus `---` and the `creationTimestamp: null` lines (k8s-openapi
    // omits unset fields), with encryptedData in document order rather than sorted, and no
    // `status`.
    let expected: String = kubeseal_yaml()
        .lines()
        .filter(|l| *l != "---" && !l.ends_with("creationTimestamp: null"))
        .map(|l| l.replace("\"true\"", "'true'") + "\n")
        .collect();
    assert_eq!(yaml, expected);

    let json = serde_json::to_string(&ss).unwrap();
    assert!(
        json.starts_with(
            r#"{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":"#
        )
    );
    assert!(!json.contains("status"));

    // And back.
    let again: SealedSecret = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(again, ss);
}

#[test]
fn legacy_v1_object_reads() {
    // Before v0.7 the whole Secret was one blob in spec.data; the schema still requires
    // encryptedData, so such objects carry an empty map (§7.2).
    let ss: SealedSecret = serde_yaml::from_str(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: old, namespace: ns}\n\
         spec:\n  data: AgBCREFE\n  encryptedData: {}\n",
    )
    .unwrap();
    assert_eq!(ss.spec.data.as_deref(), Some("AgBCREFE"));
    assert!(ss.spec.encrypted_data.is_empty());
    let json = serde_json::to_value(&ss).unwrap();
    assert_eq!(
        json["spec"],
        serde_json::json!({"data": "AgBCREFE", "encryptedData": {}})
    );

    // Without encryptedData at all (stored before the schema), it still reads.
    let ss: SealedSecret = serde_json::from_str(
        r#"{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret",
            "metadata":{"name":"old","namespace":"ns"},"spec":{"data":"AgBCREFE","template":null}}"#,
    )
    .unwrap();
    assert!(ss.spec.encrypted_data.is_empty() && ss.spec.problems().is_empty());
}

/// One malformed object must not fail a whole list (an informer's LIST) and must say what is
/// wrong, per item (`docs/controller-compat.md` §1).
#[test]
fn malformed_encrypted_data_is_tolerated_and_reported() {
    let list = r#"[
      {"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret",
       "metadata":{"name":"good","namespace":"ns"},"spec":{"encryptedData":{"A":"AgA="}}},
      {"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret",
       "metadata":{"name":"bad-value","namespace":"ns"},
       "spec":{"encryptedData":{"A":"AgA=","PORT":8080,"NESTED":{"x":"y"}}}},
      {"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret",
       "metadata":{"name":"not-a-map","namespace":"ns"},"spec":{"encryptedData":["AgA="]}}
    ]"#;
    let items: Vec<SealedSecret> = serde_json::from_str(list).unwrap();
    assert!(items[0].spec.problems().is_empty());

    let bad = &items[1].spec;
    assert_eq!(
        bad.encrypted_data
            .get("A")
            .and_then(EncryptedValue::as_sealed),
        Some("AgA=")
    );
    assert_eq!(
        bad.problems(),
        [
            SpecProblem::ValueNotAString {
                item: "PORT".into(),
                found: ValueKind::Number
            },
            SpecProblem::ValueNotAString {
                item: "NESTED".into(),
                found: ValueKind::Object
            },
        ]
    );
    assert_eq!(
        bad.problems()[0].to_string(),
        r#"item "PORT": value is a number, not a string"#
    );

    let not_a_map = &items[2].spec;
    assert!(not_a_map.encrypted_data.is_empty());
    assert_eq!(
        not_a_map.problems(),
        [SpecProblem::EncryptedDataNotAMap {
            found: ValueKind::Array
        }]
    );

    // Written back unchanged: tolerance never rewrites a user's object.
    let again = serde_json::to_value(&items).unwrap();
    let original: serde_json::Value = serde_json::from_str(list).unwrap();
    assert_eq!(again, original);
}

#[test]
fn scope_annotation_is_written_on_the_outer_metadata() {
    let mut ss: SealedSecret = serde_yaml::from_str(&kubeseal_yaml()).unwrap();
    kseal_crds::set_scope_annotations(&mut ss.metadata, kseal_core::ScopeKind::ClusterWide);
    let annotations = ss.metadata.annotations.as_ref().unwrap();
    assert!(!annotations.contains_key(NAMESPACE_WIDE_ANNOTATION));
    assert_eq!(ss.scope(), Ok(Scope::ClusterWide));
}
