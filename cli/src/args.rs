//! Command-line arguments. Data only: validation happens when a command builds its plan.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, builder::TypedValueParser as _};

const EXAMPLES: &str = "\
Examples:
  kseal init                                   write a commented kseal.yaml
  kseal seal .env.staging > sealed.yaml        seal with the settings in kseal.yaml
  kseal seal .env --cert cert.pem --name app-env -n shop -w k8s/app-env.sealed.yaml
  kubectl create secret generic x --from-literal=K=v --dry-run=client -o yaml | kseal seal --cert cert.pem
  kseal unseal --key backup.key sealed.yaml    recover Secrets offline with backup keys

Exit codes: 0 success, 1 failure, 2 usage, 3 invalid input, 4 cannot decrypt.";

/// Seal .env files and Secrets into Bitnami-compatible SealedSecrets that are safe to commit.
#[derive(Debug, Parser)]
#[command(name = "kseal", version, after_help = EXAMPLES, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  kseal completions bash > /etc/bash_completion.d/kseal\n  kseal completions zsh > \"${fpath[1]}/_kseal\""
    )]
    Completions(CompletionsArgs),
    /// Write a commented starter kseal.yaml in the current directory.
    #[command(
        after_help = "Examples:\n  kseal init\n  kseal init --force     overwrite an existing kseal.yaml"
    )]
    Init(InitArgs),
    /// Generate a key pair and certificate in the controller's shape (tls.key, tls.crt).
    #[command(
        after_help = "Examples:\n  kseal keygen --out keys/\n  kseal keygen --out keys/ --key-size 2048 --my-cn staging"
    )]
    Keygen(KeygenArgs),
    /// Print the man page (roff) to stdout.
    #[command(hide = true)]
    Man,
    /// Seal a .env file or Secret manifests into SealedSecrets.
    #[command(after_help = SEAL_EXAMPLES)]
    Seal(Box<SealArgs>),
    /// Decrypt SealedSecrets offline with private keys and print the Secrets.
    #[command(
        after_help = "Examples:\n  kseal unseal --key backup.key sealed.yaml\n  kseal unseal --key keys.yaml,old.pem < sealed.yaml > secret.yaml"
    )]
    Unseal(UnsealArgs),
}

const SEAL_EXAMPLES: &str = "\
Examples:
  kseal seal .env.staging > sealed.yaml
  kseal seal .env --cert cert.pem --name app-env -n shop --scope namespace-wide
  kseal seal .env.staging -w                       write to the output set in kseal.yaml
  kseal seal .env.staging --merge-into k8s/overlays/staging/app-env.sealed.yaml
  kubectl create secret generic app-env --from-literal=K=v --dry-run=client -o yaml | kseal seal --cert cert.pem
  printf %s 's3cret' | kseal seal --raw --cert cert.pem --name app-env -n shop";

#[derive(Debug, Args)]
pub(crate) struct SealArgs {
    /// Input: a .env file or Secret manifests (YAML/JSON); '-' or nothing reads stdin.
    pub(crate) input: Option<PathBuf>,
    /// Certificate to seal with: a PEM file or an http(s) URL.
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) cert: Option<String>,
    /// Name of the Secret (and SealedSecret).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Namespace of the Secret.
    #[arg(short = 'n', long)]
    pub(crate) namespace: Option<String>,
    /// Where the Secret may be unsealed.
    #[arg(long, value_enum)]
    pub(crate) scope: Option<ScopeArg>,
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
    /// Write to FILE atomically instead of stdout; without FILE, to the output set in kseal.yaml.
    #[arg(short = 'w', long = "write", value_name = "FILE", num_args = 0..=1)]
    pub(crate) write: Option<Option<PathBuf>>,
    /// Update only the given keys in an existing sealed file; every other line stays as it is.
    #[arg(long, value_name = "FILE", conflicts_with = "write")]
    pub(crate) merge_into: Option<PathBuf>,
    /// Seal only these keys of the input (comma-separated or repeated); with --merge-into the
    /// other items of the file stay as they are.
    #[arg(long, value_delimiter = ',', value_name = "KEY")]
    pub(crate) only: Vec<String>,
    /// How to read a .env file.
    #[arg(long, value_enum)]
    pub(crate) env_format: Option<EnvFormatArg>,
    /// Which .env keys are allowed: portable variable names, or any Secret data key.
    #[arg(long, value_enum)]
    pub(crate) keys: Option<KeysArg>,
    /// Treat an empty .env value as an error.
    #[arg(long)]
    pub(crate) deny_empty: bool,
    /// Seal one value (from stdin or --from-file) and print only its base64, as kubeseal --raw.
    #[arg(long)]
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
    /// Use this kseal.yaml instead of searching upwards from the current directory.
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub(crate) config: Option<PathBuf>,
    /// Ignore kseal.yaml.
    #[arg(long)]
    pub(crate) no_config: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScopeArg {
    Strict,
    NamespaceWide,
    ClusterWide,
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
    /// Sealed file(s): a SealedSecret manifest (YAML/JSON, several documents allowed); '-' or nothing reads stdin.
    pub(crate) input: Option<PathBuf>,
    /// Private key files: PEM, a Secret with tls.key, or a List of them; comma-separated or repeated.
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

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Overwrite an existing kseal.yaml.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    pub(crate) shell: clap_complete::Shell,
}
