//! `kseal seal`: `.env` files and Secret manifests in, SealedSecrets out.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::SystemTime,
};

use kseal_core::{
    Certificate, NamespaceName, ObjectName, Scope, ScopeKind, SecretBytes, SecretKeyName, manifest,
};
use kseal_crds::{
    CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, NAMESPACE_WIDE_ANNOTATION,
    scope_kind_from_annotations,
};

use crate::{
    args::{FormatArg, ScopeArg, SealArgs},
    certs::CertSource,
    config::{Config, Settings},
    exit::{Failure, Result},
    io,
    output::SealedDoc,
};

mod input;
mod write;

use input::{from_dotenv, from_manifests, missing_name};

/// One Secret to seal, with everything resolved.
struct Target {
    name: ObjectName,
    namespace: Option<NamespaceName>,
    scope: Scope,
    type_: String,
    immutable: Option<bool>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    items: Vec<(SecretKeyName, SecretBytes)>,
}

pub(crate) fn run(args: SealArgs) -> Result<()> {
    let input = args.input.as_deref().filter(|p| *p != Path::new("-"));
    let config = args.config.load_for(input)?;
    let (mut settings, _) = match &config {
        Some(c) => c.settings_for(input),
        None => (Settings::default(), None),
    };
    let mut merge_file = args
        .merge_into
        .as_deref()
        .map(write::Existing::read)
        .transpose()?;
    if let Some(existing) = &merge_file {
        // The file being merged into already says which object it is; flags and kseal.yaml
        // may repeat that but not contradict it (checked in `write::merged`).
        let identity = &existing.identity;
        settings.name = settings.name.or(identity.name.clone());
        settings.namespace = settings.namespace.or(identity.namespace.clone());
        settings.scope = settings.scope.or_else(|| {
            Some(
                scope_kind_from_annotations(&identity.annotations)
                    .as_str()
                    .to_owned(),
            )
        });
    }
    // A file merged into is sealed to the certificate kseal.yaml names for that output.
    let output_cert = match (&args.merge_into, &config) {
        (Some(path), Some(config)) if args.cert.is_empty() => config
            .output_for(path)
            .and_then(|o| o.cert)
            .map(|cert| CertSource::parse(&cert, Some(&config.dir))),
        _ => None,
    };
    let input_name = io::display_name(input);

    if args.raw {
        return run_raw(&args, &settings, config.as_ref());
    }

    let bytes = io::read_input_of(input, "a .env file or Secret manifests")?;
    let is_manifest = manifest::looks_like_manifest(&bytes);
    check_missing(
        &args,
        &settings,
        config.as_ref(),
        &input_name,
        !is_manifest,
        output_cert.is_some(),
    )?;
    let mut targets = if is_manifest {
        from_manifests(&args, &settings, &bytes, &input_name)?
    } else {
        vec![from_dotenv(
            &args,
            &settings,
            &bytes,
            &input_name,
            config.as_ref(),
        )?]
    };

    if !args.only.is_empty() {
        for t in &mut targets {
            for key in &args.only {
                if !t.items.iter().any(|(k, _)| k.as_str() == key) {
                    return Err(Failure::usage(format!(
                        "--only: key '{key}' is not in {input_name}"
                    )));
                }
            }
            t.items
                .retain(|(k, _)| args.only.iter().any(|o| o == k.as_str()));
        }
    }

    for t in &targets {
        crate::placeholder::warn(
            &input_name,
            t.items.iter().map(|(k, v)| (k.as_str(), v.expose())),
        );
        if t.items.is_empty() && !args.allow_empty_data {
            return Err(Failure::input(format!(
                "{input_name}: Secret '{}' has no data to seal",
                t.name
            ))
            .hint("pass --allow-empty-data to seal it anyway"));
        }
    }

    let cert_targets = match output_cert {
        Some(source) => vec![CertTarget {
            name: "merge".to_owned(),
            source,
            output: None,
        }],
        None => resolve_certs(&args, &settings, config.as_ref())?,
    };
    let format = match args.format {
        Some(f) => f,
        None => parse_setting(
            settings.format.as_deref(),
            "format",
            &[("yaml", FormatArg::Yaml), ("json", FormatArg::Json)],
        )?
        .unwrap_or(FormatArg::Yaml),
    };
    let destinations = write::destinations(
        &args,
        &cert_targets,
        &settings,
        config.as_ref(),
        &input_name,
        format,
    )?;
    // Load every certificate before writing anything: one bad cert writes no file.
    let certs = cert_targets
        .iter()
        .map(|t| {
            t.source
                .load(SystemTime::now(), args.unsafe_allow_expired_cert)
        })
        .collect::<Result<Vec<_>>>()?;
    let render = |cert: &Certificate| {
        let mut out = String::new();
        for t in &targets {
            let doc = seal_target(t, cert);
            out.push_str(&match format {
                FormatArg::Yaml => doc.to_yaml(),
                FormatArg::Json => doc.to_json(),
            });
        }
        out
    };
    let item_count = targets.iter().map(|t| t.items.len()).sum::<usize>();
    let several = cert_targets.len() > 1;

    // Every file's new content first; then all of them are written, or none.
    let mut stdout = String::new();
    // (path, content, what to say once it is written)
    let mut files: Vec<(PathBuf, String, (&str, String))> = Vec::new();
    for ((target, cert), destination) in cert_targets.iter().zip(&certs).zip(destinations) {
        let Some(path) = destination else {
            stdout.push_str(&render(cert));
            continue;
        };
        // --only onto a file that exists merges into it: the items it does not name stay.
        let existing = match merge_file.take() {
            Some(existing) => Some(existing),
            None if !args.only.is_empty() && path.exists() => Some(write::Existing::read(&path)?),
            None => None,
        };
        let (text, verb) = match &existing {
            Some(existing) => (
                write::merged(existing, &targets, target, cert, &args)?,
                "updated",
            ),
            None => (render(cert), "wrote"),
        };
        let about = if several {
            format!(
                "{item_count} item(s), {} {}",
                target.name,
                cert.fingerprint()
            )
        } else {
            format!("{item_count} item(s)")
        };
        files.push((path, text, (verb, about)));
    }
    let writes: Vec<io::FileWrite<'_>> = files
        .iter()
        .map(|(path, text, _)| io::FileWrite {
            path,
            bytes: text.as_bytes(),
            mode: io::Mode::KeepOr(0o644),
        })
        .collect();
    io::write_files(&writes)?;
    for (path, _, (verb, about)) in &files {
        eprintln!("kseal: {verb} {} ({about})", path.display());
    }
    if stdout.is_empty() {
        Ok(())
    } else {
        io::write_stdout(stdout.as_bytes())
    }
}

