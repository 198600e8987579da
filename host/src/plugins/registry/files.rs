//! Reading the plugin directory: which files are loaded, replaced, rejected or unloaded.

use super::*;

impl Plugins {
    /// Loads every `.wasm` file of the plugin directory, oldest first, so that of two files with
    /// the same kind and name the newer wins. Returns the outcome per file.
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn load_dir(&self) -> Result<Vec<FileStatus>, RuntimeError> {
        let mut out = self.load_files_of(&self.inner.options.dir)?;
        // Shadows after the plugins they shadow; a missing `shadow/` directory has none.
        let shadows = self.shadow_dir();
        if shadows.is_dir() {
            out.extend(self.load_files_of(&shadows)?);
        }
        Ok(out)
    }

    fn load_files_of(&self, dir: &Path) -> Result<Vec<FileStatus>, RuntimeError> {
        let io = |source| RuntimeError::Io { path: dir.to_path_buf(), source };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            // Every `.wasm` name: one that is not a regular file is refused with why, visibly.
            if is_plugin_path(&path) {
                let modified = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or(UNIX_EPOCH);
                files.push((modified, path));
            }
        }
        files.sort();
        let mut out = Vec::with_capacity(files.len());
        for (_, path) in files {
            self.load_file(&path);
            if let Some(status) = self.state().files.get(&path) {
                out.push(status.clone());
            }
        }
        Ok(out)
    }

    /// Loads (or reloads) one file: compile, check against the worlds, canary, then swap in.
    /// A file that fails any step changes nothing but its status. Unchanged content is skipped.
    pub fn load_file(&self, path: &Path) {
        let shadow = self.is_shadow_path(path);
        let bytes = match read_plugin(path, self.inner.options.max_file_bytes) {
            Read::Bytes(b) => b,
            Read::Gone if shadow => return self.unload_shadow(path),
            Read::Gone => return self.unload_file(path),
            Read::Refused(why) => return self.reject(path, String::new(), why),
        };
        let sha256 = sha256_hex(&bytes);
        if self.state().files.get(path).is_some_and(|f| f.sha256 == sha256) {
            return;
        }
        match self.prepare(path, &bytes, &sha256) {
            Ok(loaded) if shadow => self.install_shadow(loaded),
            Ok(loaded) => {
                self.archive(loaded.info.kind, &sha256, &bytes);
                self.install(loaded);
            }
            Err(e) => self.reject(path, sha256, e),
        }
    }

    pub(super) fn reject(&self, path: &Path, sha256: String, error: String) {
        tracing::warn!(file = %path.display(), %error, "plugin rejected; any previous version keeps serving");
        self.state().files.insert(
            path.to_path_buf(),
            FileStatus { file: path.to_path_buf(), sha256, at_ms: now_ms(), result: Err(error.clone()) },
        );
        if let Some(m) = self.metrics() {
            m.plugin_rejected_files.inc();
        }
        self.emit(PluginEvent::Rejected { file: path.to_path_buf(), error });
    }

    /// Forgets a file that was removed from the directory, unloading what it provided.
    pub fn unload_file(&self, path: &Path) {
        let removed: Vec<Arc<Loaded>> = {
            let mut state = self.state();
            state.files.remove(path);
            state.provides.remove(path);
            let keys: Vec<_> =
                state.loaded.iter().filter(|(_, l)| l.file == path).map(|(k, _)| k.clone()).collect();
            let removed: Vec<_> = keys.iter().filter_map(|k| state.loaded.remove(k)).collect();
            // Under the same lock as the loaded set (see `install`).
            for l in &removed {
                self.choose_active(&state, l.info.kind);
            }
            removed
        };
        for l in removed {
            tracing::info!(plugin = %l.label, file = %path.display(), "plugin unloaded: its file is gone");
            self.emit(PluginEvent::Unloaded {
                kind: l.info.kind,
                name: l.info.name.clone(),
                file: path.to_path_buf(),
            });
        }
        self.revive_shadowed();
    }

    /// Reloads files whose plugin was shadowed by a file that has since gone or changed, so that
    /// removing a replacement brings back what it replaced.
    pub(super) fn revive_shadowed(&self) {
        let orphans: Vec<PathBuf> = {
            let mut state = self.state();
            let orphans: Vec<PathBuf> = state
                .provides
                .iter()
                .filter(|(_, key)| !state.loaded.contains_key(*key))
                .map(|(path, _)| path.clone())
                .collect();
            for path in &orphans {
                state.files.remove(path);
                state.provides.remove(path);
            }
            orphans
        };
        for path in orphans {
            self.load_file(&path);
        }
    }
}

/// What reading a plugin file gave.
enum Read {
    Bytes(Vec<u8>),
    /// No file by that name any more.
    Gone,
    /// Not read, and why.
    Refused(String),
}

/// Reads a plugin file without ever blocking on it or reading more than `max` bytes: it is
/// opened non-blocking (a FIFO or a device under a `.wasm` name would otherwise hang the
/// watcher, and a symlink may point at one), then only a regular file of at most `max` bytes is
/// read, the size checked on the open file and again while reading (it may grow meanwhile).
fn read_plugin(path: &Path, max: u64) -> Read {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Read::Gone,
        Err(e) => return Read::Refused(format!("cannot read the file: {e}")),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Read::Refused(format!("cannot read the file: {e}")),
    };
    if !meta.is_file() {
        return Read::Refused(format!(
            "not a regular file ({}): only regular files (or symlinks to them) are loaded",
            kind_of(&meta.file_type())
        ));
    }
    let too_big = |size: u64| {
        Read::Refused(format!(
            "{} MiB is over the {} MiB a plugin file may have (`[plugins] max_file_mib`)",
            size.div_ceil(1 << 20),
            max >> 20
        ))
    };
    if meta.len() > max {
        return too_big(meta.len());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    match file.take(max.saturating_add(1)).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > max => too_big(bytes.len() as u64),
        Ok(_) => Read::Bytes(bytes),
        Err(e) => Read::Refused(format!("cannot read the file: {e}")),
    }
}

/// A file type in words.
fn kind_of(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}
