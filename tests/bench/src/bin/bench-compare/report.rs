//! The report: every figure with its target and `met`/`NOT met`.

use super::*;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// One line of the summary table.
struct Line {
    figure: String,
    kseal: String,
    peer: String,
    ratio: String,
    target: String,
    result: &'static str,
}

pub(super) fn report(
    options: &Options,
    load_at_start: &str,
    crypto: Option<&(String, CryptoRows)>,
    runs: &[ControllerRun],
    keygen_seconds: f64,
    bitnami_version: Option<&str>,
    seal: Option<&SealRuns>,
) -> String {
    let mut out = String::new();
    let args: String = std::env::args().skip(1).map(|a| format!(" {a}")).collect();
    let _ = writeln!(
        out,
        "# kseal vs Bitnami sealed-secrets, side by side (issue #8)"
    );
    let _ = writeln!(out, "date:    {}", machine::now_rfc3339());
    let _ = writeln!(
        out,
        "machine: {} cores (nproc), CPU {}, load average {load_at_start} at start, {} at end",
        machine::cores(),
        machine::cpu_model(),
        machine::load_average()
    );
    let _ = writeln!(
        out,
        "command: cargo run --release -p kseal-bench --bin bench-compare --{args}"
    );
    if let Some((version, _)) = crypto {
        let _ = writeln!(out, "openssl: {version}");
    }
    if !runs.is_empty() {
        let _ = writeln!(
            out,
            "controllers: Bitnami `controller` {} with its DEFAULTS (--kubeclient-qps 5 \
             --kubeclient-burst 10, what users get), run as its ServiceAccount in a network \
             namespace (cluster.sh run-as-sa); kseal-controller with its defaults (8 workers, \
             --leader-elect=false) as a host process with the admin kubeconfig; one at a time, \
             same kube-apiserver + etcd (tests/cluster)",
            bitnami_version.unwrap_or("?")
        );
        let _ = writeln!(
            out,
            "setup:   per controller and key count K: {} SealedSecrets x 1 item, strict scope, sealed \
             to the OLDEST of K RSA-{KEY_BITS} keys (generated in {keygen_seconds:.0} s) with the \
             kseal.dev/key-fingerprint hint; plus {} unrelated Opaque Secrets ({UNRELATED_BYTES} B \
             each) in a third namespace; each controller watches its key namespace, its app \
             namespace and the unrelated one (--all-namespaces=false --additional-namespaces)",
            options.count, options.unrelated
        );
    }
    let _ = writeln!(out);

    let mut lines = Vec::new();
    if let Some((_, rows)) = crypto {
        for bits in [2048, 4096] {
            let one = rows.iter().find(|r| r.bits == bits && r.threads == 1);
            let all = rows.iter().find(|r| r.bits == bits && r.threads > 1);
            if let Some(one) = one {
                let ratio = one.open / one.openssl_sign;
                lines.push(Line {
                    figure: format!("unseal RSA-{bits}, 1 core (open/s)"),
                    kseal: format!("{:.1}", one.open),
                    peer: format!("openssl {:.1}", one.openssl_sign),
                    ratio: format!("{ratio:.3}"),
                    target: format!("≥ {TARGET_OPEN_PER_CORE}"),
                    result: verdict(ratio >= TARGET_OPEN_PER_CORE),
                });
                if let Some(all) = all {
                    let ratio = all.open / one.openssl_sign;
                    lines.push(Line {
                        figure: format!("unseal RSA-{bits}, {} cores (open/s)", all.threads),
                        kseal: format!("{:.1}", all.open),
                        peer: format!("openssl 1 core {:.1}", one.openssl_sign),
                        ratio: format!("{ratio:.3}"),
                        target: format!("≥ {TARGET_OPEN_ALL_CORES}"),
                        result: verdict(ratio >= TARGET_OPEN_ALL_CORES),
                    });
                }
            }
        }
    }
    let run_of = |imp: Impl, k: usize| runs.iter().find(|r| r.imp == imp && r.keys == k);
    let n = options.count;
    let mut key_counts: Vec<usize> = runs.iter().map(|r| r.keys).collect();
    key_counts.dedup();
    for &k in &key_counts {
        let (Some(ks), Some(bn)) = (run_of(Impl::Kseal, k), run_of(Impl::Bitnami, k)) else {
            continue;
        };
        let speedup = bn.initial.seconds / ks.initial.seconds;
        lines.push(Line {
            figure: format!("cold start {n} SS, {k} key(s): s to all Synced"),
            kseal: format!("{:.1}", ks.initial.seconds),
            peer: format!("Bitnami {:.1}", bn.initial.seconds),
            ratio: format!("{speedup:.1}x faster"),
            target: format!("≥ {TARGET_COLD_SPEEDUP}x"),
            result: verdict(speedup >= TARGET_COLD_SPEEDUP),
        });
        let rsa = ks.initial.rsa_per_value.unwrap_or(f64::NAN);
        lines.push(Line {
            figure: format!("cold start, {k} key(s): RSA ops per value"),
            kseal: format!("{rsa:.2}"),
            peer: "Bitnami n/a (no metric)".into(),
            ratio: "-".into(),
            target: format!("≤ {TARGET_RSA_PER_VALUE} (kseal)"),
            result: verdict(rsa <= TARGET_RSA_PER_VALUE),
        });
    }
    if let (Some(ks), Some(bn)) = (
        runs.iter()
            .find(|r| r.imp == Impl::Kseal && r.restart.is_some()),
        runs.iter()
            .find(|r| r.imp == Impl::Bitnami && r.restart.is_some()),
    ) && let (Some(kr), Some(br)) = (&ks.restart, &bn.restart)
    {
        for (what, kv, bv) in [
            (
                "Secret writes",
                kr.diff.secret_writes as i64,
                br.diff.secret_writes as i64,
            ),
            (
                "status writes",
                kr.diff.status_writes as i64,
                br.diff.status_writes as i64,
            ),
            ("events", kr.diff.events, br.diff.events),
        ] {
            lines.push(Line {
                figure: format!("restart, nothing changed: {what}"),
                kseal: kv.to_string(),
                peer: format!("Bitnami {bv}"),
                ratio: "-".into(),
                target: "0 (kseal)".into(),
                result: verdict(kv == 0),
            });
        }
    }
    if let (Some(ks), Some(bn)) = (
        runs.iter().find(|r| r.imp == Impl::Kseal),
        runs.iter().find(|r| r.imp == Impl::Bitnami),
    ) && ks.keys == bn.keys
    {
        let peak = |r: &ControllerRun| {
            r.initial
                .peak_rss_kib
                .max(r.restart.as_ref().map_or(0, |p| p.peak_rss_kib))
        };
        let (kp, bp) = (peak(ks), peak(bn));
        let ratio = kp as f64 / bp as f64;
        lines.push(Line {
            figure: format!(
                "peak RSS, {n} SS + {} unrelated Secrets, {} key(s)",
                options.unrelated, ks.keys
            ),
            kseal: format!("{:.1} MiB", kp as f64 / 1024.0),
            peer: format!("Bitnami {:.1} MiB", bp as f64 / 1024.0),
            ratio: format!("{ratio:.3}"),
            target: format!("≤ {TARGET_RSS_RATIO}"),
            result: verdict(ratio <= TARGET_RSS_RATIO),
        });
    }
    if let Some((a, b)) = seal {
        let (ma, mb) = (median(a), median(b));
        let ratio = ma / mb;
        lines.push(Line {
            figure: format!(
                "seal a {}-key .env (whole processes, median)",
                options.env_keys
            ),
            kseal: format!("{:.1} ms", ma * 1000.0),
            peer: format!("kubectl|kubeseal {:.1} ms", mb * 1000.0),
            ratio: format!("{ratio:.3}"),
            target: format!("≤ {TARGET_SEAL_RATIO}"),
            result: verdict(ratio <= TARGET_SEAL_RATIO),
        });
    }

    let width = |f: &dyn Fn(&Line) -> usize, title: &str| {
        lines
            .iter()
            .map(f)
            .max()
            .unwrap_or(0)
            .max(title.chars().count())
    };
    let w = [
        width(&|l| l.figure.chars().count(), "figure"),
        width(&|l| l.kseal.chars().count(), "kseal"),
        width(&|l| l.peer.chars().count(), "peer"),
        width(&|l| l.ratio.chars().count(), "ratio"),
        width(&|l| l.target.chars().count(), "target"),
    ];
    let row = |out: &mut String, cells: [&str; 6]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = w
                .get(i)
                .map_or(0, |w| w.saturating_sub(cell.chars().count()));
            if i == 0 {
                let _ = write!(line, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(line, "  {}{cell}", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    };
    row(
        &mut out,
        ["figure", "kseal", "peer", "ratio", "target", "result"],
    );
    for l in &lines {
        row(
            &mut out,
            [&l.figure, &l.kseal, &l.peer, &l.ratio, &l.target, l.result],
        );
    }
    let met = lines.iter().filter(|l| l.result == "met").count();
    let _ = writeln!(out);
    let _ = writeln!(out, "{met} of {} targets met", lines.len());

    if let Some((_, rows)) = crypto {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "crypto detail (best of {CRYPTO_ROUNDS} alternating rounds, {} B value; openssl speed -elapsed, -multi N for N threads):",
            crypto::VALUE.len()
        );
        let _ = writeln!(
            out,
            "  {:<9} {:>7} {:>13} {:>13} {:>15}",
            "key", "threads", "kseal seal/s", "kseal open/s", "openssl sign/s"
        );
        for r in rows {
            let _ = writeln!(
                out,
                "  RSA-{:<5} {:>7} {:>13.0} {:>13.1} {:>15.1}",
                r.bits, r.threads, r.seal, r.open, r.openssl_sign
            );
        }
    }
    if !runs.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "controller detail:");
        let _ = writeln!(
            out,
            "  {:<8} {:>4} {:<8} {:>9} {:>9} {:>10} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7} {:>9}",
            "impl",
            "keys",
            "phase",
            "seconds",
            "RSA/value",
            "reconciles",
            "API req",
            "Secret w",
            "status w",
            "events",
            "Sec chg",
            "SS chg",
            "peak RSS"
        );
        for r in runs {
            for (phase, p) in [
                ("initial", Some(&r.initial)),
                ("restart", r.restart.as_ref()),
            ] {
                let Some(p) = p else { continue };
                let _ = writeln!(
                    out,
                    "  {:<8} {:>4} {phase:<8} {:>9.1} {:>9} {:>10} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7} {:>5.0} MiB",
                    r.imp.name(),
                    r.keys,
                    p.seconds,
                    p.rsa_per_value.map_or("n/a".into(), |v| format!("{v:.2}")),
                    p.reconciles as i64,
                    p.diff.total as i64,
                    p.diff.secret_writes as i64,
                    p.diff.status_writes as i64,
                    p.diff.events,
                    p.secrets_changed,
                    p.sealed_changed,
                    p.peak_rss_kib as f64 / 1024.0
                );
            }
        }
        let _ = writeln!(
            out,
            "  seconds: initial = process start until every SealedSecret is Synced=True; restart = \
             process start until every SealedSecret was reconciled once (unseal_requests_total = \
             count). reconciles = unseal_requests_total at the end of the phase. API req = \
             apiserver_request_total diff (resource requests of EVERY client, minus this program's \
             own lists; includes kube-controller-manager and anything else using the API server); \
             Secret w / status w = successful POST/PUT/PATCH of secrets and sealedsecrets/status \
             (failed ones are listed below as [code]); events = new or repeated Events in the key \
             and app namespaces; Sec chg / SS chg = \
             Secrets / SealedSecrets in the app namespace created or with a new resourceVersion \
             (namespace-scoped, so other clients cannot inflate them; a no-op write does not \
             count); peak RSS = VmHWM of the controller process at the end of the phase."
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "API requests by verb and resource:");
        for r in runs {
            for (phase, p) in [
                ("initial", Some(&r.initial)),
                ("restart", r.restart.as_ref()),
            ] {
                if let Some(p) = p {
                    let _ = writeln!(
                        out,
                        "  {:<7} {:>2} keys {phase:<8} {}",
                        r.imp.name(),
                        r.keys,
                        p.diff.detail()
                    );
                }
            }
        }
    }
    if let Some((a, b)) = seal {
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "seal detail: {} keys of 32 hex chars, fixture RSA-4096 cert, strict scope; {SEAL_ROUNDS} \
             alternating runs after one warm-up each; wall time of the whole process (the pipeline \
             runs under `bash -c 'set -o pipefail; kubectl … | kubeseal …'`)",
            options.env_keys
        );
        let _ = writeln!(
            out,
            "  kseal seal --no-config --cert CERT --name bench-env --namespace bench bench.env: \
             median {:.1} ms, min {:.1} ms",
            median(a) * 1000.0,
            min(a) * 1000.0
        );
        let _ = writeln!(
            out,
            "  kubectl create secret generic bench-env --namespace bench --from-env-file bench.env \
             --dry-run=client -o yaml | kubeseal --cert CERT -o yaml: median {:.1} ms, min {:.1} ms",
            median(b) * 1000.0,
            min(b) * 1000.0
        );
    }
    out
}
