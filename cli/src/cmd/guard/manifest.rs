//! Kubernetes manifests: Secrets in clear (also in Helm templates read line by line),
//! SealedSecrets that are not well-formed ciphertext, and Kustomize `secretGenerator`s that
//! build a Secret from values in clear.

use std::path::Path;

use kseal_core::SecretString;
use kseal_crds::{EncryptedData, EncryptedValue};
use serde_json::Value;

use super::{Finding, env};
use crate::{
    inspect::describe_problem,
    inspect::inspect_value,
    scan::{self, Format, Stream},
};

/// Kustomize `secretGenerator` entries that make a Secret from values in clear: `literals`, and
/// `envs` (or the old `env`) or `files` that name env files or private keys.
fn secret_generators(path: &Path, doc: &Value) -> Vec<Finding> {
    let Some(generators) = doc["secretGenerator"].as_array() else {
        return Vec::new();
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let fix = "seal the values instead: `kseal seal .env -w app-env.sealed.yaml` (keep the .env out of git) and list the sealed file under `resources:`";
    let mut out = Vec::new();
    for (i, g) in generators.iter().enumerate() {
        let name = g["name"]
            .as_str()
            .map_or_else(|| format!("#{}", i + 1), |n| format!("'{n}'"));
        if g["literals"].as_array().is_some_and(|l| !l.is_empty()) {
            out.push(Finding::clear(None, format!("secretGenerator {name}: `literals:` puts values in clear into the kustomization; {fix}")));
        }
        let mut files: Vec<&str> = Vec::new();
        for field in ["envs", "files"] {
            files.extend(
                g[field]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
        }
        files.extend(g["env"].as_str());
        for entry in files {
            // `files:` entries may be `key=path`.
            let file = entry.rsplit_once('=').map_or(entry, |(_, p)| p);
            let file_name = Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let env_file = env::classify(&file_name) == env::EnvFile::Real
                || g["envs"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|v| v == entry))
                || g["env"] == entry;
            let key_file = file_name.ends_with(".key")
                || file_name.starts_with("id_rsa")
                || file_name.starts_with("id_ed25519")
                || file_name.starts_with("id_ecdsa");
            if env_file || key_file {
                let what = if key_file {
                    "a private key"
                } else {
                    "an env file"
                };
                out.push(Finding::clear(
                    None,
                    format!(
                        "secretGenerator {name}: builds a Secret from {what} in clear ({}); {fix}",
                        dir.join(file).display()
                    ),
                ));
            }
        }
    }
    out
}

/// Secrets in clear, broken SealedSecrets and Kustomize generators of Secrets in clear in a
/// YAML or JSON manifest stream.
pub(super) fn check(path: &Path, text: &SecretString) -> Vec<Finding> {
    let text = text.expose();
    let stream = Stream::parse(text);
    let mut out = Vec::new();
    for doc in stream.docs() {
        let v = doc.value;
        out.extend(secret_generators(path, v));
        match v["kind"].as_str() {
            Some("Secret") if matches!(v["apiVersion"].as_str(), None | Some("v1")) => {
                let keys = plaintext_keys(v);
                if !keys.is_empty() {
                    out.push(Finding::clear(
                        None,
                        format!(
                            "{}: Secret with values in clear ({})",
                            doc.describe(),
                            keys.join(", ")
                        ),
                    ));
                }
            }
            Some("SealedSecret") => {
                for problem in sealed_problems(v) {
                    out.push(Finding::broken(
                        None,
                        format!("{}: {problem}", doc.describe()),
                    ));
                }
            }
            _ => {}
        }
    }
    // Documents that are not YAML (Helm templates) are read line by line. JSON that does not
    // parse cannot be read that way; if it mentions a Secret, it fails closed.
    for segment in &stream.segments {
        let Err(error) = &segment.value else {
            continue;
        };
        let segment_text = &text[segment.span.clone()];
        match stream.format {
            Format::Yaml => {
                let first_line = scan::line_of(text, segment.span.start);
                out.extend(template_secrets(segment_text, first_line));
            }
            Format::Json if segment_text.contains("Secret") => {
                out.push(Finding::unreadable(format!(
                    "not valid JSON ({error}) and it mentions a Secret, so it cannot be checked"
                )))
            }
            Format::Json => {}
        }
    }
    out
}

/// Keys of `data` and `stringData` whose value is in clear: a non-empty scalar that is not
/// entirely a template expression.
fn plaintext_keys(secret: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    for field in ["data", "stringData"] {
        let Some(map) = secret[field].as_object() else {
            continue;
        };
        for (key, value) in map {
            let clear = match value {
                Value::String(s) => !s.trim().is_empty() && !is_template(s),
                Value::Number(_) | Value::Bool(_) => true,
                Value::Null | Value::Array(_) | Value::Object(_) => false,
            };
            if clear && !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    keys
}

/// Why the values of a SealedSecret are not ciphertext: the structural checks of `verify`
/// without a certificate.
fn sealed_problems(v: &Value) -> Vec<String> {
    let items: EncryptedData =
        serde_json::from_value(v["spec"]["encryptedData"].clone()).unwrap_or_default();
    let mut out: Vec<String> = items.problems().iter().map(describe_problem).collect();
    for (name, value) in items.iter() {
        if let EncryptedValue::Sealed(text) = value
            && let Err(problem) = inspect_value(text)
        {
            out.push(format!("item {name}: not valid ciphertext: {problem}"));
        }
    }
    if let Some(legacy) = v["spec"]["data"].as_str().filter(|s| !s.is_empty())
        && let Err(problem) = inspect_value(legacy)
    {
        out.push(format!("spec.data: not valid ciphertext: {problem}"));
    }
    out
}

/// Whether `value` is one or more `{{ … }}` template actions and nothing else (quotes around
/// it allowed): Helm renders it at deploy time from values that are not in this file.
fn is_template(value: &str) -> bool {
    let mut rest = value.trim();
    for q in ['"', '\''] {
        if rest.len() >= 2 && rest.starts_with(q) && rest.ends_with(q) {
            rest = rest[1..rest.len() - 1].trim();
        }
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix("{{") else {
            return false;
        };
        let Some(end) = after.find("}}") else {
            return false;
        };
        rest = after[end + 2..].trim_start();
    }
    true
}

/// The line-by-line reading of a document that is not YAML (a Helm template): if it has a
/// top-level `kind: Secret`, every entry under a top-level `data:` or `stringData:` whose value
/// is not a template expression (nor empty) is in clear.
fn template_secrets(text: &str, first_line: usize) -> Vec<Finding> {
    let lines: Vec<&str> = text.lines().collect();
    let top = |line: &str, key: &str| -> Option<String> {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let rest = rest.find(" #").map_or(rest, |i| &rest[..i]);
        Some(rest.trim().trim_matches(['"', '\'']).to_owned())
    };
    if !lines
        .iter()
        .any(|l| top(l, "kind").as_deref() == Some("Secret"))
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let header = ["data", "stringData"]
            .into_iter()
            .find_map(|k| top(lines[i], k).map(|rest| (k, rest)));
        let Some((field, inline)) = header else {
            i += 1;
            continue;
        };
        if !inline.is_empty() {
            if !is_template(&inline) && !matches!(inline.as_str(), "{}" | "null" | "~") {
                out.push(Finding::clear(
                    Some(first_line + i),
                    format!("Secret {field} written inline, with values in clear"),
                ));
            }
            i += 1;
            continue;
        }
        i += 1;
        while i < lines.len() {
            let line = lines[i];
            let trimmed = line.trim();
            let indented = line.starts_with([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') || is_template(trimmed) {
                i += 1;
                continue;
            }
            if !indented {
                break;
            }
            let (key, value) = split_entry(trimmed);
            let value = value.find(" #").map_or(value, |c| &value[..c]).trim();
            let indent = line.len() - line.trim_start().len();
            let entry_line = i;
            i += 1;
            let clear = if value.starts_with('|') || value.starts_with('>') {
                // A block scalar: the more-indented lines that follow are the value.
                let mut clear = false;
                while i < lines.len() {
                    let l = lines[i];
                    let t = l.trim();
                    if !t.is_empty() && l.len() - l.trim_start().len() <= indent {
                        break;
                    }
                    clear |= !t.is_empty() && !is_template(t);
                    i += 1;
                }
                clear
            } else {
                !value.is_empty() && !is_template(value) && !matches!(value, "\"\"" | "''")
            };
            if clear {
                out.push(Finding::clear(
                    Some(first_line + entry_line),
                    format!("Secret {field}.{key}: value in clear"),
                ));
            }
        }
    }
    out
}

/// Splits `key: value` at the first `:` that is outside a `{{ … }}` action.
fn split_entry(entry: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let bytes = entry.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if entry[i..].starts_with("{{") {
            depth += 1;
            i += 2;
            continue;
        }
        if entry[i..].starts_with("}}") {
            depth = depth.saturating_sub(1);
            i += 2;
            continue;
        }
        if bytes[i] == b':' && depth == 0 && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            return (entry[..i].trim(), entry[i + 1..].trim());
        }
        i += 1;
    }
    (entry, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(is_template("{{ .Values.password | b64enc }}"));
        assert!(is_template("\"{{ .Values.a }}{{ .Values.b }}\""));
        assert!(!is_template("postgres://{{ .Values.user }}@db"));
        assert!(!is_template("hunter2"));
        assert!(!is_template("\"\""));
    }

    #[test]
    fn helm_template_read_line_by_line() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include \"x\" . }}\n  labels:\n    {{- include \"x.labels\" . | nindent 4 }}\ndata:\n  {{- range $k, $v := .Values.env }}\n  {{ $k }}: {{ $v | b64enc | quote }}\n  {{- end }}\n  password: {{ .Values.password | b64enc }}\n  leaked: aHVudGVyMg==\nstringData:\n  config.yaml: |\n    user: {{ .Values.user }}\n    password: hunter2\n";
        let found = template_secrets(text, 1);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0],
            Finding::clear(Some(12), "Secret data.leaked: value in clear")
        );
        assert_eq!(found[1].line, Some(14));
    }

    #[test]
    fn kustomize_generators() {
        let doc: Value = serde_yaml::from_str("secretGenerator:\n  - name: a\n    literals: [K=v]\n  - name: b\n    envs: [.env.prod, config.properties]\n  - name: c\n    files: [tls.key, ca.crt, cfg=app.env]\n  - name: d\n    files: [ca.crt]\n").unwrap();
        let found = secret_generators(Path::new("k8s/kustomization.yaml"), &doc);
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages.len(), 5, "{messages:?}");
        assert!(messages[0].starts_with("secretGenerator 'a': `literals:`"));
        assert!(messages[1].contains("an env file in clear (k8s/.env.prod)"));
        assert!(messages[2].contains("an env file in clear (k8s/config.properties)"));
        assert!(messages[3].contains("a private key in clear (k8s/tls.key)"));
        assert!(messages[4].contains("an env file in clear (k8s/app.env)"));
    }
}
