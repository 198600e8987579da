//! Shadow plugins: a component in the `shadow/` subdirectory of the plugin directory is loaded
//! like any plugin, then called with the inputs its kind's active plugin gets and never obeyed;
//! promotion makes it the active plugin through the same atomic swap a hot reload uses.

use super::*;

/// Why a shadow could not be promoted, retired or installed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("no {0} plugin is shadowing")]
    NoShadow(PluginKind),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PromoteError + '_ {
    move |source| PromoteError::Io { path: path.to_path_buf(), source }
}

impl Plugins {
    /// Where shadow plugins are dropped: `shadow/` in the plugin directory.
    #[must_use]
    pub fn shadow_dir(&self) -> PathBuf {
        self.inner.options.dir.join("shadow")
    }

    pub(super) fn is_shadow_path(&self, path: &Path) -> bool {
        path.parent().is_some_and(|p| p == self.shadow_dir())
    }

    /// Whether a shadow of `kind` is loaded (cheap: one atomic load).
    #[must_use]
    pub fn has_shadow(&self, kind: PluginKind) -> bool {
        self.inner.shadow[kind.index()].load().is_some()
    }

    /// The shadow of a kind: what it is and the SHA-256 of its file.
    #[must_use]
    pub fn shadow_info(&self, kind: PluginKind) -> Option<(Arc<PluginInfo>, String)> {
        self.inner.shadow[kind.index()].load().as_ref().map(|l| (Arc::clone(&l.info), l.sha256.clone()))
    }

    /// Every loaded shadow; `active` says which one its kind's shadow calls go to (the most
    /// recently loaded of its kind).
    #[must_use]
    pub fn shadows(&self) -> Vec<PluginStatus> {
        let state = self.state();
        state
            .shadows
            .values()
            .map(|l| {
                let serving =
                    self.inner.shadow[l.info.kind.index()].load().as_ref().is_some_and(|s| Arc::ptr_eq(s, l));
                status_of(l, serving)
            })
            .collect()
    }

    pub(super) fn install_shadow(&self, loaded: Loaded) {
        let (kind, name, version) = (loaded.info.kind, loaded.info.name.clone(), loaded.info.version.clone());
        {
            let mut state = self.state();
            // The operator's values for a plugin of that name apply to its shadow too.
            let overrides = state.overrides.get(&(kind, name.clone())).cloned().unwrap_or_default();
            let values = values_with(&loaded.info, &overrides);
            let loaded = Arc::new(Loaded { params: ArcSwap::from_pointee(values), ..loaded });
            state.files.insert(
                loaded.file.clone(),
                FileStatus {
                    file: loaded.file.clone(),
                    sha256: loaded.sha256.clone(),
                    at_ms: loaded.loaded_at_ms,
                    result: Ok(loaded.label.to_string()),
                },
            );
            tracing::info!(plugin = %loaded.label, file = %loaded.file.display(), "shadow plugin loaded");
            state.shadows.insert(loaded.file.clone(), loaded);
        }
        self.refresh_shadow(kind);
        self.emit(PluginEvent::Shadow { kind, name, version, change: ShadowChange::Loaded });
    }

    pub(super) fn unload_shadow(&self, path: &Path) {
        let removed = {
            let mut state = self.state();
            state.files.remove(path);
            state.shadows.remove(path)
        };
        if let Some(l) = removed {
            self.refresh_shadow(l.info.kind);
            tracing::info!(plugin = %l.label, "shadow plugin unloaded: its file is gone");
            self.emit(PluginEvent::Shadow {
                kind: l.info.kind,
                name: l.info.name.clone(),
                version: l.info.version.clone(),
                change: ShadowChange::Unloaded,
            });
        }
    }

    fn refresh_shadow(&self, kind: PluginKind) {
        let state = self.state();
        let chosen =
            state.shadows.values().filter(|l| l.info.kind == kind).max_by_key(|l| l.generation).cloned();
        self.inner.shadow[kind.index()].store(chosen);
    }

    /// Scores `markets` with the shadow scorer, if there is one.
    #[must_use]
    pub fn shadow_score(
        &self,
        now_ms: i64,
        markets: &abi::MarketBatch,
    ) -> Option<Result<Scored, PluginError>> {
        let loaded = self.inner.shadow[PluginKind::Scorer.index()].load_full()?;
        let params = loaded.params.load_full();
        Some(self.score_with(&loaded, &params, now_ms, markets).map(|out| Scored {
            plugin: Arc::clone(&loaded.info),
            version_id: loaded.version_id(),
            generation: loaded.generation,
            scores: out.values,
            factors: out.factors,
        }))
    }

    /// Asks the shadow liquidation rules, if there are any.
    #[must_use]
    pub fn shadow_evaluate(
        &self,
        now_ms: i64,
        positions: &[abi::PositionView],
    ) -> Option<Result<Decided, PluginError>> {
        let loaded = self.inner.shadow[PluginKind::LiquidationRules.index()].load_full()?;
        let params = loaded.params.load_full();
        Some(self.evaluate_with(&loaded, &params, now_ms, positions).map(|decisions| Decided {
            plugin: Arc::clone(&loaded.info),
            version_id: loaded.version_id(),
            decisions,
        }))
    }

