//! Reading inputs and writing outputs: stdin or files in, stdout or atomic file writes out.

use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
};

use crate::{
    exit::{Failure, Result},
    say,
};

/// Where an input came from, for messages: the path as the user gave it, or `<stdin>`.
pub(crate) fn display_name(path: Option<&Path>) -> String {
    match path {
        Some(p) if p != Path::new("-") => p.display().to_string(),
        _ => "<stdin>".to_owned(),
    }
}

/// Reads a file, or stdin for `None` and `-` (manifests).
pub(crate) fn read_input(path: Option<&Path>) -> Result<Vec<u8>> {
    read_input_of(path, "manifests")
}

/// As [`read_input`]; when stdin is a terminal, first says on stderr that `what` is read from
/// it and how to end it, so that a command waiting for input does not look hung.
pub(crate) fn read_input_of(path: Option<&Path>, what: &str) -> Result<Vec<u8>> {
    match path {
        Some(p) if p != Path::new("-") => fs::read(p).map_err(|e| {
            Failure::runtime(format!("cannot read {}: {}", p.display(), io_reason(&e)))
        }),
        _ => {
            use std::io::IsTerminal as _;
            if std::io::stdin().is_terminal() {
                say::note(format_args!(
                    "reading {what} from standard input (Ctrl-D on a new line to end, Ctrl-C to cancel)…"
                ));
            }
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::runtime(format!("cannot read stdin: {}", io_reason(&e))))?;
            Ok(buf)
        }
    }
}

/// Whether two paths name the same file (compared as absolute paths, without touching the disk).
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs(a) == abs(b)
}

/// An I/O error without the "(os error N)" noise.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// How a written file's permissions are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// An existing file keeps its permissions; a new one gets these.
    KeepOr(u32),
    /// Exactly these, whatever an existing file had (private keys: a 0644 file becomes 0600).
    Exact(u32),
}

/// One file a command writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileWrite<'a> {
    pub(crate) path: &'a Path,
    pub(crate) bytes: &'a [u8],
    pub(crate) mode: Mode,
}

/// Writes `bytes` to `path` atomically; see [`write_files`].
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_files(&[FileWrite {
        path,
        bytes,
        mode: Mode::KeepOr(mode),
    }])
}

/// As [`write_atomic`], but the file always gets exactly `mode` (for private keys).
pub(crate) fn write_atomic_private(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_files(&[FileWrite {
        path,
        bytes,
        mode: Mode::Exact(mode),
    }])
}

