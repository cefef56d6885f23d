//! Shared helpers for kseal cross-crate tests.

pub mod bench;
pub mod vectors;
