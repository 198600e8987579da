//! Persistent compile cache: a component compiled once is stored as native code keyed by its
//! content hash and the engine's configuration, so a restart loads plugins in milliseconds.

use super::function_cache::FunctionCache;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
    /// What a compile that misses this cache reuses: the functions compiled before.
    functions: Arc<FunctionCache>,
}

impl CompileCache {
    /// A cache in `dir`, or none (always compile) when `dir` is `None`.
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>, functions: Arc<FunctionCache>) -> Self {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        Self { dir, engine_key: format!("{:016x}", h.finish()), functions }
    }

    fn entry(&self, sha256: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{sha256}-{}.cwasm", self.engine_key)))
    }

    /// The compiled component for `bytes` (whose SHA-256 is `sha256`), from the cache when
    /// possible. Cache problems are logged and fall back to compiling.
    pub(crate) fn load(&self, engine: &Engine, sha256: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
        let entry = self.entry(sha256);
        if let Some(path) = entry.as_deref().filter(|p| p.is_file()) {
            match deserialize(engine, path) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "compile cache entry unusable; recompiling")
                }
            }
        }
        let started = std::time::Instant::now();
        let before = self.functions.counts();
        let component = Component::new(engine, bytes)?;
        let (hits, misses) = self.functions.counts();
        tracing::debug!(
            sha256 = &sha256[..12],
            ms = started.elapsed().as_millis(),
            functions_reused = hits - before.0,
            functions_compiled = misses - before.1,
            functions_kept_bytes = self.functions.bytes(),
            "compiled"
        );
        if let Some(path) = entry
            && let Err(e) = store(&component, &path)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not write the compile cache");
        }
        Ok(component)
    }
}

#[allow(unsafe_code, reason = "loading precompiled native code is unsafe by nature")]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `store` below from `Component::serialize` of this very
    // engine configuration (the key includes the engine's compatibility hash and our version),
    // in the operator's private data directory; wasmtime checks its header and configuration
    // again and refuses mismatches. Whoever can write that directory can already replace the
    // binary.
    unsafe { Component::deserialize_file(engine, path) }
}

fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename, so a crash never leaves a half-written entry under the real name.
    static UNIQUE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
