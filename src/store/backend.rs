//! The file backend the log is opened with: redb's own [`FileBackend`], and, for tests, a
//! disk that fills on demand (the `crate::faults` log-full hook): while its flag file exists,
//! every write, resize and sync of the log fails with ENOSPC ("No space left on device"); a
//! test creates it to fill the disk under a running process and deletes it to free space
//! again — the row "the disk fills, then space is freed" of issue 18. Reads and locks always
//! go through.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use redb::backends::FileBackend;
use redb::{BackendError, DatabaseError, StorageBackend};

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
            full_while: crate::faults::log_full_flag(),
        })
    }

    fn check(&self) -> io::Result<()> {
        crate::faults::check_log_full(self.full_while.as_deref())
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
