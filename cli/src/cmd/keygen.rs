//! `kseal keygen`: a key pair and certificate in the controller's shape, for offline use and
//! bring-your-own-certificate setups.

use std::time::{Duration, SystemTime};

use kseal_core::{CertParams, KeySize, keys};
use rand_core::{OsRng, RngCore};

use crate::{
    args::KeygenArgs,
    exit::{Failure, Result},
    io, say,
};

pub(crate) fn run(args: KeygenArgs) -> Result<()> {
    let validity = parse_duration(&args.key_ttl).ok_or_else(|| {
        Failure::usage(format!(
            "--key-ttl '{}': expected a duration such as 87600h, 30d or 90m",
            args.key_ttl
        ))
    })?;
    if !args.out.is_dir() {
        std::fs::create_dir_all(&args.out).map_err(|e| {
            Failure::runtime(format!(
                "cannot create {}: {}",
                args.out.display(),
                io::io_reason(&e)
            ))
        })?;
    }
    let key_path = args.out.join("tls.key");
    let cert_path = args.out.join("tls.crt");
    if !args.force {
        for p in [&key_path, &cert_path] {
            if p.exists() {
                return Err(Failure::usage(format!("{} already exists", p.display()))
                    .hint("pass --force to replace it; keep the old key if anything is still sealed to it"));
            }
        }
    }
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    let params = CertParams {
        key_size: KeySize::from_bits(args.key_size).map_err(|e| Failure::usage(e.to_string()))?,
        not_before: SystemTime::now(),
        validity,
        common_name: args.my_cn.clone(),
        serial,
    };
    let (key, cert) = keys::generate(&params).map_err(|e| Failure::runtime(e.to_string()))?;
    // Both or neither; the private key is always a new file with mode 0600 renamed over the
    // old one, so `--force` never leaves it with an old file's wider permissions.
    let key_pem = key.to_pkcs1_pem();
    let cert_pem = cert.to_pem();
    io::write_files(&[
        io::FileWrite {
            path: &key_path,
            bytes: key_pem.expose().as_bytes(),
            mode: io::Mode::Exact(0o600),
        },
        io::FileWrite {
            path: &cert_path,
            bytes: cert_pem.as_bytes(),
            mode: io::Mode::KeepOr(0o644),
        },
    ])?;
    say::note(format_args!(
        "wrote {} (private, mode 0600) and {}",
        key_path.display(),
        cert_path.display()
    ));
    say::note(format_args!("fingerprint {}", cert.fingerprint()));
    say::hint(format_args!(
        "to use it in a cluster: kubectl -n kube-system create secret tls my-sealing-key --cert={} --key={} && kubectl -n kube-system label secret my-sealing-key sealedsecrets.bitnami.com/sealed-secrets-key=active",
        cert_path.display(),
        key_path.display()
    ));
    Ok(())
}

/// Go-style durations as the controller's `--key-ttl` takes them (`87600h`, `90m`, `1h30m`),
/// plus `d` for days.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        any = true;
    }
    (number.is_empty() && any && total > 0).then(|| Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("87600h"),
            Some(Duration::from_secs(87_600 * 3600))
        );
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("30d"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration("h"), None);
    }
}
