//! The test-vector suite (`cargo test -p kseal-tests --test vectors`), one case per vector:
//!
//! - `vector::<file>`: every file in `tests/vectors/` (the generator's, `rsa`-crate path);
//! - `generator_matches_committed_files`: those files are exactly what the generator writes;
//! - `kubeseal::raw::<file>`: values recorded with the real `kubeseal --raw`
//!   (`tests/vectors/kubeseal/raw/`), through the same checks as the generator's;
//! - `kubeseal::document::<file>`: SealedSecrets recorded with the real `kubeseal -o yaml`,
//!   opened through `SealedSecret::unseal` (kseal-crds: the path the controller and `kseal unseal` share) and compared with the Secret kubeseal read;
//! - `kubeseal::recordings_are_complete`: every recording is there, from the stated kubeseal;
//! - `production_seal::<case>`: every generator case sealed now by `kseal_core::seal` (AWS-LC,
//!   what `kseal seal` runs), through the same checks; `production_seal::is_randomized`.
//!
//! No cluster and no Go binary are needed. The file format and the meaning of each expectation
//! are documented in `kseal_tests::vectors` and `tests/vectors/README.md`.

mod check;
mod kubeseal;

use std::{fs, path::PathBuf};

use kseal_tests::vectors::{self, Sealer, Vector};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let mut trials = vec![Trial::test(
        "generator_matches_committed_files",
        generator_matches_committed_files,
    )];

    let paths = vectors::vector_files(&vectors::vectors_dir()).expect("tests/vectors/ must exist");
    assert!(!paths.is_empty(), "tests/vectors/ holds no vectors");
    trials.extend(paths.into_iter().map(|p| file_trial("vector", p)));

    let raw = vectors::vector_files(&kubeseal::raw_dir()).expect("tests/vectors/kubeseal/raw/");
    trials.extend(raw.into_iter().map(|p| file_trial("kubeseal::raw", p)));
    trials.extend(kubeseal::trials());

    trials.extend(production_trials());
    libtest_mimic::run(&args, trials).exit();
}

/// One vector file as one case named `<prefix>::<file name>`.
fn file_trial(prefix: &str, path: PathBuf) -> Trial {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    Trial::test(format!("{prefix}::{name}"), move || {
        let bytes = fs::read(&path).map_err(|e| format!("{name}: {e}"))?;
        let vector = Vector::parse(&bytes).map_err(|e| format!("{name}: bad vector file: {e}"))?;
        check::check(&vector).map_err(|e| Failed::from(format!("{name}: {e}")))
    })
}

/// Every generator case, sealed by the production path, as one case each.
fn production_trials() -> Vec<Trial> {
    let files = match vectors::generate_with(Sealer::Production) {
        Ok(files) => files,
        Err(e) => {
            return vec![Trial::test("production_seal::generate", move || {
                Err(e.into())
            })];
        }
    };
    let mut trials = vec![Trial::test(
        "production_seal::is_randomized",
        production_seal_is_randomized,
    )];
    for file in files {
        trials.push(Trial::test(
            format!("production_seal::{}", file.name),
            move || {
                let name = &file.name;
                let vector = Vector::parse(&file.contents)
                    .map_err(|e| format!("{name}: bad vector: {e}"))?;
                if vector.source.as_deref() != Sealer::Production.source() {
                    return Err(format!("{name}: not from the production sealer").into());
                }
                check::check(&vector).map_err(|e| Failed::from(format!("{name}: {e}")))
            },
        ));
    }
    trials
}

/// The production path draws a fresh data key and OAEP seed for every value: sealing the same
/// plaintext twice gives two different RSA blocks and two different AES parts, and a whole run
/// of the generator shares no body with the seeded files.
fn production_seal_is_randomized() -> Result<(), Failed> {
    let cert = vectors::load_cert("rsa2048-a.key")?;
    let scope = vectors::scope_of(kseal_core::ScopeKind::Strict, "ns", "a")?;
    let a = kseal_core::seal(&cert, &scope, b"same plaintext");
    let b = kseal_core::seal(&cert, &scope, b"same plaintext");
    let (a, b) = (
        kseal_core::sealed::SealedValue::parse(&a).map_err(|_| "does not split")?,
        kseal_core::sealed::SealedValue::parse(&b).map_err(|_| "does not split")?,
    );
    if a.rsa_block == b.rsa_block || a.aead == b.aead {
        return Err("two seals of one plaintext share an RSA block or an AES part".into());
    }
    let seeded = vectors::generate()?;
    let production = vectors::generate_with(Sealer::Production)?;
    for (s, p) in seeded.iter().zip(&production) {
        let body = |bytes: &[u8]| Vector::parse(bytes).map(|v| v.body);
        // M8 (empty and one-byte bodies) does not depend on the sealer.
        if !s.name.starts_with("m8-") && body(&s.contents)? == body(&p.contents)? {
            return Err(format!("{}: production body equals the seeded one", s.name).into());
        }
    }
    Ok(())
}

/// Drift check: the generator, run in-process, reproduces every committed generated file byte
/// for byte, and every other vector file names its `source:`.
fn generator_matches_committed_files() -> Result<(), Failed> {
    let dir = vectors::vectors_dir();
    let files = vectors::generate()?;
    let mut problems = Vec::new();
    for file in &files {
        match fs::read(dir.join(&file.name)) {
            Ok(committed) if committed == file.contents => {}
            Ok(_) => problems.push(format!(
                "{}: differs from the generator's output",
                file.name
            )),
            Err(_) => problems.push(format!("{}: generated but not committed", file.name)),
        }
    }
    for path in vectors::vector_files(&dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if files.iter().any(|f| f.name == name) {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| e.to_string())?;
        if !Vector::parse(&bytes).is_ok_and(|v| v.source.is_some()) {
            problems.push(format!(
                "{name}: not generated and has no source: header (stale?)"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems
            .push("run `cargo run -p kseal-tests --bin gen-vectors` and review the diff".into());
        Err(problems.join("\n").into())
    }
}
