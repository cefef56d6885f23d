//! Seal and open throughput of kseal-core next to OpenSSL's RSA private-key operation.
//!
//! `cargo run --release -p kseal-bench --bin bench-crypto`
//!
//! For RSA-2048 and RSA-4096 it measures sealing (`seal`, AWS-LC, and `seal_with_rng`, the
//! `rsa`-crate path used for seeded vectors) and opening a 32-byte value on one thread and
//! on every core (one shared `KeySet`, each thread its own loop), and OpenSSL's private-key
//! operation with `openssl speed -elapsed -seconds 1 rsaN` (`-multi N` for all cores). Opening
//! costs one RSA private-key operation plus a small AES-GCM decryption, so the target is
//! `kseal open / openssl sign` ≥ 0.95 per core.
//!
//! The same run then measures the post-quantum `pq-hybrid` format (X-Wing + AES-256-GCM) on the
//! same value and thread counts and sets it beside RSA-4096: per-value microseconds for sealing
//! and opening, and how many times faster opening is.
//!
//! Each row runs [`ROUNDS`] rounds that alternate kseal and OpenSSL, and keeps the best round of
//! each: on a shared machine the best round is the one least disturbed by other work, and
//! alternating exposes both sides to the same load. Takes about 80 seconds; the fixture keys in
//! `tests/fixtures/keys/` are used.

use std::process::ExitCode;

use kseal_bench::{
    crypto::{VALUE, open_vs_openssl, openssl_version, pq_hybrid},
    machine,
};

/// Rounds per row; the best of them is reported.
const ROUNDS: usize = 3;
/// The per-core target for opening relative to OpenSSL's private-key operation.
const TARGET: f64 = 0.95;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-crypto: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let openssl_version = openssl_version()?;
    let cores = machine::cores();
    if cfg!(debug_assertions) {
        eprintln!("bench-crypto: warning: debug build; use --release for meaningful figures");
    }
    println!("kseal bench-crypto, {}", machine::now_rfc3339());
    println!(
        "machine: {cores} cores (nproc), CPU {}, load average {} at start",
        machine::cpu_model(),
        machine::load_average()
    );
    println!("openssl: {openssl_version}");
    println!(
        "value: {} bytes, scope strict myns/myname; wall-clock rates, best of {ROUNDS} alternating rounds",
        VALUE.len()
    );
    println!();

    let thread_counts = dedup([1, cores]);
    let rows = open_vs_openssl(&[2048, 4096], &thread_counts, ROUNDS)?;
    let pq_rows = pq_hybrid(&thread_counts, ROUNDS)?;

    println!(
        "{:<9} {:>7} {:>13} {:>15} {:>13} {:>15} {:>13}",
        "key",
        "threads",
        "kseal seal/s",
        "rsa-crate seal/s",
        "kseal open/s",
        "openssl sign/s",
        "open/openssl"
    );
    let mut met = true;
    for row in &rows {
        let ratio = row.open / row.openssl_sign;
        if row.threads == 1 && ratio < TARGET {
            met = false;
        }
        println!(
            "RSA-{:<5} {:>7} {:>13.0} {:>15.0} {:>13.1} {:>15.1} {:>13.3}",
            row.bits, row.threads, row.seal, row.seal_rsa_crate, row.open, row.openssl_sign, ratio,
        );
    }
    println!();
    println!(
        "target: kseal open ≥ {TARGET}× openssl private-key operation per core: {}",
        if met { "met" } else { "NOT met" }
    );
    println!();
    println!("pq-hybrid (X-Wing) next to RSA-4096, same run; µs per value = 1e6 / rate");
    println!(
        "{:<9} {:>7} {:>10} {:>13} {:>10} {:>13} {:>15}",
        "format",
        "threads",
        "seal/s",
        "seal µs/value",
        "open/s",
        "open µs/value",
        "open vs RSA-4096"
    );
    for pq_row in &pq_rows {
        let rsa = rows
            .iter()
            .find(|r| r.bits == 4096 && r.threads == pq_row.threads)
            .ok_or("invariant: RSA-4096 was measured on every thread count")?;
        for (name, seal, open, speedup) in [
            ("RSA-4096", rsa.seal, rsa.open, String::from("1×")),
            (
                "pq-hybrid",
                pq_row.seal,
                pq_row.open,
                format!("{:.1}×", pq_row.open / rsa.open),
            ),
        ] {
            println!(
                "{:<9} {:>7} {:>10.0} {:>13.1} {:>10.0} {:>13.1} {:>15}",
                name,
                pq_row.threads,
                seal,
                1e6 / seal,
                open,
                1e6 / open,
                speedup
            );
        }
    }
    println!();
    println!("load average {} at end", machine::load_average());
    Ok(())
}

fn dedup(counts: [usize; 2]) -> Vec<usize> {
    let mut v = counts.to_vec();
    v.dedup();
    v
}
