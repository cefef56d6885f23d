//! One module per command.

pub(crate) mod backup;
pub(crate) mod cert;
pub(crate) mod diff;
pub(crate) mod guard;
pub(crate) mod keygen;
pub(crate) mod keys;
pub(crate) mod ls;
pub(crate) mod rotate;
pub(crate) mod seal;
pub(crate) mod unseal;
pub(crate) mod verify;

use std::path::Path;

use clap::CommandFactory as _;

use crate::{
    args::{Cli, CompletionsArgs, InitArgs},
    config,
    exit::{Failure, Result},
    io,
};

/// `kseal init`.
pub(crate) fn init(args: InitArgs) -> Result<()> {
    let path = Path::new(config::FILE_NAME);
    if path.exists() && !args.force {
        return Err(Failure::usage(format!("{} already exists", path.display()))
            .hint("pass --force to overwrite it"));
    }
    io::write_atomic(path, config::STARTER.as_bytes(), 0o644)?;
    eprintln!(
        "kseal: wrote {}; edit name, namespace, cert and output, then run `kseal seal .env.staging`",
        path.display()
    );
    Ok(())
}

/// `kseal completions SHELL`.
pub(crate) fn completions(args: CompletionsArgs) -> Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "kseal", &mut out);
    io::write_stdout(&out)
}

/// `kseal man`: the man page, generated from the same definitions as `--help`.
pub(crate) fn man() -> Result<()> {
    io::write_stdout(man_page().as_bytes())
}

/// The roff man page for `kseal` and its subcommands.
pub(crate) fn man_page() -> String {
    // The man page carries the version without the commit, so that the committed copy does
    // not change with every commit.
    let cmd = Cli::command().version(env!("CARGO_PKG_VERSION"));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .expect("invariant: rendering to memory cannot fail");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name: &'static str = Box::leak(format!("kseal-{}", sub.get_name()).into_boxed_str());
        let sub = sub.clone().name(name);
        out.extend_from_slice(b"\n");
        clap_mangen::Man::new(sub)
            .render(&mut out)
            .expect("invariant: rendering to memory cannot fail");
    }
    String::from_utf8(out).expect("invariant: clap_mangen writes UTF-8")
}
