//! Loading the sealing certificate from a file or an http(s) URL.

use std::{path::Path, time::SystemTime};

use kseal_core::Certificate;

use crate::exit::{Failure, Result};

/// Where a certificate comes from, as the user wrote it, resolved against a base directory when
/// it came from `kseal.yaml`.
#[derive(Debug, Clone)]
pub(crate) enum CertSource {
    File(std::path::PathBuf),
    Url(String),
}

impl CertSource {
    /// Parses `FILE|URL`; relative files resolve against `base` (the kseal.yaml directory) when
    /// given.
    pub(crate) fn parse(text: &str, base: Option<&Path>) -> Self {
        if text.starts_with("http://") || text.starts_with("https://") {
            Self::Url(text.to_owned())
        } else {
            let p = Path::new(text);
            match base {
                Some(b) if p.is_relative() => Self::File(b.join(p)),
                _ => Self::File(p.to_path_buf()),
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Url(u) => u.clone(),
        }
    }

    /// The PEM text, read from the file or fetched from the URL.
    pub(crate) fn fetch_pem(&self) -> Result<Vec<u8>> {
        match self {
            Self::File(p) => std::fs::read(p).map_err(|e| {
                Failure::runtime(format!("cannot read certificate {}: {}", p.display(), crate::io::io_reason(&e)))
                    .hint("fetch it with `kseal cert > cert.pem` (or `kubeseal --fetch-cert`), or set `cert:` in kseal.yaml")
            }),
            Self::Url(u) => fetch(u),
        }
    }

    /// Loads and checks the certificate: first of a PEM chain, RSA, not expired unless allowed.
    pub(crate) fn load(&self, now: SystemTime, allow_expired: bool) -> Result<Certificate> {
        let pem = self.fetch_pem()?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| Failure::runtime(format!("certificate {}: {e}", self.describe())))?;
        if !allow_expired {
            cert.check_not_expired(now).map_err(|e| {
                Failure::runtime(format!("certificate {}: {e}", self.describe())).hint(
                    "kubeseal refuses expired certificates too; if you control this key, pass --unsafe-allow-expired-cert",
                )
            })?;
        }
        Ok(cert)
    }
}

fn fetch(url: &str) -> Result<Vec<u8>> {
    // rustls on AWS-LC (already linked for RSA) with the platform's trust store, so a cluster
    // behind a corporate CA works as it does for kubeseal.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let fail =
        |e: ureq::Error| Failure::runtime(format!("cannot fetch certificate from {url}: {e}"));
    let mut response = agent.get(url).call().map_err(fail)?;
    response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(fail)
}
