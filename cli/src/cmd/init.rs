//! `kseal init`: a commented starter `kseal.yaml`, the folders it names, and a `.gitignore` that
//! keeps env files and private keys out of git. Says what comes next (`kseal cert`), and warns
//! when the env file the starter names already holds placeholder values.

use std::{fs, path::Path};

use kseal_core::dotenv::{self, EnvFormat, KeyRule, ParseOptions};

use crate::{
    args::InitArgs,
    config,
    exit::{Failure, Result},
    io, placeholder, say,
};

/// The folders the starter's entry names: its `cert`'s and its `output`'s.
const FOLDERS: [&str; 2] = ["certs", "k8s/overlays/staging"];

/// The env file the starter's entry reads.
const STARTER_INPUT: &str = ".env.staging";

/// `.gitignore` lines: env files (their examples stay committable) and private keys.
const IGNORED: [&str; 4] = [".env*", "!.env*.example", "*.key", "tls.key"];

pub(crate) fn run(args: InitArgs) -> Result<()> {
    let path = Path::new(config::FILE_NAME);
    if path.exists() && !args.force {
        return Err(Failure::usage(format!("{} already exists", path.display()))
            .hint("pass --force to overwrite it"));
    }
    let gitignore = Path::new(".gitignore");
    let previous = match fs::read(gitignore) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            Failure::input(
                ".gitignore is not UTF-8 text; it was left alone and nothing was written",
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::runtime(format!(
                "cannot read .gitignore: {}",
                io::io_reason(&e)
            )));
        }
    };
    let (ignore_text, added) = extend_gitignore(&previous);

    let created: Vec<&str> = FOLDERS
        .iter()
        .copied()
        .filter(|d| !Path::new(d).is_dir())
        .collect();
    // Every folder made here, parents first, to remove them again if writing fails.
    let mut made: Vec<&Path> = Vec::new();
    for dir in &created {
        let mut missing: Vec<&Path> = Path::new(dir)
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .collect();
        missing.reverse();
        for d in missing {
            if let Err(e) = fs::create_dir(d) {
                remove(&made);
                return Err(Failure::runtime(format!(
                    "cannot create {}/: {}",
                    d.display(),
                    io::io_reason(&e)
                )));
            }
            made.push(d);
        }
    }
    let mut writes = vec![io::FileWrite {
        path,
        bytes: config::STARTER.as_bytes(),
        mode: io::Mode::KeepOr(0o644),
    }];
    if !added.is_empty() {
        writes.push(io::FileWrite {
            path: gitignore,
            bytes: ignore_text.as_bytes(),
            mode: io::Mode::KeepOr(0o644),
        });
    }
    if let Err(e) = io::write_files(&writes) {
        remove(&made);
        return Err(e);
    }

    let mut done = vec![format!("wrote {}", path.display())];
    if !created.is_empty() {
        let dirs: Vec<String> = created.iter().map(|d| format!("{d}/")).collect();
        done.push(format!("created {}", dirs.join(" and ")));
    }
    if !added.is_empty() {
        done.push(format!(".gitignore: added {}", added.join(", ")));
    }
    say::note(done.join("; "));
    warn_placeholders();
    say::note(format_args!(
        "next: fetch the cluster's certificate with `kseal cert -w certs/staging.pem`, set name and namespace in {}, then `kseal seal {STARTER_INPUT} -w`",
        path.display()
    ));
    Ok(())
}

/// Removes the folders `init` made (children first); best effort, an error is being reported.
fn remove(made: &[&Path]) {
    for dir in made.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}

/// `previous` with the [`IGNORED`] lines it lacks appended under a comment, and those lines.
fn extend_gitignore(previous: &str) -> (String, Vec<&'static str>) {
    let present: Vec<&str> = previous.lines().map(str::trim).collect();
    let added: Vec<&'static str> = IGNORED
        .iter()
        .copied()
        .filter(|line| !present.contains(line))
        .collect();
    let mut text = previous.to_owned();
    if added.is_empty() {
        return (text, added);
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str("# kseal: env files and private keys stay out of git; commit the sealed files\n");
    for line in &added {
        text.push_str(line);
        text.push('\n');
    }
    (text, added)
}

/// Warns about placeholder values in the env file the starter names, if it exists already.
fn warn_placeholders() {
    let Ok(bytes) = fs::read(STARTER_INPUT) else {
        return;
    };
    let options = ParseOptions {
        format: EnvFormat::Lenient,
        keys: KeyRule::SecretKey,
        ..ParseOptions::default()
    };
    if let Ok(parsed) = dotenv::parse(&bytes, &options) {
        placeholder::warn(
            STARTER_INPUT,
            parsed
                .entries
                .iter()
                .map(|e| (e.key.as_str(), e.value.expose())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_is_extended_once() {
        let (text, added) = extend_gitignore("");
        assert_eq!(added, IGNORED);
        assert!(text.starts_with("# kseal:"));
        let (again, none) = extend_gitignore(&text);
        assert!(none.is_empty());
        assert_eq!(again, text);
        let (text, added) = extend_gitignore("target\n*.key");
        assert_eq!(added, [".env*", "!.env*.example", "tls.key"]);
        assert!(text.starts_with("target\n*.key\n\n# kseal:"), "{text}");
    }

    #[test]
    fn folders_are_the_starters() {
        let file: serde_yaml::Value = serde_yaml::from_str(config::STARTER).unwrap();
        let entry = &file["secrets"][0];
        assert_eq!(entry["input"].as_str(), Some(STARTER_INPUT));
        for (field, dir) in [("cert", FOLDERS[0]), ("output", FOLDERS[1])] {
            let path = Path::new(entry[field].as_str().unwrap());
            assert_eq!(path.parent(), Some(Path::new(dir)), "{field}");
        }
    }
}
