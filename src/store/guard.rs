//! redb trusts its file: a damaged page can make it panic (an index out of bounds, a failed
//! assertion) instead of returning an error. lab turns such a panic into an error that names
//! the file and what to do, never exit 101 with a backtrace.
//!
//! [`guard`] runs store code under `catch_unwind` with the panic message kept quiet; a panic
//! hook (installed once) also remembers any panic raised inside redb's own source, so that the
//! top of the binary ([`take_redb_panic`]) can report one that escaped a guard the same way.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

thread_local! {
    /// Depth of [`guard`]s on this thread: inside one, panics are not printed.
    static QUIET: Cell<u32> = const { Cell::new(0) };
}

/// The last panic raised in redb's source (message and location), and the last log opened.
static REDB_PANIC: Mutex<Option<String>> = Mutex::new(None);
static LAST_LOG: Mutex<Option<PathBuf>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// Installs the panic hook: a panic inside a guard or inside redb is remembered instead of
/// printed; any other panic goes to the previous hook as before.
pub fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let in_redb = info
                .location()
                .is_some_and(|l| l.file().contains("/redb-") || l.file().contains("\\redb-"));
            let quiet = QUIET.with(Cell::get) > 0;
            if in_redb || quiet {
                let msg = payload_text(info.payload());
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", short_file(l.file()), l.line()))
                    .unwrap_or_default();
                *REDB_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{msg}{at}"));
                return;
            }
            previous(info);
        }));
    });
}

fn short_file(f: &str) -> &str {
    f.rfind("/redb-").map_or(f, |i| &f[i + 1..])
}

fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Records the log a process opened, for [`take_redb_panic`]'s message.
pub fn opened(path: &Path) {
    *LAST_LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.to_path_buf());
}

/// Runs `f`; a panic inside it becomes `Err(detail)` with the panic's message and location.
pub fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    QUIET.with(|q| q.set(q.get() + 1));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get() - 1));
    r.map_err(|p| {
        REDB_PANIC
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| payload_text(p.as_ref()))
    })
}

/// A panic raised inside redb since the hook was installed, with the log it concerns: the
/// message the binary prints instead of a backtrace.
pub fn take_redb_panic() -> Option<(Option<PathBuf>, String)> {
    let detail = REDB_PANIC
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()?;
    let log = LAST_LOG.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Some((log, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guarded_panic_is_an_error() {
        let r: Result<(), String> = guard(|| panic!("page 7 is bad"));
        assert!(r.unwrap_err().contains("page 7 is bad"));
        assert_eq!(guard(|| 5).unwrap(), 5);
    }
}
