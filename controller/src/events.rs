//! Kubernetes Events in Bitnami's shape: core/v1 Events with source component `sealed-secrets`
//! and Bitnami's reasons and messages (`docs/controller-compat.md` §6), so Bitnami's RBAC
//! (`events` in the core group) suffices and Argo CD, alerts and runbooks see the same thing.
//!
//! kseal records an event when something changed (a Secret written, a status flip, a new error
//! message), not on every reconcile: a restart therefore causes no event storm.

use k8s_openapi::{
    api::core::v1::{Event, EventSource, ObjectReference},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time},
    jiff::Timestamp,
};
use kube::{Api, Client, Resource, ResourceExt, api::PostParams};

/// Event reason: a SealedSecret was unsealed into its Secret.
pub const UNSEALED: &str = "Unsealed";
/// Event message for [`UNSEALED`].
pub const UNSEALED_MESSAGE: &str = "SealedSecret unsealed successfully";
/// Event reason: a SealedSecret does not unseal.
pub const ERR_UNSEAL_FAILED: &str = "ErrUnsealFailed";
/// Event reason: the Secret could not be written (or belongs to someone else).
pub const ERR_UPDATE_FAILED: &str = "ErrUpdateFailed";
/// kseal: a key Secret does not parse and is skipped.
pub const ERR_INVALID_KEY: &str = "ErrInvalidKeySecret";
/// kseal: a key Secret's certificate is not valid yet (NotBefore in the future); the key
/// decrypts but is not served as the newest until then.
pub const KEY_NOT_YET_VALID: &str = "KeyNotYetValid";
/// kseal: a workload's pod template was re-annotated because a followed Secret changed.
pub const RESTARTED: &str = "SecretChanged";

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something worked.
    Normal,
    /// Something needs attention.
    Warning,
}

/// Publishes core/v1 Events. Failures are logged, never fatal.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    instance: String,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder that reports as `sealed-secrets` from replica `instance`.
    pub fn new(client: Client, instance: String) -> Self {
        Self { client, instance }
    }

    /// Records an event about `object`. `message` must hold no value.
    pub async fn publish<K>(&self, object: &K, type_: EventType, reason: &str, message: &str)
    where
        K: Resource<DynamicType = ()>,
    {
        let namespace = object.namespace().unwrap_or_else(|| "default".into());
        let now = Timestamp::now();
        let name = object.name_any();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(K::api_version(&()).into_owned()),
                kind: Some(K::kind(&()).into_owned()),
                name: Some(name.clone()),
                namespace: object.namespace(),
                uid: object.meta().uid.clone(),
                resource_version: object.meta().resource_version.clone(),
                field_path: None,
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(
                match type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            source: Some(EventSource {
                component: Some("sealed-secrets".into()),
                host: None,
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            count: Some(1),
            reporting_component: Some("sealed-secrets".into()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(error) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(%namespace, %name, reason, %error, "cannot record event");
        }
    }
}
