//! Prints the `sealedsecrets.bitnami.com` CRD as YAML.
//!
//! The committed copy is `crds/sealedsecrets.bitnami.com.yaml`; regenerate it with
//! `cargo run -p kseal-crds --bin crdgen > crds/sealedsecrets.bitnami.com.yaml`.

use std::io::Write;

fn main() -> std::process::ExitCode {
    // Write through a locked handle and report errors instead of panicking, so that
    // `crdgen | head` exits quietly.
    let mut out = std::io::stdout().lock();
    match out
        .write_all(kseal_crds::crd_yaml().as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crdgen: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
