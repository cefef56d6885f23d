//! A JSON value whose objects keep their key order, for editing committed JSON files without
//! reordering them (`serde_json::Value` sorts keys unless a crate-wide feature is enabled, and
//! that feature would change every crate's output in the workspace).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Any JSON value; objects keep document order.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum OrderedJson {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<OrderedJson>),
    Object(IndexMap<String, OrderedJson>),
}

impl OrderedJson {
    /// The object under `key`, if this is an object that has one.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut OrderedJson> {
        match self {
            Self::Object(map) => map.get_mut(key),
            _ => None,
        }
    }

    /// The map, if this is an object.
    pub(crate) fn as_object_mut(&mut self) -> Option<&mut IndexMap<String, OrderedJson>> {
        match self {
            Self::Object(map) => Some(map),
            _ => None,
        }
    }
}

/// Serialises `(key, value)` pairs as a JSON object in the given order.
#[derive(Debug)]
pub(crate) struct OrderedPairs<'a>(pub(crate) &'a [(String, String)]);

impl Serialize for OrderedPairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
