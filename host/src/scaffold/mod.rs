//! `equilibrage plugin new`: scaffolds a self-contained plugin crate (the SDK and WIT vendored
//! in), buildable anywhere with one cargo command; or, with `--lang python`, a componentize-py
//! project (`python.rs`).

pub mod python;

use crate::plugins::{PluginKind, WIT_PACKAGE};
use std::path::{Path, PathBuf};

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Rust,
    Python,
}

impl std::str::FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rust" => Ok(Self::Rust),
            "python" => Ok(Self::Python),
            other => Err(format!("{other:?}: rust or python")),
        }
    }
}

/// Why a plugin crate could not be scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("plugin name {0:?}: use 1-64 characters of a-z, 0-9 and '-', starting with a letter")]
    BadName(String),
    #[error("{0} already exists; choose another name or directory")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

const SDK_FILES: [(&str, &str); 7] = [
    ("src/lib.rs", include_str!("../../../plugins/sdk/src/lib.rs")),
    ("src/common.rs", include_str!("../../../plugins/sdk/src/common.rs")),
    ("src/glue.rs", include_str!("../../../plugins/sdk/src/glue.rs")),
    ("src/scorer.rs", include_str!("../../../plugins/sdk/src/scorer.rs")),
    ("src/whale_analyzer.rs", include_str!("../../../plugins/sdk/src/whale_analyzer.rs")),
    ("src/news_aggregator.rs", include_str!("../../../plugins/sdk/src/news_aggregator.rs")),
    ("src/liquidation_rules.rs", include_str!("../../../plugins/sdk/src/liquidation_rules.rs")),
];
const WIT: &str = include_str!("../../../wit/plugin.wit");
const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

fn template(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Scorer => include_str!("../../../plugins/template/kinds/scorer.rs"),
        PluginKind::WhaleAnalyzer => include_str!("../../../plugins/template/kinds/whale-analyzer.rs"),
        PluginKind::NewsAggregator => include_str!("../../../plugins/template/kinds/news-aggregator.rs"),
        PluginKind::LiquidationRules => include_str!("../../../plugins/template/kinds/liquidation-rules.rs"),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a new plugin's name and where it goes; returns its directory.
fn new_root(parent: &Path, name: &str) -> Result<PathBuf, ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::BadName(name.into()));
    }
    let root = parent.join(name);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    Ok(root)
}

fn write_all(root: &Path, files: Vec<(String, String)>) -> Result<(), ScaffoldError> {
    for (relative, text) in files {
        let path = root.join(relative);
        let io = |source| ScaffoldError::Io { path: path.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
    }
    Ok(())
}

/// Writes a new Python plugin project `parent/name` of the given kind (see `python.rs`) and
/// returns its directory.
///
/// # Errors
/// A bad name, an existing directory, or a write failure.
pub fn new_python_plugin(parent: &Path, name: &str, kind: PluginKind) -> Result<PathBuf, ScaffoldError> {
    let root = new_root(parent, name)?;
    let files = python::files(name, kind);
    write_all(&root, files)?;
    Ok(root)
}

/// Writes a new plugin crate `parent/name` of the given kind and returns its directory.
///
/// # Errors
/// A bad name, an existing directory, or a write failure.
pub fn new_plugin(parent: &Path, name: &str, kind: PluginKind) -> Result<PathBuf, ScaffoldError> {
    let root = new_root(parent, name)?;
    let crate_name = name.replace('-', "_");
    let files: Vec<(String, String)> = vec![
        ("Cargo.toml".into(), plugin_manifest(name)),
        ("src/lib.rs".into(), template(kind).replace("template-plugin", name)),
        (
            "rust-toolchain.toml".into(),
            "[toolchain]\nchannel = \"1.95.0\"\ntargets = [\"wasm32-wasip2\"]\nprofile = \"minimal\"\n"
                .into(),
        ),
        (
            ".cargo/config.toml".into(),
            "[build]\ntarget = \"wasm32-wasip2\"\n\n[target.wasm32-wasip2]\nrustflags = [\"-C\", \"target-feature=+simd128\"]\n".into(),
        ),
        (".gitignore".into(), "/target\n".into()),
        ("README.md".into(), readme(name, &crate_name, kind)),
        ("wit/plugin.wit".into(), WIT.into()),
        ("vendor/equilibrage-plugin-sdk/Cargo.toml".into(), sdk_manifest()),
    ]
    .into_iter()
    .chain(
        SDK_FILES
            .iter()
            .map(|(path, text)| (format!("vendor/equilibrage-plugin-sdk/{path}"), (*text).to_string())),
    )
    .collect();
    write_all(&root, files)?;
    Ok(root)
}

fn plugin_manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
equilibrage-plugin-sdk = {{ path = "vendor/equilibrage-plugin-sdk" }}

[profile.release]
strip = "debuginfo"

# Standalone: not part of any enclosing workspace.
[workspace]
"#
    )
}

