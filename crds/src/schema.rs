//! Hand-written schemas for fields whose Rust type does not say what Bitnami's CRD says, and a
//! serde helper. Each function returns exactly the shape of the matching property in
//! `helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml`.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

/// `format: date-time` string, for `metav1.Time` fields. A hand-written schema because
/// k8s-openapi implements `JsonSchema` only behind a feature, and `Option<Time>` would come out
/// nullable, which Bitnami's fields are not.
pub(crate) fn date_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "date-time" })
}

/// `format: byte` string, for the legacy v1 `spec.data` blob (base64 in JSON).
pub(crate) fn byte_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "byte" })
}

/// `spec.template.metadata`: Go embeds a whole `metav1.ObjectMeta` with `+nullable` and
/// `+kubebuilder:pruning:PreserveUnknownFields`, and controller-gen lists only the fields it
/// allows in a CRD (name, namespace, labels, annotations, finalizers). The rest (for example a
/// `creationTimestamp: null` that kubeseal writes) must survive pruning, hence
/// `x-kubernetes-preserve-unknown-fields`.
pub(crate) fn template_metadata(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "annotations": { "type": "object", "additionalProperties": { "type": "string" } },
            "finalizers": { "type": "array", "items": { "type": "string" } },
            "labels": { "type": "object", "additionalProperties": { "type": "string" } },
            "name": { "type": "string" },
            "namespace": { "type": "string" },
        },
    })
}

/// Reads `null` as the default value, as Go's `encoding/json` does for structs, slices and maps.
/// The API server prunes nulls from non-nullable fields, but objects read from files or stored
/// before the CRD had a schema may still carry them, and one such field must not make the whole
/// object unreadable.
pub(crate) fn null_as_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}