/// Every value the flags and kseal.yaml do not give, reported at once: the Secret's name and
/// namespace (for a .env input; a manifest carries its own), the certificate, and the output
/// for `-w` without a FILE.
fn check_missing(
    args: &SealArgs,
    settings: &Settings,
    config: Option<&Config>,
    input_name: &str,
    dotenv: bool,
    cert_known: bool,
) -> Result<()> {
    let mut missing = Vec::new();
    if dotenv {
        if args.name.is_none() && settings.name.is_none() {
            missing.push(missing_name(input_name, config));
        }
        let kind = scope_kind(args, settings)?.unwrap_or_default();
        if kind != ScopeKind::ClusterWide
            && args.namespace.is_none()
            && settings.namespace.is_none()
        {
            missing.push(no_namespace(kind, input_name));
        }
    }
    if !cert_known
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
        missing.push(write::no_output(input_name));
    }
    if missing.len() <= 1 {
        return missing.pop().map_or(Ok(()), Err);
    }
    let mut failure = Failure::usage(format!(
        "{} values missing for {input_name}; nothing was sealed",
        missing.len()
    ));
    for m in missing {
        failure.details.push(format!("kseal: error: {}", m.message));
        failure.hints.extend(m.hints);
    }
    Err(failure)
}

/// A certificate to seal for, with the name its output file takes and, from kseal.yaml
/// `clusters:`, where its output goes.
struct CertTarget {
    name: String,
    source: CertSource,
    output: Option<PathBuf>,
}

