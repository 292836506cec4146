//! File helpers: atomic writes (temp file + rename) and private files.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::error::LabError;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `contents` to `path` atomically: a reader sees the old file or the new
/// one, never a part. With `private`, the file is created with mode 0600 (keys,
/// the admin token).
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    role: &'static str,
    private: bool,
) -> Result<(), LabError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut file = opts
            .open(&tmp)
            .map_err(|e| LabError::io("create", role, &tmp, e))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| LabError::io("write", role, &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| LabError::io("rename", role, path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads a whole text file, naming its role on failure.
pub fn read_text(path: &Path, role: &'static str) -> Result<String, LabError> {
    std::fs::read_to_string(path).map_err(|e| LabError::io("read", role, path, e))
}

/// Creates a directory and its parents.
pub fn create_dir(path: &Path, role: &'static str) -> Result<(), LabError> {
    std::fs::create_dir_all(path).map_err(|e| LabError::io("create", role, path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_atomic(&p, b"one", "test file", false).unwrap();
        write_atomic(&p, b"two", "test file", true).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
