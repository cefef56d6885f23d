//! The plan of one `kseal seal` run: the flags (low level, as clap read them) and kseal.yaml's
//! settings for the input (typed by `config/`) turned once into the values the run uses, with
//! every error pointing at the flag or at the kseal.yaml field. Nothing here reads the input,
//! seals or writes; [`super::run`] does that with the plan.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use kseal_core::{
    Encryption, NamespaceName, ObjectName, Scope, ScopeKind,
    dotenv::{EnvFormat, KeyRule},
    names::{LabelValue, QualifiedKey},
};
use kseal_crds::scope_kind_from_annotations;

use super::write::{self, Existing};
use crate::{
    args::{EnvFormatArg, FormatArg, KeysArg, ScopeArg, SealArgs},
    certs::CertSource,
    config::{Config, Settings, is_target_name},
    exit::{Failure, Result},
    io,
};

/// Everything `kseal seal` decided before reading its input.
pub(super) struct Plan {
    /// The flags that are used as they are (`-w`, `--out-dir`, `--only`, `--raw`, …).
    pub(super) args: SealArgs,
    /// The input file; `None` for stdin.
    pub(super) input: Option<PathBuf>,
    /// The input as messages name it (`<stdin>` for stdin).
    pub(super) input_name: String,
    pub(super) config: Option<Config>,
    /// kseal.yaml's settings for the input (defaults overlaid with its entry).
    pub(super) settings: Settings,
    /// `--name`, else kseal.yaml's, else the name of the file merged into.
    pub(super) name: Option<ObjectName>,
    /// `-n`, else kseal.yaml's, else the namespace of the file merged into.
    pub(super) namespace: Option<NamespaceName>,
    /// `--scope`, else kseal.yaml's, else the scope of the file merged into; `None`: the input
    /// decides (a manifest's annotations), else strict.
    pub(super) scope: Option<ScopeKind>,
    /// kseal.yaml's labels and annotations with the `--label` and `--annotation` flags over them.
    pub(super) labels: BTreeMap<String, String>,
    pub(super) annotations: BTreeMap<String, String>,
    pub(super) format: FormatArg,
    pub(super) env_format: EnvFormat,
    pub(super) keys: KeyRule,
    /// `--encryption`, else kseal.yaml's `encryption:`, else `rsa`.
    pub(super) encryption: Encryption,
    /// The sealed file `--merge-into` names, read.
    pub(super) merge_file: Option<Existing>,
    /// The certificate kseal.yaml names for the file merged into (without `--cert`).
    pub(super) output_cert: Option<CertSource>,
}

/// A certificate to seal for, with the name its output file takes and, from kseal.yaml
/// `clusters:`, where its output goes.
pub(super) struct CertTarget {
    pub(super) name: String,
    pub(super) source: CertSource,
    pub(super) output: Option<PathBuf>,
}

impl Plan {
    /// Reads kseal.yaml (and the file merged into) and types every flag.
    pub(super) fn new(args: SealArgs) -> Result<Self> {
        let input = args.input.clone().filter(|p| p.as_path() != Path::new("-"));
        let config = args.config.load_for(input.as_deref())?;
        let settings = match &config {
            Some(c) => c.settings_for(input.as_deref()).0,
            None => Settings::default(),
        };
        let merge_file = args.merge_into.as_deref().map(Existing::read).transpose()?;
        // The file being merged into already says which object it is; flags and kseal.yaml
        // may repeat that but not contradict it (checked in `write::merged`).
        let identity = merge_file.as_ref().map(|e| &e.identity);
        let name = pick(
            args.name.as_ref(),
            settings.name.as_ref(),
            identity.and_then(|i| i.name.as_ref()),
            parse_name,
        )?;
        let namespace = pick(
            args.namespace.as_ref(),
            settings.namespace.as_ref(),
            identity.and_then(|i| i.namespace.as_ref()),
            parse_namespace,
        )?;
        let scope = args
            .scope
            .map(|s| match s {
                ScopeArg::Strict => ScopeKind::Strict,
                ScopeArg::NamespaceWide => ScopeKind::NamespaceWide,
                ScopeArg::ClusterWide => ScopeKind::ClusterWide,
            })
            .or(settings.scope)
            .or_else(|| identity.map(|i| scope_kind_from_annotations(&i.annotations)));
        let mut labels = settings.labels.clone();
        labels.extend(key_values(&args.labels, "label")?);
        let mut annotations = settings.annotations.clone();
        annotations.extend(key_values(&args.annotations, "annotation")?);
        let format = args.format.or(settings.format).unwrap_or(FormatArg::Yaml);
        let env_format = match args.env_format {
            Some(EnvFormatArg::Strict) => EnvFormat::Strict,
            Some(EnvFormatArg::Kubectl) => EnvFormat::Kubectl,
            Some(EnvFormatArg::Lenient) => EnvFormat::Lenient,
            None => settings.env_format.unwrap_or(EnvFormat::Strict),
        };
        let keys = match args.keys {
            Some(KeysArg::Env) => KeyRule::EnvVar,
            Some(KeysArg::Secret) => KeyRule::SecretKey,
            None => settings.keys.unwrap_or(KeyRule::EnvVar),
        };
        let encryption = args
            .encryption
            .map(Encryption::from)
            .or(settings.encryption)
            .unwrap_or_default();
        // A file merged into is sealed to the certificate kseal.yaml names for that output.
        let output_cert = match (&args.merge_into, &config) {
            (Some(path), Some(config)) if args.cert.is_empty() => {
                config.output_for(path).and_then(|o| o.cert)
            }
            _ => None,
        };
        Ok(Self {
            input_name: io::display_name(input.as_deref()),
            input,
            config,
            settings,
            name,
            namespace,
            scope,
            labels,
            annotations,
            format,
            env_format,
            keys,
            encryption,
            merge_file,
            output_cert,
            args,
        })
    }

