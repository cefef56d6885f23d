//! Shared code of kseal's cross-crate tests: the test vectors (`tests/vectors/`). The benchmark
//! programs live in `tests/bench/` (crate `kseal-bench`), the test harness in `tests/support/`
//! (crate `kseal-test-support`).

pub mod vectors;
