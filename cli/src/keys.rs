//! Private keys given with `--key` (`unseal`, `rotate`): PEM files, key Secrets, Lists of them,
//! or directories of such files.

use std::path::PathBuf;

use kseal_core::{
    KeySet,
    manifest::{self, KeyFileError},
};

use crate::{
    exit::{Failure, Result},
    io,
    scan::{self, Walk},
};

/// Reads private keys from files and directories. A directory is walked for every file; files
/// in it that hold no private key (certificates, READMEs) are skipped, but a file that holds a
/// broken key is an error, as is a directory without any key.
pub(crate) fn load(paths: &[PathBuf]) -> Result<KeySet> {
    let mut keys = KeySet::new();
    for path in paths {
        if path.is_dir() {
            let before = keys.len();
            for file in scan::collect_files(std::slice::from_ref(path), Walk::AllFiles)? {
                let bytes = io::read_input(Some(&file))?;
                match manifest::parse_private_keys(&bytes) {
                    Ok(found) => found.into_iter().for_each(|k| {
                        keys.push(k);
                    }),
                    Err(KeyFileError::Key(e)) => {
                        return Err(Failure::input(format!("key file {}: {e}", file.display())));
                    }
                    Err(_) => {}
                }
            }
            if keys.len() == before {
                return Err(Failure::input(format!(
                    "no private key found in directory {}",
                    path.display()
                ))
                .hint("expected PEM key files, key Secrets (data.tls.key) or Lists of them"));
            }
            continue;
        }
        let bytes = io::read_input(Some(path))?;
        let found = manifest::parse_private_keys(&bytes)
            .map_err(|e| Failure::input(format!("key file {}: {e}", path.display())))?;
        for key in found {
            keys.push(key);
        }
    }
    Ok(keys)
}
