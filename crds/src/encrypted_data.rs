//! `spec.encryptedData`: an ordered, tolerant map from item name to sealed value.
//!
//! Two decisions live here.
//!
//! **Order.** Items keep the order of the document they were read from, and the order of
//! [`EncryptedData::insert`] calls. kubeseal's YAML sorts keys, but kseal seals `.env` files and
//! keeps their line order so a reviewer can read the SealedSecret next to the `.env` file. Go and
//! the API server do not care about key order, so this is purely presentational. The type is a
//! `Vec` of pairs rather than a `BTreeMap` (which sorts) or a `serde_json::Map` with
//! `preserve_order` (a Cargo feature that would switch every `serde_json::Map` in the whole
//! build, kube's included, to insertion order), but an [`IndexMap`]: ordered like a `Vec`, with
//! hashed lookups. A linear search per item made reading a body of 160,000 small items
//! quadratic (minutes of CPU on the controller's request and watch path); every operation here
//! is now constant time, except [`EncryptedData::remove`], which shifts the items after it.
//!
//! **Tolerance.** Bitnami's `SealedSecretEncryptedData.UnmarshalJSON` drops decode errors, so one
//! malformed object (stored before the CRD had a schema) cannot stop the informer
//! (`docs/controller-compat.md` §1). Here a malformed field never fails deserialization either, but
//! nothing is dropped silently: a value that is not a string is kept as
//! [`EncryptedValue::Invalid`], a field that is not a map is kept verbatim, and
//! [`EncryptedData::problems`] names each problem so the controller can report it on that object.
//! Both are written back unchanged, so reading and writing an object never alters it.
//!
//! **Repeated names.** JSON and YAML maps may repeat a key (the API server never stores one,
//! but a request body or a file can). The last value wins, in the first one's place, as Go's
//! `encoding/json` does, and the name is reported by [`EncryptedData::problems`]: the
//! controller refuses such an object, naming the item, rather than guess which value was meant.

use std::{borrow::Cow, fmt};

use indexmap::{IndexMap, IndexSet};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, MapAccess, SeqAccess, Visitor},
    ser::SerializeMap,
};
use serde_json::Value;

/// `spec.encryptedData`: item name → sealed value, in document order. See the module docs for
/// why it keeps order and how it tolerates malformed input.
///
/// A missing or `null` field reads as empty; an empty map is written as `encryptedData: {}`,
/// because the CRD schema requires the field.
#[derive(Debug, Clone, Default)]
pub struct EncryptedData {
    entries: IndexMap<String, EncryptedValue>,
    /// The whole field when it was not a map (a string, a list, …). `entries` is then empty.
    not_a_map: Option<Value>,
    /// Names that appeared more than once in the input, each once, in order.
    repeated: IndexSet<String>,
}

/// Equal when the items are equal in the same order (an `IndexMap` alone ignores order).
impl PartialEq for EncryptedData {
    fn eq(&self, other: &Self) -> bool {
        self.entries.iter().eq(other.entries.iter())
            && self.not_a_map == other.not_a_map
            && self.repeated.iter().eq(other.repeated.iter())
    }
}

impl Eq for EncryptedData {}

/// One value of `spec.encryptedData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptedValue {
    /// A string: base64 of a sealed value (`docs/wire-format.md` §2–§3). Its base64 and bytes are
    /// checked only when it is opened, so a bad value fails that item and not the whole read.
    Sealed(String),
    /// Not a string. Kept verbatim so that writing the object back changes nothing.
    Invalid(Value),
}

/// The JSON type of a value that was not what the schema says; used in [`SpecProblem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// A list.
    Array,
    /// A map.
    Object,
}

