//! Shared helpers for kseal cross-crate tests.

pub mod vectors;
