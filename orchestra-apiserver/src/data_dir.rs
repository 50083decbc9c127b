//! The API server's data directory, owned by one process at a time.
//!
//! Everything the API server keeps — the PKI, the kubeconfig, the embedded store — lives in one
//! directory. Two servers on the same directory would corrupt each other, so [`DataDir::lock`]
//! takes an exclusive advisory lock (`flock`) on `DIR/lock` and holds it for as long as the
//! [`DataDir`] lives; the operating system releases it when the process exits, even on
//! `kill -9`, so a stale lock never needs cleaning up. The lock file records the holder's pid
//! for the error a second server reports.
//!
//! ```no_run
//! use orchestra_apiserver::data_dir::DataDir;
//!
//! # fn main() -> Result<(), orchestra_apiserver::data_dir::DataDirError> {
//! let data_dir = DataDir::lock("/var/lib/orchestra")?; // keep it alive until exit
//! println!("PKI goes to {}", data_dir.path().display());
//! # Ok(())
//! # }
//! ```

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs4::{FileExt, TryLockError};

/// File name of the lock file in the data directory.
pub const LOCK_FILE: &str = "lock";

/// Why the data directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Another process holds the lock.
    #[error(
        "data directory {} is in use by another process{}: stop it or choose another --data-dir",
        path.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// The holder's pid, as it recorded it.
        holder: Option<u32>,
    },
    /// Creating the directory or the lock file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// A locked data directory; the lock is released when this is dropped (or the process ends).
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Holds the `flock`; closing the file releases it.
    _lock: File,
}

impl DataDir {
    /// Creates `path` (mode `0700` when new) if needed and locks it exclusively; a directory
    /// another process (or another `DataDir` in this one) holds gives [`DataDirError::Locked`].
    pub fn lock(path: impl AsRef<Path>) -> Result<DataDir, DataDirError> {
        let path = path.as_ref().to_owned();
        let io_err = |action, path: &Path| {
            let path = path.to_owned();
            move |source| DataDirError::Io {
                action,
                path,
                source,
            }
        };
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&path).map_err(io_err("create", &path))?;

        let lock_path = path.join(LOCK_FILE);
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        match FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(DataDirError::Locked {
                    holder: read_pid(&mut file),
                    path,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(DataDirError::Io {
                    action: "lock",
                    path: lock_path,
                    source,
                });
            }
        }
        // Record the holder for the next process's error message; the lock matters, the pid is
        // only informative.
        let record = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        if let Err(err) = record {
            tracing::warn!(path = %lock_path.display(), %err, "cannot record pid in lock file");
        }
        tracing::debug!(path = %path.display(), "locked data directory");
        Ok(DataDir { path, _lock: file })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid recorded in a lock file, if readable.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_locked_with_a_one_line_message_naming_the_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data");
        let first = DataDir::lock(&path).expect("first lock");
        let err = DataDir::lock(&path).expect_err("second lock must fail");
        match &err {
            DataDirError::Locked { path: p, holder } => {
                assert_eq!(p, &path);
                assert_eq!(*holder, Some(std::process::id()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        drop(first);
    }

    #[test]
    fn lock_is_released_on_drop() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = DataDir::lock(dir.path()).expect("first lock");
        drop(first);
        DataDir::lock(dir.path()).expect("lock again after release");
    }

    #[test]
    fn lock_creates_missing_directories() {
        let dir = tempfile::tempdir().expect("temp dir");
        let nested = dir.path().join("a/b/c");
        let data_dir = DataDir::lock(&nested).expect("lock");
        assert!(nested.join(LOCK_FILE).is_file());
        assert_eq!(data_dir.path(), nested);
    }
}
