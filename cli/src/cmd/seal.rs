//! `kseal seal`: `.env` files and Secret manifests in, SealedSecrets out.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::SystemTime,
};

use kseal_core::{
    Certificate, NamespaceName, ObjectName, Scope, ScopeKind, SecretBytes, SecretKeyName,
    dotenv::{self, EnvFormat, KeyRule, ParseOptions},
    manifest,
    names::{LabelValue, QualifiedKey},
};
use kseal_crds::{
    CLUSTER_WIDE_ANNOTATION, KEY_FINGERPRINT_ANNOTATION, NAMESPACE_WIDE_ANNOTATION,
    scope_kind_from_annotations,
};

use crate::{
    args::{EnvFormatArg, FormatArg, KeysArg, ScopeArg, SealArgs},
    certs::CertSource,
    config::{Config, Settings},
    exit::{Failure, Result},
    io,
    merge::{Identity, SealedFile},
    output::SealedDoc,
};

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
    let config = args.config.load()?;
    let input = args.input.as_deref().filter(|p| *p != Path::new("-"));
    let (mut settings, _) = match &config {
        Some(c) => c.settings_for(input),
        None => (Settings::default(), None),
    };
    if let Some(target) = &args.merge_into {
        // The file being merged into already says which object it is; flags and kseal.yaml
        // may repeat that but not contradict it (checked in `merge_into`).
        let identity = read_merge_target(target)?.1;
        settings.name = settings.name.or(identity.name);
        settings.namespace = settings.namespace.or(identity.namespace);
        settings.scope = settings.scope.or_else(|| {
            Some(
                scope_kind_from_annotations(&identity.annotations)
                    .as_str()
                    .to_owned(),
            )
        });
    }
    let input_name = io::display_name(input);

    if args.raw {
        return run_raw(&args, &settings, config.as_ref());
    }

    let bytes = io::read_input(input)?;
    let mut targets = if manifest::looks_like_manifest(&bytes) {
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
        if t.items.is_empty() && !args.allow_empty_data {
            return Err(Failure::input(format!(
                "{input_name}: Secret '{}' has no data to seal",
                t.name
            ))
            .hint("pass --allow-empty-data to seal it anyway"));
        }
    }

    let cert_targets = resolve_certs(&args, &settings, config.as_ref())?;
    let format = match args.format {
        Some(f) => f,
        None => parse_setting(
            settings.format.as_deref(),
            "format",
            &[("yaml", FormatArg::Yaml), ("json", FormatArg::Json)],
        )?
        .unwrap_or(FormatArg::Yaml),
    };
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
    let out_dir = args.out_dir.clone().or_else(|| match &args.write {
        Some(Some(p)) if cert_targets.len() > 1 && is_dir_like(p) => Some(p.clone()),
        _ => None,
    });
    if cert_targets.len() > 1 || out_dir.is_some() {
        let paths = multi_destinations(&args, &cert_targets, out_dir.as_deref(), format)?;
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                Failure::runtime(format!(
                    "cannot create {}: {}",
                    dir.display(),
                    io::io_reason(&e)
                ))
            })?;
        }
        // Load every certificate before writing anything: one bad cert writes no file.
        let certs = cert_targets
            .iter()
            .map(|t| {
                t.source
                    .load(SystemTime::now(), args.unsafe_allow_expired_cert)
            })
            .collect::<Result<Vec<_>>>()?;
        for ((target, cert), path) in cert_targets.iter().zip(&certs).zip(&paths) {
            io::write_atomic(path, render(cert).as_bytes(), 0o644)?;
            eprintln!(
                "kseal: wrote {} ({item_count} item(s), {} {})",
                path.display(),
                target.name,
                cert.fingerprint()
            );
        }
        return Ok(());
    }
    let [cert_target] = &cert_targets[..] else {
        unreachable!("invariant: resolve_certs returns at least one target")
    };
    let cert = cert_target
        .source
        .load(SystemTime::now(), args.unsafe_allow_expired_cert)?;

    if let Some(target_file) = &args.merge_into {
        return merge_into(target_file, &targets, &cert, &args);
    }

    let out = render(&cert);
    match &args.write {
        Some(path) => {
            let path = if let Some(path) = path {
                path.clone()
            } else if let Some(output) = &cert_target.output {
                output.clone()
            } else {
                let (Some(config), Some(output)) = (&config, &settings.output) else {
                    return Err(Failure::usage(format!("-w without a FILE needs an `output:` for {input_name} in kseal.yaml"))
                        .hint("pass -w FILE, or add `output: path/to/sealed.yaml` to the kseal.yaml entry"));
                };
                config.resolve(output)
            };
            io::write_atomic(&path, out.as_bytes(), 0o644)?;
            eprintln!("kseal: wrote {} ({item_count} item(s))", path.display());
            Ok(())
        }
        None => io::write_stdout(out.as_bytes()),
    }
}

