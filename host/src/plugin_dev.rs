//! `equilibrage plugin dev`: watches a plugin project, rebuilds it on every save, installs the
//! component atomically into the running bot's plugin directory (or its `shadow/`), and says
//! what changed: the version the bot now runs and, for a scorer, the markets whose scores moved.

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Why a development cycle failed (a build error is an outcome, not an error: see [`Cycle`]).
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("{0} is not a plugin project: no Cargo.toml (Rust) or app.py (Python) in it")]
    NotAProject(PathBuf),
    #[error("{path}: {reason}")]
    Project { path: PathBuf, reason: String },
    #[error("cannot run {program}: {source} (is it installed?)")]
    Tool { program: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the bot at {url}: {reason}")]
    Bot { url: String, reason: String },
}

type Result<T, E = DevError> = std::result::Result<T, E>;

/// The language of a plugin project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A crate built with cargo for `wasm32-wasip2` (`equilibrage plugin new`).
    Rust,
    /// A project built with componentize-py (`equilibrage plugin new --lang python`).
    Python,
}

/// A plugin project on disk.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    /// The plugin's name: its crate or project name; the component is installed as `NAME.wasm`.
    pub name: String,
    pub lang: Lang,
}

impl Project {
    /// Finds what `dir` holds.
    ///
    /// # Errors
    /// Neither a Cargo.toml nor an app.py, or a manifest without a name.
    pub fn open(dir: &Path) -> Result<Self> {
        // Absolute, as the watcher reports changed paths.
        let dir = &dir.canonicalize().map_err(|source| DevError::Io { path: dir.to_path_buf(), source })?;
        let manifest = dir.join("Cargo.toml");
        if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest)
                .map_err(|source| DevError::Io { path: manifest.clone(), source })?;
            let parsed: toml::Table = text.parse().map_err(|e: toml::de::Error| DevError::Project {
                path: manifest.clone(),
                reason: e.to_string(),
            })?;
            let name =
                parsed.get("package").and_then(|p| p.get("name")).and_then(toml::Value::as_str).ok_or_else(
                    || DevError::Project { path: manifest.clone(), reason: "no [package] name".into() },
                )?;
            return Ok(Self { dir: dir.to_path_buf(), name: name.to_owned(), lang: Lang::Rust });
        }
        if dir.join("app.py").is_file() {
            let name = dir
                .canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .ok_or_else(|| DevError::NotAProject(dir.to_path_buf()))?;
            return Ok(Self { dir: dir.to_path_buf(), name, lang: Lang::Python });
        }
        Err(DevError::NotAProject(dir.to_path_buf()))
    }

    /// Whether a changed path is one of the project's sources (not its build output).
    #[must_use]
    pub fn is_source(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.dir) else { return false };
        let hidden_or_built = relative.components().any(|c| {
            let c = c.as_os_str().to_string_lossy();
            c.starts_with('.') || c == "target" || c == "__pycache__" || c == "build"
        });
        let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
        !hidden_or_built && matches!(ext.as_str(), "rs" | "toml" | "py" | "wit")
    }
}

/// How to build: where cargo puts its output, and componentize-py's command for Python.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Cargo's target directory (default: the crate's own `target/`).
    pub target_dir: Option<PathBuf>,
    /// The componentize-py to run (default: `componentize-py` on the PATH).
    pub componentize_py: Option<PathBuf>,
}

/// What a build gave: the component, or the compiler's output.
#[derive(Debug)]
pub enum Built {
    Component { path: PathBuf, bytes: Vec<u8>, took: Duration },
    Failed { output: String },
}

/// Builds the project once.
///
/// # Errors
/// The build tool cannot run, or its output cannot be read.
pub fn build(project: &Project, options: &BuildOptions) -> Result<Built> {
    build_with_env(project, options, &[])
}