    /// The scope kind when neither flags, kseal.yaml nor a file merged into gives one.
    pub(super) fn scope_or(&self, input: ScopeKind) -> ScopeKind {
        self.scope.unwrap_or(input)
    }

    /// The Secret type: `--type`, else the input Secret's, else kseal.yaml's, else `Opaque`.
    pub(super) fn secret_type(&self, from_input: Option<String>) -> String {
        self.args
            .type_
            .clone()
            .or(from_input)
            .or_else(|| self.settings.type_.clone())
            .unwrap_or_else(|| "Opaque".into())
    }

    /// Every value the flags and kseal.yaml do not give, reported at once: the Secret's name
    /// and namespace (for a .env input; a manifest carries its own), the certificate, and the
    /// output for `-w` without a FILE.
    pub(super) fn check_missing(&self, dotenv: bool) -> Result<()> {
        let (args, settings) = (&self.args, &self.settings);
        let mut missing = Vec::new();
        if dotenv {
            if self.name.is_none() {
                missing.push(self.missing_name());
            }
            let kind = self.scope.unwrap_or_default();
            if kind != ScopeKind::ClusterWide && self.namespace.is_none() {
                missing.push(no_namespace(kind, &self.input_name));
            }
        }
        if self.output_cert.is_none()
            && args.cert.is_empty()
            && settings.clusters.is_empty()
            && settings.cert.is_none()
        {
            missing.push(no_cert());
        }
        if matches!(args.write, Some(None))
            && args.out_dir.is_none()
            && args.cert.len() <= 1
            && settings.clusters.is_empty()
            && settings.output.is_none()
        {
            missing.push(write::no_output(&self.input_name));
        }
        if missing.len() <= 1 {
            return missing.pop().map_or(Ok(()), Err);
        }
        let mut failure = Failure::usage(format!(
            "{} values missing for {}; nothing was sealed",
            missing.len(),
            self.input_name
        ));
        for m in missing {
            failure.details.push(format!("kseal: error: {}", m.message));
            failure.hints.extend(m.hints);
        }
        Err(failure)
    }

    pub(super) fn missing_name(&self) -> Failure {
        let input_name = &self.input_name;
        let where_ = match &self.config {
            Some(c) => format!(
                "add an entry with `input: {input_name}` and `name:` to {}",
                c.path.display()
            ),
            None => "or create a kseal.yaml with `kseal init` that maps this file to its Secret"
                .to_owned(),
        };
        Failure::usage(format!("no Secret name for {input_name}")).hint(format!(
            "pass --name NAME (the Secret your Deployment reads), {where_}"
        ))
    }

    /// The certificates to seal for: the one kseal.yaml names for the file merged into, else
    /// every `--cert` (each `[NAME=]FILE|URL`), else the entry's `clusters:`, else its `cert:`.
    pub(super) fn cert_targets(&self) -> Result<Vec<CertTarget>> {
        let (args, settings) = (&self.args, &self.settings);
        if let Some(source) = &self.output_cert {
            return Ok(vec![CertTarget {
                name: "merge".to_owned(),
                source: source.clone(),
                output: None,
            }]);
        }
        let mut targets = Vec::new();
        if !args.cert.is_empty() {
            for spec in &args.cert {
                let (name, cert) = match spec.split_once('=') {
                    Some((name, cert)) if is_target_name(name) => (name.to_owned(), cert),
                    _ => (default_target_name(spec), spec.as_str()),
                };
                targets.push(CertTarget {
                    name,
                    source: CertSource::parse(cert, None),
                    output: None,
                });
            }
        } else if !settings.clusters.is_empty() {
            for cluster in &settings.clusters {
                targets.push(CertTarget {
                    name: cluster.name.clone(),
                    source: cluster.cert.clone(),
                    output: cluster.output.clone(),
                });
            }
        } else {
            let source = self.single_cert()?;
            let name = match &settings.cert {
                Some(c) => default_target_name(&c.describe()),
                None => "sealed".to_owned(),
            };
            targets.push(CertTarget {
                name,
                source,
                output: None,
            });
        }
        for (i, t) in targets.iter().enumerate() {
            if targets[..i].iter().any(|o| o.name == t.name) {
                return Err(Failure::usage(format!(
                    "two certificates are both named '{}'",
                    t.name
                ))
                .hint(
                    "name each one: --cert staging=certs/a/tls.crt --cert prod=certs/b/tls.crt",
                ));
            }
        }
        Ok(targets)
    }

