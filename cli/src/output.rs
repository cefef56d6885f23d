//! The SealedSecret documents kseal writes, in kubeseal's shape (`docs/wire-format.md` §7.1).
//!
//! YAML is emitted by hand rather than through a serializer so that the layout is fixed: keys in
//! kubeseal's (alphabetical) order, `encryptedData` items in input order, one line per item.
//! A stable layout is what lets `--merge-into` and `kseal rotate` change single lines.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ordered_json::OrderedPairs;

/// `apiVersion` of SealedSecret.
pub(crate) const API_VERSION: &str = "bitnami.com/v1alpha1";

/// A SealedSecret about to be written. Holds ciphertext and metadata only.
#[derive(Debug, Clone)]
pub(crate) struct SealedDoc {
    pub(crate) name: Option<String>,
    pub(crate) namespace: Option<String>,
    /// Outer `metadata.annotations`: scope annotations (read by the controller) and the
    /// key fingerprint.
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) template_labels: BTreeMap<String, String>,
    pub(crate) template_annotations: BTreeMap<String, String>,
    pub(crate) type_: String,
    pub(crate) immutable: Option<bool>,
    /// `(item name, base64 sealed value)` in input order.
    pub(crate) items: Vec<(String, String)>,
}

impl SealedDoc {
    /// YAML, starting with a `---` line as kubeseal's does, ending with a newline.
    pub(crate) fn to_yaml(&self) -> String {
        let mut y = String::from("---\n");
        y.push_str(&format!(
            "apiVersion: {API_VERSION}\nkind: SealedSecret\nmetadata:\n"
        ));
        map_block(&mut y, 2, "annotations", &self.annotations);
        opt_scalar(&mut y, 2, "name", self.name.as_deref());
        opt_scalar(&mut y, 2, "namespace", self.namespace.as_deref());
        y.push_str("spec:\n");
        if self.items.is_empty() {
            y.push_str("  encryptedData: {}\n");
        } else {
            y.push_str("  encryptedData:\n");
            for (key, value) in &self.items {
                y.push_str(&format!("    {}: {}\n", scalar(key), scalar(value)));
            }
        }
        y.push_str("  template:\n");
        if let Some(immutable) = self.immutable {
            y.push_str(&format!("    immutable: {immutable}\n"));
        }
        y.push_str("    metadata:\n");
        map_block(&mut y, 6, "annotations", &self.template_annotations);
        map_block(&mut y, 6, "labels", &self.template_labels);
        opt_scalar(&mut y, 6, "name", self.name.as_deref());
        opt_scalar(&mut y, 6, "namespace", self.namespace.as_deref());
        y.push_str(&format!("    type: {}\n", scalar(&self.type_)));
        y
    }

    /// JSON in kubeseal's field order (`kind, apiVersion, metadata, spec{template,
    /// encryptedData}`), indented by two spaces, ending with a newline.
    pub(crate) fn to_json(&self) -> String {
        let doc = JsonDoc {
            kind: "SealedSecret",
            api_version: API_VERSION,
            metadata: JsonMeta {
                name: self.name.as_deref(),
                namespace: self.namespace.as_deref(),
                labels: None,
                annotations: Some(&self.annotations).filter(|m| !m.is_empty()),
            },
            spec: JsonSpec {
                template: JsonTemplate {
                    metadata: JsonMeta {
                        name: self.name.as_deref(),
                        namespace: self.namespace.as_deref(),
                        labels: Some(&self.template_labels).filter(|m| !m.is_empty()),
                        annotations: Some(&self.template_annotations).filter(|m| !m.is_empty()),
                    },
                    type_: &self.type_,
                    immutable: self.immutable,
                },
                encrypted_data: OrderedPairs(&self.items),
            },
        };
        let mut text =
            serde_json::to_string_pretty(&doc).expect("invariant: plain data serialises");
        text.push('\n');
        text
    }
}

// Struct field order is the JSON key order, matching kubeseal's Go structs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonDoc<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: JsonMeta<'a>,
    spec: JsonSpec<'a>,
}

#[derive(Serialize)]
struct JsonMeta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpec<'a> {
    template: JsonTemplate<'a>,
    encrypted_data: OrderedPairs<'a>,
}

#[derive(Serialize)]
struct JsonTemplate<'a> {
    metadata: JsonMeta<'a>,
    #[serde(rename = "type")]
    type_: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    immutable: Option<bool>,
}

fn opt_scalar(out: &mut String, indent: usize, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.push_str(&format!("{:indent$}{key}: {}\n", "", scalar(v)));
    }
}

fn map_block(out: &mut String, indent: usize, key: &str, values: &BTreeMap<String, String>) {
    if values.is_empty() {
        return;
    }
    out.push_str(&format!("{:indent$}{key}:\n", ""));
    for (k, v) in values {
        out.push_str(&format!(
            "{:width$}{}: {}\n",
            "",
            scalar(k),
            scalar(v),
            width = indent + 2
        ));
    }
}

/// A YAML scalar: plain when that is unambiguous, else double-quoted with JSON escapes (a
/// JSON string is a valid YAML double-quoted scalar).
pub(crate) fn scalar(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        serde_json::to_string(s).expect("strings serialise")
    }
}

fn is_plain_safe(s: &str) -> bool {
    const RESERVED: [&str; 22] = [
        "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No", "NO",
        "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || first == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./+=-".contains(c))
        && !RESERVED.contains(&s)
        && !(s.len() <= 1 && "yYnN".contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(scalar("AgBy+/8="), "AgBy+/8=");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("SHA256:abc"), "\"SHA256:abc\"");
        assert_eq!(scalar("app-env"), "app-env");
        assert_eq!(scalar("1"), "\"1\"");
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(scalar("a b"), "\"a b\"");
        assert_eq!(scalar("kubernetes.io/tls"), "kubernetes.io/tls");
    }

    #[test]
    fn yaml_parses_back() {
        let doc = SealedDoc {
            name: Some("app-env".into()),
            namespace: Some("shop".into()),
            annotations: BTreeMap::from([(
                "sealedsecrets.bitnami.com/namespace-wide".into(),
                "true".into(),
            )]),
            template_labels: BTreeMap::from([("app".into(), "shop".into())]),
            template_annotations: BTreeMap::new(),
            type_: "Opaque".into(),
            immutable: Some(true),
            items: vec![("Z".into(), "AgA=".into()), ("A".into(), "AgB=".into())],
        };
        let v: serde_yaml::Value = serde_yaml::from_str(&doc.to_yaml()).unwrap();
        assert_eq!(
            v["metadata"]["annotations"]["sealedsecrets.bitnami.com/namespace-wide"],
            "true"
        );
        assert_eq!(v["spec"]["template"]["immutable"], true);
        let json = doc.to_json();
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(j["spec"]["encryptedData"]["A"], "AgB=");
        assert!(
            json.find("\"Z\"").unwrap() < json.find("\"A\"").unwrap(),
            "item order is input order"
        );
        assert!(
            json.starts_with("{\n  \"kind\": \"SealedSecret\",\n  \"apiVersion\""),
            "kubeseal field order"
        );
    }
}
