//! Temp files of the blob store and the system calls around them, kept apart from the store's
//! rules (`blobs`).
//!
//! A staged blob lives in one of two kinds of temp file:
//!
//! - **unnamed** (`O_TMPFILE` in `objects/tmp`, held open until it is published): creating it
//!   adds no directory entry and publishing it is one `linkat` into its fan-out directory, with
//!   no rename and no lock on the temp directory, so many can be published in parallel; a
//!   process that dies leaves nothing behind. Each costs an open descriptor until published,
//!   so they are used up to a budget below the descriptor limit;
//! - **named** (`objects/tmp/PID-N.tmp`), for the rest: renamed into place, swept an hour after
//!   a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Alignment of buffer, offset and length that `O_DIRECT` needs (the largest logical block).
pub(super) const ALIGN: usize = 4096;

/// A temp file holding a staged blob.
#[derive(Debug)]
pub(super) enum Tmp {
    Named(PathBuf),
    Unnamed(Unnamed),
}

/// An `O_TMPFILE` file, open until published; it holds one unit of the descriptor budget.
#[derive(Debug)]
pub(super) struct Unnamed(pub(super) File);

impl Drop for Unnamed {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Unnamed temp files open now, in this process.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// How many unnamed temp files may be open at once: the descriptor limit (the soft limit
/// raised towards the hard one, at most to 65,536, as `ulimit -n` may) less a reserve for
/// everything else, or 0 where unnamed temp files cannot be linked into place (no `/proc`).
fn budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        if !Path::new("/proc/self/fd").is_dir() {
            return 0;
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read and write the struct passed by pointer only.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return 0;
            }
            let want = lim.rlim_max.min(1 << 16);
            if lim.rlim_cur < want {
                let raised = libc::rlimit {
                    rlim_cur: want,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = want;
                }
            }
        }
        (lim.rlim_cur as usize).saturating_sub(512)
    })
}

/// This process's id (`getpid` once, not once per temp file).
pub(super) fn pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Whether the umask takes read bits away, so that a file created with mode 0444 must be
/// `fchmod`ed to end up 0444 like every blob.
fn umask_strips_read() -> bool {
    static STRIPS: OnceLock<bool> = OnceLock::new();
    *STRIPS.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            .is_none_or(|mask| mask & 0o444 != 0)
    })
}

/// Makes a freshly created file read-only (0444) where the umask kept it from being so.
fn fix_mode(f: &File) -> io::Result<()> {
    if umask_strips_read() {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o444))?;
    }
    Ok(())
}

/// A named temp file `dir/PID-N.tmp`, created read-only (0444): the descriptor may still write
/// it, and the blob needs no `chmod` before it goes into place.
pub(super) fn create_named(dir: &Path, counter: &AtomicUsize) -> io::Result<(PathBuf, File)> {
    loop {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!("{}-{n}.tmp", pid()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&p)
        {
            Ok(f) => {
                if let Err(e) = fix_mode(&f) {
                    let _ = fs::remove_file(&p);
                    return Err(e);
                }
                return Ok((p, f));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// An unnamed temp file in `dir`, read-only (0444), or None when the budget is spent or the
/// file system has no `O_TMPFILE` (the caller then makes a named one).
pub(super) fn create_unnamed(dir: &Path) -> io::Result<Option<Unnamed>> {
    if HELD.fetch_add(1, Ordering::Relaxed) >= budget() {
        HELD.fetch_sub(1, Ordering::Relaxed);
        return Ok(None);
    }
    match OpenOptions::new()
        .write(true)
        .mode(0o444)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    {
        Ok(f) => {
            let u = Unnamed(f);
            fix_mode(&u.0)?;
            Ok(Some(u))
        }
        Err(e) => {
            HELD.fetch_sub(1, Ordering::Relaxed);
            match e.raw_os_error() {
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOENT) => Ok(None),
                _ => Err(e),
            }
        }
    }
}

fn cstr(p: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Gives an unnamed temp file the name `name` in the directory `dir`; fails with EEXIST when
/// that exists. `AT_EMPTY_PATH` first (Linux 6.10+ lets the opener do it), else through the
/// file's `/proc/self/fd` link.
pub(super) fn link_unnamed(u: &Unnamed, dir: &File, name: &str) -> io::Result<()> {
    static EMPTY_PATH_WORKS: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(true);
    let name = cstr(Path::new(name))?;
    if EMPTY_PATH_WORKS.load(Ordering::Relaxed) {
        // SAFETY: a valid descriptor, an empty and a valid NUL-terminated path.
        let rc = unsafe {
            libc::linkat(
                u.0.as_raw_fd(),
                c"".as_ptr(),
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOENT | libc::EPERM | libc::EINVAL) => {
                EMPTY_PATH_WORKS.store(false, Ordering::Relaxed)
            }
            _ => return Err(e),
        }
    }
    let src = cstr(Path::new(&format!("/proc/self/fd/{}", u.0.as_raw_fd())))?;
    // SAFETY: valid descriptor and NUL-terminated paths; AT_SYMLINK_FOLLOW makes the /proc
    // link name the open file itself.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            src.as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `rename(2)` of `src` to `name` in the directory `dir` that fails with EEXIST instead of
/// replacing it.
pub(super) fn rename_noreplace(src: &Path, dir: &File, name: &str) -> io::Result<()> {
    let (s, d) = (cstr(src)?, cstr(Path::new(name))?);
    // SAFETY: valid NUL-terminated paths and an open directory descriptor.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            s.as_ptr(),
            dir.as_raw_fd(),
            d.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `syncfs(2)` on the file system holding `path`.
pub(super) fn syncfs(path: &Path) -> io::Result<()> {
    let d = File::open(path)?;
    // SAFETY: syncfs takes a valid open descriptor and has no other preconditions.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads until `buf` is full or the file ends; returns the bytes read (short only at the end).
pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes `data` whole. With `*direct`, `data` must start aligned; a length `O_DIRECT` cannot
/// take (the tail of a file), or a file system that refuses it, turns `O_DIRECT` off for the
/// rest of the file.
pub(super) fn write_chunk(mut out: &File, mut data: &[u8], direct: &mut bool) -> io::Result<()> {
    if *direct && data.len() % ALIGN != 0 {
        set_direct(out, false)?;
        *direct = false;
    }
    while !data.is_empty() {
        match out.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                if *direct && n % ALIGN != 0 {
                    set_direct(out, false)?;
                    *direct = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if *direct && e.raw_os_error() == Some(libc::EINVAL) => {
                set_direct(out, false)?;
                *direct = false;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Turns `O_DIRECT` on or off for an open file.
pub(super) fn set_direct(f: &File, on: bool) -> io::Result<()> {
    let fd = f.as_raw_fd();
    // SAFETY: fcntl on a valid descriptor with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let want = if on {
        flags | libc::O_DIRECT
    } else {
        flags & !libc::O_DIRECT
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, want) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