/// A certificate to seal for, with the name its output file takes and, from kseal.yaml
/// `clusters:`, where its output goes.
struct CertTarget {
    name: String,
    source: CertSource,
    output: Option<PathBuf>,
}

/// Where each target's file goes when there are several (or `--out-dir`): all decided before
/// anything is sealed, so that a missing output writes no file at all.
fn multi_destinations(
    args: &SealArgs,
    targets: &[CertTarget],
    out_dir: Option<&Path>,
    format: FormatArg,
) -> Result<Vec<PathBuf>> {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    if args.merge_into.is_some() {
        return Err(Failure::usage(format!(
            "--merge-into updates one file; {} certificates were given ({})",
            targets.len(),
            names.join(", ")
        )));
    }
    let extension = match format {
        FormatArg::Yaml => "yaml",
        FormatArg::Json => "json",
    };
    targets
        .iter()
        .map(|t| match (out_dir, &args.write) {
            (Some(dir), _) => Ok(dir.join(format!("{}.{extension}", t.name))),
            (None, Some(None)) => t.output.clone().ok_or_else(|| {
                Failure::usage(format!("-w: no output for {} in kseal.yaml", t.name)).hint(
                    "add `output:` to every `clusters:` item, or pass --out-dir DIR",
                )
            }),
            (None, Some(Some(file))) => Err(Failure::usage(format!(
                "-w {} names one file, but there are {} targets ({})",
                file.display(),
                targets.len(),
                names.join(", ")
            ))
            .hint("pass a directory (-w DIR/ or --out-dir DIR) to get one file per target")),
            (None, None) => Err(Failure::usage(format!(
                "{} targets ({}); refusing to print several clusters' SealedSecrets to stdout",
                targets.len(),
                names.join(", ")
            ))
            .hint("pass --out-dir DIR (one NAME.yaml per target), or -w to write each cluster's `output:` from kseal.yaml")),
        })
        .collect()
}

