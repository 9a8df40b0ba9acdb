//! Facts about this process and others, below every layer that records or checks a run: lab's
//! version, the user and host, and whether the process that started a run is still alive
//! (its pid with its start time, so a reused pid is another process).

/// lab's version and build.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The user name from the environment.
pub fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// This machine's host name.
pub fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "localhost".into()
    }
}

/// The start time of process `pid` in clock ticks since boot (field 22 of /proc/PID/stat),
/// or None when no such process exists or it is a zombie (dead, not yet reaped).
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split(' ');
    // Field 3, the state: Z (zombie) and X (dead) are not running anything.
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Whether the process that started a run on this host is gone (or its pid was reused).
pub fn run_process_dead(host_name: &str, pid: u32, pid_start: u64) -> bool {
    if host_name != host() {
        return false;
    }
    match process_start(pid) {
        None => true,
        Some(start) => start != pid_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_zombie_is_dead() {
        let me = std::process::id();
        let start = process_start(me).expect("this process exists");
        assert!(!run_process_dead(&host(), me, start));
        assert!(
            run_process_dead(&host(), me, start + 1),
            "a reused pid is another process"
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: the child is a zombie once it exits, and a zombie is not running.
        // Polled: `true` exits at once, but when is up to the scheduler.
        let t0 = std::time::Instant::now();
        while process_start(pid).is_some() {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(30),
                "process_start still sees child {pid} 30 s after it ran `true`: \
                 a zombie must count as not running"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(
            !run_process_dead("another-host", pid, 0),
            "other hosts are not judged"
        );
    }
}
