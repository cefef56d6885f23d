//! `status` of a SealedSecret: one `Synced` condition and the observed generation
//! (`docs/controller-compat.md` §7). Argo CD's health check and the printer columns read it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;

/// The only condition type Bitnami uses. The printer columns read `conditions[0]`, so it must
/// stay the first (and only) condition.
pub const SYNCED_CONDITION: &str = "Synced";

/// `status` of a SealedSecret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    description = "SealedSecretStatus is the most recently observed status of the SealedSecret."
)]
pub struct SealedSecretStatus {
    /// `metadata.generation` of the spec that the last attempt unsealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "i64",
        description = "ObservedGeneration reflects the generation most recently observed by the sealed-secrets controller."
    )]
    pub observed_generation: Option<i64>,

    /// Conditions; in practice a single [`SYNCED_CONDITION`].
    #[serde(
        default,
        deserialize_with = "schema::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(
        description = "Represents the latest available observations of a sealed secret's current state."
    )]
    pub conditions: Vec<SealedSecretCondition>,
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    description = "SealedSecretCondition describes the state of a sealed secret at a certain point."
)]
pub struct SealedSecretCondition {
    /// The condition type; only [`SYNCED_CONDITION`] is used.
    #[serde(rename = "type")]
    #[schemars(description = "Type of condition for a sealed secret.\nValid value: \"Synced\"")]
    pub type_: String,

    /// `"True"`, `"False"` or `"Unknown"`.
    #[schemars(
        description = "Status of the condition for a sealed secret.\nValid values for \"Synced\": \"True\", \"False\", or \"Unknown\"."
    )]
    pub status: String,

    /// When the controller last tried to unseal, successful or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "schema::date_time",
        description = "The last time this condition was updated."
    )]
    pub last_update_time: Option<Time>,

    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        schema_with = "schema::date_time",
        description = "Last time the condition transitioned from one status to another."
    )]
    pub last_transition_time: Option<Time>,

    /// Machine-readable reason; Bitnami never sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "String",
        description = "The reason for the condition's last transition."
    )]
    pub reason: Option<String>,

    /// The unseal error on failure; absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "String",
        description = "A human readable message indicating details about the transition."
    )]
    pub message: Option<String>,
}

impl SealedSecretStatus {
    /// The [`SYNCED_CONDITION`], if present.
    pub fn synced(&self) -> Option<&SealedSecretCondition> {
        self.conditions.iter().find(|c| c.type_ == SYNCED_CONDITION)
    }

    /// Records an unseal attempt exactly as Bitnami's `updateSealedSecretStatus` does, and says
    /// whether the status must be written.
    ///
    /// `outcome` is `Err(message)` with the text for the printer column on failure. The Synced
    /// condition is created if missing; `lastUpdateTime` is always `now`, `lastTransitionTime`
    /// only moves when the status flips. A write is needed only when the status flipped or
    /// `generation` differs from `observedGeneration`: a new error text while the status stays
    /// `False` is therefore not written, which keeps a failing object from causing a status write
    /// on every retry (`docs/controller-compat.md` §7).
    pub fn record_sync(
        &mut self,
        outcome: Result<(), &str>,
        now: Time,
        generation: Option<i64>,
    ) -> bool {
        let at = match self
            .conditions
            .iter()
            .position(|c| c.type_ == SYNCED_CONDITION)
        {
            Some(at) => at,
            None => {
                self.conditions.push(SealedSecretCondition {
                    type_: SYNCED_CONDITION.to_owned(),
                    ..SealedSecretCondition::default()
                });
                self.conditions.len() - 1
            }
        };
        let cond = &mut self.conditions[at];
        let status = condition_status(outcome.is_ok());
        cond.message = outcome.err().map(str::to_owned);
        cond.last_update_time = Some(now.clone());
        let flipped = cond.status != status;
        if flipped {
            cond.last_transition_time = Some(now);
            status.clone_into(&mut cond.status);
        }
        // Go's int64 has no "unset": 0 and absent are the same generation there.
        let changed_generation = self.observed_generation.unwrap_or(0) != generation.unwrap_or(0);
        if flipped || changed_generation {
            self.observed_generation = generation;
            true
        } else {
            false
        }
    }
}

