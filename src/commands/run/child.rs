//! The command of a `lab run` is owned by lab: it runs in its own process group, dies with lab
//! however lab dies, and the signals that stop lab stop it first.
//!
//! - `PR_SET_PDEATHSIG(SIGKILL)`: when lab is killed (even by SIGKILL, which it cannot
//!   catch), the kernel kills the command, so no orphan keeps running and writing metrics
//!   nobody records.
//! - Its own process group, when lab's stdin is not a terminal (scripts, hooks, pipelines,
//!   `lab watch`): lab passes SIGINT, SIGTERM and SIGHUP on to the whole group (the command
//!   and whatever it started), waits for it, ingests its last metrics and records how it
//!   ended, then exits. On a terminal the command stays in the foreground group, so that it
//!   can read the terminal and gets Ctrl-C from it directly; lab passes on SIGTERM and SIGHUP.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked lab to stop while a command runs (0: none).
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    STOP.store(sig, Ordering::SeqCst);
}

const CAUGHT: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The handlers that were in place before [`catch_signals`]; put back when dropped, so that
/// a pipeline's later stages (and lab itself) stop on Ctrl-C as before.
pub(super) struct Caught([libc::sighandler_t; 3]);

impl Drop for Caught {
    fn drop(&mut self) {
        for (sig, old) in CAUGHT.into_iter().zip(self.0) {
            // SAFETY: restores the handler signal(2) returned.
            unsafe {
                libc::signal(sig, old);
            }
        }
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP until the guard is dropped (see [`take_signal`]).
pub(super) fn catch_signals() -> Caught {
    STOP.store(0, Ordering::SeqCst);
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    Caught(CAUGHT.map(|sig| unsafe { libc::signal(sig, handler) }))
}

/// The stop signal received since the last call, if any.
pub(super) fn take_signal() -> Option<i32> {
    match STOP.swap(0, Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// How lab holds its command.
#[derive(Clone, Copy)]
pub(super) struct Owned {
    /// The command leads its own process group.
    group: bool,
}

/// Makes `cmd`'s process die when lab dies, and a group leader when stdin is no terminal.
pub(super) fn own(cmd: &mut Command) -> Owned {
    use std::io::IsTerminal;
    let group = !std::io::stdin().is_terminal();
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec only async-signal-safe calls: setpgid, prctl, getppid,
    // kill, getpid.
    unsafe {
        cmd.pre_exec(move || {
            if group && libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // lab died between fork and prctl: the death signal was never armed.
            if libc::getppid() != parent {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
    Owned { group }
}

impl Owned {
    /// Passes a stop signal lab received on to the command (its group), except a SIGINT the
    /// terminal already sent to the command itself.
    pub(super) fn pass_on(self, pid: u32, sig: i32) {
        if self.group || sig != libc::SIGINT {
            self.kill(pid, sig);
        }
    }

    /// After the command exited: kills what it started and left in its group (nothing on a
    /// terminal, where the command has no group of its own and its pid may be reused).
    pub(super) fn kill_rest(self, pid: u32) {
        if self.group {
            self.kill(pid, libc::SIGKILL);
        }
    }

    /// Sends `sig` to the command's process group (or to the command alone, on a terminal).
    pub(super) fn kill(self, pid: u32, sig: i32) {
        let target = if self.group {
            -(pid as libc::pid_t)
        } else {
            pid as libc::pid_t
        };
        // SAFETY: kill(2) on our own child or the group it leads.
        unsafe {
            libc::kill(target, sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_leads_its_own_group() {
        let mut c = Command::new("sleep");
        c.arg("5");
        c.stdin(std::process::Stdio::null());
        let owned = own(&mut c);
        let mut child = c.spawn().unwrap();
        // SAFETY: getpgid on our own child.
        let pgid = unsafe { libc::getpgid(child.id() as libc::pid_t) };
        if owned.group {
            assert_eq!(pgid, child.id() as libc::pid_t);
        }
        owned.pass_on(child.id(), libc::SIGTERM);
        let st = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(libc::SIGTERM));
    }
}
