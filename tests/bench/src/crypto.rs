//! Throughput of RSA work next to `openssl speed`.

use std::{
    process::Command,
    thread,
    time::{Duration, Instant},
};

use kseal_core::{KeySet, PqPrivateKey, ScopeKind, SecretKeyName, open, pq, seal, seal_with_rng};
use rand_core::OsRng;

use kseal_tests::vectors;

/// How long each kseal measurement runs, after [`WARM_UP`].
pub const MEASURE: Duration = Duration::from_secs(1);
/// Warm-up before each kseal measurement.
pub const WARM_UP: Duration = Duration::from_millis(100);
/// `openssl speed -seconds` (OpenSSL then also spends as long on verification).
pub const OPENSSL_SECONDS: u32 = 1;
/// The sealed value: 32 bytes, a typical secret.
pub const VALUE: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

/// Rates measured for one key size and thread count (best round of each).
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// RSA key size.
    pub bits: u32,
    /// kseal threads and OpenSSL processes (`-multi`).
    pub threads: usize,
    /// kseal seals per second ([`seal`]: AWS-LC RSA-OAEP, the production path).
    pub seal: f64,
    /// Seals per second through [`seal_with_rng`] (the pure-Rust `rsa` crate, the deterministic
    /// path used for test vectors; production sealing used it before AWS-LC).
    pub seal_rsa_crate: f64,
    /// kseal opens per second (one RSA private-key operation plus AES-GCM).
    pub open: f64,
    /// OpenSSL's RSA private-key operations (`sign/s`) per second.
    pub openssl_sign: f64,
}

