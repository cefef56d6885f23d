//! Command-line arguments. Data only: validation happens when a command builds its plan.

mod errors;
mod read;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, builder::TypedValueParser as _};

use self::read::{
    DIFF_ABOUT, DIFF_EXAMPLES, GUARD_ABOUT, GUARD_EXAMPLES, KEYS_ABOUT, KEYS_EXAMPLES, LS_ABOUT,
    LS_EXAMPLES, VERIFY_ABOUT, VERIFY_EXAMPLES,
};
pub(crate) use self::{
    errors::usage_error,
    read::{DiffArgs, GuardArgs, KeysArgs, LsArgs, VerifyArgs},
};

const EXAMPLES: &str = "\
Examples:
  kseal init                           a kseal.yaml, folders and a .gitignore
  kseal seal .env.staging > out.yaml   seal with the settings in kseal.yaml
  kseal seal .env --cert cert.pem --name app-env -n shop \\
      -w k8s/app-env.sealed.yaml
  kubectl create secret generic x --from-literal=K=v --dry-run=client -o yaml \\
      | kseal seal --cert cert.pem
  kseal unseal --key backup.key sealed.yaml    recover Secrets offline
  kseal verify k8s/                    check sealed files offline (CI)
  kseal ls k8s/                        what sealed files hold, without keys
  kseal diff --git HEAD app.yaml       which items changed since the last commit
  kseal rotate                         re-seal stale files via the controller
  kseal rotate --key backup.key        the same offline, with backup keys
  kseal backup -o keys.yaml            export the private keys (store offline!)

Exit codes: 0 success, 1 failure, 2 usage, 3 invalid input, 4 cannot decrypt,
5 check found problems.";

/// `kseal --version`: the package version and the git commit it was built from (`unknown`
/// outside a git checkout; see `build.rs`).
pub(crate) const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KSEAL_GIT_COMMIT"),
    ")"
);

/// Seal .env files and Secrets into Bitnami-compatible SealedSecrets that are safe to commit.
#[derive(Debug, Parser)]
#[command(name = "kseal", version = VERSION, after_help = EXAMPLES, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Export the cluster's private keys (a v1 List of Secrets) for offline recovery.
    #[command(long_about = BACKUP_ABOUT, after_help = BACKUP_EXAMPLES)]
    Backup(BackupArgs),
    /// Fetch the cluster's newest sealing certificate, or check that a committed one still is.
    #[command(after_help = CERT_EXAMPLES)]
    Cert(CertArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  kseal completions bash > /etc/bash_completion.d/kseal\n  kseal completions zsh > \"${fpath[1]}/_kseal\""
    )]
    Completions(CompletionsArgs),
    /// Compare two versions of sealed files: items added, removed or re-sealed (no keys needed).
    #[command(long_about = DIFF_ABOUT, after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Block plaintext Secrets and .env files from being committed (a pre-commit hook).
    #[command(long_about = GUARD_ABOUT, after_help = GUARD_EXAMPLES)]
    Guard(GuardArgs),
    /// Start here: a commented kseal.yaml, its folders, and a .gitignore for env files and keys.
    #[command(
        long_about = INIT_ABOUT,
        after_help = "Examples:\n  kseal init\n  kseal init --force     overwrite an existing kseal.yaml"
    )]
    Init(InitArgs),
    /// Generate a key pair and certificate in the controller's shape (tls.key, tls.crt).
    #[command(
        after_help = "Examples:\n  kseal keygen --out keys/\n  kseal keygen --out keys/ --key-size 2048 --my-cn staging"
    )]
    Keygen(KeygenArgs),
    /// Show which keys sealed which files, and which certificates nothing uses any more.
    #[command(long_about = KEYS_ABOUT, after_help = KEYS_EXAMPLES)]
    Keys(KeysArgs),
    /// List the SealedSecrets in files: name, scope, items and key (no keys needed).
    #[command(long_about = LS_ABOUT, after_help = LS_EXAMPLES)]
    Ls(LsArgs),
    /// Print a man page (roff) to stdout, or write them all to a folder.
    #[command(hide = true)]
    Man(ManArgs),
    /// Re-encrypt sealed files to the newest certificate, through the controller or offline.
    #[command(long_about = ROTATE_ABOUT, after_help = ROTATE_EXAMPLES)]
    Rotate(RotateArgs),
    /// Seal a .env file or Secret manifests into SealedSecrets.
    #[command(after_help = SEAL_EXAMPLES)]
    Seal(Box<SealArgs>),
    /// Decrypt SealedSecrets offline with private keys and print the Secrets.
    #[command(
        after_help = "Examples:\n  kseal unseal --key backup.key sealed.yaml\n  kseal unseal --key keys.yaml,old.pem < sealed.yaml > secret.yaml\n  kseal unseal --key backups/ k8s/     all files in k8s/, all keys in backups/"
    )]
    Unseal(UnsealArgs),
    /// Check sealed files offline, without private keys (for CI).
    #[command(long_about = VERIFY_ABOUT, after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
}

