//! One module per command.

pub(crate) mod backup;
pub(crate) mod cert;
pub(crate) mod diff;
pub(crate) mod guard;
pub(crate) mod init;
pub(crate) mod keygen;
pub(crate) mod keys;
pub(crate) mod ls;
pub(crate) mod rotate;
pub(crate) mod seal;
pub(crate) mod unseal;
pub(crate) mod verify;

use clap::CommandFactory as _;

use crate::{
    args::{Cli, CompletionsArgs, ManArgs},
    exit::{Failure, Result},
    io,
};

/// `kseal completions SHELL`.
pub(crate) fn completions(args: CompletionsArgs) -> Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "kseal", &mut out);
    io::write_stdout(&out)
}

/// `kseal man [PAGE] [--out-dir DIR]`: man pages generated from the same definitions as
/// `--help`; the committed copies are `cli/doc/*.1`.
pub(crate) fn man(args: ManArgs) -> Result<()> {
    let pages = man_pages();
    if let Some(dir) = &args.out_dir {
        let paths: Vec<std::path::PathBuf> = pages.iter().map(|(name, _)| dir.join(name)).collect();
        let writes: Vec<io::FileWrite<'_>> = paths
            .iter()
            .zip(&pages)
            .map(|(path, (_, text))| io::FileWrite {
                path,
                bytes: text.as_bytes(),
                mode: io::Mode::KeepOr(0o644),
            })
            .collect();
        return io::write_files(&writes);
    }
    let wanted = match &args.page {
        None => "kseal.1".to_owned(),
        Some(page) if page == "kseal" => "kseal.1".to_owned(),
        Some(page) => format!("kseal-{page}.1"),
    };
    match pages.iter().find(|(name, _)| *name == wanted) {
        Some((_, text)) => io::write_stdout(text.as_bytes()),
        None => Err(
            Failure::usage(format!("no man page {}", wanted.trim_end_matches(".1")))
                .hint("name a command, e.g. `kseal man seal`"),
        ),
    }
}

/// Every man page as (file name, roff): `kseal.1`, then `kseal-COMMAND.1` for each command
/// kseal(1) lists. The pages carry the version without the commit, so that the committed
/// copies do not change with every commit.
pub(crate) fn man_pages() -> Vec<(String, String)> {
    let version = env!("CARGO_PKG_VERSION");
    // `kseal help` is left out: it has no page of its own (it prints `--help`).
    let mut cmd = Cli::command()
        .version(version)
        .disable_help_subcommand(true);
    cmd.build();
    let render = |cmd: clap::Command| {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .expect("invariant: rendering to memory cannot fail");
        String::from_utf8(out).expect("invariant: clap_mangen writes UTF-8")
    };
    let mut pages = vec![("kseal.1".to_owned(), render(cmd.clone()))];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("kseal-{}", sub.get_name());
        let title: &'static str = Box::leak(name.clone().into_boxed_str());
        let page = sub.clone().name(title).version(version);
        pages.push((format!("{name}.1"), render(page)));
    }
    pages
}
