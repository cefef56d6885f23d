//! Certificates: the sealing certificate from a file or an http(s) URL ([`CertSource`]), the
//! certificates a check compares with ([`load_certs`]), and the controller's own
//! ([`cluster_newest`], [`cluster_certs`]).

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

use kseal_core::Certificate;

use crate::{
    cluster::Session,
    config::Config,
    exit::{Failure, Result},
    say,
};

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

/// A certificate given to check against, with how the user named it.
#[derive(Debug)]
pub(crate) struct KnownCert {
    pub(crate) shown: String,
    pub(crate) cert: Certificate,
}

/// Certificates to check against: every `--cert`, else every cert kseal.yaml names. Expired
/// ones are fine (files sealed with them still unseal). kseal.yaml URLs are skipped: verify
/// stays offline.
pub(crate) fn load_certs(explicit: &[PathBuf], config: Option<&Config>) -> Result<Vec<KnownCert>> {
    let mut sources = Vec::new();
    if !explicit.is_empty() {
        for path in explicit {
            sources.push((path.display().to_string(), CertSource::File(path.clone())));
        }
    } else if let Some(config) = config {
        for c in config.certs() {
            match c {
                CertSource::Url(url) => say::warning(format_args!(
                    "{}: cert {url} is a URL; it is not fetched (pass --cert FILE to check against it)",
                    config.path.display()
                )),
                CertSource::File(path) => {
                    sources.push((path.display().to_string(), CertSource::File(path)));
                }
            }
        }
    }
    let mut out: Vec<KnownCert> = Vec::new();
    for (shown, source) in sources {
        let cert = source.load(SystemTime::now(), true)?;
        if !out
            .iter()
            .any(|k| k.cert.fingerprint() == cert.fingerprint())
        {
            out.push(KnownCert { shown, cert });
        }
    }
    Ok(out)
}

/// One active key of the cluster, from `GET /v1/certs`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterCert {
    pub(crate) fingerprint: String,
    #[serde(default)]
    pub(crate) secret_name: String,
    #[serde(default)]
    pub(crate) created: Option<String>,
    #[serde(default)]
    pub(crate) latest: bool,
}

#[derive(Debug, serde::Deserialize)]
struct ClusterCerts {
    certificates: Vec<ClusterCert>,
}

/// The cluster's active keys, newest first: `/v1/certs`, or only the newest when the
/// controller does not serve that list (Bitnami's).
pub(crate) fn cluster_certs(session: &Session, newest: &Certificate) -> Result<Vec<ClusterCert>> {
    let reply = session.request_get("/v1/certs")?;
    match reply.status {
        200 => {
            let list: ClusterCerts = serde_json::from_slice(&reply.body).map_err(|e| {
                Failure::runtime(format!(
                    "GET /v1/certs on {}: unexpected answer: {e}",
                    session.service()
                ))
            })?;
            Ok(list.certificates)
        }
        404 => Ok(vec![ClusterCert {
            fingerprint: newest.fingerprint().to_string(),
            secret_name: String::new(),
            created: None,
            latest: true,
        }]),
        _ => Err(session.unexpected("GET", "/v1/certs", &reply)),
    }
}

/// The controller's newest certificate (`/v1/cert.pem`).
pub(crate) fn cluster_newest(session: &Session) -> Result<Certificate> {
    let pem = session.get("/v1/cert.pem")?;
    Certificate::from_pem(&pem).map_err(|e| {
        Failure::runtime(format!(
            "{} served an unusable certificate: {e}",
            session.service()
        ))
    })
}