fn is_dir_like(path: &Path) -> bool {
    path.is_dir() || path.to_string_lossy().ends_with('/')
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
    Err(Failure::usage("no certificate to seal with")
        .hint("pass --cert FILE|URL (e.g. from `kubeseal --fetch-cert > cert.pem`), or set `cert:` in kseal.yaml (`kseal init` writes one)"))
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
    let need_ns = || {
        Failure::usage(format!(
            "no namespace for {what}; the {} scope binds the value to one",
            kind
        ))
        .hint("pass -n NAMESPACE, or set `namespace:` in kseal.yaml (`kseal init` writes one)")
    };
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

fn missing_name(input_name: &str, config: Option<&Config>) -> Failure {
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

fn from_dotenv(
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
        type_: args
            .type_
            .clone()
            .or_else(|| settings.type_.clone())
            .unwrap_or_else(|| "Opaque".into()),
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

fn from_manifests(
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
            type_: args
                .type_
                .clone()
                .or(s.type_)
                .or_else(|| settings.type_.clone())
                .unwrap_or_else(|| "Opaque".into()),
            immutable: s.immutable,
            labels,
            annotations,
            items: s.items,
        });
    }
    Ok(out)
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

fn merge_into(path: &Path, targets: &[Target], cert: &Certificate, args: &SealArgs) -> Result<()> {
    let [target] = targets else {
        return Err(Failure::usage(format!(
            "--merge-into takes one Secret; the input has {}",
            targets.len()
        )));
    };
    if !args.labels.is_empty() || !args.annotations.is_empty() || args.type_.is_some() {
        return Err(Failure::usage(
            "--merge-into changes only encryptedData items; --label, --annotation and --type cannot be combined with it",
        ));
    }
    let (file, identity) = read_merge_target(path)?;
    // The file's own metadata decides the OAEP label the controller will use; sealing the new
    // items to anything else would produce values that never unseal.
    let file_kind = scope_kind_from_annotations(&identity.annotations);
    let mismatch = |field: &str, ours: &str, theirs: &str| {
        Failure::usage(format!("--merge-into {}: {field} is '{theirs}' in the file but '{ours}' here", path.display()))
            .hint("the file's metadata decides how the controller unseals it; fix the flags or kseal.yaml")
    };
    if target.scope.kind() != file_kind {
        return Err(mismatch(
            "scope",
            target.scope.kind().as_str(),
            file_kind.as_str(),
        ));
    }
    if identity.name.as_deref() != Some(target.name.as_str()) {
        return Err(mismatch(
            "metadata.name",
            target.name.as_str(),
            identity.name.as_deref().unwrap_or(""),
        ));
    }
    let ours_ns = target.namespace.as_ref().map(|n| n.as_str()).unwrap_or("");
    if file_kind != ScopeKind::ClusterWide && identity.namespace.as_deref().unwrap_or("") != ours_ns
    {
        return Err(mismatch(
            "metadata.namespace",
            ours_ns,
            identity.namespace.as_deref().unwrap_or(""),
        ));
    }
    let doc = seal_target(target, cert);
    let merged = file.merge(&doc.items).map_err(|e| {
        Failure::input(format!("cannot update {} in place: {e}", path.display()))
            .hint("re-seal the whole file with -w, or reformat it as `kseal seal` writes it")
    })?;
    io::write_atomic(path, merged.as_bytes(), 0o644)?;
    if let Some(fp) = identity.annotations.get(KEY_FINGERPRINT_ANNOTATION)
        && fp != cert.fingerprint().as_str()
    {
        eprintln!(
            "kseal: hint: other items in {} are sealed to key {fp}; `kseal rotate` re-seals them to {}",
            path.display(),
            cert.fingerprint()
        );
    }
    eprintln!(
        "kseal: updated {} item(s) in {}",
        doc.items.len(),
        path.display()
    );
    Ok(())
}

fn read_merge_target(path: &Path) -> Result<(SealedFile, Identity)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::runtime(format!(
            "cannot read {}: {}",
            path.display(),
            io::io_reason(&e)
        ))
    })?;
    SealedFile::parse(text).map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

fn run_raw(args: &SealArgs, settings: &Settings, config: Option<&Config>) -> Result<()> {
    let source = args.from_file.as_deref().or(args.input.as_deref());
    let value = SecretBytes::new(io::read_input(source)?);
    let kind = scope_kind(args, settings)?.unwrap_or_default();
    let name = name_arg(args.name.as_ref(), settings.name.as_ref())?;
    let namespace = namespace_arg(args.namespace.as_ref(), settings.namespace.as_ref())?;
    let scope = make_scope(kind, name.as_ref(), namespace.as_ref(), "--raw")?;
    let cert = resolve_cert(args, settings, config)?
        .load(SystemTime::now(), args.unsafe_allow_expired_cert)?;
    let sealed = kseal_core::seal_base64(&cert, &scope, value.expose());
    io::write_stdout(sealed.as_bytes())?;
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
