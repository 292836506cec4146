//! The one way the agent opens a file it writes in its directories: private
//! to the user, never through a link.
//!
//! Every file the agent creates or appends to (logs, probe history, PSN
//! store, lock, bundles, install entries) is opened by [`open_private`]:
//! mode 0600 when created, `O_NOFOLLOW` so that a symbolic link planted at
//! the file's name is refused rather than followed (std opens with
//! `O_CLOEXEC` already), and checked once open: a regular file of this user
//! with one link. An existing file with a wider mode is narrowed to 0600
//! through the open descriptor, never through the path, which could have been
//! replaced by then. Atomic replacements go through [`PrivateTemp`]: a new
//! file with a random name, created exclusively (`O_EXCL`), then renamed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How [`open_private`] opens the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenHow {
    /// Append, creating the file if missing (logs, probe history).
    Append,
    /// Write from the start, creating or emptying the file (a log file just
    /// rotated away).
    Truncate,
    /// Create a new file; fails when anything exists at the path (temp files).
    CreateNew,
    /// Read and write without truncating, creating if missing (the lock).
    ReadWrite,
}

/// Opens `path` privately as `how` says. Errors name no path: callers add
/// the file's role and path.
pub fn open_private(path: &Path, how: OpenHow) -> io::Result<File> {
    let mut options = OpenOptions::new();
    match how {
        OpenHow::Append => options.append(true).create(true),
        OpenHow::Truncate => options.write(true).truncate(true).create(true),
        OpenHow::CreateNew => options.write(true).create_new(true),
        OpenHow::ReadWrite => options.read(true).write(true).create(true).truncate(false),
    };
    imp::private_options(&mut options);
    let file = options.open(path).map_err(imp::explain_open_error)?;
    imp::check_open_file(&file)?;
    Ok(file)
}