/// Writes every file of one command, all or nothing:
///
/// - a path that is a symbolic link is written through: the link stays and its target (followed
///   to the end of the chain) gets the new content;
/// - missing parent folders are created (and removed again if the command fails);
/// - each file is first written to a temporary file next to its target and flushed to disk;
///   only when every one is ready are they renamed over their targets. If a rename fails, the
///   files already replaced get their previous content back and new ones are removed, so a
///   failed command leaves every file as it was.
pub(crate) fn write_files(writes: &[FileWrite<'_>]) -> Result<()> {
    let mut batch = Batch::default();
    let result = batch.run(writes);
    if result.is_err() {
        batch.roll_back();
    } else {
        batch.clean_up();
    }
    result
}

/// One prepared file: its temporary copy, its real target, and how to undo the replacement.
#[derive(Debug)]
struct Staged {
    shown: PathBuf,
    target: PathBuf,
    tmp: PathBuf,
    /// A hard link to (or copy of) the previous content, when there was a file and several files
    /// are written.
    backup: Option<PathBuf>,
    existed: bool,
    renamed: bool,
}

#[derive(Debug, Default)]
struct Batch {
    staged: Vec<Staged>,
    created_dirs: Vec<PathBuf>,
}

impl Batch {
    fn run(&mut self, writes: &[FileWrite<'_>]) -> Result<()> {
        for w in writes {
            let target = follow_links(w.path)?;
            if self.staged.iter().any(|s| s.target == target) {
                return Err(Failure::usage(format!(
                    "{} is written twice by this command",
                    w.path.display()
                )));
            }
            self.create_parent(w.path, &target)?;
            let tmp = sibling(&target, "tmp");
            let existed = fs::symlink_metadata(&target).is_ok();
            // Pushed before the file exists so that a failure half-way removes it.
            self.staged.push(Staged {
                shown: w.path.to_path_buf(),
                target: target.clone(),
                tmp: tmp.clone(),
                backup: None,
                existed,
                renamed: false,
            });
            write_temp(w, &target, &tmp)?;
        }
        if self.staged.len() > 1 {
            for s in &mut self.staged {
                if s.existed && fs::metadata(&s.target).is_ok_and(|m| m.is_file()) {
                    let backup = sibling(&s.target, "bak");
                    fs::hard_link(&s.target, &backup)
                        .or_else(|_| fs::copy(&s.target, &backup).map(|_| ()))
                        .map_err(|e| write_error(&s.shown, "keep the previous version", &e))?;
                    s.backup = Some(backup);
                }
            }
        }
        for s in &mut self.staged {
            fs::rename(&s.tmp, &s.target).map_err(|e| write_error(&s.shown, "rename", &e))?;
            s.renamed = true;
        }
        Ok(())
    }

    fn create_parent(&mut self, shown: &Path, target: &Path) -> Result<()> {
        let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) else {
            return Ok(());
        };
        if dir.is_dir() {
            return Ok(());
        }
        let missing: Vec<&Path> = dir
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .collect();
        for d in missing.into_iter().rev() {
            fs::create_dir(d).map_err(|e| {
                Failure::runtime(format!(
                    "cannot write {}: cannot create folder {}: {}",
                    shown.display(),
                    d.display(),
                    io_reason(&e)
                ))
            })?;
            self.created_dirs.push(d.to_path_buf());
        }
        Ok(())
    }

    /// Puts back what was there before: previous contents restored, new files and folders
    /// removed. Best effort: the first error is already being reported.
    fn roll_back(&mut self) {
        for s in self.staged.iter().rev() {
            if s.renamed {
                match &s.backup {
                    Some(backup) => {
                        let _ = fs::rename(backup, &s.target);
                    }
                    None if !s.existed => {
                        let _ = fs::remove_file(&s.target);
                    }
                    None => {}
                }
            } else {
                let _ = fs::remove_file(&s.tmp);
                if let Some(backup) = &s.backup {
                    let _ = fs::remove_file(backup);
                }
            }
        }
        for d in self.created_dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }

    fn clean_up(&mut self) {
        for s in &self.staged {
            if let Some(backup) = &s.backup {
                let _ = fs::remove_file(backup);
            }
        }
    }
}

/// Writes the temporary file with its final permissions and flushes it to disk.
fn write_temp(w: &FileWrite<'_>, target: &Path, tmp: &Path) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| write_error(w.path, what, &e);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mode = match w.mode {
            Mode::KeepOr(default) => fs::metadata(target)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(default),
            Mode::Exact(mode) => mode,
        };
        // Never wider than the final mode, even for an instant.
        options.mode(mode & 0o700);
        mode
    };
    let mut file = options
        .open(tmp)
        .map_err(|e| fail("create temporary file", e))?;
    file.write_all(w.bytes).map_err(|e| fail("write", e))?;
    #[cfg(unix)]
    {
        // Exactly `mode`, whatever the umask.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| fail("set permissions", e))?;
    }
    file.sync_all().map_err(|e| fail("sync", e))
}

fn write_error(path: &Path, what: &str, e: &std::io::Error) -> Failure {
    Failure::runtime(format!(
        "cannot write {}: {what}: {}; no file was changed",
        path.display(),
        io_reason(e)
    ))
}

/// `dir/.NAME.kseal-PID.EXT`, next to `target`.
fn sibling(target: &Path, ext: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.kseal-{}.{ext}", std::process::id()))
}

/// The file a path names after following symbolic links in its last component (a chain of at
/// most 40, as the kernel allows). A dangling link gives the path it points to.
fn follow_links(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&current).map_err(|e| {
                    Failure::runtime(format!(
                        "cannot read link {}: {}",
                        current.display(),
                        io_reason(&e)
                    ))
                })?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(Failure::runtime(format!(
        "cannot write {}: too many levels of symbolic links",
        path.display()
    )))
}

/// Writes `value` to stdout as indented JSON and a newline (`-o json`).
pub(crate) fn write_json(value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::runtime(format!("cannot encode JSON: {e}")))?;
    text.push('\n');
    write_stdout(text.as_bytes())
}

/// Writes to stdout. A closed pipe (`kseal seal | head`) is not an error: the reader has what it
/// wanted.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => {
            other.map_err(|e| Failure::runtime(format!("cannot write stdout: {}", io_reason(&e))))
        }
    }
}
