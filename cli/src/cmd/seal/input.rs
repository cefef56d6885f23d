//! The Secrets `kseal seal` reads: from a `.env` file or from Secret manifests, with the
//! plan's settings (flags over kseal.yaml) applied.

use kseal_core::{
    SecretBytes,
    dotenv::{self, ParseOptions},
    manifest,
};
use kseal_crds::scope_kind_from_annotations;

use super::{
    Target,
    plan::{Plan, make_scope},
};
use crate::{
    exit::{Failure, Result},
    say,
};

pub(super) fn from_dotenv(plan: &Plan, bytes: &[u8]) -> Result<Target> {
    let input_name = &plan.input_name;
    let environment =
        |name: &str| std::env::var_os(name).map(|v| SecretBytes::new(v.into_encoded_bytes()));
    let options = ParseOptions {
        format: plan.env_format,
        keys: plan.keys,
        deny_empty: plan.args.deny_empty,
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
        say::block(w.render(input_name));
    }

    let name = plan.name.clone().ok_or_else(|| plan.missing_name())?;
    let namespace = plan.namespace.clone();
    let kind = plan.scope.unwrap_or_default();
    let scope = make_scope(kind, Some(&name), namespace.as_ref(), input_name)?;
    Ok(Target {
        name,
        namespace,
        scope,
        type_: plan.secret_type(None),
        immutable: None,
        labels: plan.labels.clone(),
        annotations: plan.annotations.clone(),
        items: parsed
            .entries
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect(),
    })
}

pub(super) fn from_manifests(plan: &Plan, bytes: &[u8]) -> Result<Vec<Target>> {
    let input_name = &plan.input_name;
    let secrets =
        manifest::parse_secrets(bytes).map_err(|e| Failure::input(format!("{input_name}: {e}")))?;
    let mut out = Vec::new();
    for s in secrets {
        let what = format!("{input_name}: document {}", s.document);
        let name = match s.name {
            Some(n) => n,
            None => plan.name.clone().ok_or_else(|| {
                Failure::usage(format!("{what}: the Secret has no metadata.name"))
                    .hint("pass --name NAME")
            })?,
        };
        let namespace = match (s.namespace, &plan.namespace) {
            (Some(doc), Some(flag)) if plan.args.namespace.is_some() && &doc != flag => {
                return Err(Failure::usage(format!(
                    "{what}: namespace mismatch: the Secret says '{doc}', -n says '{flag}'"
                )));
            }
            (Some(doc), _) => Some(doc),
            (None, flag) => flag.clone(),
        };
        let kind = plan.scope_or(scope_kind_from_annotations(&s.annotations));
        let scope = make_scope(kind, Some(&name), namespace.as_ref(), &what)?;
        let mut labels = s.labels;
        labels.extend(plan.labels.clone());
        let mut annotations = s.annotations;
        annotations.extend(plan.annotations.clone());
        out.push(Target {
            name,
            namespace,
            scope,
            type_: plan.secret_type(s.type_),
            immutable: s.immutable,
            labels,
            annotations,
            items: s.items,
        });
    }
    Ok(out)
}
