//! The low-level half of kseal.yaml: the file as serde reads it (every value a string, the ones
//! with a fixed set of choices checked while reading so that serde's error has the position),
//! and the checks serde cannot express. [`read`] turns it into the typed [`Settings`] the
//! commands use, or into an error at the field: `FILE:LINE:COLUMN: FIELD: what`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use kseal_core::{
    Encryption, NamespaceName, ObjectName, ScopeKind,
    dotenv::{EnvFormat, KeyRule},
    names::{LabelValue, QualifiedKey},
};
use serde::Deserialize;

use super::{
    Cluster, Entry, Settings, is_target_name,
    locate::{self, Seg},
};
use crate::{
    args::FormatArg,
    certs::CertSource,
    exit::{Failure, Result},
};

/// Settings one entry (or `defaults`) can give, as written. Every field is optional; flags
/// override them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSettings {
    /// Only in a `secrets:` entry, where it is required: which inputs the entry applies to.
    input: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    #[serde(default, deserialize_with = "scope")]
    scope: Option<String>,
    cert: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    output: Option<String>,
    context: Option<String>,
    #[serde(default, deserialize_with = "format")]
    format: Option<String>,
    #[serde(default, deserialize_with = "env_format")]
    env_format: Option<String>,
    #[serde(default, deserialize_with = "keys")]
    keys: Option<String>,
    #[serde(default, deserialize_with = "encryption")]
    encryption: Option<String>,
    #[serde(default)]
    clusters: Vec<RawCluster>,
}

/// One `clusters:` item, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCluster {
    name: String,
    cert: String,
    output: Option<String>,
    context: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: RawSettings,
    #[serde(default)]
    secrets: Vec<RawSettings>,
}

/// A value with a fixed set of choices, checked where it is read (so that the error carries the
/// value's position).
fn one_of<'de, D: serde::Deserializer<'de>>(
    d: D,
    choices: &'static [&'static str],
) -> std::result::Result<Option<String>, D::Error> {
    struct OneOf(&'static [&'static str]);
    impl<'de> serde::de::Visitor<'de> for OneOf {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "one of {}", self.0.join(", "))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            if self.0.contains(&v) {
                Ok(Some(v.to_owned()))
            } else {
                Err(E::custom(format!(
                    "'{v}' is not one of {}",
                    self.0.join(", ")
                )))
            }
        }
        fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(OneOf(choices))
}

fn scope<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    one_of(d, &["strict", "namespace-wide", "cluster-wide"])
}

fn format<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    one_of(d, &["yaml", "json"])
}

fn env_format<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    one_of(d, &["strict", "kubectl", "lenient"])
}

fn keys<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    one_of(d, &["env", "secret"])
}

fn encryption<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    one_of(d, &["rsa", "pq-hybrid"])
}

/// A field's path and what is wrong with it.
type Problem = (Vec<Seg>, String);

/// The typed `defaults` and `secrets:` entries of kseal.yaml's `text`; relative paths resolve
/// against `dir`. Errors name `path` and the line and column of the field.
pub(super) fn read(path: &Path, text: &str, dir: &Path) -> Result<(Settings, Vec<Entry>)> {
    let file: File = if text.trim().is_empty() {
        File::default()
    } else {
        serde_yaml::from_str(text).map_err(|e| {
            let msg = e.to_string();
            let position = e.location().map(|l| (l.line(), l.column()));
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            invalid(path, position, &msg)
        })?
    };
    check(&file, dir).map_err(|(at, msg)| {
        invalid(
            path,
            locate::locate(text, &at),
            &format!("{}: {msg}", locate::show(&at)),
        )
    })
}

/// A kseal.yaml error, `FILE:LINE:COLUMN: FIELD: what`.
fn invalid(path: &Path, position: Option<(usize, usize)>, message: &str) -> Failure {
    let at = match position {
        Some((line, column)) if line > 0 => format!("{}:{line}:{column}", path.display()),
        _ => path.display().to_string(),
    };
    Failure::input(format!("{at}: {message}")).hint(
        "see the kseal.yaml reference in docs/cli.md, or run `kseal init` for a commented example",
    )
}

/// The rules serde cannot express: `input` in entries only (and always there), `cert` or
/// `output` beside `clusters` (which takes their place), and every name, namespace, label and
/// annotation valid by Kubernetes' rules. Returns the typed settings, or the path of the
/// offending field and what is wrong with it.
fn check(file: &File, dir: &Path) -> std::result::Result<(Settings, Vec<Entry>), Problem> {
    let defaults = vec![Seg::Key("defaults".into())];
    if file.defaults.input.is_some() {
        return Err((
            [defaults, vec![Seg::Key("input".into())]].concat(),
            "`input` belongs in a `secrets:` entry".into(),
        ));
    }
    let typed_defaults = typed(&file.defaults, &defaults, dir)?;
    let mut entries = Vec::new();
    for (i, settings) in file.secrets.iter().enumerate() {
        let at = vec![Seg::Key("secrets".into()), Seg::Index(i)];
        let typed_entry = typed(settings, &at, dir)?;
        let Some(input) = settings.input.clone() else {
            return Err((
                at,
                "missing field `input` (the env file or glob this entry is for)".into(),
            ));
        };
        entries.push(Entry {
            input,
            settings: typed_entry,
        });
    }
    Ok((typed_defaults, entries))
}

