//! `kseal cert`: the cluster's newest sealing certificate, and a check that a committed copy is
//! still it.

use std::time::SystemTime;

use kseal_core::Certificate;

use crate::{
    args::CertArgs,
    certs::CertSource,
    exit::{Code, Failure, Result},
    io, say,
};

pub(crate) fn run(args: CertArgs) -> Result<()> {
    let pem = match &args.cert_url {
        Some(url) => CertSource::parse(url, None).fetch_pem()?,
        None => args
            .controller
            .controller()
            .get("/v1/cert.pem")
            .map_err(|e| e.hint("or pass --cert-url to fetch the certificate directly"))?,
    };
    let served = Certificate::from_pem(&pem).map_err(|e| {
        Failure::runtime(format!(
            "the controller served an unusable certificate: {e}"
        ))
    })?;
    if served.check_not_expired(SystemTime::now()).is_err() {
        say::warning("the certificate the controller serves has expired; kubeseal will refuse it");
    }

    if let Some(committed_path) = &args.check {
        let committed = io::read_input(Some(committed_path))?;
        let committed = Certificate::from_pem(&committed)
            .map_err(|e| Failure::input(format!("{}: {e}", committed_path.display())))?;
        if committed.fingerprint() == served.fingerprint() {
            say::note(format_args!(
                "{} is the cluster's newest certificate ({})",
                committed_path.display(),
                served.fingerprint()
            ));
            return Ok(());
        }
        return Err(Failure::new(
            Code::Check,
            format!(
                "{} is not the cluster's newest certificate: it is {}, the cluster serves {}",
                committed_path.display(),
                committed.fingerprint(),
                served.fingerprint()
            ),
        )
        .hint(format!(
            "update it with `kseal cert -w {}`, then re-seal stale files with `kseal rotate`",
            committed_path.display()
        )));
    }

    let out = served.to_pem();
    match &args.write {
        Some(path) => {
            io::write_atomic(path, out.as_bytes(), 0o644)?;
            say::note(format_args!(
                "wrote {} ({})",
                path.display(),
                served.fingerprint()
            ));
            Ok(())
        }
        None => io::write_stdout(out.as_bytes()),
    }
}