/// [`build`] with extra environment variables for the build tool (`CARGO_NET_OFFLINE`, …).
///
/// # Errors
/// As [`build`].
pub fn build_with_env(project: &Project, options: &BuildOptions, env: &[(&str, &str)]) -> Result<Built> {
    let started = Instant::now();
    let (mut command, output) = match project.lang {
        Lang::Rust => {
            let target = options
                .target_dir
                .clone()
                .or_else(|| std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()).map(PathBuf::from))
                .unwrap_or_else(|| project.dir.join("target"));
            let mut c = Command::new("cargo");
            c.args(["build", "--release", "--target", "wasm32-wasip2", "--color", "never"])
                .arg("--target-dir")
                .arg(&target)
                .current_dir(&project.dir)
                // The bot's own build flags are not the plugin's.
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS");
            let file = format!("{}.wasm", project.name.replace('-', "_"));
            (c, target.join("wasm32-wasip2/release").join(file))
        }
        Lang::Python => {
            let out = project.dir.join("build").join(format!("{}.wasm", project.name));
            let args = crate::scaffold::python::build_args(&project.dir, &out)
                .map_err(|e| DevError::Project { path: project.dir.clone(), reason: e.to_string() })?;
            let program = options.componentize_py.clone().unwrap_or_else(|| "componentize-py".into());
            let mut c = Command::new(program);
            c.current_dir(&project.dir).args(args);
            (c, out)
        }
    };
    command.envs(env.iter().copied());
    let program = command.get_program().to_string_lossy().into_owned();
    let run = command.output().map_err(|source| DevError::Tool { program, source })?;
    if !run.status.success() {
        let mut text = String::from_utf8_lossy(&run.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&run.stdout));
        return Ok(Built::Failed { output: text });
    }
    let bytes = std::fs::read(&output).map_err(|source| DevError::Io { path: output.clone(), source })?;
    Ok(Built::Component { path: output, bytes, took: started.elapsed() })
}

/// Puts `bytes` in the plugin directory (or its `shadow/`) as `NAME.wasm`, atomically: a
/// temporary name the bot ignores, then a rename. Returns the file and whether it changed.
///
/// # Errors
/// The directory cannot be written.
pub fn install(bytes: &[u8], name: &str, plugin_dir: &Path, shadow: bool) -> Result<(PathBuf, bool)> {
    let dir = if shadow { plugin_dir.join("shadow") } else { plugin_dir.to_path_buf() };
    std::fs::create_dir_all(&dir).map_err(|source| DevError::Io { path: dir.clone(), source })?;
    let path = dir.join(format!("{name}.wasm"));
    if std::fs::read(&path).is_ok_and(|old| old == bytes) {
        return Ok((path, false));
    }
    let partial = dir.join(format!(".{name}.wasm.partial"));
    std::fs::write(&partial, bytes).map_err(|source| DevError::Io { path: partial.clone(), source })?;
    std::fs::rename(&partial, &path).map_err(|source| DevError::Io { path: path.clone(), source })?;
    Ok((path, true))
}

/// Opportunities' scores by market: (score, question).
type Scores = HashMap<String, (f64, String)>;

/// The running bot's API, to see the new version answer and the scores move. One runtime and
/// one client (with its TLS roots and connection pool) serve every request of the session: it
/// is polled every 20 ms while a new version loads.
#[derive(Debug)]
pub struct BotApi {
    url: String,
    token: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl BotApi {
    /// The bot's dashboard at `url`, with its access token.
    ///
    /// # Errors
    /// The HTTP client or its runtime cannot be set up.
    pub fn new(url: String, token: String) -> Result<Self> {
        let bot = |reason: String| DevError::Bot { url: url.clone(), reason };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bot(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| bot(e.to_string()))?;
        Ok(Self { url, token, runtime, client })
    }

    fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let bot = |reason: String| DevError::Bot { url: self.url.clone(), reason };
        self.runtime.block_on(async {
            let answer = self
                .client
                .get(&url)
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| bot(e.to_string()))?;
            if !answer.status().is_success() {
                return Err(bot(format!("GET {path}: {}", answer.status())));
            }
            answer.json::<Value>().await.map_err(|e| bot(e.to_string()))
        })
    }

    /// The current opportunities: market → (score, question), and the scorer that scored them.
    fn opportunities(&self) -> Result<(Scores, Option<String>)> {
        let v = self.get("/api/opportunities?limit=500")?;
        let list = v["opportunities"].as_array().cloned().unwrap_or_default();
        let scorer = list.first().and_then(|o| o["scorer"].as_str()).map(str::to_owned);
        let scores = list
            .iter()
            .filter_map(|o| {
                let id = o["market_id"].as_str()?.to_owned();
                Some((id, (o["score"].as_f64()?, o["question"].as_str().unwrap_or_default().to_owned())))
            })
            .collect();
        Ok((scores, scorer))
    }
}

/// What one save led to.
#[derive(Debug)]
pub enum Cycle {
    /// The build failed: the compiler's output; the bot keeps the version it had.
    BuildFailed(String),
    /// Built to the same bytes as installed: nothing to do.
    Unchanged,
    /// Installed; `loaded` is what the bot said (its version, or why it refused the file).
    Installed { file: PathBuf, sha256: String, loaded: Option<std::result::Result<String, String>> },
}

