//! What `kseal rotate` reports: a row per document or file, the tally and the summary line, as
//! text or JSON, and the exit code.

use std::path::PathBuf;

use kseal_core::Encryption;
use serde_json::{Value, json};

use crate::{
    exit::{Code, Failure, Result},
    io, scan,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Re-seal and write.
    Write,
    /// Re-seal in memory (when keys are given), write nothing.
    DryRun,
    /// Only compare fingerprints.
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Status {
    UpToDate,
    Resealed,
    Stale,
    Failed,
}

#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) documents: usize,
    pub(super) files: usize,
    pub(super) up_to_date: usize,
    pub(super) resealed: usize,
    pub(super) stale: usize,
    pub(super) failed: usize,
    pub(super) decrypt_failures: usize,
    pub(super) written: usize,
    pub(super) certs_refreshed: usize,
    pub(super) certs_stale: usize,
}

/// The summary line (printed by the caller once the files are written) or the failure.
/// `encryption`: the format `--encryption` asked for, part of being up to date.
pub(super) fn conclude(
    report: &mut Report,
    tally: &Tally,
    mode: Mode,
    files: &[PathBuf],
    encryption: Option<Encryption>,
    (check_hint, decrypt_hint): (&str, &str),
) -> Result<String> {
    report.add(tally);
    if tally.documents == 0 && tally.failed == 0 {
        return Err(Failure::input(format!(
            "no SealedSecret found in {}",
            scan::show_paths(files)
        )));
    }
    let changed = match mode {
        Mode::Write => format!("{} re-sealed", tally.resealed),
        Mode::DryRun => format!("{} would be re-sealed", tally.resealed),
        Mode::Check => format!("{} stale", tally.stale),
    };
    let mut summary = format!(
        "{} SealedSecret(s) in {} file(s): {} up to date, {changed}, {} failed",
        tally.documents, tally.files, tally.up_to_date, tally.failed
    );
    if mode == Mode::Write && tally.failed == 0 {
        summary.push_str(&format!("; wrote {} file(s)", tally.written));
    }
    if tally.certs_refreshed > 0 {
        summary.push_str(&format!(
            "; refreshed {} cert file(s)",
            tally.certs_refreshed
        ));
    }
    if tally.certs_stale > 0 {
        summary.push_str(&format!("; {} cert file(s) stale", tally.certs_stale));
    }
    if tally.failed > 0 {
        let code = if tally.decrypt_failures > 0 {
            Code::Decrypt
        } else {
            Code::Input
        };
        let mut failure = Failure::new(code, summary);
        if tally.decrypt_failures > 0 {
            failure = failure.hint(decrypt_hint);
        }
        return Err(failure);
    }
    if mode == Mode::Check && (tally.stale > 0 || tally.certs_stale > 0) {
        return Err(Failure::new(
            Code::Check,
            match encryption {
                Some(e) => format!(
                    "not every SealedSecret is sealed to the newest certificate as {}: {summary}",
                    e.as_str()
                ),
                None => {
                    format!("not every SealedSecret is sealed to the newest certificate: {summary}")
                }
            },
        )
        .hint(check_hint));
    }
    Ok(summary)
}

/// A progress bar on stderr, only when stderr is a terminal.
pub(super) struct Progress {
    total: usize,
    done: usize,
    on: bool,
    drawn: bool,
}

impl Progress {
    /// Counts the SealedSecrets in `plan`'s files (only when it will be shown).
    pub(super) fn new<T>(plan: &[(PathBuf, T)], wanted: bool) -> Self {
        use std::io::IsTerminal as _;
        let on = wanted && std::io::stderr().is_terminal();
        let total = if on {
            plan.iter()
                .filter_map(|(file, _)| std::fs::read_to_string(file).ok())
                .map(|text| {
                    scan::Stream::parse(&text)
                        .docs()
                        .iter()
                        .filter(|d| d.is_sealed_secret())
                        .count()
                })
                .sum()
        } else {
            0
        };
        Self {
            total,
            done: 0,
            on: on && total > 0,
            drawn: false,
        }
    }

    pub(super) fn tick(&mut self) {
        self.done += 1;
        if !self.on {
            return;
        }
        let width = 30;
        let filled = (self.done.min(self.total) * width) / self.total.max(1);
        crate::say::progress(format_args!(
            "[{}{}] {}/{} SealedSecret(s)",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.done.min(self.total),
            self.total
        ));
        self.drawn = true;
    }

    pub(super) fn clear(&mut self) {
        if self.drawn {
            crate::say::clear_progress();
            self.drawn = false;
        }
    }
}

