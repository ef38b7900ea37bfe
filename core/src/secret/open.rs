//! Opening the files the operator names (keys, secrets, peppers, the
//! configuration, `ca_file`) without ever blocking, and checking what was
//! opened rather than what the path named a moment earlier.
//!
//! Every file is opened with `O_NONBLOCK | O_CLOEXEC` and checked with `fstat`
//! on the open descriptor: a FIFO, a directory or a device at the path is
//! refused at once instead of hanging the worker in `open`/`read`, and a file
//! swapped between a check and the read cannot slip through. Symbolic links
//! are followed (Kubernetes mounts secrets through them); the checks apply to
//! the file they lead to.
use std::fs::{File, Metadata};
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use crate::error::{Error, Result};

/// Largest key, secret, pepper or configuration file accepted.
pub const MAX_SMALL_FILE: u64 = 64 * 1024;
/// Largest `ca_file` accepted (a full CA bundle is a few hundred KiB).
pub const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// Opens `path` read-only without blocking and returns it with the `fstat` of
/// the open file, refused unless it is a regular file of at most `max` bytes.
/// `what` names the file's role in messages (`secret file`, `configuration file`, `ca_file`).
pub fn open_regular(path: &Path, what: &str, max: u64) -> Result<(File, Metadata)> {
    let shown = || path.display().to_string();
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(i32::try_from(flags.bits()).unwrap_or(0))
        .open(path)
        .map_err(|e| Error::config(shown(), None, super::io_reason(&e)))?;
    let meta = file.metadata().map_err(|e| Error::config(shown(), None, super::io_reason(&e)))?;
    if !meta.is_file() {
        return Err(Error::config(shown(), None, format!("{what} is not a regular file")));
    }
    if meta.size() > max {
        return Err(Error::config(shown(), None, format!("{what} is too large (more than {} KiB)", max / 1024)));
    }
    Ok((file, meta))
}

/// The checks for a file that decides where keys go or whom to trust (the
/// configuration file, `ca_file`): not writable by group or others, owned by
/// root or the effective user. The error names the file and the fix.
pub fn check_trusted(path: &Path, what: &str, meta: &Metadata) -> Result<()> {
    let shown = path.display().to_string();
    if meta.mode() & 0o022 != 0 {
        return Err(Error::config(
            &shown,
            None,
            format!("{what} is writable by group or others (mode {:o}); run: chmod go-w {shown}", meta.mode() & 0o777),
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(Error::config(
            &shown,
            None,
            format!("{what} is owned by uid {}, not by root or the running user ({me}); run: chown root {shown}", meta.uid()),
        ));
    }
    Ok(())
}

/// Reads a trusted file (see [`check_trusted`]) of at most `max` bytes, opened once.
pub fn read_trusted(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    let (mut file, meta) = open_regular(path, what, max)?;
    check_trusted(path, what, &meta)?;
    let mut out = Vec::with_capacity(usize::try_from(meta.size()).unwrap_or(0));
    // One byte more than allowed tells a file that grew after the fstat.
    file.by_ref()
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::config(path.display().to_string(), None, super::io_reason(&e)))?;
    if out.len() as u64 > max {
        return Err(Error::config(path.display().to_string(), None, format!("{what} is too large")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::{Duration, Instant};

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sf-open-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Runs `f` and fails if it takes longer than a second (a blocking open).
    fn quick<T>(f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
        out
    }

    #[test]
    fn refuses_fifo_directory_device_and_large_files_at_once() {
        let d = tempdir("kinds");
        let fifo = d.join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let big = d.join("big");
        std::fs::write(&big, vec![b'k'; 65 * 1024]).unwrap();
        for (path, want) in [
            (fifo.as_path(), "not a regular file"),
            (d.as_path(), "not a regular file"),
            (Path::new("/dev/zero"), "not a regular file"),
            (big.as_path(), "too large"),
        ] {
            let e = quick(|| open_regular(path, "secret file", MAX_SMALL_FILE)).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains(&path.display().to_string()), "{}: {e}", path.display());
        }
        let exact = d.join("exact");
        std::fs::write(&exact, vec![b'k'; 64 * 1024]).unwrap();
        assert!(open_regular(&exact, "secret file", MAX_SMALL_FILE).is_ok());
    }

    #[test]
    fn follows_symlinks_to_a_good_file() {
        let d = tempdir("link");
        std::fs::create_dir_all(d.join("..data")).unwrap();
        let real = d.join("..data/key");
        std::fs::write(&real, b"value").unwrap();
        let link = d.join("key");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(read_trusted(&link, "configuration file", MAX_SMALL_FILE).unwrap(), b"value");
    }

    #[test]
    fn trusted_files_refuse_group_or_world_writable() {
        let d = tempdir("trust");
        let p = d.join("c.toml");
        std::fs::write(&p, b"x").unwrap();
        for mode in [0o664, 0o646, 0o666, 0o620] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = read_trusted(&p, "configuration file", MAX_SMALL_FILE).unwrap_err().to_string();
            assert!(e.contains("writable by group or others") && e.contains(&format!("chmod go-w {}", p.display())), "{e}");
        }
        for mode in [0o644, 0o600, 0o444] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_trusted(&p, "configuration file", MAX_SMALL_FILE).unwrap(), b"x", "{mode:o}");
        }
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
            let e = read_trusted(&p, "configuration file", MAX_SMALL_FILE).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534") && e.contains(&format!("chown root {}", p.display())), "{e}");
        }
    }
}
