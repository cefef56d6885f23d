//! Secrets the controller itself trusts, which a SealedSecret may therefore never produce
//! (issue 14, "key injection"): the controller's privileges must not be used to write key
//! material it would then load, serve or back up.
//!
//! Pure: [`TrustedSecrets::refusal`] looks at the Secret a SealedSecret asks for (template and
//! legacy v1 labels are already merged into it by [`kseal_crds::SealedSecret::unseal`]) and the Secret that
//! exists; the reconciler refuses with `Synced=False` and the reason as the message.
//!
//! | rule | where | why |
//! |---|---|---|
//! | label `sealedsecrets.bitnami.com/sealed-secrets-key` (any value), on the Secret asked for or the one it would replace | every namespace | the key label; kseal loads labelled Secrets of its namespace, and another controller (kseal or Bitnami) may run in any other namespace |
//! | label `kseal.dev/key-backup` (any value), same | every namespace | marks key backups, which `kubectl apply -f` restores as keys |
//! | a name starting with `--key-prefix` | the controller namespace | key Secret names (`generateName`), and the legacy key Secret named exactly the prefix, loaded whatever its labels |
//! | the `--key-backup-secret` name | its namespace | the backup the leader keeps |
//!
//! Key Secrets are created by the controller or by an administrator (`kubectl apply`), never
//! from a SealedSecret.

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kseal_crds::SEALED_SECRETS_KEY_LABEL;

use crate::backup::BACKUP_LABEL;

/// What the controller trusts: its namespace, key prefix and backup Secret.
#[derive(Debug, Clone, Default)]
pub struct TrustedSecrets {
    /// The controller namespace (key Secrets).
    pub namespace: String,
    /// `--key-prefix`.
    pub key_prefix: String,
    /// `--key-backup-secret` as (namespace, name).
    pub backup: Option<(String, String)>,
}

impl TrustedSecrets {
    /// Why the controller must not write `desired` over `existing`, or `None` when it may. The
    /// text names the Secret and the rule, never a value.
    pub fn refusal(&self, desired: &Secret, existing: Option<&Secret>) -> Option<String> {
        let namespace = desired.metadata.namespace.as_deref().unwrap_or_default();
        let name = desired.metadata.name.as_deref().unwrap_or_default();
        let why = self.reason(namespace, name, &desired.metadata, existing)?;
        Some(format!(
            "refusing to write Secret {namespace}/{name}: {why}; key Secrets and key backups are \
             never produced from a SealedSecret (an administrator creates them directly)"
        ))
    }

    fn reason(
        &self,
        namespace: &str,
        name: &str,
        desired: &ObjectMeta,
        existing: Option<&Secret>,
    ) -> Option<String> {
        for label in [SEALED_SECRETS_KEY_LABEL, BACKUP_LABEL] {
            if has_label(desired, label) {
                return Some(format!("it would carry the label {label}"));
            }
            if existing.is_some_and(|e| has_label(&e.metadata, label)) {
                return Some(format!(
                    "the existing Secret carries the label {label} and would be overwritten"
                ));
            }
        }
        if namespace == self.namespace && !self.key_prefix.is_empty() {
            if name == self.key_prefix {
                return Some(format!(
                    "in the controller namespace, the name {name:?} (--key-prefix) is the legacy \
                     key Secret, loaded as a key whatever its labels"
                ));
            }
            if name.starts_with(&self.key_prefix) {
                return Some(format!(
                    "in the controller namespace, names starting with {:?} (--key-prefix) are \
                     reserved for key Secrets",
                    self.key_prefix
                ));
            }
        }
        if let Some((backup_ns, backup_name)) = &self.backup
            && namespace == backup_ns
            && name == backup_name
        {
            return Some("it is the key backup Secret (--key-backup-secret)".into());
        }
        None
    }
}

