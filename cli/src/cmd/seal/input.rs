//! The Secrets `kseal seal` reads: from a `.env` file or from Secret manifests, with the
//! settings of the flags and kseal.yaml applied.

use std::collections::BTreeMap;

use kseal_core::{
    SecretBytes,
    dotenv::{self, EnvFormat, KeyRule, ParseOptions},
    manifest,
    names::{LabelValue, QualifiedKey},
};
use kseal_crds::scope_kind_from_annotations;

use super::{Target, make_scope, name_arg, namespace_arg, parse_setting, scope_kind};
use crate::{
    args::{EnvFormatArg, KeysArg, SealArgs},
    config::{Config, Settings},
    exit::{Failure, Result},
};

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

fn extra_metadata(
    args: &SealArgs,
    settings: &Settings,
) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let mut labels = settings.labels.clone();
    labels.extend(key_values(&args.labels, "label")?);
    let mut annotations = settings.annotations.clone();
    annotations.extend(key_values(&args.annotations, "annotation")?);
    for k in labels.keys().chain(annotations.keys()) {
        QualifiedKey::parse(k).map_err(|e| Failure::input(format!("kseal.yaml: {e}")))?;
    }
    Ok((labels, annotations))
}

pub(super) fn missing_name(input_name: &str, config: Option<&Config>) -> Failure {
    let where_ = match config {
        Some(c) => format!(
            "add an entry with `input: {input_name}` and `name:` to {}",
            c.path.display()
        ),
        None => {
            "or create a kseal.yaml with `kseal init` that maps this file to its Secret".to_owned()
        }
    };
    Failure::usage(format!("no Secret name for {input_name}")).hint(format!(
        "pass --name NAME (the Secret your Deployment reads), {where_}"
    ))
}

pub(super) fn from_dotenv(
    args: &SealArgs,
    settings: &Settings,
    bytes: &[u8],
    input_name: &str,
    config: Option<&Config>,
) -> Result<Target> {
    let format = match args.env_format {
        Some(EnvFormatArg::Strict) => EnvFormat::Strict,
        Some(EnvFormatArg::Kubectl) => EnvFormat::Kubectl,
        Some(EnvFormatArg::Lenient) => EnvFormat::Lenient,
        None => match settings.env_format.as_deref() {
            None => EnvFormat::Strict,
            Some(s) => EnvFormat::parse(s).ok_or_else(|| {
                Failure::input(format!(
                    "kseal.yaml: envFormat: '{s}' is not one of strict, kubectl, lenient"
                ))
            })?,
        },
    };
    let keys = match args.keys {
        Some(KeysArg::Env) => KeyRule::EnvVar,
        Some(KeysArg::Secret) => KeyRule::SecretKey,
        None => parse_setting(
            settings.keys.as_deref(),
            "keys",
            &[("env", KeyRule::EnvVar), ("secret", KeyRule::SecretKey)],
        )?
        .unwrap_or(KeyRule::EnvVar),
    };
    let environment =
        |name: &str| std::env::var_os(name).map(|v| SecretBytes::new(v.into_encoded_bytes()));
    let options = ParseOptions {
        format,
        keys,
        deny_empty: args.deny_empty,
        environment: Some(&environment),
    };
    let parsed = dotenv::parse(bytes, &options).map_err(|e| {
        let errors = e.errors().count();
        let noun = if errors == 1 { "error" } else { "errors" };
        let mut f = Failure::input(format!("{input_name}: {errors} {noun}; nothing was sealed"));
        f.details = e.diagnostics.iter().map(|d| d.render(input_name)).collect();
        f
    })?;
    for w in &parsed.warnings {
        eprintln!("{}", w.render(input_name));
    }

    let name = name_arg(args.name.as_ref(), settings.name.as_ref())?
        .ok_or_else(|| missing_name(input_name, config))?;
    let namespace = namespace_arg(args.namespace.as_ref(), settings.namespace.as_ref())?;
    let kind = scope_kind(args, settings)?.unwrap_or_default();
    let scope = make_scope(kind, Some(&name), namespace.as_ref(), input_name)?;
    let (labels, annotations) = extra_metadata(args, settings)?;
    Ok(Target {
        name,
        namespace,
        scope,
        type_: secret_type(args, None, settings),
        immutable: None,
        labels,
        annotations,
        items: parsed
            .entries
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect(),
    })
}

/// The Secret type: `--type`, else the input Secret's, else kseal.yaml's, else `Opaque`.
fn secret_type(args: &SealArgs, from_input: Option<String>, settings: &Settings) -> String {
    args.type_
        .clone()
        .or(from_input)
        .or_else(|| settings.type_.clone())
        .unwrap_or_else(|| "Opaque".into())
}

pub(super) fn from_manifests(
    args: &SealArgs,
    settings: &Settings,
    bytes: &[u8],
    input_name: &str,
) -> Result<Vec<Target>> {
    let secrets =
        manifest::parse_secrets(bytes).map_err(|e| Failure::input(format!("{input_name}: {e}")))?;
    let flag_ns = namespace_arg(args.namespace.as_ref(), settings.namespace.as_ref())?;
    let (extra_labels, extra_annotations) = extra_metadata(args, settings)?;
    let mut out = Vec::new();
    for s in secrets {
        let what = format!("{input_name}: document {}", s.document);
        let name = match s.name {
            Some(n) => n,
            None => name_arg(args.name.as_ref(), settings.name.as_ref())?.ok_or_else(|| {
                Failure::usage(format!("{what}: the Secret has no metadata.name"))
                    .hint("pass --name NAME")
            })?,
        };
        let namespace = match (s.namespace, &flag_ns) {
            (Some(doc), Some(flag)) if args.namespace.is_some() && &doc != flag => {
                return Err(Failure::usage(format!(
                    "{what}: namespace mismatch: the Secret says '{doc}', -n says '{flag}'"
                )));
            }
            (Some(doc), _) => Some(doc),
            (None, flag) => flag.clone(),
        };
        let kind =
            scope_kind(args, settings)?.unwrap_or(scope_kind_from_annotations(&s.annotations));
        let scope = make_scope(kind, Some(&name), namespace.as_ref(), &what)?;
        let mut labels = s.labels;
        labels.extend(extra_labels.clone());
        let mut annotations = s.annotations;
        annotations.extend(extra_annotations.clone());
        out.push(Target {
            name,
            namespace,
            scope,
            type_: secret_type(args, s.type_, settings),
            immutable: s.immutable,
            labels,
            annotations,
            items: s.items,
        });
    }
    Ok(out)
}