/// Adds a file's rows to the report in document order and counts them. A row's document is
/// `None` for a problem with the whole file.
pub(super) fn finish(
    file: &str,
    mut rows: Vec<(usize, Status, Option<String>, String)>,
    mode: Mode,
    tally: &mut Tally,
    report: &mut Report,
) {
    rows.sort_by_key(|r| r.0);
    for (_, status, document, detail) in rows {
        let word = match (status, mode) {
            (Status::UpToDate, _) => "up to date",
            (Status::Resealed, Mode::Write) => "re-sealed",
            (Status::Resealed, _) => "would re-seal",
            (Status::Stale, _) => "stale",
            (Status::Failed, _) => "failed",
        };
        report.line(word, file, document.as_deref(), &detail);
        match status {
            Status::UpToDate => tally.up_to_date += 1,
            Status::Resealed => tally.resealed += 1,
            Status::Stale => tally.stale += 1,
            Status::Failed => tally.failed += 1,
        }
    }
}

/// What `rotate` prints on stdout: one line per document or file, as text as the run goes, or
/// collected into one JSON object at the end (`-o json`; the shape is in docs/cli.md).
#[derive(Debug, Default)]
pub(super) struct Report {
    json: bool,
    text: String,
    rows: Vec<Value>,
    /// The tallies of every cluster (or the offline run), added up.
    total: Tally,
    /// The files to write (re-sealed files, refreshed certs), written together at the end.
    staged: Vec<(PathBuf, Vec<u8>)>,
}

impl Report {
    pub(super) fn new(json: bool) -> Self {
        Self {
            json,
            ..Self::default()
        }
    }

    /// One row: a status word (`re-sealed`, `skipped`, `refreshed`, …), the file, the document
    /// (`None`: the whole file) and what happened.
    pub(super) fn line(&mut self, status: &str, file: &str, document: Option<&str>, detail: &str) {
        match document {
            Some(d) => self
                .text
                .push_str(&format!("{status:<13} {file}: {d}: {detail}\n")),
            None => self
                .text
                .push_str(&format!("{status:<13} {file}: {detail}\n")),
        }
        self.rows.push(json!({
            "status": status,
            "file": file,
            "document": document,
            "detail": detail,
        }));
    }

    /// Adds a file to the batch [`Report::write_staged`] writes.
    pub(super) fn stage(&mut self, path: &std::path::Path, bytes: Vec<u8>) {
        self.staged.push((path.to_path_buf(), bytes));
    }

    /// Writes every staged file, all or nothing (a file keeps its permissions).
    pub(super) fn write_staged(&mut self) -> Result<()> {
        let staged = std::mem::take(&mut self.staged);
        let writes: Vec<io::FileWrite<'_>> = staged
            .iter()
            .map(|(path, bytes)| io::FileWrite {
                path,
                bytes,
                mode: io::Mode::KeepOr(0o644),
            })
            .collect();
        io::write_files(&writes)
    }

    /// `failure`, saying that the files that were ready were not written.
    pub(super) fn nothing_written(&mut self, failure: Failure) -> Failure {
        let ready = std::mem::take(&mut self.staged).len();
        self.total.written = 0;
        if ready == 0 {
            return failure;
        }
        failure.hint(format!(
            "no file was changed ({ready} were ready): the files of one run are written all or none; fix the failure and run again"
        ))
    }

    /// Prints the text lines so far (nothing with `-o json`).
    pub(super) fn flush(&mut self) -> Result<()> {
        let text = std::mem::take(&mut self.text);
        if self.json {
            return Ok(());
        }
        io::write_stdout(text.as_bytes())
    }

    fn add(&mut self, t: &Tally) {
        let sum = &mut self.total;
        sum.documents += t.documents;
        sum.files += t.files;
        sum.up_to_date += t.up_to_date;
        sum.resealed += t.resealed;
        sum.stale += t.stale;
        sum.failed += t.failed;
        sum.written += t.written;
        sum.certs_refreshed += t.certs_refreshed;
        sum.certs_stale += t.certs_stale;
    }

    /// With `-o json`: the rows and the totals, whatever the outcome.
    pub(super) fn print_json(&self, mode: Mode, passed: bool) -> Result<()> {
        if !self.json {
            return Ok(());
        }
        let t = &self.total;
        io::write_json(&json!({
            "mode": match mode {
                Mode::Write => "write",
                Mode::DryRun => "dry-run",
                Mode::Check => "check",
            },
            "results": self.rows,
            "summary": {
                "files": t.files,
                "documents": t.documents,
                "upToDate": t.up_to_date,
                "resealed": t.resealed,
                "stale": t.stale,
                "failed": t.failed,
                "written": t.written,
                "certsRefreshed": t.certs_refreshed,
                "certsStale": t.certs_stale,
                "passed": passed,
            },
        }))
    }
}