/// Something wrong in a SealedSecret's spec that deserialization tolerated; see
/// [`crate::SealedSecretSpec::problems`].
///
/// Messages name the item, never the value: values are public ciphertext, but a user who pasted
/// plaintext into the wrong field should not see it echoed into events and status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecProblem {
    /// `spec.encryptedData` is not a map, so the object has no items at all.
    #[error("spec.encryptedData is {found}, not a map of strings")]
    EncryptedDataNotAMap {
        /// What it is instead.
        found: ValueKind,
    },
    /// One item's value is not a string; that item cannot be unsealed.
    #[error("item {item:?}: value is {found}, not a string")]
    ValueNotAString {
        /// The item name (a public map key).
        item: String,
        /// What the value is instead.
        found: ValueKind,
    },
    /// An item name appears more than once in the input; which value was meant is unclear.
    #[error("item {item:?}: appears more than once in spec.encryptedData")]
    RepeatedItem {
        /// The item name.
        item: String,
    },
}

impl EncryptedData {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of items, valid or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no items (also true when the field was not a map).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All items in order, including invalid ones.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &EncryptedValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Item names in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The value of item `name`.
    pub fn get(&self, name: &str) -> Option<&EncryptedValue> {
        self.entries.get(name)
    }

    /// Sets item `name` to a sealed value (base64, as written by the sealer), returning the old
    /// value. A new name goes to the end; an existing name keeps its place, so re-sealing one
    /// item of a file does not reorder the diff. If the field was not a map, it becomes one.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        sealed: impl Into<String>,
    ) -> Option<EncryptedValue> {
        self.not_a_map = None;
        self.put(name.into(), EncryptedValue::Sealed(sealed.into()))
    }

    /// Removes item `name`, keeping the order of the rest.
    pub fn remove(&mut self, name: &str) -> Option<EncryptedValue> {
        self.entries.shift_remove(name)
    }

    /// What deserialization tolerated, in document order; empty for a well-formed field.
    pub fn problems(&self) -> Vec<SpecProblem> {
        if let Some(v) = &self.not_a_map {
            return vec![SpecProblem::EncryptedDataNotAMap {
                found: ValueKind::of(v),
            }];
        }
        let invalid = self.entries.iter().filter_map(|(item, v)| match v {
            EncryptedValue::Sealed(_) => None,
            EncryptedValue::Invalid(v) => Some(SpecProblem::ValueNotAString {
                item: item.clone(),
                found: ValueKind::of(v),
            }),
        });
        let repeated = self
            .repeated
            .iter()
            .map(|item| SpecProblem::RepeatedItem { item: item.clone() });
        invalid.chain(repeated).collect()
    }

    /// Replaces in place, as Go's `encoding/json` does for a repeated key (the last one wins).
    fn put(&mut self, name: String, value: EncryptedValue) -> Option<EncryptedValue> {
        self.entries.insert(name, value)
    }
}

impl EncryptedValue {
    /// The sealed value if this is a string.
    pub fn as_sealed(&self) -> Option<&str> {
        match self {
            Self::Sealed(s) => Some(s),
            Self::Invalid(_) => None,
        }
    }
}

impl ValueKind {
    /// The kind of `value`.
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Bool,
            Value::Number(_) => Self::Number,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }
}

impl fmt::Display for ValueKind {
    /// With an article, to read well in messages: "value is a number, not a string".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "a list",
            Self::Object => "a map",
        })
    }
}