impl SealedSecretCondition {
    /// A fresh Synced condition for an attempt at `now`: status `"True"` and no message on
    /// success, `"False"` and the error text on failure. Both timestamps are `now`; use
    /// [`SealedSecretStatus::record_sync`] to update an existing status.
    pub fn synced(outcome: Result<(), &str>, now: Time) -> Self {
        Self {
            type_: SYNCED_CONDITION.to_owned(),
            status: condition_status(outcome.is_ok()).to_owned(),
            last_update_time: Some(now.clone()),
            last_transition_time: Some(now),
            reason: None,
            message: outcome.err().map(str::to_owned),
        }
    }

    /// Whether `status` is `"True"`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

fn condition_status(ok: bool) -> &'static str {
    if ok { "True" } else { "False" }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn t(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn fresh_condition() {
        let ok = SealedSecretCondition::synced(Ok(()), t(10));
        assert!(ok.is_true() && ok.message.is_none());
        let json = serde_json::to_value(&ok).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "Synced",
                "status": "True",
                "lastUpdateTime": "1970-01-01T00:00:10Z",
                "lastTransitionTime": "1970-01-01T00:00:10Z",
            })
        );
        let bad = SealedSecretCondition::synced(Err("no key could decrypt secret (A)"), t(10));
        assert_eq!(bad.status, "False");
        assert_eq!(
            bad.message.as_deref(),
            Some("no key could decrypt secret (A)")
        );
    }

    #[test]
    fn record_sync_follows_bitnami() {
        let mut st = SealedSecretStatus::default();
        assert!(
            st.record_sync(Err("boom"), t(1), Some(1)),
            "new condition: status flips to False"
        );
        assert_eq!(st.observed_generation, Some(1));
        let c = st.synced().unwrap();
        assert_eq!(
            (c.status.as_str(), c.message.as_deref()),
            ("False", Some("boom"))
        );
        assert_eq!(c.last_transition_time, Some(t(1)));

        // Same status, same generation, new message: changed in memory but no write needed.
        assert!(!st.record_sync(Err("bang"), t(2), Some(1)));
        let c = st.synced().unwrap();
        assert_eq!(c.message.as_deref(), Some("bang"));
        assert_eq!(
            (c.last_update_time.clone(), c.last_transition_time.clone()),
            (Some(t(2)), Some(t(1)))
        );

        // New generation: write, even though the status stays False.
        assert!(st.record_sync(Err("bang"), t(3), Some(2)));
        assert_eq!(st.observed_generation, Some(2));

        // Success flips the status and clears the message.
        assert!(st.record_sync(Ok(()), t(4), Some(2)));
        let c = st.synced().unwrap();
        assert!(c.is_true() && c.message.is_none());
        assert_eq!(c.last_transition_time, Some(t(4)));
        assert_eq!(st.conditions.len(), 1);

        // Absent and zero generations are the same, as in Go.
        let mut st = SealedSecretStatus {
            observed_generation: None,
            conditions: vec![],
        };
        st.record_sync(Ok(()), t(5), None);
        assert!(!st.record_sync(Ok(()), t(6), Some(0)));
    }

    #[test]
    fn status_serde_matches_go_omitempty() {
        assert_eq!(
            serde_json::to_string(&SealedSecretStatus::default()).unwrap(),
            "{}"
        );
        let st: SealedSecretStatus = serde_json::from_str(r#"{"conditions":null}"#).unwrap();
        assert!(st.conditions.is_empty());
        let st: SealedSecretStatus = serde_yaml::from_str(
            "observedGeneration: 3\nconditions:\n- type: Synced\n  status: \"True\"\n  \
             lastUpdateTime: \"2024-05-01T10:00:00Z\"\n",
        )
        .unwrap();
        assert_eq!(st.observed_generation, Some(3));
        assert!(st.synced().unwrap().is_true());
    }
}