fn sdk_manifest() -> String {
    format!(
        r#"[package]
name = "equilibrage-plugin-sdk"
version = "{SDK_VERSION}"
edition = "2024"
description = "Vendored by `equilibrage plugin new`: the SDK for {WIT_PACKAGE}."

[dependencies]
wit-bindgen = {{ version = "0.61", default-features = false, features = ["macros", "realloc"] }}
"#
    )
}

fn readme(name: &str, crate_name: &str, kind: PluginKind) -> String {
    format!(
        "# {name}\n\nAn equilibrage `{kind}` plugin.\n\n```sh\ncargo build --release\ncp target/wasm32-wasip2/release/{crate_name}.wasm <plugin dir>/\n```\n\n\
         The bot loads it within a moment, without a restart; the Plugins page shows it, its \
         parameters and any error. `vendor/` holds the SDK and `wit/` the interface this plugin \
         is built against ({WIT_PACKAGE}).\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_existing_directories_kept() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "Mine", "1st", "a_b", "a b", "../x"] {
            assert!(
                matches!(new_plugin(dir.path(), bad, PluginKind::Scorer), Err(ScaffoldError::BadName(_))),
                "{bad}"
            );
        }
        let root = new_plugin(dir.path(), "mine", PluginKind::LiquidationRules).unwrap();
        let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
        assert!(lib.contains("\"mine\"") && lib.contains("export_liquidation_rules!"));
        assert!(root.join("vendor/equilibrage-plugin-sdk/src/glue.rs").is_file());
        assert!(root.join("wit/plugin.wit").is_file());
        assert!(matches!(new_plugin(dir.path(), "mine", PluginKind::Scorer), Err(ScaffoldError::Exists(_))));
    }

    #[test]
    fn python_projects_name_their_world_for_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        let root = new_python_plugin(dir.path(), "py-rules", PluginKind::LiquidationRules).unwrap();
        let logic = std::fs::read_to_string(root.join("plugin.py")).unwrap();
        assert!(logic.contains("Info(\"py-rules\", \"0.1.0\""), "{logic}");
        for file in ["app.py", "equilibrage_plugin.py", "test_plugin.py", "wit/plugin.wit", "README.md"] {
            assert!(root.join(file).is_file(), "{file}");
        }
        let out = root.join("build/py-rules.wasm");
        let args: Vec<String> = python::build_args(&root, &out)
            .unwrap()
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[..6], ["-d", "wit", "-w", "liquidation-rules", "componentize", "app"]);
        // Every kind has a template, each building its own world.
        for kind in PluginKind::ALL {
            let name = format!("py-{}", kind.as_str());
            let root = new_python_plugin(dir.path(), &name, kind).unwrap();
            let project = std::fs::read_to_string(root.join(python::PROJECT_FILE)).unwrap();
            assert!(project.contains(&format!("world = \"{}\"", kind.as_str())), "{project}");
            let logic = std::fs::read_to_string(root.join("plugin.py")).unwrap();
            assert!(logic.contains(&format!("Info(\"{name}\"")), "{logic}");
        }
    }

    #[test]
    fn the_host_names_the_interface_version_of_wit_plugin_wit() {
        let package = WIT.lines().find_map(|l| l.trim().strip_prefix("package ")).expect("a package line");
        assert_eq!(package.trim_end_matches(';'), WIT_PACKAGE);
        // The SDK's binding remaps name the same version.
        let version = WIT_PACKAGE.rsplit('@').next().unwrap();
        for (path, text) in SDK_FILES {
            for (i, _) in text.match_indices("\"equilibrage:plugin/") {
                let name = text[i + 1..].split('"').next().unwrap();
                assert!(name.ends_with(&format!("@{version}")), "{path} names {name}");
            }
        }
    }
}
