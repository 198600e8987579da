//! Owner-only files for secrets: private directories, atomic writes that never replace an
//! existing file by accident, and a refusal to use a secret file others can read.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why a secret file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path} already exists; nothing was overwritten")]
    Exists { path: PathBuf },
    #[error("{path} does not exist")]
    Missing { path: PathBuf },
    #[error("{path} can be read by other users (mode {mode:o}); refusing to use it. Fix: chmod 600 {path}")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io { path: path.to_path_buf(), source }
}

/// Creates `dir` (and its parents) readable by its owner only; an existing directory is
/// tightened to owner-only.
///
/// # Errors
/// The directory cannot be created or its permissions set.
pub fn private_dir(dir: &Path) -> Result<(), FileError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(dir).map_err(io(dir))?.permissions().mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        }
    }
    Ok(())
}

/// Writes `text` to `path` with owner-only permissions (creating its directory owner-only when
/// missing), atomically (a temporary file in the same
/// directory, synced, then renamed). Unless `replace`, an existing file is an error and stays
/// as it was.
///
/// # Errors
/// The file exists (and `replace` is false), or writing fails (then nothing changed).
pub fn write_secret(path: &Path, text: &str, replace: bool) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // A missing directory is made owner-only; an existing one (a backup folder, the home
    // directory) is the operator's and keeps its permissions: the file itself is owner-only.
    if !dir.exists() {
        private_dir(dir)?;
    }
    if !replace && path.exists() {
        return Err(FileError::Exists { path: path.to_path_buf() });
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).map_err(io(&temp)).and_then(|mut file| {
        file.write_all(text.as_bytes()).map_err(io(&temp))?;
        file.sync_all().map_err(io(&temp))
    });
    let placed = written.and_then(|()| {
        if replace {
            fs::rename(&temp, path).map_err(io(path))
        } else {
            // A hard link fails if the target appeared meanwhile: never a silent overwrite.
            fs::hard_link(&temp, path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => FileError::Exists { path: path.to_path_buf() },
                _ => FileError::Io { path: path.to_path_buf(), source: e },
            })
        }
    });
    let _ = fs::remove_file(&temp);
    placed?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a secret file, refusing one that users other than its owner can read or write.
///
/// # Errors
/// Missing, exposed, or unreadable.
pub fn read_secret(path: &Path) -> Result<String, FileError> {
    if !path.exists() {
        return Err(FileError::Missing { path: path.to_path_buf() });
    }
    check_private(path)?;
    fs::read_to_string(path).map_err(io(path))
}

/// Refuses a file whose group or other permission bits are set.
///
/// # Errors
/// [`FileError::Exposed`], or the file's metadata cannot be read.
pub fn check_private(path: &Path) -> Result<(), FileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(FileError::Exposed { path: path.to_path_buf(), mode });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn secrets_are_owner_only_and_never_silently_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data").join("wallet");
        let file = dir.join("key.json");
        write_secret(&file, "one", false).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert!(matches!(write_secret(&file, "two", false), Err(FileError::Exists { .. })));
        assert_eq!(read_secret(&file).unwrap(), "one");
        write_secret(&file, "three", true).unwrap();
        assert_eq!(read_secret(&file).unwrap(), "three");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left behind");

        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret(&file).unwrap_err();
        assert!(matches!(err, FileError::Exposed { mode: 0o644, .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert_eq!(fs::read_to_string(&file).unwrap(), "three", "nothing changed");
        assert!(matches!(read_secret(&dir.join("none.json")), Err(FileError::Missing { .. })));

        let open = tmp.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700, "an existing directory is tightened");
    }
}
