//! `equilibrage plugin dev` (issue 19) on a scaffolded Rust crate and a scaffolded Python
//! project, against the running bot: the first build is installed and answers, an edit leads to
//! a new version answering (and a rescore), and a syntax error shows in the terminal while the
//! old version keeps serving.

mod support;

use equilibrage::plugins::PluginKind;
use equilibrage::scaffold::{new_plugin, new_python_plugin};
use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::browser::{Bot, bin, get_json};

const TOKEN: &str = "plugin-dev-test-token-0123456789abcd";
/// A debug build of the bot compiles an 18 MB Python component in about 10 s.
const WAIT: Duration = Duration::from_secs(180);

/// No scheduled scan while the test runs: a rescore comes from the new scorer's load.
fn config() -> String {
    "[exchange.sim]\nseed = 29\nmarkets = 60\nspeed = 60.0\n\
     [engine]\nauto_trading = false\nscan_interval_secs = 86400\n"
        .to_owned()
}

/// `plugin dev` running, its output collected line by line.
struct Dev {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    fn start(project: &Path, bot: &Bot, componentize_py: Option<&Path>) -> Self {
        let mut command = Command::new(bin());
        command
            .args(["plugin", "dev"])
            .arg(project)
            .arg("--data-dir")
            .arg(bot.data.path().join("data"))
            .args(["--bot", &bot.url("")])
            .env("EQUILIBRAGE_TOKEN", TOKEN)
            .env("CARGO_TARGET_DIR", equilibrage_plugin_artifacts::GUEST_TARGET_DIR)
            .env("CARGO_NET_OFFLINE", "true")
            .env_remove("EQUILIBRAGE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(p) = componentize_py {
            command.env("EQUILIBRAGE_COMPONENTIZE_PY", p);
        }
        let mut child = command.spawn().expect("start plugin dev");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Self { child, lines }
    }

    /// Waits for a line containing `text` after the first `from` lines; returns its index.
    fn expect(&self, from: usize, text: &str) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            {
                let lines = self.lines.lock().expect("lines");
                if let Some(i) = lines.iter().skip(from).position(|l| l.contains(text)) {
                    return from + i;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {text:?} within {WAIT:?}; plugin dev said:\n{}",
                    lines.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn text(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }
}

async fn active_scorer(bot: &Bot) -> (String, String) {
    let v: Value = get_json(bot, "/api/plugins").await;
    let p = v["plugins"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["kind"] == "scorer" && p["active"] == true).cloned())
        .expect("an active scorer");
    (p["name"].as_str().unwrap_or_default().to_owned(), p["version"].as_str().unwrap_or_default().to_owned())
}

/// Edits `file`: replaces `from` by `to`.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).expect("read");
    assert!(text.contains(from), "{} holds {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).expect("write");
}

async fn dev_loop(
    bot: &Bot,
    project: &Path,
    source: &str,
    syntax_error: (&str, &str),
    componentize_py: Option<&Path>,
) {
    let name = project.file_name().and_then(|n| n.to_str()).expect("a name").to_owned();
    let dev = tokio::task::block_in_place(|| Dev::start(project, bot, componentize_py));
    let first =
        tokio::task::block_in_place(|| dev.expect(0, &format!("the bot runs scorer/{name}@0.1.0 (active)")));
    let rescored = tokio::task::block_in_place(|| dev.expect(first, "rescored"));
    assert_eq!(active_scorer(bot).await, (name.clone(), "0.1.0".to_owned()));

    // An edit: a new version answers, and the opportunities are rescored with it.
    edit(&project.join(source), "\"0.1.0\"", "\"0.2.0\"");
    let second = tokio::task::block_in_place(|| {
        dev.expect(rescored, &format!("the bot runs scorer/{name}@0.2.0 (active)"))
    });
    assert_eq!(active_scorer(bot).await, (name.clone(), "0.2.0".to_owned()));
    let rescored = tokio::task::block_in_place(|| dev.expect(second, "rescored"));
    let opportunities: Value = get_json(bot, "/api/opportunities?limit=5").await;
    assert_eq!(
        opportunities["opportunities"][0]["scorer"],
        format!("{name}@0.2.0"),
        "the Scanner's scores are the new version's"
    );

    // A syntax error: the terminal shows it; the bot keeps the version it runs.
    edit(&project.join(source), syntax_error.0, syntax_error.1);
    tokio::task::block_in_place(|| dev.expect(rescored, "build failed: the bot keeps the version it runs"));
    let said = dev.text();
    assert!(said.to_lowercase().contains("error"), "the compiler's error is shown:\n{said}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(active_scorer(bot).await, (name, "0.2.0".to_owned()), "the old version keeps serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_dev_rebuilds_installs_and_survives_a_syntax_error() {
    let bot = tokio::task::spawn_blocking(|| Bot::start(&config(), TOKEN)).await.expect("start");
    let work = tempfile::tempdir().expect("work");

    let rust = new_plugin(work.path(), "dev-scorer", PluginKind::Scorer).expect("scaffold");
    dev_loop(&bot, &rust, "src/lib.rs", ("fn score(", "fn score( {"), None).await;

    let python = new_python_plugin(work.path(), "dev-py-scorer", PluginKind::Scorer).expect("scaffold");
    let componentize = equilibrage::plugin_dev::componentize_py(&mut std::io::stderr())
        .expect("componentize-py (installed by .ci/run)");
    dev_loop(&bot, &python, "plugin.py", ("def score(", "def score(("), Some(&componentize)).await;
}
