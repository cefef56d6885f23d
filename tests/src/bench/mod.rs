//! Shared code of the benchmark programs (`bench-crypto`, `bench-controller`, `bench-compare`).
//!
//! Every figure is measured next to its peer in the same run; these helpers do the measuring:
//! [`machine`] describes the machine for report headers, [`crypto`] times RSA work against
//! `openssl speed`, [`cluster`] drives a controller on the real API server and reads its counters.

pub mod cluster;
pub mod crypto;
pub mod machine;
