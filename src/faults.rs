//! Fault injection for the tests, all in this one file: each hook is an environment variable
//! named `LAB_FAULT_*` that makes lab fail the way a full disk or a killed process would,
//! reproducibly, without a small file system or a signal racing the work. A user never sets
//! them; nothing else in lab reads a `LAB_FAULT_*` variable (`tests/it/layers.rs` checks).
//!
//! | variable | effect | used by |
//! |---|---|---|
//! | `LAB_FAULT_LOG_FULL=PATH` | while the file PATH exists, every write, resize and sync of the log fails with ENOSPC | `store::backend` |
//! | `LAB_FAULT_ENOSPC_AFTER=N` | blob writes fail with ENOSPC once this process has written N bytes | `store::blobs` |
//! | `LAB_FAULT_KILL_AFTER_EPOCH=E` | training kills its own process (SIGKILL) right after epoch E's checkpoint | `commands::train::observe` |

use std::io;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The "disk is full" flag file of the log (see the table above).
pub const LOG_FULL: &str = "LAB_FAULT_LOG_FULL";
/// Blob bytes this process may write before the disk "fills".
pub const ENOSPC_AFTER: &str = "LAB_FAULT_ENOSPC_AFTER";
/// The epoch after which training kills itself.
pub const KILL_AFTER_EPOCH: &str = "LAB_FAULT_KILL_AFTER_EPOCH";
/// Every hook, for test harnesses that clear them from a child's environment.
pub const ALL: [&str; 3] = [LOG_FULL, ENOSPC_AFTER, KILL_AFTER_EPOCH];

/// The log's "disk is full" flag file, when the hook is set.
pub fn log_full_flag() -> Option<PathBuf> {
    std::env::var_os(LOG_FULL).map(PathBuf::from)
}

/// Fails with ENOSPC when the flag file exists.
pub fn check_log_full(flag: Option<&std::path::Path>) -> io::Result<()> {
    match flag {
        Some(f) if f.exists() => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
        _ => Ok(()),
    }
}

/// Counts `n` more blob bytes; fails with ENOSPC past the limit, when the hook is set.
pub fn blob_write(n: usize) -> io::Result<()> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    static WRITTEN: AtomicU64 = AtomicU64::new(0);
    let Some(limit) = *LIMIT.get_or_init(|| {
        std::env::var(ENOSPC_AFTER)
            .ok()
            .and_then(|v| v.parse().ok())
    }) else {
        return Ok(());
    };
    if WRITTEN.fetch_add(n as u64, Ordering::Relaxed) + n as u64 > limit {
        return Err(io::Error::from_raw_os_error(libc::ENOSPC));
    }
    Ok(())
}

/// The epoch after whose checkpoint training kills its own process, when the hook is set.
pub fn kill_after_epoch() -> Option<u32> {
    std::env::var(KILL_AFTER_EPOCH)
        .ok()
        .and_then(|v| v.parse().ok())
}
