//! `kseal diff`: what changed between two versions of sealed files, without keys. Items are
//! compared by their ciphertext: added, removed, re-sealed (changed) or unchanged; the
//! SealedSecret by its name, namespace, scope, key fingerprint and template. No value is read
//! or shown.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use serde_json::Value;

use crate::{
    args::DiffArgs,
    exit::{Failure, Result},
    inspect::Summary,
    io, say,
    scan::SealedStream,
};

/// `kseal diff`: exit 0 when the versions hold the same, 1 when they differ, 2 on an error
/// (as diff(1)).
pub(crate) fn run(args: DiffArgs) -> ExitCode {
    match compare(&args) {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(1),
        Err(failure) => {
            failure.print();
            ExitCode::from(2)
        }
    }
}

/// Where one version comes from.
#[derive(Debug)]
enum Side {
    /// A file, or stdin for `-`.
    File(PathBuf),
    /// `git show SPEC` run in `dir`.
    Git { spec: String, dir: PathBuf },
}

impl Side {
    /// A file that exists (or `-`) is a file; otherwise `REV:PATH` is a git object.
    fn parse(arg: &str) -> Self {
        let path = Path::new(arg);
        if arg == "-" || path.exists() {
            return Self::File(path.to_path_buf());
        }
        match arg.split_once(':') {
            Some((rev, _)) if !rev.is_empty() => Self::Git {
                spec: arg.to_owned(),
                dir: PathBuf::from("."),
            },
            _ => Self::File(path.to_path_buf()),
        }
    }

    fn label(&self) -> String {
        match self {
            Self::File(path) => io::display_name(Some(path)),
            Self::Git { spec, .. } => spec.clone(),
        }
    }

    fn read(&self) -> Result<Vec<u8>> {
        let (spec, dir) = match self {
            Self::File(path) => return io::read_input(Some(path)),
            Self::Git { spec, dir } => (spec, dir),
        };
        if spec.starts_with('-') {
            return Err(Failure::usage(format!(
                "{spec}: a git revision cannot start with '-'"
            )));
        }
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["show", spec])
            .output()
            .map_err(|e| Failure::runtime(format!("cannot run git show: {}", io::io_reason(&e))))?;
        if !out.status.success() {
            let reason = String::from_utf8_lossy(&out.stderr);
            let reason = reason
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("fatal: ");
            return Err(Failure::runtime(format!("git show {spec}: {reason}")).hint(
                "REV:PATH takes PATH from the repository's root, or ./PATH from the current folder",
            ));
        }
        Ok(out.stdout)
    }
}

/// The two sides the arguments name.
fn sides(args: &DiffArgs) -> Result<(Side, Side)> {
    match (&args.git, args.sides.as_slice()) {
        (Some(rev), [file]) => {
            let path = Path::new(file);
            let name = path
                .file_name()
                .ok_or_else(|| Failure::usage(format!("--git {rev} {file}: not a file name")))?;
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let old = Side::Git {
                spec: format!("{rev}:./{}", name.to_string_lossy()),
                dir,
            };
            Ok((old, Side::File(path.to_path_buf())))
        }
        (Some(_), _) => Err(
            Failure::usage("--git REV compares one FILE with its version in REV")
                .hint("kseal diff --git HEAD k8s/app-env.sealed.yaml"),
        ),
        (None, [old, new]) => Ok((Side::parse(old), Side::parse(new))),
        (None, _) => Err(Failure::usage("diff needs two versions: OLD NEW")
            .hint("kseal diff OLD NEW, kseal diff REV:PATH FILE, or kseal diff --git REV FILE")),
    }
}

/// One version's SealedSecrets: a description of each (for messages), its summary and its
/// template.
struct Version {
    label: String,
    docs: Vec<(Summary, Value)>,
}

fn load(side: &Side) -> Result<Version> {
    let label = side.label();
    let sealed = SealedStream::from_bytes(side.read()?, true);
    if let Some(problem) = sealed.problem {
        return Err(Failure::input(format!("{label}: {problem}")));
    }
    let docs = sealed
        .docs()
        .iter()
        .map(|d| (Summary::of(d.value), d.value["spec"]["template"].clone()))
        .collect();
    Ok(Version { label, docs })
}

