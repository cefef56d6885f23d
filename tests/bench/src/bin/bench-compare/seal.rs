//! The `seal` part: `kseal seal` next to `kubectl create secret … | kubeseal` on the same `.env`.

use super::*;

/// Times `kseal seal` and `kubectl create secret … | kubeseal` on the same `.env` and cert.
pub(super) fn bench_seal(options: &Options, env: &ClusterEnv) -> Result<SealRuns, String> {
    let dir = std::env::temp_dir().join(format!("kseal-cmp-seal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = seal_runs(options, env, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn seal_runs(options: &Options, env: &ClusterEnv, dir: &Path) -> Result<SealRuns, String> {
    let n = options.env_keys;
    let env_file = dir.join("bench.env");
    let mut text = String::new();
    for i in 0..n {
        let mut value = [0u8; 16];
        OsRng.fill_bytes(&mut value);
        let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(text, "KEY_{i:03}={hex}");
    }
    std::fs::write(&env_file, text).map_err(|e| format!("{}: {e}", env_file.display()))?;
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys/rsa4096-a.crt");
    let (kseal_out, pipe_out) = (dir.join("kseal.yaml"), dir.join("kubeseal.yaml"));

    let kseal = || -> Result<f64, String> {
        let out = std::fs::File::create(&kseal_out).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let status = Command::new(&options.kseal)
            .arg("seal")
            .arg("--no-config")
            .arg("--cert")
            .arg(&cert)
            .args(["--name", "bench-env", "--namespace", "bench"])
            .arg(&env_file)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .status()
            .map_err(|e| format!("run kseal: {e}"))?;
        let seconds = started.elapsed().as_secs_f64();
        if !status.success() {
            return Err(format!("kseal seal failed: {status}"));
        }
        Ok(seconds)
    };
    let pipeline = || -> Result<f64, String> {
        let out = std::fs::File::create(&pipe_out).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let status = Command::new("bash")
            .args([
                "-c",
                "set -o pipefail; \"$0\" create secret generic bench-env --namespace bench \
                 --from-env-file \"$2\" --dry-run=client -o yaml | \"$1\" --cert \"$3\" -o yaml",
            ])
            .arg(env.bin.join("kubectl"))
            .arg(env.bin.join("kubeseal"))
            .arg(&env_file)
            .arg(&cert)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .status()
            .map_err(|e| format!("run bash: {e}"))?;
        let seconds = started.elapsed().as_secs_f64();
        if !status.success() {
            return Err(format!("kubectl | kubeseal failed: {status}"));
        }
        Ok(seconds)
    };

    // Warm-up (page cache), then check that both produced every key.
    kseal()?;
    pipeline()?;
    for file in [&kseal_out, &pipe_out] {
        let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
        let found = (0..n)
            .filter(|i| text.contains(&format!("KEY_{i:03}: ")))
            .count();
        if found != n {
            return Err(format!(
                "{}: {found} of {n} keys sealed",
                file.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..SEAL_ROUNDS {
        a.push(kseal()?);
        b.push(pipeline()?);
    }
    Ok((a, b))
}