impl<'a> IntoIterator for &'a EncryptedData {
    type Item = (&'a str, &'a EncryptedValue);
    type IntoIter = Box<dyn ExactSizeIterator<Item = Self::Item> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptedData {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut data = Self::new();
        data.extend(iter);
        data
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for EncryptedData {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl Serialize for EncryptedData {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        if let Some(v) = &self.not_a_map {
            return v.serialize(ser);
        }
        let mut map = ser.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            match v {
                EncryptedValue::Sealed(s) => map.serialize_entry(k, s)?,
                EncryptedValue::Invalid(v) => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for EncryptedData {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        // Going through `deserialize_option` makes a missing field read as empty without
        // `#[serde(default)]`: serde's derive hands a missing field to `deserialize_option`,
        // which calls `visit_none`. A serde default would also make schemars drop the field
        // from the CRD's `required` list, and Bitnami's schema requires it.
        de.deserialize_option(EncryptedDataVisitor)
    }
}

/// Accepts any JSON shape; see the module docs.
struct EncryptedDataVisitor;

impl<'de> Visitor<'de> for EncryptedDataVisitor {
    type Value = EncryptedData;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of item names to sealed values")
    }

    fn visit_none<E: de::Error>(self) -> Result<EncryptedData, E> {
        Ok(EncryptedData::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<EncryptedData, E> {
        Ok(EncryptedData::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<EncryptedData, D::Error> {
        de.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EncryptedData, A::Error> {
        let mut data = EncryptedData::new();
        while let Some((name, value)) = map.next_entry::<String, Value>()? {
            let value = match value {
                Value::String(s) => EncryptedValue::Sealed(s),
                other => EncryptedValue::Invalid(other),
            };
            if data.entries.contains_key(&name) {
                data.repeated.insert(name.clone());
            }
            data.put(name, value);
        }
        Ok(data)
    }

    // Everything below keeps a field that is not a map, so that it can be reported and written
    // back unchanged.

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EncryptedData, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(not_a_map(Value::Array(items)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<EncryptedData, E> {
        Ok(not_a_map(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<EncryptedData, E> {
        Ok(not_a_map(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<EncryptedData, E> {
        Ok(not_a_map(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<EncryptedData, E> {
        // NaN and infinities (possible in YAML, not JSON) have no JSON form; null still says
        // "not a map", which is all that matters here.
        Ok(not_a_map(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<EncryptedData, E> {
        Ok(not_a_map(Value::String(v.to_owned())))
    }
}

fn not_a_map(value: Value) -> EncryptedData {
    EncryptedData {
        not_a_map: Some(value),
        ..EncryptedData::default()
    }
}

impl JsonSchema for EncryptedData {
    fn schema_name() -> Cow<'static, str> {
        "EncryptedData".into()
    }

    fn inline_schema() -> bool {
        true
    }

    /// Bitnami's schema for `encryptedData`: a string map that also preserves unknown fields
    /// (its Go type carries `+kubebuilder:pruning:PreserveUnknownFields`).
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "additionalProperties": { "type": "string" },
            "x-kubernetes-preserve-unknown-fields": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json(s: &str) -> EncryptedData {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn keeps_document_order() {
        let data = from_json(r#"{"ZED": "Ag1", "ALPHA": "Ag2", "MID": "Ag3"}"#);
        assert_eq!(data.names().collect::<Vec<_>>(), ["ZED", "ALPHA", "MID"]);
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"ZED":"Ag1","ALPHA":"Ag2","MID":"Ag3"}"#
        );
        let yaml: EncryptedData = serde_yaml::from_str("b: Ag1\na: Ag2\n").unwrap();
        assert_eq!(yaml.names().collect::<Vec<_>>(), ["b", "a"]);
    }

    #[test]
    fn insert_keeps_place_and_reports_old_value() {
        let mut data: EncryptedData = [("B", "1"), ("A", "2")].into_iter().collect();
        assert_eq!(
            data.insert("B", "3"),
            Some(EncryptedValue::Sealed("1".into()))
        );
        data.insert("C", "4");
        assert_eq!(data.names().collect::<Vec<_>>(), ["B", "A", "C"]);
        assert_eq!(data.get("B").and_then(EncryptedValue::as_sealed), Some("3"));
        assert_eq!(data.remove("A"), Some(EncryptedValue::Sealed("2".into())));
        assert_eq!(data.names().collect::<Vec<_>>(), ["B", "C"]);
        assert_eq!(data.remove("A"), None);
    }

    #[test]
    fn repeated_key_last_wins_in_first_place() {
        let data = from_json(r#"{"A": "1", "B": "2", "A": "3"}"#);
        assert_eq!(data.names().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(data.get("A").and_then(EncryptedValue::as_sealed), Some("3"));
        // ...and the repetition is reported, by name, once however often it repeats.
        let data = from_json(r#"{"A": "1", "B": "2", "A": "3", "B": "4", "A": "5"}"#);
        assert_eq!(
            data.problems(),
            [
                SpecProblem::RepeatedItem { item: "A".into() },
                SpecProblem::RepeatedItem { item: "B".into() },
            ]
        );
        assert_eq!(
            data.problems()[0].to_string(),
            r#"item "A": appears more than once in spec.encryptedData"#
        );
        let yaml: EncryptedData = serde_yaml::from_str("A: '1'\nA: '2'\n").unwrap();
        assert_eq!(
            yaml.problems(),
            [SpecProblem::RepeatedItem { item: "A".into() }]
        );
        assert!(from_json(r#"{"A": "1", "B": "2"}"#).problems().is_empty());
    }

    #[test]
    fn many_items_parse_in_linear_time() {
        let n = 200_000;
        let json = format!(
            "{{{}}}",
            (0..n)
                .map(|i| format!("\"k{i}\":\"AgA\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let start = std::time::Instant::now();
        let data = from_json(&json);
        let parsed = start.elapsed();
        assert_eq!(data.len(), n);
        assert_eq!(
            data.get("k199999").and_then(EncryptedValue::as_sealed),
            Some("AgA")
        );
        assert!(
            parsed < std::time::Duration::from_secs(2),
            "{n} items took {parsed:?}"
        );
        let start = std::time::Instant::now();
        let mut copy = data.clone();
        for i in 0..n {
            copy.insert(format!("k{i}"), "AgB");
        }
        assert_eq!(copy.len(), n);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{n} inserts took {:?}",
            start.elapsed()
        );
        assert_ne!(copy, data);
    }

    #[test]
    fn equality_follows_order() {
        let ab = from_json(r#"{"A": "1", "B": "2"}"#);
        let ba = from_json(r#"{"B": "2", "A": "1"}"#);
        assert_ne!(ab, ba);
        assert_eq!(ab, from_json(r#"{"A": "1", "B": "2"}"#));
    }

    #[test]
    fn non_string_values_are_kept_and_reported() {
        let json = r#"{"GOOD":"AgA=","NUM":42,"OBJ":{"x":1},"NIL":null}"#;
        let data = from_json(json);
        assert_eq!(data.len(), 4);
        assert_eq!(data.get("NUM"), Some(&EncryptedValue::Invalid(42.into())));
        let problems: Vec<String> = data.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                r#"item "NUM": value is a number, not a string"#,
                r#"item "OBJ": value is a map, not a string"#,
                r#"item "NIL": value is null, not a string"#,
            ]
        );
        // Written back unchanged.
        assert_eq!(serde_json::to_string(&data).unwrap(), json);
    }

    #[test]
    fn a_field_that_is_not_a_map_is_kept_and_reported() {
        for (json, kind) in [
            (r#""AgA=""#, ValueKind::String),
            ("[1,\"a\"]", ValueKind::Array),
            ("7", ValueKind::Number),
            ("-7", ValueKind::Number),
            ("1.5", ValueKind::Number),
            ("true", ValueKind::Bool),
        ] {
            let data = from_json(json);
            assert!(data.is_empty(), "{json}");
            assert_eq!(
                data.problems(),
                [SpecProblem::EncryptedDataNotAMap { found: kind }],
                "{json}"
            );
            assert_eq!(serde_json::to_string(&data).unwrap(), json);
        }
        let mut data = from_json("[]");
        data.insert("A", "AgA=");
        assert!(data.problems().is_empty(), "insert turns it into a map");
        assert_eq!(
            SpecProblem::EncryptedDataNotAMap {
                found: ValueKind::Array
            }
            .to_string(),
            "spec.encryptedData is a list, not a map of strings"
        );
    }

    #[test]
    fn null_reads_as_empty_and_empty_writes_as_a_map() {
        let data = from_json("null");
        assert!(data.is_empty() && data.problems().is_empty());
        assert_eq!(serde_json::to_string(&data).unwrap(), "{}");
    }
}