/// One `defaults` or entry block, typed; `at` is its path, for errors.
fn typed(raw: &RawSettings, at: &[Seg], dir: &Path) -> std::result::Result<Settings, Problem> {
    let field = |segs: &[Seg]| [at, segs].concat();
    let key = |k: &str| Seg::Key(k.to_owned());
    let other = if raw.cert.is_some() {
        Some("cert")
    } else if raw.output.is_some() {
        Some("output")
    } else if raw.context.is_some() {
        Some("context")
    } else {
        None
    };
    if let Some(other) = other
        && !raw.clusters.is_empty()
    {
        return Err((
            field(&[key("clusters")]),
            format!(
                "`{other}` and `clusters` cannot both be set: each cluster names its own cert, output and context"
            ),
        ));
    }
    let name = raw
        .name
        .as_deref()
        .map(ObjectName::parse)
        .transpose()
        .map_err(|e| (field(&[key("name")]), e.to_string()))?;
    let namespace = raw
        .namespace
        .as_deref()
        .map(NamespaceName::parse)
        .transpose()
        .map_err(|e| (field(&[key("namespace")]), e.to_string()))?;
    for (k, v) in &raw.labels {
        let at = || field(&[key("labels"), key(k)]);
        QualifiedKey::parse(k).map_err(|e| (at(), e.to_string()))?;
        LabelValue::parse(v).map_err(|e| (at(), e.to_string()))?;
    }
    for k in raw.annotations.keys() {
        QualifiedKey::parse(k)
            .map_err(|e| (field(&[key("annotations"), key(k)]), e.to_string()))?;
    }
    let mut clusters = Vec::new();
    for (i, c) in raw.clusters.iter().enumerate() {
        if !is_target_name(&c.name) {
            return Err((
                field(&[key("clusters"), Seg::Index(i), key("name")]),
                format!(
                    "'{}' must be letters, digits, '.', '_' or '-' (it names the output file)",
                    c.name
                ),
            ));
        }
        clusters.push(Cluster {
            name: c.name.clone(),
            cert: CertSource::parse(&c.cert, Some(dir)),
            output: c.output.as_deref().map(|o| resolve(dir, o)),
            context: c.context.clone(),
        });
    }
    // Checked while reading (`one_of`); a value that slipped through is reported, not guessed.
    let choice = |segs: &str, what: &str| (field(&[key(segs)]), format!("unknown {segs} '{what}'"));
    Ok(Settings {
        name,
        namespace,
        scope: match raw.scope.as_deref() {
            None => None,
            Some(s) => Some(ScopeKind::parse(s).ok_or_else(|| choice("scope", s))?),
        },
        cert: raw.cert.as_deref().map(|c| CertSource::parse(c, Some(dir))),
        type_: raw.type_.clone(),
        labels: raw.labels.clone(),
        annotations: raw.annotations.clone(),
        output: raw.output.as_deref().map(|o| resolve(dir, o)),
        context: raw.context.clone(),
        format: match raw.format.as_deref() {
            None => None,
            Some("yaml") => Some(FormatArg::Yaml),
            Some("json") => Some(FormatArg::Json),
            Some(s) => return Err(choice("format", s)),
        },
        env_format: match raw.env_format.as_deref() {
            None => None,
            Some(s) => Some(EnvFormat::parse(s).ok_or_else(|| choice("envFormat", s))?),
        },
        keys: match raw.keys.as_deref() {
            None => None,
            Some("env") => Some(KeyRule::EnvVar),
            Some("secret") => Some(KeyRule::SecretKey),
            Some(s) => return Err(choice("keys", s)),
        },
        encryption: match raw.encryption.as_deref() {
            None => None,
            Some(s) => Some(Encryption::parse(s).ok_or_else(|| choice("encryption", s))?),
        },
        clusters,
    })
}

/// A path written in kseal.yaml, resolved against its directory.
pub(super) fn resolve(dir: &Path, relative: &str) -> PathBuf {
    let p = Path::new(relative);
    if p.is_absolute() || dir == Path::new(".") {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

#[cfg(test)]
pub(super) fn parse_for_test(text: &str, dir: &Path) -> (Settings, Vec<Entry>) {
    let file: File = serde_yaml::from_str(text).unwrap();
    check(&file, dir).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        read(Path::new("kseal.yaml"), text, Path::new("."))
            .unwrap_err()
            .message
    }

    #[test]
    fn names_and_labels_are_checked_at_their_place() {
        assert!(
            error("secrets:\n  - input: .env\n    name: App_Env\n")
                .starts_with("kseal.yaml:3:5: secrets[0].name: invalid object name 'App_Env'")
        );
        assert!(
            error("defaults:\n  namespace: Shop\n")
                .starts_with("kseal.yaml:2:3: defaults.namespace: ")
        );
        assert!(
            error("defaults:\n  labels:\n    bad key: x\n")
                .starts_with("kseal.yaml:3:5: defaults.labels.bad key: ")
        );
        assert!(
            error(
                "secrets:\n  - input: x\n    clusters:\n      - name: .eu\n        cert: a.pem\n"
            )
            .starts_with("kseal.yaml:4:9: secrets[0].clusters[0].name: '.eu' must be")
        );
    }

    #[test]
    fn starter_parses() {
        let (defaults, entries) = parse_for_test(super::super::STARTER, Path::new("."));
        assert_eq!(entries.len(), 1);
        assert_eq!(defaults.scope, Some(ScopeKind::Strict));
    }
}