/// The certificates to seal for: every `--cert` (each `[NAME=]FILE|URL`), else the entry's
/// `clusters:`, else its `cert:`.
fn resolve_certs(
    args: &SealArgs,
    settings: &Settings,
    config: Option<&Config>,
) -> Result<Vec<CertTarget>> {
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
    } else if let (false, Some(config)) = (settings.clusters.is_empty(), config) {
        for cluster in &settings.clusters {
            if !is_target_name(&cluster.name) {
                return Err(Failure::input(format!(
                    "{}: clusters: name '{}' must be letters, digits, '.', '_' or '-'",
                    config.path.display(),
                    cluster.name
                )));
            }
            targets.push(CertTarget {
                name: cluster.name.clone(),
                source: CertSource::parse(&cluster.cert, Some(&config.dir)),
                output: cluster.output.as_ref().map(|o| config.resolve(o)),
            });
        }
    } else {
        let source = resolve_cert(args, settings, config)?;
        let name = match settings.cert.as_deref() {
            Some(c) => default_target_name(c),
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
            return Err(
                Failure::usage(format!("two certificates are both named '{}'", t.name)).hint(
                    "name each one: --cert staging=certs/a/tls.crt --cert prod=certs/b/tls.crt",
                ),
            );
        }
    }
    Ok(targets)
}

/// A name usable as a file name: letters, digits, `.`, `_`, `-`, not starting with `.`.
fn is_target_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
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

fn resolve_cert(
    args: &SealArgs,
    settings: &Settings,
    config: Option<&Config>,
) -> Result<CertSource> {
    if let [c] = &args.cert[..] {
        return Ok(CertSource::parse(c, None));
    }
    if args.cert.len() > 1 {
        return Err(Failure::usage(
            "this mode seals with one certificate; several --cert were given",
        ));
    }
    if let (Some(c), Some(config)) = (&settings.cert, config) {
        return Ok(CertSource::parse(c, Some(&config.dir)));
    }
    Err(no_cert())
}

fn no_cert() -> Failure {
    Failure::usage("no certificate to seal with")
        .hint("pass --cert FILE|URL (e.g. from `kubeseal --fetch-cert > cert.pem`), or set `cert:` in kseal.yaml (`kseal init` writes one)")
}

fn no_namespace(kind: ScopeKind, what: &str) -> Failure {
    Failure::usage(format!(
        "no namespace for {what}; the {kind} scope binds the value to one"
    ))
    .hint("pass -n NAMESPACE, or set `namespace:` in kseal.yaml (`kseal init` writes one)")
}

fn parse_setting<T: Copy>(
    value: Option<&str>,
    field: &str,
    options: &[(&str, T)],
) -> Result<Option<T>> {
    let Some(v) = value else { return Ok(None) };
    options
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, t)| Some(*t))
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            Failure::input(format!(
                "kseal.yaml: {field}: '{v}' is not one of {}",
                names.join(", ")
            ))
        })
}

fn scope_kind(args: &SealArgs, settings: &Settings) -> Result<Option<ScopeKind>> {
    if let Some(s) = args.scope {
        return Ok(Some(match s {
            ScopeArg::Strict => ScopeKind::Strict,
            ScopeArg::NamespaceWide => ScopeKind::NamespaceWide,
            ScopeArg::ClusterWide => ScopeKind::ClusterWide,
        }));
    }
    match settings.scope.as_deref() {
        None => Ok(None),
        Some(s) => ScopeKind::parse(s).map(Some).ok_or_else(|| {
            Failure::input(format!(
                "kseal.yaml: scope: '{s}' is not one of strict, namespace-wide, cluster-wide"
            ))
        }),
    }
}

