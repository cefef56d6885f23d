//! Arguments of the commands that read and check files without changing them: `verify`,
//! `keys`, `guard`, `ls` and `diff`.

use std::path::PathBuf;

use clap::Args;

use super::{ConfigArgs, ControllerArgs, ReportArgs};

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

pub(crate) const VERIFY_ABOUT: &str = "\
Check sealed files offline, without private keys (for CI).

Every SealedSecret document in the given files and directories (.yaml, .yml, .json, several
documents per file, kind: List) is checked. Without PATH: the outputs named in kseal.yaml, else
the current directory.

What offline verification proves:
  - the manifest is well formed: apiVersion, kind, valid names, items that are valid Secret keys;
  - the scope annotations agree with the metadata (a strict or namespace-wide scope has a
    namespace; the template names the same object; no scope annotation only in the template);
  - every value is strict padded base64 whose length prefix equals the certificate's key size
    and which is long enough to hold a sealed value;
  - which certificate sealed each document, according to its kseal.dev/key-fingerprint
    annotation, and that it is one of the given certificates;
  - the Secret stays under the 1 MiB limit (sizes follow from the ciphertext lengths).

What it cannot prove: that a value decrypts (that it was sealed for this namespace and name,
with the key the annotation names, and was not altered), that the annotation is honest, or that
the values are the right ones. Only a private key can: --cluster asks the controller
(/v1/verify, through the API server as kubeseal --validate does) about every document after the
offline checks, or `kseal unseal` with a backup key.

Errors exit with 5; warnings are printed but pass unless --strict. With --cluster, a document
the controller cannot unseal exits with 4.";

pub(crate) const VERIFY_EXAMPLES: &str = "\
Examples:
  kseal verify                                 the outputs named in kseal.yaml
  kseal verify k8s/ --cert certs/prod.pem    every sealed file in k8s/, for prod
  kseal verify --strict --cert a.pem --cert b.pem app.sealed.yaml
  kseal verify --cluster               also ask the controller if each unseals";

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Files or directories to check ('-' reads stdin, e.g. `kubectl kustomize DIR | kseal
    /// verify -`); default: the outputs in kseal.yaml, else '.'.
    pub(crate) paths: Vec<PathBuf>,
    /// Certificate the files must be sealed with (repeatable; any one matches). Default: every
    /// cert named in kseal.yaml.
    #[arg(long = "cert", value_name = "FILE")]
    pub(crate) certs: Vec<PathBuf>,
    /// Treat warnings as problems too.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Also ask the controller (POST /v1/verify through the API server) whether each document
    /// unseals with the cluster's keys.
    #[arg(long)]
    pub(crate) cluster: bool,
    #[command(flatten)]
    pub(crate) controller: ControllerArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
}

pub(crate) const GUARD_ABOUT: &str = "\
Block plaintext Secrets and .env files from being committed (a pre-commit hook).

Checks the given files, or every file `git ls-files` lists, and fails (exit 5) on:
  - a Secret (kind: Secret, also inside a kind: List) whose data or stringData holds a value in
    clear, in .yaml, .yml or .json files with one or more documents. A value that is entirely
    a Helm/Go template expression ({{ .Values.password | b64enc }}, also quoted) is rendered at
    deploy time and does not count; a value that mixes literal text with a template does.
    Empty values do not count. Helm templates that are not valid YAML are read line by line.
  - an env file: .env, .envrc, .env.*, env.*, *.env and *.env.* (prod.env.bak), except code
    and manifests (env.d.ts, app.env.yaml). Files ending in .example, .sample or .template are
    allowed when every value is a placeholder (see below).
  - a PEM private key (-----BEGIN … PRIVATE KEY----- with its body) in any file: tls.key,
    id_rsa, server.key, a key inside YAML or JSON.
  - a Kustomize secretGenerator with literals:, or with envs: (env:) or files: naming env
    files or private keys.
  - a SealedSecret whose values are not well-formed ciphertext (the structural checks of
    `kseal verify`, without a certificate).
  - a manifest (.yaml, .yml, .json) that is not UTF-8 text, or JSON that does not parse and
    mentions a Secret: it cannot be checked.

A value in an example file counts as a placeholder when it is empty, or when it does not look
like a real credential and either contains one of example, fake, changeme, change-me, xxx,
placeholder, dummy, your-, your_, ${…}, <…> or the word todo, tbd or fixme (any case), or belongs to a key whose name does
not suggest a secret (no SECRET, PASSWORD, PASSWD, PWD, PASS, TOKEN, KEY, CREDENTIAL, AUTH,
PRIVATE, SALT, DSN or CERT), or is a number, duration, boolean or URL without a password.
A real-looking credential is a
private key block, a URL with a password that is not a placeholder, a token with a well-known
prefix (AKIA, ghp_, github_pat_, glpat-, xoxb-, sk_live_, sk-, AIza, …) or a long random-looking
string.

Values are never printed: findings name the file, line or document, and key only. Exclude test
fixtures with `exclude:` in .pre-commit-config.yaml.";

pub(crate) const GUARD_EXAMPLES: &str = "\
Examples:
  kseal guard                                  check every file git tracks
  kseal guard k8s/secret.yaml .env.example    check these files only

.pre-commit-config.yaml:
  - repo: https://github.com/kseal/kseal
    rev: v0.1.0
    hooks:
      - id: kseal-guard";

#[derive(Debug, Args)]
pub(crate) struct GuardArgs {
    /// Files (or directories) to check ('-' reads a manifest from stdin); default: every file
    /// `git ls-files` lists.
    pub(crate) files: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
}

pub(crate) const KEYS_ABOUT: &str = "\
Show which keys sealed which files, and which certificates nothing uses any more.

Reads the kseal.dev/key-fingerprint annotation of every SealedSecret in PATH (default: the
outputs named in kseal.yaml, else '.') and prints one row per key: the documents and files
sealed to it. A --cert whose key no document references is marked unreferenced: no file here
needs it, so after `kseal rotate` its key can be retired. Documents without the annotation
(sealed by kubeseal) are counted separately; while there are any, no key is proven unused.
Files outside PATH and objects only in the cluster are not seen.

--cluster lists the controller's active keys instead (GET /v1/certs through the API server):
created time, which is the newest, how many documents here reference each, and a STATUS: an
older key is \"safe to retire\" only when no document references it and every document has
the annotation; otherwise \"in use\". Fingerprints that documents reference but the cluster
does not hold are listed as \"not in cluster\": those documents cannot be unsealed there.";

pub(crate) const KEYS_EXAMPLES: &str = "\
Examples:
  kseal keys k8s/
  kseal keys k8s/ --cert certs/old.pem --cert certs/new.pem
  kseal keys --cluster         the cluster's keys, and which can be retired";

#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    /// Sealed files or directories ('-' reads stdin); default: the outputs named in kseal.yaml,
    /// else '.'.
    pub(crate) paths: Vec<PathBuf>,
    /// Certificates to report on, referenced or not (repeatable).
    #[arg(long = "cert", value_name = "FILE", conflicts_with = "cluster")]
    pub(crate) certs: Vec<PathBuf>,
    /// Report on the controller's active keys (GET /v1/certs through the API server).
    #[arg(long)]
    pub(crate) cluster: bool,
    #[command(flatten)]
    pub(crate) controller: ControllerArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
}