    /// The one certificate of a mode that seals with one (`--raw`, or no `clusters:`).
    pub(super) fn single_cert(&self) -> Result<CertSource> {
        if let [c] = &self.args.cert[..] {
            return Ok(CertSource::parse(c, None));
        }
        if self.args.cert.len() > 1 {
            return Err(Failure::usage(
                "this mode seals with one certificate; several --cert were given",
            ));
        }
        self.settings.cert.clone().ok_or_else(no_cert)
    }
}

/// The flag's value, else kseal.yaml's (typed already), else the one in the file merged into;
/// the flag and the file are parsed with `parse`.
fn pick<T: Clone>(
    flag: Option<&String>,
    setting: Option<&T>,
    file: Option<&String>,
    parse: fn(&str) -> Result<T>,
) -> Result<Option<T>> {
    match (flag, setting, file) {
        (Some(text), _, _) => parse(text).map(Some),
        (None, Some(value), _) => Ok(Some(value.clone())),
        (None, None, Some(text)) => parse(text).map(Some),
        (None, None, None) => Ok(None),
    }
}

/// `--name` (or the name in a file merged into), by Kubernetes' rules.
fn parse_name(text: &str) -> Result<ObjectName> {
    ObjectName::parse(text).map_err(|e| Failure::usage(e.to_string()))
}

/// `-n` (or the namespace in a file merged into), by Kubernetes' rules.
fn parse_namespace(text: &str) -> Result<NamespaceName> {
    NamespaceName::parse(text).map_err(|e| Failure::usage(e.to_string()))
}

/// `--label`/`--annotation` KEY=VALUE pairs, checked.
fn key_values(pairs: &[String], what: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--{what} '{pair}': expected KEY=VALUE")))?;
        QualifiedKey::parse(k).map_err(|e| Failure::usage(format!("--{what}: {e}")))?;
        if what == "label" {
            LabelValue::parse(v).map_err(|e| Failure::usage(format!("--{what}: {e}")))?;
        }
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

/// `certs/prod.pem` → `prod`; `https://host:8080/v1/cert.pem` → `host`.
fn default_target_name(spec: &str) -> String {
    if let Some(rest) = spec.split_once("://").map(|(_, r)| r) {
        return rest
            .split(['/', ':', '?'])
            .next()
            .unwrap_or("cert")
            .to_owned();
    }
    Path::new(spec)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| is_target_name(s))
        .unwrap_or_else(|| "cert".to_owned())
}

fn no_cert() -> Failure {
    Failure::usage("no certificate to seal with")
        .hint("pass --cert FILE|URL (e.g. from `kubeseal --fetch-cert > cert.pem`), or set `cert:` in kseal.yaml (`kseal init` writes one)")
}

pub(super) fn no_namespace(kind: ScopeKind, what: &str) -> Failure {
    Failure::usage(format!(
        "no namespace for {what}; the {kind} scope binds the value to one"
    ))
    .hint("pass -n NAMESPACE, or set `namespace:` in kseal.yaml (`kseal init` writes one)")
}

/// The scope for `kind`. Only the strict scope uses the name (it is part of the OAEP label), so
/// only it requires one; both non-cluster scopes require the namespace.
pub(super) fn make_scope(
    kind: ScopeKind,
    name: Option<&ObjectName>,
    namespace: Option<&NamespaceName>,
    what: &str,
) -> Result<Scope> {
    let need_ns = || no_namespace(kind, what);
    Ok(match kind {
        ScopeKind::Strict => Scope::Strict {
            name: name.cloned().ok_or_else(|| {
                Failure::usage(format!("{what} with the strict scope needs --name"))
                    .hint("pass --name NAME, or --scope namespace-wide|cluster-wide")
            })?,
            namespace: namespace.cloned().ok_or_else(need_ns)?,
        },
        ScopeKind::NamespaceWide => Scope::NamespaceWide {
            namespace: namespace.cloned().ok_or_else(need_ns)?,
        },
        ScopeKind::ClusterWide => Scope::ClusterWide,
    })
}