const SEAL_EXAMPLES: &str = "\
Examples:
  kseal seal .env.staging > sealed.yaml
  kseal seal .env --cert cert.pem --name app-env -n shop --scope namespace-wide
  kseal seal .env.staging -w       write to the output set in kseal.yaml
  kseal seal .env.staging --merge-into k8s/overlays/staging/app-env.sealed.yaml
  kseal seal .env --cert staging=certs/staging.pem --cert prod=certs/prod.pem \\
      --out-dir sealed/
  kseal seal .env.prod -w          one file per `clusters:` entry in kseal.yaml
  kubectl create secret generic app-env --from-literal=K=v --dry-run=client \\
      -o yaml | kseal seal --cert cert.pem
  printf %s 's3cret' | kseal seal --raw --cert cert.pem --name app-env -n shop";

#[derive(Debug, Args)]
pub(crate) struct SealArgs {
    /// Input: a .env file or Secret manifests (YAML/JSON); '-' or nothing reads stdin.
    pub(crate) input: Option<PathBuf>,
    /// Certificate to seal with: a PEM file or an http(s) URL. Repeat it to seal for several
    /// clusters at once (one output file each; name them with NAME=FILE).
    #[arg(long, value_name = "[NAME=]FILE|URL")]
    pub(crate) cert: Vec<String>,
    /// Name of the Secret (and SealedSecret).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Namespace of the Secret.
    #[arg(short = 'n', long)]
    pub(crate) namespace: Option<String>,
    /// Where the Secret may be unsealed.
    #[arg(long, value_enum)]
    pub(crate) scope: Option<ScopeArg>,
    /// Value format (default rsa, or kseal.yaml's `encryption:`).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) encryption: Option<EncryptionArg>,
    /// Secret type, e.g. Opaque or kubernetes.io/dockerconfigjson.
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) type_: Option<String>,
    /// Label for the Secret, KEY=VALUE (repeatable).
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub(crate) labels: Vec<String>,
    /// Annotation for the Secret, KEY=VALUE (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub(crate) annotations: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum)]
    pub(crate) format: Option<FormatArg>,
    /// Write to FILE atomically instead of stdout; without FILE, to the output set in kseal.yaml
    /// (one per cluster with `clusters:`). With several certificates, a DIR/ acts as --out-dir.
    /// Missing folders are created, a symbolic link is written through to its target, and the
    /// files of one command are written all or none. With --only, an existing file is merged
    /// into (as --merge-into), never replaced.
    #[arg(short = 'w', long = "write", value_name = "FILE", num_args = 0..=1)]
    pub(crate) write: Option<Option<PathBuf>>,
    /// Write one file per certificate (or kseal.yaml cluster) into DIR, named NAME.yaml.
    #[arg(long, value_name = "DIR", conflicts_with = "merge_into")]
    pub(crate) out_dir: Option<PathBuf>,
    /// Update only the given keys in an existing sealed file; every other line stays as it is.
    /// The certificate must be the one the file is sealed to (its kseal.dev/key-fingerprint);
    /// without --cert, the one kseal.yaml names for that output.
    #[arg(long, value_name = "FILE", conflicts_with = "write")]
    pub(crate) merge_into: Option<PathBuf>,
    /// Seal only these keys of the input (comma-separated or repeated); the other items of an
    /// existing output file (--merge-into, or -w onto a file that exists) stay as they are.
    #[arg(long, value_delimiter = ',', value_name = "KEY")]
    pub(crate) only: Vec<String>,
    /// When merging into a file sealed to another certificate (or to an unknown one): seal every
    /// item again to this certificate. The input must hold every item of the file.
    #[arg(long, conflicts_with = "only", requires = "merge_into")]
    pub(crate) reseal_all: bool,
    /// How to read a .env file.
    #[arg(long, value_enum)]
    pub(crate) env_format: Option<EnvFormatArg>,
    /// Which .env keys are allowed: portable variable names, or any Secret data key.
    #[arg(long, value_enum)]
    pub(crate) keys: Option<KeysArg>,
    /// Treat an empty .env value as an error.
    #[arg(long)]
    pub(crate) deny_empty: bool,
    /// Seal one value (from stdin or --from-file) and print only its base64, as kubeseal --raw
    /// (or write it to -w FILE).
    #[arg(long, conflicts_with_all = ["merge_into", "out_dir", "only", "reseal_all"])]
    pub(crate) raw: bool,
    /// With --raw: read the value from FILE.
    #[arg(long, value_name = "FILE", requires = "raw")]
    pub(crate) from_file: Option<PathBuf>,
    /// Seal a Secret that has no data.
    #[arg(long)]
    pub(crate) allow_empty_data: bool,
    /// Seal even with an expired certificate (kubeseal refuses; only for certificates you control).
    #[arg(long)]
    pub(crate) unsafe_allow_expired_cert: bool,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScopeArg {
    Strict,
    NamespaceWide,
    ClusterWide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EncryptionArg {
    /// RSA-OAEP + AES-GCM, byte-compatible with Bitnami sealed-secrets (default).
    Rsa,
    /// X-Wing (ML-KEM-768 + X25519) + AES-GCM: safe against a future quantum computer; only
    /// kseal's controller opens it, and the certificate must carry an X-Wing key.
    PqHybrid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EnvFormatArg {
    /// One meaning in every dotenv library; everything else is an error (default).
    Strict,
    /// Exactly kubectl create secret --from-env-file: verbatim values.
    Kubectl,
    /// python-dotenv's reading, without interpolation.
    Lenient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeysArg {
    /// [A-Za-z_][A-Za-z0-9_]*: usable with envFrom on every cluster (default).
    Env,
    /// Any Secret data key, [-._a-zA-Z0-9]+.
    Secret,
}

#[derive(Debug, Args)]
pub(crate) struct UnsealArgs {
    /// Sealed files or directories (searched for .yaml, .yml and .json files holding
    /// SealedSecrets); several documents per file allowed; '-' or nothing reads stdin.
    pub(crate) inputs: Vec<PathBuf>,
    /// Private keys: PEM files, Secrets with tls.key, Lists of them, or directories of such
    /// files; comma-separated or repeated.
    #[arg(
        long = "key",
        required = true,
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub(crate) keys: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Directory to write tls.key (mode 0600) and tls.crt into.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// RSA key size in bits.
    #[arg(long, default_value_t = 4096, value_parser = clap::builder::PossibleValuesParser::new(["2048", "3072", "4096"]).try_map(|s| s.parse::<usize>()))]
    pub(crate) key_size: usize,
    /// Certificate lifetime, e.g. 87600h (the controller's default).
    #[arg(long, default_value = "87600h", value_name = "DURATION")]
    pub(crate) key_ttl: String,
    /// Common name of the certificate (empty by default, as the controller's).
    #[arg(long, default_value = "")]
    pub(crate) my_cn: String,
    /// Overwrite existing files.
    #[arg(long)]
    pub(crate) force: bool,
}

const CERT_EXAMPLES: &str = "\
Examples:
  kseal cert > certs/staging.pem          as kubeseal --fetch-cert
  kseal cert -w certs/staging.pem         write it atomically
  kseal cert --check certs/staging.pem    CI: exit 5 when the key was renewed
  kseal cert --cert-url https://sealed-secrets.example.com/v1/cert.pem";

/// Where the controller is, as kubeseal's flags say.
#[derive(Debug, Args)]
pub(crate) struct ControllerArgs {
    /// Name of the controller's Service.
    #[arg(
        long,
        default_value = "sealed-secrets-controller",
        env = "SEALED_SECRETS_CONTROLLER_NAME"
    )]
    pub(crate) controller_name: String,
    /// Namespace of the controller's Service (and of its key Secrets).
    #[arg(
        long,
        default_value = "kube-system",
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE"
    )]
    pub(crate) controller_namespace: String,
    #[command(flatten)]
    pub(crate) access: AccessArgs,
}

