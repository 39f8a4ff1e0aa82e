//! Output files that never destroy data: the model operations write through
//! [`write_atomically`], which
//!
//! * refuses an output that is the same file as an input (same path, another spelling, a hard
//!   or symbolic link: compared by device and inode), or a directory, before writing anything;
//! * writes to a fresh temporary file in the output's directory, created exclusively under a
//!   random name (`O_CREAT | O_EXCL`, so a planted file or symbolic link is never followed or
//!   overwritten; the `tempfile` crate), syncs it and renames it over the output only when
//!   complete;
//! * removes the temporary file on every error, and — once [`remove_temporaries_on_signal`] is
//!   installed, as the `saraphis` CLI does — on SIGINT, SIGTERM and SIGHUP too.
//!
//! An existing output is replaced only by a complete new file; on any failure it is left as it
//! was. Thread safety: every function here may be called from any thread.

use std::cell::UnsafeCell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};

/// An I/O error that names the user's path (never the temporary one).
pub(crate) fn io_error(action: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{action} {}: {e}", path.display()),
    ))
}

/// True when `a` and `b` name the same existing file (device and inode after following
/// symbolic links; on other systems, equal canonical paths).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    }
}

/// Check that `output` may be written without touching any of `inputs`: not the same file as
/// an input, not a directory, not a path ending in a separator. Errors: `InvalidArgument`.
pub fn check_output(output: &Path, inputs: &[&Path]) -> Result<()> {
    let text = output.as_os_str().to_string_lossy();
    if text.is_empty() || text.ends_with(std::path::MAIN_SEPARATOR) || text.ends_with('/') {
        return Err(Error::InvalidArgument(format!(
            "output '{}' is not a file name",
            output.display()
        )));
    }
    if output.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "output '{}' is a directory",
            output.display()
        )));
    }
    for input in inputs {
        if same_file(input, output) {
            return Err(Error::InvalidArgument(format!(
                "output '{}' is the same file as input '{}': refusing to overwrite an input",
                output.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// Write `dest` through a temporary file (see the module docs). `f` gets the open temporary
/// file; its errors, and I/O errors of the write, sync and rename, remove the temporary and
/// leave `dest` as it was. `inputs` are the files the operation reads, checked against `dest`
/// by [`check_output`] first. Errors: `InvalidArgument` (see [`check_output`]), `Io` naming
/// `dest`, and whatever `f` returns.
pub fn write_atomically<T>(
    dest: &Path,
    inputs: &[&Path],
    f: impl FnOnce(&mut File) -> Result<T>,
) -> Result<T> {
    check_output(dest, inputs)?;
    let name = dest
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("output '{}'", dest.display())))?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut prefix = name.to_os_string();
    prefix.push(".");
    // The name is registered for removal on a signal before the file exists (inside make_in,
    // which picks a random name and retries on a collision): a signal at any moment after the
    // file appears finds it. Created exclusively (O_EXCL: never through a planted link), 0600.
    let mut slot: Option<Registered> = None;
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".saraphis-tmp")
        .make_in(&dir, |path| {
            let s = Registered::new(path);
            let mut o = std::fs::OpenOptions::new();
            o.read(true).write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let f = o.open(path)?;
            slot = Some(s);
            Ok(f)
        })
        .map_err(|e| {
            let why = if dir.is_dir() {
                e.to_string()
            } else {
                format!("directory '{}' does not exist", dir.display())
            };
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot create {}: {why}", dest.display()),
            ))
        })?;
    let written = f(tmp.as_file_mut()).and_then(|v| {
        tmp.as_file()
            .sync_all()
            .map_err(|e| io_error("writing", dest, e))?;
        Ok(v)
    });
    let v = match written {
        Ok(v) => v,
        Err(Error::Io(e)) => return Err(io_error("writing", dest, e)),
        Err(e) => return Err(e),
    };
    // Rename first, deregister after: a signal in between unlinks a name that no longer exists.
    tmp.persist(dest)
        .map_err(|e| io_error("renaming into", dest, e.error))?;
    drop(slot);
    Ok(v)
}

// ---- In-progress temporaries, removable from a signal handler --------------------------------

const SLOTS: usize = 16;
const PATH_MAX: usize = 4096;
const FREE: u8 = 0;
const CLAIMED: u8 = 1;
const ACTIVE: u8 = 2;

/// Fixed, never-freed storage for the NUL-terminated paths of temporaries being written, so a
/// signal handler can read them without locks or allocation.
struct Slots {
    state: [AtomicU8; SLOTS],
    path: [UnsafeCell<[u8; PATH_MAX]>; SLOTS],
}

