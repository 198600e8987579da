//! `equilibrage plugin new` scaffolds a crate outside this repository that builds with one cargo
//! command and hot-loads when copied into the plugin directory.

mod support;

use equilibrage::plugins::{PluginKind, watch};
use equilibrage::scaffold::new_plugin;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{runtime, wait_until};

/// Runs the command the README gives (offline, with a warm target directory for speed) and
/// returns the component it built.
fn build(root: &Path, name: &str) -> PathBuf {
    let status = Command::new("cargo")
        .args(["build", "--release", "--offline"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", equilibrage_plugin_artifacts::GUEST_TARGET_DIR)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .unwrap();
    assert!(status.success(), "{name} builds");
    Path::new(equilibrage_plugin_artifacts::GUEST_TARGET_DIR)
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")))
}

#[test]
fn scaffolded_plugins_of_every_kind_build_and_hot_load() {
    let work = tempfile::tempdir().unwrap();
    let (plugin_dir, plugins) = runtime(&[]);
    let _hot = watch(&plugins).unwrap();
    for (kind, name) in [
        (PluginKind::Scorer, "my-scorer"),
        (PluginKind::WhaleAnalyzer, "my-whales"),
        (PluginKind::NewsAggregator, "my-news"),
        (PluginKind::LiquidationRules, "my-rules"),
    ] {
        let root = new_plugin(work.path(), name, kind).unwrap();
        let built = build(&root, name);
        std::fs::copy(&built, plugin_dir.path().join(format!("{name}.wasm"))).unwrap();
        assert!(
            wait_until(Duration::from_secs(30), || plugins.active_info(kind).is_some_and(|i| i.name == name)),
            "{name} hot-loaded as the active {kind}: {:?}",
            plugins.files()
        );
    }
    let scored = plugins.score(0, &support::one(1)).unwrap();
    assert_eq!(scored.plugin.name, "my-scorer");
    assert_eq!(scored.plugin.factors.len(), 2);
}

#[test]
fn the_readme_scorer_builds_as_written() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```rust\n").expect("a rust block in the README") + "```rust\n".len();
    let code = &readme[start..start + readme[start..].find("```").expect("closed block")];
    assert!(code.contains("export_scorer!"), "the block is the scorer example");
    let work = tempfile::tempdir().unwrap();
    let root = new_plugin(work.path(), "readme-scorer", PluginKind::Scorer).unwrap();
    std::fs::write(root.join("src/lib.rs"), code).unwrap();
    assert!(build(&root, "readme-scorer").is_file(), "the README example compiles");
}
