//! `kseal`: seal `.env` files and Secrets into Bitnami-compatible SealedSecrets.
//!
//! This binary is a thin shell: arguments → plan → `kseal-core` calls → stdout, stderr, files.
//! Every stderr line goes through `say.rs`: `kseal: error: …`, `kseal: warning: …`,
//! `kseal: hint: …` or a `kseal: …` note.

mod args;
mod certs;
mod cluster;
mod cmd;
mod config;
mod exit;
mod inspect;
mod io;
mod keys;
mod merge;
mod ordered_json;
mod output;
mod placeholder;
mod say;
mod scan;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return args::usage_error(&e),
    };
    let result = match cli.command {
        Command::Backup(a) => cmd::backup::run(a),
        Command::Cert(a) => cmd::cert::run(a),
        Command::Completions(a) => cmd::completions(a),
        Command::Diff(a) => return cmd::diff::run(a),
        Command::Guard(a) => cmd::guard::run(a),
        Command::Init(a) => cmd::init::run(a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Keys(a) => cmd::keys::run(a),
        Command::Ls(a) => cmd::ls::run(a),
        Command::Man(a) => cmd::man(a),
        Command::Rotate(a) => cmd::rotate::run(a),
        Command::Seal(a) => cmd::seal::run(*a),
        Command::Unseal(a) => cmd::unseal::run(a),
        Command::Verify(a) => cmd::verify::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            failure.code.into()
        }
    }
}
