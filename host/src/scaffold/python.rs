//! `equilibrage plugin new --lang python`: a project that componentize-py builds into a
//! component, with the plugin's logic in plain Python (unit-tested under CPython) and a small
//! helper module mirroring the Rust SDK.

use super::{ScaffoldError, WIT};
use crate::plugins::PluginKind;
use std::ffi::OsString;
use std::path::Path;

/// The componentize-py the host is tested with; `plugin dev` and `.ci/run` install this one.
pub const COMPONENTIZE_PY: &str = "0.25.0";

/// The file naming the project's world, read by `plugin dev` to build it.
pub const PROJECT_FILE: &str = "equilibrage-plugin.toml";

const HELPER: &str = include_str!("../../../plugins/template/python/equilibrage_plugin.py");

fn sources(kind: PluginKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        PluginKind::Scorer => (
            include_str!("../../../plugins/template/python/kinds/scorer.py"),
            include_str!("../../../plugins/template/python/app/scorer.py"),
            include_str!("../../../plugins/template/python/tests/scorer.py"),
        ),
        PluginKind::WhaleAnalyzer => (
            include_str!("../../../plugins/template/python/kinds/whale-analyzer.py"),
            include_str!("../../../plugins/template/python/app/whale-analyzer.py"),
            include_str!("../../../plugins/template/python/tests/whale-analyzer.py"),
        ),
        PluginKind::NewsAggregator => (
            include_str!("../../../plugins/template/python/kinds/news-aggregator.py"),
            include_str!("../../../plugins/template/python/app/news-aggregator.py"),
            include_str!("../../../plugins/template/python/tests/news-aggregator.py"),
        ),
        PluginKind::LiquidationRules => (
            include_str!("../../../plugins/template/python/kinds/liquidation-rules.py"),
            include_str!("../../../plugins/template/python/app/liquidation-rules.py"),
            include_str!("../../../plugins/template/python/tests/liquidation-rules.py"),
        ),
    }
}

/// The command line that builds the project in `dir` into `out`: `componentize-py -d wit -w
/// WORLD componentize app -o OUT`.
///
/// # Errors
/// The project file is missing or names no world.
pub fn build_args(dir: &Path, out: &Path) -> Result<Vec<OsString>, ScaffoldError> {
    let path = dir.join(PROJECT_FILE);
    let io = |source| ScaffoldError::Io { path: path.clone(), source };
    let text = std::fs::read_to_string(&path).map_err(io)?;
    let world = text
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("world").and_then(toml::Value::as_str).map(str::to_owned))
        .ok_or_else(|| io(std::io::Error::other("no `world = \"…\"` line")))?;
    Ok(["-d", "wit", "-w", world.as_str(), "componentize", "app", "-o"]
        .into_iter()
        .map(OsString::from)
        .chain([out.as_os_str().to_owned()])
        .collect())
}

/// The files of a Python project for `name` of `kind`.
pub(super) fn files(name: &str, kind: PluginKind) -> Vec<(String, String)> {
    let (logic, app, tests) = sources(kind);
    let world = kind.as_str();
    vec![
        ("wit/plugin.wit".into(), WIT.into()),
        ("equilibrage_plugin.py".into(), HELPER.into()),
        ("plugin.py".into(), logic.replace("template-plugin", name)),
        ("app.py".into(), app.into()),
        ("test_plugin.py".into(), tests.into()),
        (
            PROJECT_FILE.into(),
            format!(
                "# Read by `equilibrage plugin dev` to build this project.\nworld = \"{world}\"\ncomponentize-py = \"{COMPONENTIZE_PY}\"\n"
            ),
        ),
        (".gitignore".into(), "/build\n__pycache__/\n".into()),
        ("README.md".into(), readme(name, kind)),
    ]
}

fn readme(name: &str, kind: PluginKind) -> String {
    let world = kind.as_str();
    format!(
        "# {name}\n\nAn equilibrage `{kind}` plugin in Python. The strategy is in `plugin.py`; \
         `app.py` is the component's glue and `equilibrage_plugin.py` the SDK's helpers.\n\n\
         Test the logic with plain CPython:\n\n```sh\npython3 -m unittest\n```\n\n\
         Build the component (componentize-py {COMPONENTIZE_PY}: `pip install componentize-py=={COMPONENTIZE_PY}`):\n\n\
         ```sh\ncomponentize-py -d wit -w {world} componentize app -o build/{name}.wasm\n```\n\n\
         Then copy `build/{name}.wasm` into the bot's plugin directory, or let\n\
         `equilibrage plugin dev .` rebuild and install it on every save.\n\n\
         The component holds a Python interpreter: about 18 MB, a few seconds to compile when\n\
         the bot first loads it (cached after), and slower calls than a Rust plugin. See\n\
         docs/plugins.md in the equilibrage repository for the figures.\n"
    )
}