fn name_arg(flag: Option<&String>, setting: Option<&String>) -> Result<Option<ObjectName>> {
    flag.or(setting)
        .map(|n| ObjectName::parse(n).map_err(|e| Failure::usage(e.to_string())))
        .transpose()
}

fn namespace_arg(flag: Option<&String>, setting: Option<&String>) -> Result<Option<NamespaceName>> {
    flag.or(setting)
        .map(|n| NamespaceName::parse(n).map_err(|e| Failure::usage(e.to_string())))
        .transpose()
}

/// The scope for `kind`. Only the strict scope uses the name (it is part of the OAEP label), so
/// only it requires one; both non-cluster scopes require the namespace.
fn make_scope(
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

/// Scope annotations as kubeseal writes them: on the outer metadata (which the controller reads)
/// and, because kubeseal copies the input's metadata, in the template too.
fn scope_annotations(kind: ScopeKind) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    match kind {
        ScopeKind::Strict => {}
        ScopeKind::NamespaceWide => {
            a.insert(NAMESPACE_WIDE_ANNOTATION.to_owned(), "true".to_owned());
        }
        ScopeKind::ClusterWide => {
            a.insert(CLUSTER_WIDE_ANNOTATION.to_owned(), "true".to_owned());
        }
    }
    a
}

fn seal_target(t: &Target, cert: &Certificate) -> SealedDoc {
    let mut annotations = scope_annotations(t.scope.kind());
    annotations.insert(
        KEY_FINGERPRINT_ANNOTATION.to_owned(),
        cert.fingerprint().to_string(),
    );
    let mut template_annotations = t.annotations.clone();
    template_annotations.remove(CLUSTER_WIDE_ANNOTATION);
    template_annotations.remove(NAMESPACE_WIDE_ANNOTATION);
    template_annotations.extend(scope_annotations(t.scope.kind()));
    SealedDoc {
        name: Some(t.name.to_string()),
        namespace: t.namespace.as_ref().map(ToString::to_string),
        annotations,
        template_labels: t.labels.clone(),
        template_annotations,
        type_: t.type_.clone(),
        immutable: t.immutable,
        items: t
            .items
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    kseal_core::seal_base64(cert, &t.scope, v.expose()),
                )
            })
            .collect(),
    }
}

fn run_raw(args: &SealArgs, settings: &Settings, config: Option<&Config>) -> Result<()> {
    let source = args.from_file.as_deref().or(args.input.as_deref());
    let value = SecretBytes::new(io::read_input_of(
        source,
        "the value to seal (the terminal shows it as you type; --from-file FILE does not)",
    )?);
    let kind = scope_kind(args, settings)?.unwrap_or_default();
    let name = name_arg(args.name.as_ref(), settings.name.as_ref())?;
    let namespace = namespace_arg(args.namespace.as_ref(), settings.namespace.as_ref())?;
    let scope = make_scope(kind, name.as_ref(), namespace.as_ref(), "--raw")?;
    let cert = resolve_cert(args, settings, config)?
        .load(SystemTime::now(), args.unsafe_allow_expired_cert)?;
    let sealed = kseal_core::seal_base64(&cert, &scope, value.expose());
    write::write_raw(args, &sealed)?;
    match kind {
        ScopeKind::Strict => {}
        ScopeKind::NamespaceWide => eprintln!(
            "kseal: hint: the SealedSecret that holds this value needs the annotation {NAMESPACE_WIDE_ANNOTATION}: \"true\""
        ),
        ScopeKind::ClusterWide => eprintln!(
            "kseal: hint: the SealedSecret that holds this value needs the annotation {CLUSTER_WIDE_ANNOTATION}: \"true\""
        ),
    }
    Ok(())
}
