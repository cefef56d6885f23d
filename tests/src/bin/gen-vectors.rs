//! Regenerates `tests/vectors/` byte for byte from the fixture keys and a seeded RNG.
//!
//! `cargo run -p kseal-tests --bin gen-vectors`. Vectors with a `source:` header (produced by
//! another implementation) and the subdirectory `kubeseal/` (recorded with real kubeseal by its
//! `record.sh`) are left alone; any other vector file that the generator no longer produces is
//! removed. The `vectors` test fails when the committed files differ from what this program
//! writes.

use std::{collections::BTreeSet, fs, process::ExitCode};

use kseal_tests::vectors::{self, Vector};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-vectors: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let dir = vectors::vectors_dir();
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let files = vectors::generate()?;
    let generated: BTreeSet<&str> = files.iter().map(|f| f.name.as_str()).collect();

    let mut removed = 0;
    // Only files directly in tests/vectors/: kubeseal/ holds recordings this program never
    // touches.
    for path in vectors::vector_files(&dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if generated.contains(name) {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let foreign = Vector::parse(&bytes).is_ok_and(|v| v.source.is_some());
        if !foreign {
            fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            removed += 1;
        }
    }

    let mut changed = 0;
    for file in &files {
        let path = dir.join(&file.name);
        if fs::read(&path).ok().as_deref() != Some(&file.contents[..]) {
            fs::write(&path, &file.contents).map_err(|e| format!("{}: {e}", path.display()))?;
            changed += 1;
        }
    }
    println!(
        "gen-vectors: {} vectors in {} ({changed} written, {removed} removed)",
        files.len(),
        dir.display()
    );
    Ok(())
}