    /// Asks the shadow whale analyzer, if there is one.
    #[must_use]
    pub fn shadow_analyze(
        &self,
        now_ms: i64,
        input: &abi::AnalysisInput,
    ) -> Option<Result<abi::Analysis, PluginError>> {
        let loaded = self.inner.shadow[PluginKind::WhaleAnalyzer.index()].load_full()?;
        let params = loaded.params.load_full();
        Some(self.analyze_with(&loaded, &params, now_ms, input))
    }

    /// Asks the shadow news aggregator, if there is one.
    #[must_use]
    pub fn shadow_match_news(
        &self,
        now_ms: i64,
        items: &[abi::NewsItem],
        markets: &[abi::MarketText],
    ) -> Option<Result<Vec<abi::NewsMatch>, PluginError>> {
        let loaded = self.inner.shadow[PluginKind::NewsAggregator.index()].load_full()?;
        let params = loaded.params.load_full();
        Some(self.match_news_with(&loaded, &params, now_ms, items, markets))
    }

    /// Gives the kind's shadow the values of those parameters it declares (the engine's
    /// liquidation settings, as the active rules get them). Values out of range are skipped.
    pub fn set_shadow_params(&self, kind: PluginKind, values: &[(String, f64)]) {
        let Some(loaded) = self.inner.shadow[kind.index()].load_full() else { return };
        let mut next = loaded.params.load().to_vec();
        for (name, value) in values {
            if let Some(i) = loaded.info.params.iter().position(|p| &p.name == name)
                && (loaded.info.params[i].min..=loaded.info.params[i].max).contains(value)
            {
                next[i] = *value;
            }
        }
        loaded.params.store(Arc::new(next));
    }

    /// Applies parameter values set on the plugin `key` to shadows of the same plugin.
    pub(super) fn follow_params(state: &State, key: &(PluginKind, String), values: &[f64]) {
        for l in state.shadows.values().filter(|l| l.info.kind == key.0 && l.info.name == key.1) {
            if l.info.params.len() == values.len() {
                l.params.store(Arc::new(values.to_vec()));
            }
        }
    }

    /// Writes a component into `shadow/` (atomically: a temporary name, then a rename) and loads
    /// it there. Returns the file's load outcome (a refused file says why).
    ///
    /// # Errors
    /// A name that is not a plain `NAME.wasm`, or the file cannot be written.
    pub fn install_shadow_file(&self, file_name: &str, bytes: &[u8]) -> Result<FileStatus, PromoteError> {
        let plain = file_name.strip_suffix(".wasm").is_some_and(|stem| {
            !stem.is_empty() && stem.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        }) && !file_name.starts_with('.');
        if !plain {
            return Err(PromoteError::Invalid(format!(
                "{file_name:?}: a shadow's file name is NAME.wasm, with letters, digits, '-', '_' and '.'"
            )));
        }
        let dir = self.shadow_dir();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(file_name);
        let partial = dir.join(format!(".{file_name}.partial"));
        std::fs::write(&partial, bytes).map_err(io(&partial))?;
        std::fs::rename(&partial, &path).map_err(io(&path))?;
        self.load_file(&path);
        self.state()
            .files
            .get(&path)
            .cloned()
            .ok_or_else(|| PromoteError::Invalid("the file went away".into()))
    }

