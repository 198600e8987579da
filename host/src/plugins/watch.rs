//! Hot reload: notify watches the plugin directory (and its `shadow/`) and only sends paths; the owner thread waits
//! for a quiet period, then loads or unloads each changed `.wasm` file off the hot path.

use super::model::RuntimeError;
use super::registry::{Plugins, is_plugin_path};
use notify::{RecursiveMode, Watcher as _};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Keeps the plugin directory watched; dropping it stops hot reload.
#[derive(Debug)]
pub struct HotReload {
    watcher: Option<notify::RecommendedWatcher>,
    worker: Option<JoinHandle<()>>,
}

impl Drop for HotReload {
    fn drop(&mut self) {
        // Dropping the watcher closes the channel, which ends the worker.
        self.watcher.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Starts watching `plugins`' directory. Call after the initial [`Plugins::load_dir`].
///
/// # Errors
/// When the directory cannot be watched.
pub fn watch(plugins: &Plugins) -> Result<HotReload, RuntimeError> {
    let (tx, rx) = mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
        Ok(event) => {
            for path in event.paths.into_iter().filter(|p| is_plugin_path(p)) {
                let _ = tx.send(path);
            }
        }
        Err(e) => tracing::warn!(error = %e, "plugin directory watch error"),
    })
    .map_err(|e| RuntimeError::Watch(e.to_string()))?;
    watcher
        .watch(plugins.dir(), RecursiveMode::NonRecursive)
        .map_err(|e| RuntimeError::Watch(e.to_string()))?;
    // Shadows (`shadow/`): the directory is made so that a file dropped there later is seen.
    let shadows = plugins.shadow_dir();
    std::fs::create_dir_all(&shadows)
        .map_err(|e| RuntimeError::Watch(format!("{}: {e}", shadows.display())))?;
    watcher.watch(&shadows, RecursiveMode::NonRecursive).map_err(|e| RuntimeError::Watch(e.to_string()))?;
    let owner = plugins.clone();
    let worker = std::thread::Builder::new()
        .name("plugin-reload".into())
        .spawn(move || reload_loop(&owner, &rx))
        .map_err(|e| RuntimeError::Watch(e.to_string()))?;
    tracing::info!(dir = %plugins.dir().display(), "hot reload on");
    Ok(HotReload { watcher: Some(watcher), worker: Some(worker) })
}

fn reload_loop(plugins: &Plugins, rx: &mpsc::Receiver<PathBuf>) {
    let quiet = plugins.quiet_period();
    while let Ok(first) = rx.recv() {
        let mut changed = BTreeSet::from([first]);
        // Writers and deploy tools touch a file several times; wait until they are done.
        while let Ok(path) = rx.recv_timeout(quiet) {
            changed.insert(path);
        }
        for path in changed {
            plugins.load_file(&path);
        }
    }
}