impl ControllerArgs {
    pub(crate) fn controller(&self) -> crate::cluster::Controller {
        crate::cluster::Controller {
            name: self.controller_name.clone(),
            namespace: self.controller_namespace.clone(),
            access: self.access.access(),
        }
    }
}

/// Which cluster, as kubeseal's and kubectl's flags say.
#[derive(Debug, Args)]
pub(crate) struct AccessArgs {
    /// The kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster).
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub(crate) context: Option<String>,
}

impl AccessArgs {
    pub(crate) fn access(&self) -> crate::cluster::Access {
        crate::cluster::Access {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct CertArgs {
    #[command(flatten)]
    pub(crate) controller: ControllerArgs,
    /// Fetch from this URL instead of through the API server (e.g. an Ingress to /v1/cert.pem).
    #[arg(long, value_name = "URL")]
    pub(crate) cert_url: Option<String>,
    /// Exit 5 unless FILE holds the certificate the cluster serves now.
    #[arg(long, value_name = "FILE", conflicts_with = "write")]
    pub(crate) check: Option<PathBuf>,
    /// Write the certificate to FILE atomically instead of stdout.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub(crate) write: Option<PathBuf>,
}

const INIT_ABOUT: &str = "\
Start a project in the current directory: a commented starter kseal.yaml (one entry for
.env.staging), the folders it names (certs/, k8s/overlays/staging/), and a .gitignore (created,
or extended with the lines it lacks) that keeps env files (.env*, but not .env*.example) and
private keys (*.key, tls.key) out of git. Then: `kseal cert -w certs/staging.pem` fetches the
cluster's certificate. A .env.staging that exists already is checked for placeholder values.";

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Overwrite an existing kseal.yaml.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The page: a command (`seal` for kseal-seal(1)); default: kseal(1).
    pub(crate) page: Option<String>,
    /// Write every page (kseal.1 and one kseal-COMMAND.1 per command) into DIR instead.
    #[arg(long, value_name = "DIR", conflicts_with = "page")]
    pub(crate) out_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    pub(crate) shell: clap_complete::Shell,
}

const ROTATE_ABOUT: &str = "\
Re-encrypt sealed files to the newest certificate, through the controller or offline.

Every SealedSecret document in PATH (default: the outputs named in kseal.yaml) whose
kseal.dev/key-fingerprint annotation is not the newest certificate's fingerprint (or that has
none) is sealed again to it, with the same scope. spec.template and every other line stay as
they are; documents already sealed to the certificate are left alone, and only files that
change are rewritten, all together or (when anything fails) none. A second run changes
nothing.