/// A temp file next to its destination, removed on drop unless persisted.
#[derive(Debug)]
pub struct PrivateTemp {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl PrivateTemp {
    /// Creates `<dir>/<prefix><random><suffix>` with [`OpenHow::CreateNew`],
    /// trying other names while one exists.
    pub fn new_in(dir: &Path, prefix: &str, suffix: &str) -> io::Result<PrivateTemp> {
        const ATTEMPTS: usize = 16;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let name: String = (0..12).map(|_| fastrand::alphanumeric()).collect();
            let path = dir.join(format!("{prefix}{name}{suffix}"));
            match open_private(&path, OpenHow::CreateNew) {
                Ok(file) => {
                    return Ok(PrivateTemp {
                        path,
                        file,
                        persisted: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free temp file name")))
    }

    /// The temp file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Flushes the data to disk and renames the file over `to` (a link at
    /// `to` is replaced, never followed). Returns the file, still open.
    pub fn persist(mut self, to: &Path) -> io::Result<File> {
        self.file.sync_all()?;
        std::fs::rename(&self.path, to)?;
        self.persisted = true;
        self.file.try_clone()
    }
}

impl Drop for PrivateTemp {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort: a temp file left behind is only clutter.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to `path` through a [`PrivateTemp`] in the same directory
/// and a rename, then syncs the directory (unix) so the rename survives a
/// power loss. On failure the old file is intact and the temp file removed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if d.as_os_str().is_empty() => Path::new("."),
        Some(d) => d,
        None => return Err(io::Error::other("the path has no parent directory")),
    };
    let Some(name) = path.file_name() else {
        return Err(io::Error::other("the path has no file name"));
    };
    let mut tmp = PrivateTemp::new_in(dir, &format!(".{}.", name.to_string_lossy()), ".tmp")?;
    tmp.file().write_all(bytes)?;
    tmp.persist(path)?;
    sync_dir(dir);
    Ok(())
}

/// Best effort: make a rename durable. Not all platforms allow opening a
/// directory (Windows does not), and a failure here does not undo the write.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(unix)]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};

    /// Mode 0600 when created; never through a symbolic link. `O_NONBLOCK`
    /// too, so that a FIFO at the name cannot block the open (it is refused
    /// right after); regular files ignore it.
    pub(super) fn private_options(options: &mut OpenOptions) {
        options
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }

    /// `ELOOP` from `O_NOFOLLOW` says "too many levels of symbolic links";
    /// say what it means here.
    pub(super) fn explain_open_error(e: io::Error) -> io::Error {
        if e.raw_os_error() == Some(libc::ELOOP) {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                "it is a symbolic link, which posture-sync never follows in its directories; remove the link",
            )
        } else {
            e
        }
    }

    /// A regular file of this user with no other name (a hard link to a
    /// file elsewhere would let the agent write there); a wider mode is
    /// narrowed to 0600 through the descriptor.
    pub(super) fn check_open_file(file: &File) -> io::Result<()> {
        let meta = file.metadata()?;
        let refuse = |why: String| Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
        if !meta.file_type().is_file() {
            return refuse("it is not a regular file; remove it".to_string());
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return refuse(format!(
                "it is owned by uid {}, not by uid {me} who runs posture-sync; remove it",
                meta.uid()
            ));
        }
        if meta.nlink() > 1 {
            return refuse(format!(
                "it has {} hard links; posture-sync writes only files with one name; remove it",
                meta.nlink()
            ));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o7077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            tracing::info!(
                mode = format!("{mode:04o}"),
                "made a file of the agent private (0600)"
            );
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::io;

    /// Nothing to add on Windows: files inherit the ACL of the per-user
    /// directory (see `check_dir` in paths.rs).
    pub(super) fn private_options(_options: &mut OpenOptions) {}

    /// Nothing to translate.
    pub(super) fn explain_open_error(e: io::Error) -> io::Error {
        e
    }

    /// A regular file.
    pub(super) fn check_open_file(file: &File) -> io::Result<()> {
        if file.metadata()?.is_file() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "it is not a regular file; remove it",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::fixtures::{assert_untouched, victim};
    #[cfg(unix)]
    use crate::paths::fixtures::{chmod, make_fifo, mode, symlink_to_victim};

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_name_is_refused_and_its_target_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("posture-sync.log");
        let victim = symlink_to_victim(dir.path(), &link);
        for how in [
            OpenHow::Append,
            OpenHow::Truncate,
            OpenHow::CreateNew,
            OpenHow::ReadWrite,
        ] {
            let e = open_private(&link, how).unwrap_err();
            if how != OpenHow::CreateNew {
                assert!(e.to_string().contains("symbolic link"), "{how:?}: {e}");
            }
        }
        assert_untouched(&victim);
    }

    #[cfg(unix)]
    #[test]
    fn created_private_and_a_wider_file_is_narrowed() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new");
        open_private(&new, OpenHow::Append).unwrap();
        assert_eq!(mode(&new), 0o600);
        let wide = dir.path().join("wide");
        std::fs::write(&wide, "x").unwrap();
        chmod(&wide, 0o666);
        open_private(&wide, OpenHow::Append).unwrap();
        assert_eq!(mode(&wide), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_hard_link_or_a_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = victim(dir.path());
        let link = dir.path().join("probe-rounds.jsonl");
        std::fs::hard_link(&victim, &link).unwrap();
        let e = open_private(&link, OpenHow::Append).unwrap_err();
        assert!(e.to_string().contains("hard links"), "{e}");
        assert_untouched(&victim);

        let fifo = dir.path().join("fifo");
        make_fifo(&fifo);
        // Write-only: no reader, so the non-blocking open fails (ENXIO)
        // instead of hanging; read-write opens, and is refused after.
        assert!(open_private(&fifo, OpenHow::Append).is_err());
        let e = open_private(&fifo, OpenHow::ReadWrite).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn write_atomically_replaces_a_link_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = victim(dir.path());
        let path = dir.path().join("known-psns.json");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomically(&path, b"{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        assert_untouched(&victim);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["known-psns.json", "victim"], "no temp file left");
    }

    #[test]
    fn a_temp_file_is_removed_unless_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = PrivateTemp::new_in(dir.path(), ".x.", ".tmp").unwrap();
        let path = tmp.path().to_path_buf();
        assert!(path.exists());
        drop(tmp);
        assert!(!path.exists());
    }
}