/// Counts for the summary line.
#[derive(Debug, Default)]
struct Counts {
    added: usize,
    removed: usize,
    resealed: usize,
    unchanged: usize,
    other: usize,
}

fn compare(args: &DiffArgs) -> Result<bool> {
    let (old, new) = sides(args)?;
    let (old, new) = (load(&old)?, load(&new)?);
    let mut out = format!("--- {}\n+++ {}\n", old.label, new.label);
    let mut counts = Counts::default();
    // One SealedSecret on each side: the same one, even renamed. Otherwise pair by identity.
    let pairs: Vec<(Option<usize>, Option<usize>)> = if old.docs.len() == 1 && new.docs.len() == 1 {
        vec![(Some(0), Some(0))]
    } else {
        let ids = |v: &Version| -> Vec<String> { v.docs.iter().map(|d| d.0.identity()).collect() };
        let (old_ids, new_ids) = (ids(&old), ids(&new));
        let mut pairs: Vec<(Option<usize>, Option<usize>)> = old_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (Some(i), new_ids.iter().position(|n| n == id)))
            .collect();
        pairs.extend(
            (0..new_ids.len())
                .filter(|j| !old_ids.contains(&new_ids[*j]))
                .map(|j| (None, Some(j))),
        );
        pairs
    };
    for pair in pairs {
        match pair {
            (Some(i), Some(j)) => compare_docs(&old.docs[i], &new.docs[j], &mut out, &mut counts),
            (Some(i), None) => whole(&old.docs[i].0, "removed", &mut out, &mut counts.removed),
            (None, Some(j)) => whole(&new.docs[j].0, "added", &mut out, &mut counts.added),
            (None, None) => {}
        }
    }
    io::write_stdout(out.as_bytes())?;
    let differs = counts.added + counts.removed + counts.resealed + counts.other > 0;
    say::note(format_args!(
        "{}: {} added, {} removed, {} re-sealed, {} unchanged item(s){}",
        if differs {
            "differences"
        } else {
            "no difference"
        },
        counts.added,
        counts.removed,
        counts.resealed,
        counts.unchanged,
        if counts.other > 0 {
            format!("; {} other change(s)", counts.other)
        } else {
            String::new()
        }
    ));
    Ok(differs)
}

/// A SealedSecret only one side has: every item counts as added (or removed).
fn whole(s: &Summary, word: &str, out: &mut String, count: &mut usize) {
    out.push_str(&format!("{}: {word} SealedSecret\n", s.identity()));
    for item in s.items.keys() {
        out.push_str(&format!("  {word:<10} {item}\n"));
        *count += 1;
    }
}

fn compare_docs(
    old: &(Summary, Value),
    new: &(Summary, Value),
    out: &mut String,
    counts: &mut Counts,
) {
    let ((a, a_template), (b, b_template)) = (old, new);
    out.push_str(&format!("{}:\n", b.identity()));
    let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
    let mut changes: Vec<(&str, String, String)> = Vec::new();
    if a.name != b.name {
        changes.push(("name", shown(&a.name), shown(&b.name)));
    }
    if a.namespace != b.namespace {
        changes.push(("namespace", shown(&a.namespace), shown(&b.namespace)));
    }
    if a.scope != b.scope {
        changes.push(("scope", a.scope.to_string(), b.scope.to_string()));
    }
    if a.fingerprint != b.fingerprint {
        changes.push(("key", shown(&a.fingerprint), shown(&b.fingerprint)));
    }
    for (field, from, to) in &changes {
        out.push_str(&format!("  {field}: {from} -> {to}\n"));
    }
    counts.other += changes.len();
    if a_template != b_template {
        out.push_str("  template: changed (labels, annotations or type of the Secret)\n");
        counts.other += 1;
    }
    let names: BTreeSet<&String> = a.items.keys().chain(b.items.keys()).collect();
    for name in names {
        let (word, count) = match (a.items.get(name), b.items.get(name)) {
            (Some(_), None) => ("removed", &mut counts.removed),
            (None, Some(_)) => ("added", &mut counts.added),
            (Some(x), Some(y)) if x == y => ("unchanged", &mut counts.unchanged),
            _ => ("re-sealed", &mut counts.resealed),
        };
        *count += 1;
        out.push_str(&format!("  {word:<10} {name}\n"));
    }
}
