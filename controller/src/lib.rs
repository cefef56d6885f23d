//! kseal-controller: unseals Bitnami-compatible SealedSecrets into Secrets.
//!
//! The crate is a thin shell around two pure modules: [`decide`] (SealedSecret + keys +
//! existing Secret → what to write) and the pure parts of [`keys`] (parsing key Secrets,
//! ordering, renewal timing). Everything that talks to the API server lives in [`reconcile`],
//! [`keywatch`], [`leader`] and [`restart`]; [`http`] serves kubeseal's endpoints and
//! [`metrics`] Prometheus', over [`server`]'s connection-limited accept loop (`docs/controller-compat.md` §8–§9).
#![deny(missing_docs)]

pub mod args;
pub mod backup;
pub mod config;
pub mod decide;
pub mod error;
pub mod keys;
pub mod template;

pub mod events;
#[cfg(test)]
mod fixtures;
pub mod http;
pub mod keywatch;
pub mod leader;
pub mod metrics;
pub mod protected;
pub mod reconcile;
pub mod restart;
pub mod server;
pub mod telemetry;
