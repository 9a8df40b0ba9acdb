//! The file backend the log is opened with: redb's own [`FileBackend`], and, for tests, a
//! disk that fills on demand.
//!
//! With `LAB_FAULT_LOG_FULL=PATH` in the environment, every write, resize and sync of the log
//! fails with ENOSPC ("No space left on device") while the file PATH exists: a test creates it
//! to fill the disk under a running process and deletes it to free space again — the row "the
//! disk fills, then space is freed" of issue 18, reproducibly and without a small file system.
//! Reads and locks always go through.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use redb::backends::FileBackend;
use redb::{BackendError, DatabaseError, StorageBackend};

/// The environment variable naming the "disk is full" flag file.
pub const FAULT_LOG_FULL: &str = "LAB_FAULT_LOG_FULL";

/// redb's file backend, failing writes while the fault flag file exists.
#[derive(Debug)]
pub struct LogBackend {
    inner: FileBackend,
    full_while: Option<PathBuf>,
}

impl LogBackend {
    /// Opens (creating when missing) the log file at `path`.
    pub fn open(path: &Path) -> Result<LogBackend, DatabaseError> {
        let file: File = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(LogBackend {
            inner: FileBackend::new(file)?,
            full_while: std::env::var_os(FAULT_LOG_FULL).map(PathBuf::from),
        })
    }

    fn check(&self) -> io::Result<()> {
        match &self.full_while {
            Some(flag) if flag.exists() => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
            _ => Ok(()),
        }
    }
}

impl StorageBackend for LogBackend {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check()?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.check()?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
