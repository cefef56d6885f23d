//! `kseal.yaml`: the project file that maps env files to SealedSecret settings, so that
//! `kseal seal .env.staging > sealed.yaml` needs no flags.
//!
//! It is found by walking up from the input file's folder, then from the working directory, up
//! to the root of the git repository (a folder holding `.git`), never beyond it. Paths inside it
//! (certs, outputs, the `input` patterns) are relative to the directory that holds it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use kseal_core::{
    Encryption, NamespaceName, ObjectName, ScopeKind,
    dotenv::{EnvFormat, KeyRule},
};

use crate::{
    args::FormatArg,
    certs::CertSource,
    exit::{Failure, Result},
    say,
};

/// The file name looked for.
pub(crate) const FILE_NAME: &str = "kseal.yaml";

mod file;
mod locate;

/// Settings one entry (or `defaults`) gives, typed: names and namespaces valid, labels and
/// annotations checked, paths and certificates resolved against the config's directory. Every
/// field is optional; flags override them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) name: Option<ObjectName>,
    pub(crate) namespace: Option<NamespaceName>,
    pub(crate) scope: Option<ScopeKind>,
    pub(crate) cert: Option<CertSource>,
    pub(crate) type_: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) output: Option<PathBuf>,
    /// The kubeconfig context of the cluster `cert` belongs to (for the commands that talk to
    /// it: `rotate`, `verify --cluster`).
    pub(crate) context: Option<String>,
    pub(crate) format: Option<FormatArg>,
    pub(crate) env_format: Option<EnvFormat>,
    pub(crate) keys: Option<KeyRule>,
    /// `encryption:` the value format `kseal seal` writes (`rsa` when unset).
    pub(crate) encryption: Option<Encryption>,
    /// Seal for several clusters at once: one output per cluster, each with its own cert.
    /// Takes the place of `cert` and `output`.
    pub(crate) clusters: Vec<Cluster>,
}

/// One `clusters:` item: a target cluster's certificate and where its sealed file goes.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    /// Letters, digits, `.`, `_`, `-` (see [`is_target_name`]): it names an output file.
    pub(crate) name: String,
    pub(crate) cert: CertSource,
    pub(crate) output: Option<PathBuf>,
    /// Its kubeconfig context, for the commands that talk to it.
    pub(crate) context: Option<String>,
}

/// A sealed file kseal.yaml names, and the certificate it is sealed with.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    /// Resolved against the config directory.
    pub(crate) path: PathBuf,
    /// Resolved against the config directory.
    pub(crate) cert: Option<CertSource>,
    /// The kubeconfig context of the cluster it is sealed for, if kseal.yaml names one.
    pub(crate) context: Option<String>,
}

/// One `secrets:` entry: which inputs it applies to, and their settings.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// A file name or glob (`*`, `?`), matched against the input's path relative to the config
    /// directory, or against its file name when the pattern has no `/`.
    pub(crate) input: String,
    pub(crate) settings: Settings,
}

/// A loaded `kseal.yaml`.
#[derive(Debug)]
pub(crate) struct Config {
    /// The file, for messages.
    pub(crate) path: PathBuf,
    /// Its directory; relative paths inside resolve against it.
    pub(crate) dir: PathBuf,
    defaults: Settings,
    secrets: Vec<Entry>,
}

impl Config {
    /// The config a command uses: `--config FILE`, none with `--no-config`, else the nearest
    /// `kseal.yaml` upwards from `input`'s folder, else from the working directory; see
    /// [`Config::discover`]. One found anywhere but the working directory is named on stderr.
    pub(crate) fn find(
        explicit: Option<&Path>,
        disabled: bool,
        input: Option<&Path>,
    ) -> Result<Option<Self>> {
        if disabled {
            return Ok(None);
        }
        if let Some(path) = explicit {
            return Self::load(path).map(Some);
        }
        let cwd = std::env::current_dir()?;
        let input_dir = input.map(|p| {
            absolute(p)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        });
        for start in input_dir.iter().chain([&cwd]) {
            if let Some(found) = Self::discover(start) {
                let shown = relative_to(&found, &cwd);
                if shown != Path::new(FILE_NAME) {
                    say::note(format_args!("using {}", shown.display()));
                }
                return Self::load(&shown).map(Some);
            }
        }
        Ok(None)
    }

    /// The output entry kseal.yaml has for `file`, if any.
    pub(crate) fn output_for(&self, file: &Path) -> Option<Output> {
        self.outputs()
            .into_iter()
            .find(|o| crate::io::same_file(&o.path, file))
    }