/// Where and how a cycle installs.
#[derive(Debug)]
pub struct Target {
    pub plugin_dir: PathBuf,
    pub shadow: bool,
    pub bot: Option<BotApi>,
    /// How long to wait for the bot to load the file and rescore.
    pub wait: Duration,
}

/// One build → install → report cycle, written to `out` as it goes.
///
/// # Errors
/// The build tool cannot run, the plugin directory cannot be written, or `out` fails.
pub fn cycle(
    project: &Project,
    build_options: &BuildOptions,
    target: &Target,
    out: &mut dyn Write,
) -> Result<Cycle> {
    let say = |out: &mut dyn Write, text: String| -> Result<()> {
        writeln!(out, "{text}").map_err(|source| DevError::Io { path: "stdout".into(), source })
    };
    say(out, format!("building {} ({:?}) …", project.name, project.lang))?;
    let (bytes, took) = match build(project, build_options)? {
        Built::Failed { output } => {
            say(out, output.trim_end().to_owned())?;
            say(out, "build failed: the bot keeps the version it runs".into())?;
            return Ok(Cycle::BuildFailed(output));
        }
        Built::Component { bytes, took, .. } => (bytes, took),
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    // The scores before, to tell what moved.
    let before = target.bot.as_ref().and_then(|b| b.opportunities().ok());
    let (file, changed) = install(&bytes, &project.name, &target.plugin_dir, target.shadow)?;
    if !changed {
        say(out, format!("built in {} ms: unchanged ({})", took.as_millis(), &sha256[..12]))?;
        return Ok(Cycle::Unchanged);
    }
    let installed = Instant::now();
    say(
        out,
        format!(
            "built in {} ms, {} KiB, installed {} ({})",
            took.as_millis(),
            bytes.len() >> 10,
            file.display(),
            &sha256[..12]
        ),
    )?;
    let Some(bot) = &target.bot else {
        return Ok(Cycle::Installed { file, sha256, loaded: None });
    };
    let loaded = wait_loaded(bot, &file, &sha256, target);
    match &loaded {
        Ok(label) => say(
            out,
            format!("the bot runs {label} ({} ms after the install)", installed.elapsed().as_millis()),
        )?,
        Err(why) => say(out, format!("the bot refused it: {why}"))?,
    }
    if let (Ok(label), Some((old, old_scorer)), false) = (&loaded, before, target.shadow)
        && label.starts_with("scorer/")
    {
        report_movers(bot, old, old_scorer, installed, target.wait, out)?;
    }
    Ok(Cycle::Installed { file, sha256, loaded: Some(loaded) })
}

/// Waits until the bot runs the file's new content (or refused it); `kind/name@version`.
fn wait_loaded(
    bot: &BotApi,
    file: &Path,
    sha256: &str,
    target: &Target,
) -> std::result::Result<String, String> {
    let deadline = Instant::now() + target.wait;
    let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    loop {
        let list = if target.shadow { bot.get("/api/plugins/shadows") } else { bot.get("/api/plugins") };
        if let Ok(v) = list {
            let plugins: Vec<Value> = if target.shadow {
                v["shadows"]
                    .as_array()
                    .map(|s| s.iter().map(|s| s["plugin"].clone()).collect())
                    .unwrap_or_default()
            } else {
                v["plugins"].as_array().cloned().unwrap_or_default()
            };
            if let Some(p) = plugins.iter().find(|p| p["sha256"] == sha256) {
                let active = if target.shadow {
                    "shadow"
                } else if p["active"] == true {
                    "active"
                } else {
                    "loaded, not active"
                };
                return Ok(format!(
                    "{}/{}@{} ({active})",
                    p["kind"].as_str().unwrap_or_default(),
                    p["name"].as_str().unwrap_or_default(),
                    p["version"].as_str().unwrap_or_default()
                ));
            }
            let refused = v["rejected"].as_array().and_then(|r| {
                r.iter().find(|r| r["file"].as_str().is_some_and(|f| f.ends_with(&file_name))).cloned()
            });
            if let Some(r) = refused {
                return Err(r["error"].as_str().unwrap_or("refused").to_owned());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("not loaded within {} s", target.wait.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the bot's rescore with the new scorer and prints the largest score changes.
fn report_movers(
    bot: &BotApi,
    old: Scores,
    old_scorer: Option<String>,
    installed: Instant,
    wait: Duration,
    out: &mut dyn Write,
) -> Result<()> {
    let deadline = installed + wait;
    let new = loop {
        let (scores, scorer) = bot.opportunities()?;
        if scorer.is_some()
            && (scorer != old_scorer
                || scores.iter().any(|(m, (s, _))| old.get(m).is_some_and(|o| o.0 != *s)))
        {
            break scores;
        }
        if Instant::now() > deadline {
            writeln!(out, "no rescore seen within {} s", wait.as_secs()).ok();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut moved: Vec<(f64, f64, f64, String)> = new
        .iter()
        .filter_map(|(m, (s, q))| old.get(m).map(|(o, _)| (s - o, *o, *s, q.clone())))
        .filter(|(d, ..)| d.abs() > 1e-9)
        .collect();
    moved.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
    writeln!(
        out,
        "rescored {} ms after the install: {} of {} markets moved",
        installed.elapsed().as_millis(),
        moved.len(),
        new.len()
    )
    .ok();
    for (d, o, s, q) in moved.iter().take(5) {
        writeln!(out, "  {o:>5.2} → {s:>5.2} ({d:+.2})  {q}").ok();
    }
    Ok(())
}

/// Watches the project and runs a [`cycle`] at start and after every save, until the process
/// ends (Ctrl-C).
///
/// # Errors
/// The project cannot be watched, or a cycle fails for a reason other than the build.
pub fn watch(
    project: &Project,
    build_options: &BuildOptions,
    target: &Target,
    out: &mut dyn Write,
) -> Result<()> {
    use notify::Watcher as _;
    let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Writes only: the build itself reads every source (access events), which must not
        // start another build.
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(|e| DevError::Io { path: project.dir.clone(), source: std::io::Error::other(e) })?;
    // The sources only: the project's own files, and `src/` and `wit/` below it. Not the
    // build output (a crate's `target/` churns through thousands of files on every build).
    let watch_io =
        |e: notify::Error| DevError::Io { path: project.dir.clone(), source: std::io::Error::other(e) };
    watcher.watch(&project.dir, notify::RecursiveMode::NonRecursive).map_err(watch_io)?;
    for sub in ["src", "wit"] {
        let dir = project.dir.join(sub);
        if dir.is_dir() {
            watcher.watch(&dir, notify::RecursiveMode::Recursive).map_err(watch_io)?;
        }
    }
    cycle(project, build_options, target, out)?;
    writeln!(out, "watching {} (Ctrl-C stops)", project.dir.display()).ok();
    while let Ok(first) = rx.recv() {
        let mut relevant = project.is_source(&first);
        // Editors write a file several times; wait for a quiet moment.
        while let Ok(path) = rx.recv_timeout(Duration::from_millis(150)) {
            relevant |= project.is_source(&path);
        }
        if relevant {
            cycle(project, build_options, target, out)?;
        }
    }
    Ok(())
}

/// Where `plugin dev` and `.ci/run` keep componentize-py: a virtual environment of its own.
#[must_use]
pub fn python_venv() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/equilibrage-python")
}

fn version_of(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The pinned componentize-py: `EQUILIBRAGE_COMPONENTIZE_PY` when set, else the one in
/// [`python_venv`], installed there (python3 -m venv, then pip) when it is missing or another
/// version. Says what it does on `out`.
///
/// # Errors
/// python3 or pip cannot run, or the install fails.
pub fn componentize_py(out: &mut dyn Write) -> Result<PathBuf> {
    use crate::scaffold::python::COMPONENTIZE_PY;
    if let Some(p) = std::env::var_os("EQUILIBRAGE_COMPONENTIZE_PY") {
        return Ok(PathBuf::from(p));
    }
    let venv = python_venv();
    let program = venv.join("bin/componentize-py");
    if version_of(&program).is_some_and(|v| v.ends_with(COMPONENTIZE_PY)) {
        return Ok(program);
    }
    writeln!(out, "installing componentize-py {COMPONENTIZE_PY} into {}", venv.display()).ok();
    let run = |program: &Path, args: &[&str]| -> Result<()> {
        let status = Command::new(program)
            .args(args)
            .status()
            .map_err(|source| DevError::Tool { program: program.display().to_string(), source })?;
        if status.success() {
            Ok(())
        } else {
            Err(DevError::Tool {
                program: program.display().to_string(),
                source: std::io::Error::other(format!("{} exited with {status}", args.join(" "))),
            })
        }
    };
    let venv_text = venv.to_string_lossy().into_owned();
    run(Path::new("python3"), &["-m", "venv", &venv_text])?;
    let pin = format!("componentize-py=={COMPONENTIZE_PY}");
    run(&venv.join("bin/pip"), &["install", "--quiet", &pin])?;
    Ok(program)
}
