//! `kseal backup`: the controller's active key Secrets as one `v1 List`, for offline recovery
//! (`kseal unseal --key`, `kseal rotate --key`, `kubeseal --recovery-unseal`).

use std::io::IsTerminal as _;

use k8s_openapi::api::core::v1::Secret;
use kseal_core::{Certificate, SecretString};
use serde_json::{Map, Value};

use crate::{
    args::BackupArgs,
    cluster::Controller,
    exit::{Failure, Result},
    io, say,
};

/// The label the controller puts on its key Secrets; `active` marks the ones it uses.
pub(crate) const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// Metadata fields the API server owns; they would make `kubectl apply` of the backup fail or
/// (ownerReferences) let the garbage collector delete the restored keys.
const SERVER_FIELDS: [&str; 6] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "selfLink",
    "generation",
    "ownerReferences",
];

pub(crate) fn run(args: BackupArgs) -> Result<()> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(
            Failure::usage("refusing to print private keys to a terminal").hint(
                "pass -o FILE (written with mode 0600), or pipe the output into an encryption tool",
            ),
        );
    }
    let namespace = &args.controller_namespace;
    let selector = format!("{KEY_LABEL}=active");
    let controller = Controller {
        name: String::new(),
        namespace: namespace.clone(),
        access: args.access.access(),
    };
    let secrets = controller.list_secrets(&selector)?;
    if secrets.is_empty() {
        return Err(Failure::runtime(format!(
            "no Secret labelled {selector} in namespace {namespace}"
        ))
        .hint(
            "is the controller installed there? pass --controller-namespace if it is elsewhere",
        ));
    }
    let mut fingerprints = Vec::new();
    let mut items = Vec::new();
    for secret in secrets {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let cert = secret
            .data
            .as_ref()
            .and_then(|d| d.get("tls.crt"))
            .and_then(|c| Certificate::from_pem(&c.0).ok());
        let has_key = secret
            .data
            .as_ref()
            .is_some_and(|d| d.get("tls.key").is_some_and(|k| !k.0.is_empty()));
        if !has_key {
            return Err(Failure::runtime(format!(
                "key Secret {namespace}/{name} has no tls.key; not writing an incomplete backup"
            )));
        }
        fingerprints.push(match cert {
            Some(c) => format!("{name} ({})", c.fingerprint()),
            None => format!("{name} (tls.crt unreadable)"),
        });
        items.push(clean(secret)?);
    }
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {},
        "items": items,
    });
    let text = SecretString::new(
        serde_yaml::to_string(&list)
            .map_err(|e| Failure::runtime(format!("cannot render the backup: {e}")))?,
    );
    drop(list);
    match &args.output {
        Some(path) => {
            io::write_atomic_private(path, text.expose().as_bytes(), 0o600)?;
            say::note(format_args!(
                "wrote {} (mode 0600): {} key(s): {}",
                path.display(),
                fingerprints.len(),
                fingerprints.join(", ")
            ));
        }
        None => {
            io::write_stdout(text.expose().as_bytes())?;
            say::note(format_args!(
                "exported {} key(s): {}",
                fingerprints.len(),
                fingerprints.join(", ")
            ));
        }
    }
    say::warning(
        "this backup holds private keys: anyone with it can decrypt every SealedSecret sealed to them. \
Store it offline or encrypted, never in git. It covers only today's keys: export again after every key renewal \
(every 30 days by default), or let the controller keep key backups itself",
    );
    Ok(())
}

/// The Secret as `kubectl get -o yaml` shows it (apiVersion and kind set), without
/// server-owned metadata.
fn clean(secret: Secret) -> Result<Value> {
    let mut value = serde_json::to_value(&secret)
        .map_err(|e| Failure::runtime(format!("cannot render a key Secret: {e}")))?;
    drop(secret);
    let Value::Object(object) = &mut value else {
        return Err(Failure::runtime("a key Secret is not an object"));
    };
    object.insert("apiVersion".into(), "v1".into());
    object.insert("kind".into(), "Secret".into());
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        for field in SERVER_FIELDS {
            meta.remove(field);
        }
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    } else {
        object.insert("metadata".into(), Value::Object(Map::new()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_fields_are_dropped() {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "sealed-secrets-keyabcde", "namespace": "kube-system",
                "uid": "u", "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{"manager": "m"}],
                "labels": {KEY_LABEL: "active"},
            },
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
        }))
        .unwrap();
        let v = clean(secret).unwrap();
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Secret");
        let meta = v["metadata"].as_object().unwrap();
        assert!(!meta.contains_key("uid") && !meta.contains_key("resourceVersion"));
        assert!(!meta.contains_key("managedFields"));
        assert_eq!(meta["creationTimestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(v["data"]["tls.key"], "a2V5");
    }
}