    /// Every output file the entries name (one per cluster with `clusters:`), with its cert,
    /// in file order and without duplicates.
    pub(crate) fn outputs(&self) -> Vec<Output> {
        let mut out: Vec<Output> = Vec::new();
        for entry in &self.secrets {
            let settings = overlay(&self.defaults, &entry.settings);
            let found: Vec<Output> = if settings.clusters.is_empty() {
                settings
                    .output
                    .iter()
                    .map(|o| Output {
                        path: o.clone(),
                        cert: settings.cert.clone(),
                        context: settings.context.clone(),
                    })
                    .collect()
            } else {
                settings
                    .clusters
                    .iter()
                    .filter_map(|c| {
                        Some(Output {
                            path: c.output.clone()?,
                            cert: Some(c.cert.clone()),
                            context: c.context.clone(),
                        })
                    })
                    .collect()
            };
            for o in found {
                if !out.iter().any(|x| x.path == o.path) {
                    out.push(o);
                }
            }
        }
        out
    }

    /// Every certificate named anywhere in the file (defaults, entries, clusters), without
    /// duplicates.
    pub(crate) fn certs(&self) -> Vec<CertSource> {
        let mut out: Vec<CertSource> = Vec::new();
        let all = std::iter::once(&self.defaults).chain(self.secrets.iter().map(|e| &e.settings));
        for settings in all {
            let named = settings
                .cert
                .iter()
                .chain(settings.clusters.iter().map(|c| &c.cert));
            for c in named {
                if !out.iter().any(|o| o.describe() == c.describe()) {
                    out.push(c.clone());
                }
            }
        }
        out
    }

    /// The nearest `kseal.yaml` from the absolute folder `start` upwards, stopping at the root
    /// of the git repository `start` is in (the folder with a `.git` folder or file): a
    /// repository never picks up a file from the folders around it. Outside any repository the
    /// walk goes up to the file system's root.
    pub(crate) fn discover(start: &Path) -> Option<PathBuf> {
        for dir in start.ancestors() {
            let candidate = dir.join(FILE_NAME);
            if candidate.is_file() {
                return Some(candidate);
            }
            if dir.join(".git").exists() {
                return None;
            }
        }
        None
    }

    /// Loads a given file.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::runtime(format!(
                "cannot read {}: {}",
                path.display(),
                crate::io::io_reason(&e)
            ))
        })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let (defaults, secrets) = file::read(path, &text, &dir)?;
        Ok(Self {
            path: path.to_path_buf(),
            dir,
            defaults,
            secrets,
        })
    }

    /// The settings for `input`: `defaults` overlaid with the first matching entry, if any.
    /// Returns the entry's pattern too, for messages.
    pub(crate) fn settings_for(&self, input: Option<&Path>) -> (Settings, Option<String>) {
        let entry = input.and_then(|p| self.secrets.iter().find(|e| self.matches(&e.input, p)));
        match entry {
            Some(e) => (overlay(&self.defaults, &e.settings), Some(e.input.clone())),
            None => (self.defaults.clone(), None),
        }
    }

    fn matches(&self, pattern: &str, input: &Path) -> bool {
        let abs_input = absolute(input);
        let abs_dir = absolute(&self.dir);
        if pattern.contains('/') {
            match abs_input.strip_prefix(&abs_dir) {
                Ok(rel) => glob_match(pattern, &rel.to_string_lossy()),
                Err(_) => false,
            }
        } else {
            let name = input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            glob_match(pattern, &name)
        }
    }
}

