//! The default plugins, embedded in the binary and written to the plugin directory on first run.

use super::model::RuntimeError;
use equilibrage_plugin_artifacts as artifacts;
use std::path::{Path, PathBuf};

/// File name and component bytes of each default plugin.
pub const DEFAULT_PLUGINS: [(&str, &[u8]); 4] = [
    ("scorer.wasm", artifacts::SCORER.bytes),
    ("whales.wasm", artifacts::WHALES.bytes),
    ("news.wasm", artifacts::NEWS.bytes),
    ("equilibrage.wasm", artifacts::EQUILIBRAGE.bytes),
];

/// Creates `dir` if needed and writes each default plugin whose file is missing. A file that is
/// there is left alone, whatever it holds. Returns the files written.
///
/// # Errors
/// When the directory or a file cannot be written.
pub fn install_defaults(dir: &Path) -> Result<Vec<PathBuf>, RuntimeError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RuntimeError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Vec::new();
    for (file, bytes) in DEFAULT_PLUGINS {
        let path = dir.join(file);
        if path.exists() {
            continue;
        }
        // Write beside, then rename: the watcher never sees a half-written default.
        let tmp = dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}
