//! Plugin versions: every component that loads as a plugin is kept by content hash in
//! `versions/<kind>/<sha256>.wasm` of the plugin directory, so any version the bot has run can
//! be rolled back to, through the same path a hot reload takes.

use super::*;

impl Plugins {
    /// Where versions are kept: `versions/` in the plugin directory.
    #[must_use]
    pub fn versions_dir(&self) -> PathBuf {
        self.inner.options.dir.join("versions")
    }

    fn archived(&self, kind: PluginKind, sha256: &str) -> PathBuf {
        self.versions_dir().join(kind.as_str()).join(format!("{sha256}.wasm"))
    }

    /// Keeps a loaded component by its hash (once; a failure is logged, never fatal).
    pub(super) fn archive(&self, kind: PluginKind, sha256: &str, bytes: &[u8]) {
        let path = self.archived(kind, sha256);
        if !self.inner.options.keep_versions || path.exists() {
            return;
        }
        let written = path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| {
            let partial = path.with_extension("partial");
            std::fs::write(&partial, bytes)?;
            std::fs::rename(&partial, &path)
        });
        if let Err(e) = written {
            tracing::warn!(file = %path.display(), error = %e, "keeping this plugin version failed");
        }
    }

    /// [`Plugins::archive`] of a file on disk.
    pub(super) fn archive_file(&self, kind: PluginKind, sha256: &str, file: &Path) {
        match std::fs::read(file) {
            Ok(bytes) if sha256_hex(&bytes) == sha256 => self.archive(kind, sha256, &bytes),
            Ok(_) => tracing::warn!(file = %file.display(), "changed before it could be kept"),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "keeping this plugin version failed")
            }
        }
    }

    /// Whether the version `sha256` of `kind` is kept (so it can be rolled back to).
    #[must_use]
    pub fn has_version(&self, kind: PluginKind, sha256: &str) -> bool {
        is_hash(sha256) && self.archived(kind, sha256).is_file()
    }

    /// The active plugin of each kind as (kind, name, version, sha256).
    #[must_use]
    pub fn active_versions(&self) -> Vec<(PluginKind, String, String, String)> {
        PluginKind::ALL
            .iter()
            .filter_map(|k| {
                let l = self.inner.active[k.index()].load_full()?;
                Some((*k, l.info.name.clone(), l.info.version.clone(), l.sha256.clone()))
            })
            .collect()
    }

    /// The active version of a kind, `name@version#<hash>`.
    #[must_use]
    pub fn active_version_id(&self, kind: PluginKind) -> Option<Arc<str>> {
        self.inner.active[kind.index()].load().as_ref().map(|l| l.version_id())
    }

    /// Makes the kept version `sha256` the active plugin of `kind` again: its component is
    /// written over the active plugin's file (atomically) and loaded as a hot reload loads it,
    /// so calls go to the old version until the new one has passed its checks, and none fails.
    /// Returns the file written.
    ///
    /// # Errors
    /// Not a kept version of that kind, a file that cannot be written, or a version that no
    /// longer loads (then the active plugin is unchanged).
    pub fn rollback(&self, kind: PluginKind, sha256: &str) -> Result<PathBuf, PromoteError> {
        if !self.has_version(kind, sha256) {
            return Err(PromoteError::Invalid(format!("no kept {kind} version {sha256:?} to roll back to")));
        }
        let bytes = std::fs::read(self.archived(kind, sha256))
            .map_err(|source| PromoteError::Io { path: self.archived(kind, sha256), source })?;
        if sha256_hex(&bytes) != sha256 {
            return Err(PromoteError::Invalid(format!("the kept {kind} version {sha256} is damaged")));
        }
        let dir = &self.inner.options.dir;
        let target = match self.inner.active[kind.index()].load_full() {
            Some(active) if active.sha256 == sha256 => return Ok(active.file.clone()),
            Some(active) => active.file.clone(),
            None => dir.join(format!("{kind}.wasm")),
        };
        let partial = dir.join(format!(".rollback-{}.partial", &sha256[..12]));
        std::fs::write(&partial, &bytes)
            .map_err(|source| PromoteError::Io { path: partial.clone(), source })?;
        std::fs::rename(&partial, &target)
            .map_err(|source| PromoteError::Io { path: target.clone(), source })?;
        self.load_file(&target);
        match self.inner.active[kind.index()].load().as_ref() {
            Some(l) if l.sha256 == sha256 => {
                tracing::info!(plugin = %l.label, file = %target.display(), "rolled back");
                Ok(target)
            }
            _ => {
                let why = self.state().files.get(&target).and_then(|f| f.result.clone().err());
                Err(PromoteError::Invalid(format!(
                    "{} did not become active: {}",
                    target.display(),
                    why.unwrap_or_else(|| "another plugin of its kind is preferred".into())
                )))
            }
        }
    }
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}