// SAFETY: a slot's bytes are written only by the thread that claimed it (state FREE -> CLAIMED
// by compare-exchange) and read only while its state is ACTIVE (published with Release after
// the write, observed with Acquire).
unsafe impl Sync for Slots {}

static TEMPORARIES: Slots = Slots {
    state: [const { AtomicU8::new(FREE) }; SLOTS],
    path: [const { UnsafeCell::new([0; PATH_MAX]) }; SLOTS],
};

/// A registered temporary; dropping it deregisters the path (the file itself is handled by
/// `tempfile`). Paths that do not fit (over 4095 bytes, or more than 16 writes at once) are
/// not registered: they are still removed on errors, only not on signals.
struct Registered(Option<usize>);

impl Registered {
    fn new(path: &Path) -> Registered {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let bytes = path.as_os_str().as_bytes();
            if bytes.len() >= PATH_MAX || bytes.contains(&0) {
                return Registered(None);
            }
            for i in 0..SLOTS {
                if TEMPORARIES.state[i]
                    .compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    // SAFETY: this thread owns slot i (CLAIMED) until it stores FREE or ACTIVE.
                    let buf = unsafe { &mut *TEMPORARIES.path[i].get() };
                    buf[..bytes.len()].copy_from_slice(bytes);
                    buf[bytes.len()] = 0;
                    TEMPORARIES.state[i].store(ACTIVE, Ordering::Release);
                    return Registered(Some(i));
                }
            }
        }
        let _ = path;
        Registered(None)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            TEMPORARIES.state[i].store(FREE, Ordering::Release);
        }
    }
}

/// Unlink every temporary file being written right now. Async-signal-safe (atomic loads and
/// `unlink` only), for use from a signal handler; [`remove_temporaries_on_signal`] installs one.
pub fn remove_in_progress_temporaries() {
    #[cfg(unix)]
    for i in 0..SLOTS {
        if TEMPORARIES.state[i].load(Ordering::Acquire) == ACTIVE {
            // SAFETY: an ACTIVE slot holds a NUL-terminated path in static storage.
            unsafe { libc::unlink(TEMPORARIES.path[i].get() as *const libc::c_char) };
        }
    }
}

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    remove_in_progress_temporaries();
    // SAFETY: signal() and raise() are async-signal-safe; the default action then ends the
    // process with the signal's usual status (130 for SIGINT in a shell).
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Install handlers for SIGINT, SIGTERM and SIGHUP that remove the temporaries being written
/// ([`write_atomically`]) and then end the process as the signal would have. For programs
/// (the `saraphis` CLI calls it first thing); a library embedding Saraphis keeps its own
/// handlers and may call [`remove_in_progress_temporaries`] from them instead. No effect on
/// non-Unix systems.
pub fn remove_temporaries_on_signal() {
    #[cfg(unix)]
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: on_signal only performs async-signal-safe calls.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_inputs_directories_and_links_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.bin");
        std::fs::write(&input, b"precious").unwrap();
        let hard = dir.path().join("hard.bin");
        std::fs::hard_link(&input, &hard).unwrap();
        let soft = dir.path().join("soft.bin");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&input, &soft).unwrap();
        let spelled = dir.path().join(".").join("in.bin");
        for out in [&input, &hard, &spelled, &soft] {
            if !out.exists() {
                continue;
            }
            let e = write_atomically(out, &[&input], |f| {
                use std::io::Write;
                f.write_all(b"oops")?;
                Ok(())
            })
            .unwrap_err();
            assert!(e.to_string().contains("same file"), "{e}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"precious");
        let e = write_atomically(dir.path(), &[&input], |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
    }

    #[test]
    fn failure_leaves_existing_output_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.bin");
        std::fs::write(&out, b"old").unwrap();
        let e = write_atomically(&out, &[], |f| {
            use std::io::Write;
            f.write_all(b"partial")?;
            Err::<(), _>(Error::Corrupt("stop".into()))
        })
        .unwrap_err();
        assert!(matches!(e, Error::Corrupt(_)));
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomically(&out, &[], |f| {
            use std::io::Write;
            f.write_all(b"new")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn planted_symlink_at_a_temporary_name_is_never_followed() {
        // Temporary names are random and created with O_EXCL: a link planted under the old
        // predictable name (`out.sph.tmp-PID`) is left alone, and its target untouched.
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let out = dir.path().join("out.sph");
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            &victim,
            dir.path()
                .join(format!("out.sph.tmp-{}", std::process::id())),
        )
        .unwrap();
        write_atomically(&out, &[], |f| {
            use std::io::Write;
            f.write_all(b"archive")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&out).unwrap(), b"archive");
    }
}
