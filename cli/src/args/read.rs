//! Arguments of the commands that only read sealed files: `ls` and `diff`.

use std::path::PathBuf;

use clap::Args;

use super::{ConfigArgs, ReportArgs};

pub(crate) const LS_ABOUT: &str = "\
List the SealedSecrets in sealed files: for each, its namespace and name, scope, items, the key
it is sealed to (the kseal.dev/key-fingerprint annotation, and the key size the values show)
and the file's format. No key is needed and no value is shown.

Directories are searched as `kseal verify` does (.yaml, .yml, .json; hidden entries skipped);
'-' reads a manifest stream from stdin. Without PATH: the outputs named in kseal.yaml, else '.'.";

pub(crate) const LS_EXAMPLES: &str = "\
Examples:
  kseal ls k8s/overlays/staging/app-env.sealed.yaml
  kseal ls k8s/                                every sealed file under k8s/
  kubectl kustomize k8s/overlays/prod | kseal ls -
  kseal ls -o json k8s/ | jq -r '.sealedSecrets[].items[]'";

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Sealed files or directories ('-' reads stdin); default: the outputs named in kseal.yaml,
    /// else '.'.
    pub(crate) paths: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

pub(crate) const DIFF_ABOUT: &str = "\
Compare two versions of sealed files without keys: which items were added, removed, re-sealed
(their ciphertext changed) or left unchanged, and changes of name, namespace, scope and key
fingerprint. Values cannot be compared (they are encrypted): a re-sealed item may hold the same
value or a new one.

A side is a file, '-' (stdin), or REV:PATH, read with `git show REV:PATH` (PATH from the root of
the repository, or ./PATH from the current folder, as git reads it). --git REV compares FILE as
it was in REV with FILE now.

Documents are paired by namespace and name; two files of one SealedSecret each are compared
whatever their names.

Exit status, as diff(1): 0 no difference, 1 differences, 2 an error.";

pub(crate) const DIFF_EXAMPLES: &str = "\
Examples:
  kseal diff old/app-env.sealed.yaml k8s/app-env.sealed.yaml
  kseal diff --git HEAD k8s/app-env.sealed.yaml    changes since the last commit
  kseal diff main:k8s/app-env.sealed.yaml k8s/app-env.sealed.yaml";

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The old and the new version: files, '-' (stdin) or REV:PATH; with --git, one FILE.
    #[arg(value_names = ["OLD", "NEW"], num_args = 1..=2, required = true)]
    pub(crate) sides: Vec<String>,
    /// Compare FILE as it was in this git revision with FILE now.
    #[arg(long, value_name = "REV")]
    pub(crate) git: Option<String>,
}