Through the controller (no --key, no --cert, no --offline): the target is the certificate the
controller serves (/v1/cert.pem, through the API server with your kubeconfig, as kubeseal);
stale documents are re-sealed by POST /v1/rotate, so no private key leaves the cluster, and
the answers are checked (same items, each sealed for the newest key's size). The cert files
kseal.yaml names for this cluster are refreshed when the cluster's newest differs. With several
`clusters:` in kseal.yaml, files whose cert is not one of this cluster's keys are skipped; a
file kseal.yaml does not assign to a cluster is an error.

Offline (--key): decrypted with the --key private keys and sealed to --cert, or to the cert
kseal.yaml names for that output file (each cluster's own with `clusters:`).
--check and --dry-run need no keys: they compare with the controller's newest certificate,
or with the certificate files (--cert, or kseal.yaml's) under --offline, with --cert, or when no
cluster is configured at all (no KUBECONFIG, ~/.kube/config or in-cluster environment).

Format (--encryption rsa|pq-hybrid): by default every item keeps the format it is sealed in.
With --encryption, every item is sealed again in that format, and documents whose items are in
the other format count as stale even when sealed to the newest certificate: this migrates a
repository to pq-hybrid (or back to rsa before moving to Bitnami). Through the controller it
asks /v1/rotate?encryption=FORMAT (kseal's controller; Bitnami's ignores the parameter, and
kseal then refuses its answer and writes nothing); offline it needs --key.

Re-encryption does NOT undo a leak: anyone holding an old copy of a file and the old key can
still read the old values. If a key or a sealed value leaked, change the secret values
themselves (credential rotation) and seal the new ones. The same holds for a migration to
pq-hybrid: git history keeps the RSA ciphertext of every value ever committed.";

const ROTATE_EXAMPLES: &str = "\
Examples:
  kseal rotate                  re-seal kseal.yaml's outputs via the controller
  kseal rotate --check          CI: exit 5 unless sealed to the newest key
  kseal rotate --check --offline    the same against kseal.yaml's cert files
  kseal rotate --key backup/    offline, to the certs kseal.yaml names
  kseal rotate k8s/ --key old.key,new.key --cert certs/prod.pem
  kseal rotate k8s/ --cert new.pem --dry-run   list what would be re-sealed
  kseal rotate --encryption pq-hybrid   migrate to pq-hybrid via the controller
  kseal rotate k8s/ --key backup/ --encryption pq-hybrid   the same offline";

#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// Sealed files or directories; default: the outputs named in kseal.yaml.
    pub(crate) paths: Vec<PathBuf>,
    /// Private keys that can open the old files: PEM files, key Secrets, Lists or directories of
    /// them; comma-separated or repeated.
    /// Without --key, stale documents are re-sealed through the controller.
    #[arg(long = "key", value_delimiter = ',', value_name = "FILE")]
    pub(crate) keys: Vec<PathBuf>,
    /// The newest certificate: files not sealed to it are re-sealed. Default: kseal.yaml's.
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) cert: Option<String>,
    /// Show what would be re-sealed; write nothing (with --key, also try every decryption).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Write nothing; exit 5 if any document is not sealed to the newest certificate.
    #[arg(long, conflicts_with = "dry_run")]
    pub(crate) check: bool,
    /// Re-seal even to an expired certificate (only for certificates you control).
    #[arg(long)]
    pub(crate) unsafe_allow_expired_cert: bool,
    /// Re-seal every item in this format (offline only); default: each item keeps its own.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) encryption: Option<EncryptionArg>,
    /// Do not contact the cluster: --check/--dry-run compare with the cert files in kseal.yaml.
    #[arg(long)]
    pub(crate) offline: bool,
    #[command(flatten)]
    pub(crate) controller: ControllerArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
}

const BACKUP_ABOUT: &str = "\
Export the controller's active private keys (a v1 List of Secrets) for offline recovery.

Reads the Secrets labelled sealedsecrets.bitnami.com/sealed-secrets-key=active in the
controller's namespace (--controller-namespace, default kube-system; needs `list` on Secrets
there) and writes them as one `kind: List` YAML document without server-managed fields
(managedFields, resourceVersion, uid, ownerReferences). The file works as it is with
`kseal unseal --key FILE`, `kseal rotate --key FILE` and
`kubeseal --recovery-unseal --recovery-private-key FILE`, and can be restored with
`kubectl apply -f FILE` (restart the controller afterwards).