    /// Makes the shadow of `kind` its active plugin, with the same atomic swap a hot reload
    /// uses: every call goes to the old or the new version, none fails. On disk the shadow's
    /// file is renamed over the active plugin's file (so a restart, and the default plugins'
    /// installer, find it there), after a copy of the replaced version is kept in `previous/`.
    /// Returns the promoted plugin's file.
    ///
    /// # Errors
    /// No shadow of that kind, or a file cannot be moved (then nothing changed in memory).
    pub fn promote(&self, kind: PluginKind) -> Result<PathBuf, PromoteError> {
        let shadow = self.inner.shadow[kind.index()].load_full().ok_or(PromoteError::NoShadow(kind))?;
        let dir = self.inner.options.dir.clone();
        let old = self.inner.active[kind.index()].load_full();
        // The replaced version is kept, for a rollback by hand.
        if let Some(old) = old.as_ref().filter(|o| o.file.is_file()) {
            let previous = dir.join("previous");
            std::fs::create_dir_all(&previous).map_err(io(&previous))?;
            let kept = previous.join(versioned_name(&old.file, &old.sha256));
            if !kept.exists() {
                std::fs::copy(&old.file, &kept).map_err(io(&kept))?;
            }
        }
        let target = match &old {
            Some(old) => old.file.clone(),
            None => dir.join(shadow.file.file_name().unwrap_or_else(|| std::ffi::OsStr::new("shadow.wasm"))),
        };
        // Newest in the directory, so a restart loads it after whatever else provides its kind.
        std::fs::File::options()
            .write(true)
            .open(&shadow.file)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()))
            .map_err(io(&shadow.file))?;
        std::fs::rename(&shadow.file, &target).map_err(io(&target))?;
        self.archive_file(kind, &shadow.sha256, &target);
        let key = (kind, shadow.info.name.clone());
        let promoted = {
            let mut state = self.state();
            let stats = Arc::clone(
                state.stats.entry(key.clone()).or_insert_with(|| Arc::new(self.new_stats(kind, &key.1))),
            );
            let promoted = Arc::new(Loaded {
                pre: shadow.pre.clone(),
                info: Arc::clone(&shadow.info),
                label: Arc::from(format!("{kind}/{}@{}", shadow.info.name, shadow.info.version)),
                file: target.clone(),
                sha256: shadow.sha256.clone(),
                loaded_at_ms: now_ms(),
                generation: self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1,
                stats,
                params: ArcSwap::from_pointee(shadow.params.load().to_vec()),
                shadow: false,
            });
            state.shadows.remove(&shadow.file);
            state.files.remove(&shadow.file);
            // What the replaced file provided is gone with it.
            let stale: Vec<_> =
                state.loaded.iter().filter(|(_, l)| l.file == target).map(|(k, _)| k.clone()).collect();
            for k in stale {
                state.loaded.remove(&k);
            }
            state.files.insert(
                target.clone(),
                FileStatus {
                    file: target.clone(),
                    sha256: promoted.sha256.clone(),
                    at_ms: promoted.loaded_at_ms,
                    result: Ok(promoted.label.to_string()),
                },
            );
            state.provides.insert(target.clone(), key.clone());
            state.loaded.insert(key, Arc::clone(&promoted));
            // The swap: calls from here on go to the promoted version.
            self.inner.active[kind.index()].store(Some(Arc::clone(&promoted)));
            promoted
        };
        self.refresh_shadow(kind);
        tracing::info!(plugin = %promoted.label, file = %target.display(), "shadow promoted");
        self.emit(PluginEvent::Loaded {
            kind,
            name: promoted.info.name.clone(),
            version: promoted.info.version.clone(),
            file: target.clone(),
            generation: promoted.generation,
        });
        self.emit(PluginEvent::Shadow {
            kind,
            name: promoted.info.name.clone(),
            version: promoted.info.version.clone(),
            change: ShadowChange::Promoted,
        });
        Ok(target)
    }

    /// Ends the shadowing of `kind`: its file moves to `retired/` in the plugin directory.
    /// Returns where it went.
    ///
    /// # Errors
    /// No shadow of that kind, or its file cannot be moved.
    pub fn retire(&self, kind: PluginKind) -> Result<PathBuf, PromoteError> {
        let shadow = self.inner.shadow[kind.index()].load_full().ok_or(PromoteError::NoShadow(kind))?;
        let retired = self.inner.options.dir.join("retired");
        std::fs::create_dir_all(&retired).map_err(io(&retired))?;
        let target = retired.join(versioned_name(&shadow.file, &shadow.sha256));
        std::fs::rename(&shadow.file, &target).map_err(io(&target))?;
        {
            let mut state = self.state();
            state.shadows.remove(&shadow.file);
            state.files.remove(&shadow.file);
        }
        self.refresh_shadow(kind);
        tracing::info!(plugin = %shadow.label, file = %target.display(), "shadow retired");
        self.emit(PluginEvent::Shadow {
            kind,
            name: shadow.info.name.clone(),
            version: shadow.info.version.clone(),
            change: ShadowChange::Retired,
        });
        Ok(target)
    }
}

/// `stem-<first 12 hex of the hash>.wasm`: a name that says which version a kept file is.
fn versioned_name(file: &Path, sha256: &str) -> String {
    let stem = file.file_stem().map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned());
    let short = sha256.get(..12).unwrap_or(sha256);
    if stem.ends_with(short) { format!("{stem}.wasm") } else { format!("{stem}-{short}.wasm") }
}

/// A plugin's parameter values: the operator's where in range, else the defaults.
pub(super) fn values_with(info: &PluginInfo, overrides: &BTreeMap<String, f64>) -> Vec<f64> {
    info.params
        .iter()
        .map(|p| overrides.get(&p.name).copied().filter(|v| (p.min..=p.max).contains(v)).unwrap_or(p.default))
        .collect()
}

pub(super) fn status_of(l: &Loaded, active: bool) -> PluginStatus {
    PluginStatus {
        info: (*l.info).clone(),
        active,
        file: l.file.clone(),
        sha256: l.sha256.clone(),
        loaded_at_ms: l.loaded_at_ms,
        generation: l.generation,
        params: l.params.load().to_vec(),
        stats: l.stats.snapshot(),
        last_error: l.stats.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
    }
}