/// `target` as seen from `base` (both absolute): `kseal.yaml`, `../kseal.yaml`, `sub/kseal.yaml`.
fn relative_to(target: &Path, base: &Path) -> PathBuf {
    let (t, b): (Vec<_>, Vec<_>) = (target.components().collect(), base.components().collect());
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return target.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn overlay(base: &Settings, top: &Settings) -> Settings {
    let mut labels = base.labels.clone();
    labels.extend(top.labels.clone());
    let mut annotations = base.annotations.clone();
    annotations.extend(top.annotations.clone());
    Settings {
        name: top.name.clone().or_else(|| base.name.clone()),
        namespace: top.namespace.clone().or_else(|| base.namespace.clone()),
        scope: top.scope.or(base.scope),
        cert: top.cert.clone().or_else(|| base.cert.clone()),
        type_: top.type_.clone().or_else(|| base.type_.clone()),
        labels,
        annotations,
        output: top.output.clone().or_else(|| base.output.clone()),
        context: top.context.clone().or_else(|| base.context.clone()),
        format: top.format.or(base.format),
        env_format: top.env_format.or(base.env_format),
        keys: top.keys.or(base.keys),
        encryption: top.encryption.or(base.encryption),
        clusters: if top.clusters.is_empty() {
            base.clusters.clone()
        } else {
            top.clusters.clone()
        },
    }
}

/// A name usable as a file name: letters, digits, `.`, `_`, `-`, not starting with `.` (a
/// `clusters:` name, or the NAME of `--cert NAME=FILE`).
pub(crate) fn is_target_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Glob matching with `*` (any run of characters except `/`) and `?` (one character).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(rest, &t[i..])),
            Some(('?', rest)) => t.first().is_some_and(|&c| c != '/') && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// The starter file `kseal init` writes.
pub(crate) const STARTER: &str = r#"# kseal.yaml — how `kseal seal` turns env files into SealedSecrets.
#
# With this file, `kseal seal .env.staging > sealed.yaml` needs no flags: the first entry whose
# `input` matches the file supplies name, namespace, scope and cert. Flags override everything.
# Paths are relative to this file. Keep real .env files out of git; commit the sealed output.

# Settings every entry inherits.
defaults:
  scope: strict            # strict | namespace-wide | cluster-wide
  format: yaml             # yaml | json
  envFormat: strict        # strict | kubectl | lenient (how .env files are read)
  # type: Opaque
  # labels: {app.kubernetes.io/part-of: my-app}

secrets:
  # One entry per env file (a name, or a glob such as `.env.*`).
  - input: .env.staging
    name: app-env                       # Secret name your Deployment reads (envFrom/secretKeyRef)
    namespace: my-app-staging
    cert: certs/staging.pem             # fetch it with `kseal cert -w certs/staging.pem`, or an http(s) URL
    output: k8s/overlays/staging/app-env.sealed.yaml   # used by `kseal seal .env.staging -w`

  # - input: .env.dev
  #   name: app-env
  #   namespace: my-app-dev
  #   cert: certs/dev.pem
  #   output: k8s/overlays/dev/app-env.sealed.yaml

  # One env file sealed for several clusters (`kseal seal .env.prod -w` writes both):
  # - input: .env.prod
  #   name: app-env
  #   namespace: my-app
  #   clusters:
  #     - {name: eu, cert: certs/prod-eu.pem, output: k8s/overlays/prod-eu/app-env.sealed.yaml}
  #     - {name: us, cert: certs/prod-us.pem, output: k8s/overlays/prod-us/app-env.sealed.yaml}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(".env.*", ".env.staging"));
        assert!(glob_match(".env.staging", ".env.staging"));
        assert!(!glob_match(".env.*", "x/.env.staging"));
        assert!(glob_match("envs/*.env", "envs/a.env"));
        assert!(glob_match("?.env", "a.env"));
        assert!(!glob_match("*.env", "a.env.example"));
    }

    #[test]
    fn clusters_outputs_and_certs() {
        let text = "defaults: {cert: a.pem}\nsecrets:\n  - input: x\n    output: out/x.yaml\n  - input: y\n    clusters:\n      - {name: eu, cert: eu.pem, output: out/eu.yaml}\n      - {name: us, cert: us.pem}\n";
        let (defaults, secrets) = file::parse_for_test(text, Path::new("conf"));
        let config = Config {
            path: "kseal.yaml".into(),
            dir: "conf".into(),
            secrets,
            defaults,
        };
        let outputs = config.outputs();
        assert_eq!(outputs.len(), 2);
        assert_eq!(outputs[0].path, Path::new("conf/out/x.yaml"));
        assert_eq!(
            outputs[0]
                .cert
                .as_ref()
                .map(CertSource::describe)
                .as_deref(),
            Some("conf/a.pem")
        );
        assert_eq!(
            outputs[1]
                .cert
                .as_ref()
                .map(CertSource::describe)
                .as_deref(),
            Some("conf/eu.pem")
        );
        let certs: Vec<String> = config.certs().iter().map(CertSource::describe).collect();
        assert_eq!(certs, ["conf/a.pem", "conf/eu.pem", "conf/us.pem"]);
        let (settings, _) = config.settings_for(Some(Path::new("conf/y")));
        assert_eq!(settings.clusters.len(), 2);
    }
}