The file holds private keys: anyone with it can decrypt every SealedSecret sealed to them. It
is written atomically with mode 0600 and is never printed to a terminal. Store it offline or
encrypted (a password manager, a KMS-encrypted bucket; never in git), and export again after
every key renewal (every 30 days by default), or let the controller keep key backups itself.";

const BACKUP_EXAMPLES: &str = "\
Examples:
  kseal backup -o sealed-secrets-keys.yaml
  kseal backup --controller-namespace sealed-secrets \\
      | age -r KEY > keys.yaml.age
  kseal unseal --key sealed-secrets-keys.yaml k8s/   recover without the cluster";

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Write to FILE (atomically, mode 0600) instead of stdout; stdout must not be a terminal.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Namespace of the controller and its key Secrets.
    #[arg(
        long,
        default_value = "kube-system",
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE"
    )]
    pub(crate) controller_namespace: String,
    #[command(flatten)]
    pub(crate) access: AccessArgs,
}

/// How a report is printed: text for people (default), or JSON for scripts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputArg {
    #[default]
    Text,
    Json,
}

/// `-o json` of the commands that report (`verify`, `keys`, `rotate`, `guard`, `ls`).
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Output format: text, or json for scripts (its shape is in docs/cli.md).
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        value_name = "FORMAT",
        default_value_t
    )]
    pub(crate) output: OutputArg,
}

impl ReportArgs {
    pub(crate) fn json(&self) -> bool {
        self.output == OutputArg::Json
    }
}

/// Where the project config (kseal.yaml) comes from.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Use this kseal.yaml instead of searching upwards (from the input's folder, then the
    /// current directory, up to the git repository's root).
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub(crate) config: Option<PathBuf>,
    /// Ignore kseal.yaml.
    #[arg(long)]
    pub(crate) no_config: bool,
}

impl ConfigArgs {
    /// The kseal.yaml these flags name or, without them, the nearest one upwards from the
    /// current directory; `None` with `--no-config` or when there is none.
    pub(crate) fn load(&self) -> crate::exit::Result<Option<crate::config::Config>> {
        self.load_for(None)
    }

    /// As [`ConfigArgs::load`], searching from `input`'s folder first.
    pub(crate) fn load_for(
        &self,
        input: Option<&std::path::Path>,
    ) -> crate::exit::Result<Option<crate::config::Config>> {
        crate::config::Config::find(self.config.as_deref(), self.no_config, input)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// `--help` at 80 columns must not wrap an example in the middle of a command: every line
    /// of every command's examples (after_help) fits in 80 columns.
    #[test]
    fn examples_fit_80_columns() {
        let cmd = Cli::command();
        let mut long = Vec::new();
        for sub in std::iter::once(&cmd).chain(cmd.get_subcommands()) {
            let Some(text) = sub.get_after_help() else {
                continue;
            };
            for line in text.to_string().lines() {
                if line.chars().count() > 80 {
                    long.push(format!("{}: {line}", sub.get_name()));
                }
            }
        }
        assert!(
            long.is_empty(),
            "longer than 80 columns:\n{}",
            long.join("\n")
        );
    }
}