fn has_label(meta: &ObjectMeta, label: &str) -> bool {
    meta.labels.as_ref().is_some_and(|l| l.contains_key(label))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn trusted() -> TrustedSecrets {
        TrustedSecrets {
            namespace: "kube-system".into(),
            key_prefix: "sealed-secrets-key".into(),
            backup: Some(("backup".into(), "keys".into())),
        }
    }

    fn secret(ns: &str, name: &str, labels: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                labels: (!labels.is_empty()).then(|| {
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect::<BTreeMap<_, _>>()
                }),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn key_label_is_refused_in_every_namespace_whatever_its_value() {
        let t = trusted();
        for ns in ["kube-system", "apps"] {
            for value in ["active", "compromised", ""] {
                let s = secret(ns, "innocent", &[(SEALED_SECRETS_KEY_LABEL, value)]);
                let why = t.refusal(&s, None).expect("refused");
                assert!(why.contains(SEALED_SECRETS_KEY_LABEL), "{why}");
                assert!(why.contains(&format!("{ns}/innocent")), "{why}");
            }
        }
    }

    #[test]
    fn backup_label_is_refused_everywhere() {
        let s = secret("apps", "x", &[(BACKUP_LABEL, "true")]);
        assert!(trusted().refusal(&s, None).unwrap().contains(BACKUP_LABEL));
    }

    #[test]
    fn an_existing_key_secret_is_never_overwritten() {
        // e.g. a hand-made key Secret with another name, annotated managed or patch.
        let existing = secret(
            "kube-system",
            "my-key",
            &[(SEALED_SECRETS_KEY_LABEL, "active")],
        );
        let desired = secret("kube-system", "my-key", &[]);
        let why = trusted().refusal(&desired, Some(&existing)).unwrap();
        assert!(why.contains("existing Secret carries the label"), "{why}");
    }

    #[test]
    fn key_prefix_names_are_refused_in_the_controller_namespace_only() {
        let t = trusted();
        let legacy = t
            .refusal(&secret("kube-system", "sealed-secrets-key", &[]), None)
            .unwrap();
        assert!(legacy.contains("legacy key Secret"), "{legacy}");
        let generated = t
            .refusal(&secret("kube-system", "sealed-secrets-keyx7k2p", &[]), None)
            .unwrap();
        assert!(
            generated.contains("reserved for key Secrets"),
            "{generated}"
        );
        assert_eq!(
            t.refusal(&secret("apps", "sealed-secrets-key", &[]), None),
            None
        );
        assert_eq!(t.refusal(&secret("kube-system", "db", &[]), None), None);
    }

    #[test]
    fn the_backup_secret_is_refused() {
        let t = trusted();
        let why = t.refusal(&secret("backup", "keys", &[]), None).unwrap();
        assert!(why.contains("--key-backup-secret"), "{why}");
        assert_eq!(t.refusal(&secret("backup", "other", &[]), None), None);
        assert_eq!(t.refusal(&secret("apps", "keys", &[]), None), None);
    }

    /// Through `unseal`: the label may come from the template or from a legacy v1 blob.
    #[test]
    fn template_and_legacy_v1_labels_count() {
        use crate::fixtures::{keyset, seal_v1, sealed};
        let t = trusted();
        let mut ss = sealed("kube-system", "innocent", &[("tls.key", b"k")], 0);
        ss.spec.template.metadata = Some(ObjectMeta {
            labels: Some(BTreeMap::from([(
                SEALED_SECRETS_KEY_LABEL.to_owned(),
                "active".to_owned(),
            )])),
            ..ObjectMeta::default()
        });
        let desired = crate::fixtures::unseal(&ss, &keyset(&[0])).unwrap().secret;
        assert!(t.refusal(&desired, None).is_some());

        let mut v1 = sealed("kube-system", "innocent", &[], 0);
        let inner = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"labels": {SEALED_SECRETS_KEY_LABEL: "active"}},
            "data": {"tls.key": "aw=="}
        });
        seal_v1(&mut v1, &inner, 0);
        let desired = crate::fixtures::unseal(&v1, &keyset(&[0])).unwrap().secret;
        let why = t.refusal(&desired, None).expect("refused");
        assert!(why.contains(SEALED_SECRETS_KEY_LABEL), "{why}");
    }

    #[test]
    fn ordinary_labels_pass() {
        let s = secret(
            "kube-system",
            "db",
            &[("app", "x"), ("sealedsecrets.bitnami.com/x", "y")],
        );
        assert_eq!(trusted().refusal(&s, None), None);
    }
}
