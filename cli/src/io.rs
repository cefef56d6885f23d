//! Reading inputs and writing outputs: stdin or files in, stdout or atomic file writes out.

use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
};

use crate::exit::{Failure, Result};

/// Where an input came from, for messages: the path as the user gave it, or `<stdin>`.
pub(crate) fn display_name(path: Option<&Path>) -> String {
    match path {
        Some(p) if p != Path::new("-") => p.display().to_string(),
        _ => "<stdin>".to_owned(),
    }
}

/// Reads a file, or stdin for `None` and `-`.
pub(crate) fn read_input(path: Option<&Path>) -> Result<Vec<u8>> {
    match path {
        Some(p) if p != Path::new("-") => fs::read(p).map_err(|e| {
            Failure::runtime(format!("cannot read {}: {}", p.display(), io_reason(&e)))
        }),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::runtime(format!("cannot read stdin: {}", io_reason(&e))))?;
            Ok(buf)
        }
    }
}

/// An I/O error without the "(os error N)" noise.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
/// flushed to disk and renamed over the target, so a failure never leaves a truncated or
/// half-written file. An existing file's permissions are kept; a new file gets `mode`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_atomic_with(path, bytes, mode, true)
}

/// As [`write_atomic`], but the file always gets exactly `mode`, whatever an existing file had
/// (for private keys: a 0644 file is replaced by a 0600 one).
pub(crate) fn write_atomic_private(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_atomic_with(path, bytes, mode, false)
}

fn write_atomic_with(path: &Path, bytes: &[u8], mode: u32, keep_existing: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let fail = |what: &str, e: std::io::Error| {
        Failure::runtime(format!(
            "cannot write {}: {what}: {}",
            path.display(),
            io_reason(&e)
        ))
    };
    if !dir.is_dir() {
        return Err(Failure::runtime(format!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.kseal-{}.tmp", std::process::id()));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let mode = if keep_existing {
                fs::metadata(path)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(mode)
            } else {
                mode
            };
            options.mode(mode);
        }
        let mut file = options
            .open(&tmp)
            .map_err(|e| fail("create temporary file", e))?;
        #[cfg(unix)]
        if !keep_existing {
            // Exactly `mode`, whatever the umask.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|e| fail("set permissions", e))?;
        }
        file.write_all(bytes).map_err(|e| fail("write", e))?;
        file.sync_all().map_err(|e| fail("sync", e))?;
        fs::rename(&tmp, path).map_err(|e| fail("rename", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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