/// Measures sealing and opening a [`VALUE`] (strict scope `myns/myname`) with the fixture keys
/// `rsa<bits>-a.key` for each key size and each thread count, next to `openssl speed`: each
/// row runs `rounds` rounds that alternate kseal and OpenSSL and keeps the best round of each
/// (on a shared machine the best round is the one least disturbed by other work, and
/// alternating exposes both sides to the same load).
pub fn open_vs_openssl(bits: &[u32], threads: &[usize], rounds: usize) -> Result<Vec<Row>, String> {
    let scope = vectors::scope_of(ScopeKind::Strict, "myns", "myname")?;
    let mut rows = Vec::new();
    for &bits in bits {
        let key_file = format!("rsa{bits}-a.key");
        let cert = vectors::load_cert(&key_file)?;
        let keys = vectors::load_key_set([key_file.as_str()])?;
        check_key_set_is_shared(&keys);
        let blob = seal(&cert, &scope, VALUE);
        for &threads in threads {
            eprintln!("  RSA-{bits} on {threads} thread(s)…");
            let mut row = Row {
                bits,
                threads,
                seal: 0.0,
                seal_rsa_crate: 0.0,
                open: 0.0,
                openssl_sign: 0.0,
            };
            for _ in 0..rounds {
                let seal_rate = rate(threads, WARM_UP, MEASURE, || {
                    std::hint::black_box(seal(&cert, &scope, VALUE));
                });
                let seal_rsa_crate_rate = rate(threads, WARM_UP, MEASURE, || {
                    std::hint::black_box(seal_with_rng(&cert, &scope, VALUE, &mut OsRng));
                });
                let open_rate = rate(threads, WARM_UP, MEASURE, || {
                    let opened = open(&keys, &scope, &blob, None);
                    assert!(
                        opened.is_ok(),
                        "invariant: the value was sealed to this key"
                    );
                    std::hint::black_box(opened.ok());
                });
                let openssl_sign = openssl_speed(threads, bits, OPENSSL_SECONDS)?;
                row.seal = row.seal.max(seal_rate);
                row.seal_rsa_crate = row.seal_rsa_crate.max(seal_rsa_crate_rate);
                row.open = row.open.max(open_rate);
                row.openssl_sign = row.openssl_sign.max(openssl_sign);
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `pq-hybrid` rates for one thread count (best round of each).
#[derive(Debug, Clone, Copy)]
pub struct PqRow {
    /// Sealing threads and opening threads.
    pub threads: usize,
    /// Seals per second (X-Wing encapsulation, HKDF, AES-256-GCM).
    pub seal: f64,
    /// Opens per second (one X-Wing decapsulation, HKDF, AES-256-GCM).
    pub open: f64,
}

/// Measures sealing and opening a [`VALUE`] in the `pq-hybrid` format (strict scope
/// `myns/myname`, item `value`) with a fixed X-Wing key held next to the fixture key
/// `rsa4096-a.key`, on each thread count, best of `rounds`; run it next to
/// [`open_vs_openssl`] so both formats meet the same machine and load.
pub fn pq_hybrid(threads: &[usize], rounds: usize) -> Result<Vec<PqRow>, String> {
    let scope = vectors::scope_of(ScopeKind::Strict, "myns", "myname")?;
    let item = SecretKeyName::parse("value").map_err(|e| e.to_string())?;
    let pq_key = PqPrivateKey::from_seed(&[0x5b; 32]).map_err(|e| e.to_string())?;
    let public = pq_key.public_key().clone();
    let keys: KeySet = [vectors::load_key("rsa4096-a.key")?.with_pq(pq_key)]
        .into_iter()
        .collect();
    check_key_set_is_shared(&keys);
    let blob = pq::seal(&public, &scope, &item, VALUE);
    let mut rows = Vec::new();
    for &threads in threads {
        eprintln!("  pq-hybrid on {threads} thread(s)…");
        let mut row = PqRow {
            threads,
            seal: 0.0,
            open: 0.0,
        };
        for _ in 0..rounds {
            let seal_rate = rate(threads, WARM_UP, MEASURE, || {
                std::hint::black_box(pq::seal(&public, &scope, &item, VALUE));
            });
            let open_rate = rate(threads, WARM_UP, MEASURE, || {
                let opened = pq::open(&keys, &scope, &item, &blob, None);
                assert!(
                    opened.is_ok(),
                    "invariant: the value was sealed to this key"
                );
                std::hint::black_box(opened.ok());
            });
            row.seal = row.seal.max(seal_rate);
            row.open = row.open.max(open_rate);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Compile-time check that one `KeySet` can be shared by the opening threads.
fn check_key_set_is_shared(keys: &KeySet) {
    fn shared<T: Sync>(_: &T) {}
    shared(keys);
}

/// Operations per second of `op` run in a loop on `threads` threads for `measure`, after
/// running it alone for `warm_up`.
pub fn rate(threads: usize, warm_up: Duration, measure: Duration, op: impl Fn() + Sync) -> f64 {
    let op = &op;
    let warm_up_end = Instant::now() + warm_up;
    while Instant::now() < warm_up_end {
        op();
    }
    let start = Instant::now();
    let deadline = start + measure;
    let total: u64 = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        op();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("invariant: benchmark threads do not panic"))
            .sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// `openssl version`, or an error saying how to install the tool.
pub fn openssl_version() -> Result<String, String> {
    let out = Command::new("openssl").arg("version").output().map_err(|e| {
        format!("cannot run `openssl` ({e}); install OpenSSL's command-line tool (Debian: apt-get install openssl)")
    })?;
    if !out.status.success() {
        return Err("`openssl version` failed; is the openssl command-line tool installed?".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs `openssl speed -elapsed -seconds SECONDS` for one key size on `processes` processes and
/// returns the private-key operation rate (`sign/s`; with `-multi`, OpenSSL sums the processes).
pub fn openssl_speed(processes: usize, bits: u32, seconds: u32) -> Result<f64, String> {
    let mut cmd = Command::new("openssl");
    cmd.arg("speed")
        .arg("-elapsed")
        .arg("-seconds")
        .arg(seconds.to_string());
    if processes > 1 {
        cmd.arg("-multi").arg(processes.to_string());
    }
    cmd.arg(format!("rsa{bits}"));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run openssl speed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl speed failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_openssl_speed(&text)
        .into_iter()
        .find_map(|(b, rate)| (b == bits).then_some(rate))
        .ok_or_else(|| {
            format!("cannot find the RSA-{bits} sign/s figure in openssl speed's output:\n{text}")
        })
}

/// Parses the RSA table of `openssl speed` into (bits, sign/s):
///
/// ```text
///                   sign    verify    sign/s verify/s
/// rsa 2048 bits 0.000702s 0.000020s   1424.1  49284.6
/// ```
///
/// The column is located by its `sign/s` header, so versions that add columns still parse.
pub fn parse_openssl_speed(text: &str) -> Vec<(u32, f64)> {
    let mut column = None;
    let mut rates = Vec::new();
    for line in text.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = tokens.iter().position(|t| *t == "sign/s") {
            column = Some(i);
            continue;
        }
        if let (Some(i), ["rsa", bits, "bits", values @ ..]) = (column, tokens.as_slice())
            && let (Ok(bits), Some(Ok(rate))) =
                (bits.parse::<u32>(), values.get(i).map(|v| v.parse::<f64>()))
        {
            rates.push((bits, rate));
        }
    }
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openssl_3_0_table() {
        let text = "version: 3.0.19\n                  sign    verify    sign/s verify/s\n\
                    rsa 2048 bits 0.000702s 0.000020s   1424.1  49284.6\n\
                    rsa 4096 bits 0.004640s 0.000073s    215.5  13718.3\n";
        assert_eq!(
            parse_openssl_speed(text),
            vec![(2048, 1424.1), (4096, 215.5)]
        );
    }

    #[test]
    fn finds_the_sign_column_when_columns_are_added() {
        let text = "          keygen    encaps    decaps      sign    verify  keygens/s  encaps/s  decaps/s  sign/s verify/s\n\
                    rsa 2048 bits 0.06s 0.00002s 0.0007s 0.0007s 0.00002s 16.1 49000.0 1400.0 1430.5 48000.0\n";
        assert_eq!(parse_openssl_speed(text), vec![(2048, 1430.5)]);
    }
}
