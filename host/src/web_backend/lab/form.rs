//! A job asked for from the Lab page or `/api/lab/jobs`: every field checked (each problem named
//! against its field), then made into backtests whose plugin directories hold exactly the files
//! chosen for each side.

use super::HostLab;
use crate::engine::Settings;
use crate::lab::{Axis, Backtest, DataSource, JobSpec, Objective, Overrides, Schedule, Space, Sweep};
use crate::plugins::{PluginKind, PluginOptions};
use equilibrage_web::{BackendError, FieldError, LabJobForm, PluginFileView};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

const MAX_SEEDS: usize = 20;
const MAX_DAYS: u32 = 90;
const MAX_MARKETS: usize = 1_000;
const MAX_AXES: usize = 4;
/// The best variants a sweep from the Lab also runs on its held-out part.
const SWEEP_TOP: usize = 3;

/// What every run starts from: the bot's settings, trading automatically (a backtest decides
/// alone, whatever the bot's auto-trading switch says).
pub(super) fn base_settings(engine: &crate::engine::Engine) -> Settings {
    let mut s = engine.settings();
    s.auto_trading = true;
    s
}

/// The bot's settings as `engine.<field>=<value>` lines.
pub(super) fn setting_lines(settings: &Settings) -> Vec<String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(settings) else { return Vec::new() };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("engine.{k}={s}"),
            other => format!("engine.{k}={other}"),
        })
        .collect()
}

/// A plugin parameter a run sets: (plugin, parameter, value).
type Param = (String, String, f64);

/// The problems found so far, each against its field.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.to_owned(), message: message.into() });
    }
}

fn number<T>(p: &mut Problems, field: &str, text: &str, lo: T, hi: T) -> Option<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match text.trim().parse::<T>() {
        Ok(v) if v >= lo && v <= hi => Some(v),
        _ => {
            p.add(
                field,
                format!("`{field}` must be a whole number from {lo} to {hi}, got {:?}", text.trim()),
            );
            None
        }
    }
}

/// Reads override lines: `engine.<setting>=value` sets a setting, `<plugin>.<param>=value` a
/// plugin parameter.
fn overrides(p: &mut Problems, field: &str, text: &str, into: &mut Overrides) {
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let is_setting = line.starts_with("engine.");
        let done = if is_setting { into.set(line) } else { into.param(line) };
        if let Err(e) = done {
            p.add(field, format!("{line:?}: {e}"));
        }
    }
}

/// A fresh name for a job's plugin directory.
fn work_name(side: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{}-{}-{side}", chrono::Utc::now().format("%Y%m%dT%H%M%S"), NEXT.fetch_add(1, Ordering::Relaxed))
}

impl HostLab {
    /// The lab's candidate plugins: files dropped into `<data dir>/lab/plugins/`.
    fn candidates_dir(&self) -> PathBuf {
        self.data_dir.join("lab").join("plugins")
    }

    /// The plugin files a run can use: every plugin the bot has loaded, and the lab's
    /// candidates that load (checked like any plugin: instantiated and described).
    pub(super) fn plugin_files(&self) -> Vec<PluginFileView> {
        let mut out: Vec<PluginFileView> = self
            .runtime
            .list()
            .into_iter()
            .map(|s| PluginFileView {
                kind: s.info.kind.as_str().to_owned(),
                choice: format!("plugins/{}", s.file.file_name().unwrap_or_default().to_string_lossy()),
                plugin: format!("{}@{}", s.info.name, s.info.version),
                active: s.active,
            })
            .collect();
        let dir = self.candidates_dir();
        if dir.is_dir() {
            let options =
                PluginOptions { dir: dir.clone(), prefer: Default::default(), ..self.plugins.clone() };
            if let Ok(candidates) = crate::plugins::Plugins::new(options) {
                for f in candidates.load_dir().unwrap_or_default() {
                    if let Err(e) = &f.result {
                        tracing::info!(file = %f.file.display(), error = %e, "lab candidate plugin not loaded");
                    }
                }
                out.extend(candidates.list().into_iter().map(|s| PluginFileView {
                    kind: s.info.kind.as_str().to_owned(),
                    choice: format!("lab/{}", s.file.file_name().unwrap_or_default().to_string_lossy()),
                    plugin: format!("{}@{}", s.info.name, s.info.version),
                    active: false,
                }));
            }
        }
        out.sort_by(|a, b| (&a.kind, &a.choice).cmp(&(&b.kind, &b.choice)));
        out
    }

    /// Adds a candidate plugin from the browser: checked like any plugin (loaded alone,
    /// instantiated and described) before it is moved into the candidates, under `name`.
    pub(super) fn upload(&self, name: &str, bytes: &[u8]) -> Result<PluginFileView, BackendError> {
        let field = |message: String| BackendError::Invalid {
            message: message.clone(),
            fields: vec![FieldError { field: "file".into(), message }],
        };
        let stem = name.strip_suffix(".wasm").unwrap_or_default();
        let plain = !stem.is_empty()
            && stem.len() <= 64
            && stem.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !stem.starts_with('.');
        if !plain {
            return Err(field(format!(
                "{name:?}: a plugin file is named NAME.wasm, NAME of at most 64 letters, digits, '-', '_' or '.'"
            )));
        }
        if bytes.is_empty() {
            return Err(field(format!("{name}: the file is empty")));
        }
        if bytes.len() as u64 > self.plugins.max_file_bytes {
            return Err(field(format!(
                "{name}: {} bytes; plugin files are at most {}",
                bytes.len(),
                self.plugins.max_file_bytes
            )));
        }
        let internal = |e: std::io::Error| BackendError::Internal(format!("storing the upload: {e}"));
        // Checked alone, in a directory of its own.
        let check = self.data_dir.join("lab").join("work").join(work_name("upload"));
        std::fs::create_dir_all(&check).map_err(internal)?;
        let outcome = (|| {
            std::fs::write(check.join(name), bytes).map_err(internal)?;
            let options =
                PluginOptions { dir: check.clone(), prefer: Default::default(), ..self.plugins.clone() };
            let runtime =
                crate::plugins::Plugins::new(options).map_err(|e| BackendError::Internal(e.to_string()))?;
            let loaded = runtime.load_dir().map_err(|e| BackendError::Internal(e.to_string()))?;
            match loaded.into_iter().next().map(|f| f.result) {
                Some(Ok(_)) => {}
                Some(Err(why)) => {
                    return Err(field(format!("{name} is not a plugin this bot can run: {why}")));
                }
                None => return Err(field(format!("{name} was not read"))),
            }
            let status =
                runtime.list().into_iter().next().ok_or_else(|| field(format!("{name} did not load")))?;
            let dir = self.candidates_dir();
            std::fs::create_dir_all(&dir).map_err(internal)?;
            // Into place in one rename: a listing never sees half a file.
            std::fs::rename(check.join(name), dir.join(name)).map_err(internal)?;
            Ok(PluginFileView {
                kind: status.info.kind.as_str().to_owned(),
                choice: format!("lab/{name}"),
                plugin: format!("{}@{}", status.info.name, status.info.version),
                active: false,
            })
        })();
        let _ = std::fs::remove_dir_all(&check);
        outcome
    }

    /// The file a choice names, when it is one the lab offers for `kind`.
    fn chosen_file(&self, files: &[PluginFileView], kind: PluginKind, choice: &str) -> Option<PathBuf> {
        let offered = files.iter().any(|f| f.choice == choice && f.kind == kind.as_str());
        let (place, name) = choice.split_once('/')?;
        let dir = match place {
            "plugins" => self.plugins.dir.clone(),
            "lab" => self.candidates_dir(),
            _ => return None,
        };
        offered.then(|| dir.join(name))
    }

    /// A plugin directory holding the bot's active plugin of each kind, with `scorer` and
    /// `rules` (files) in place of theirs; and the bot's live parameter values for each kind
    /// whose active plugin it keeps.
    fn side_dir(
        &self,
        side: &str,
        scorer: Option<PathBuf>,
        rules: Option<PathBuf>,
    ) -> Result<(PathBuf, Vec<Param>), BackendError> {
        let dir = self.data_dir.join("lab").join("work").join(work_name(side));
        std::fs::create_dir_all(&dir)
            .map_err(|e| BackendError::Internal(format!("{}: {e}", dir.display())))?;
        let mut live_params = Vec::new();
        for status in self.runtime.list().into_iter().filter(|s| s.active) {
            let kind = status.info.kind;
            let replaced = match kind {
                PluginKind::Scorer => scorer.clone(),
                PluginKind::LiquidationRules => rules.clone(),
                _ => None,
            };
            let file = match replaced {
                Some(f) => f,
                None => {
                    for (spec, value) in status.info.params.iter().zip(&status.params) {
                        let engine_set = kind == PluginKind::LiquidationRules
                            && crate::engine::setting_of_rule_param(&spec.name).is_some();
                        if !engine_set && (*value - spec.default).abs() > f64::EPSILON {
                            live_params.push((status.info.name.clone(), spec.name.clone(), *value));
                        }
                    }
                    status.file.clone()
                }
            };
            let name =
                format!("{}-{}", kind.as_str(), file.file_name().unwrap_or_default().to_string_lossy());
            std::fs::copy(&file, dir.join(name))
                .map_err(|e| BackendError::Internal(format!("copying {}: {e}", file.display())))?;
        }
        Ok((dir, live_params))
    }

    /// Checks the form and makes its job: the label, what to run, and the plugin directories
    /// made for it.
    pub(super) fn job_spec(
        &self,
        form: &LabJobForm,
    ) -> Result<(String, JobSpec, Vec<PathBuf>), BackendError> {
        let mut p = Problems::default();
        let kind = form.kind.trim();
        if !matches!(kind, "backtest" | "compare" | "sweep") {
            p.add("kind", format!("`kind` must be backtest, compare or sweep, got {kind:?}"));
        }
        // The data.
        let data = form.data.trim();
        let mut sources = Vec::new();
        if data.is_empty() || data == "sim" {
            let seeds: Vec<Option<u64>> = form
                .seeds
                .split([',', ' '])
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse().ok())
                .collect();
            let days = number(&mut p, "days", &form.days, 1, MAX_DAYS);
            let markets = number(&mut p, "markets", &form.markets, 1, MAX_MARKETS);
            if seeds.is_empty() || seeds.len() > MAX_SEEDS || seeds.iter().any(Option::is_none) {
                p.add(
                    "seeds",
                    format!("`seeds` must be 1 to {MAX_SEEDS} whole numbers, separated by commas"),
                );
            } else if kind == "sweep" && seeds.len() > 1 {
                p.add("seeds", "a sweep runs on one seed");
            }
            if let (Some(days), Some(markets)) = (days, markets) {
                let start_ms = crate::exchange::sim::SimConfig::default().start_ms;
                sources = seeds
                    .into_iter()
                    .flatten()
                    .map(|seed| DataSource::Sim { seed, days, markets, start_ms })
                    .collect();
            }
        } else {
            match self.recording_named(data) {
                Some(dir) => sources.push(DataSource::Recording(dir)),
                None => p.add("data", format!("no recording named {data:?}")),
            }
        }
        // The plugins of each side.
        let files = self.plugin_files();
        let mut pick = |field: &str, kind: PluginKind, choice: &str| -> Option<PathBuf> {
            let choice = choice.trim();
            if choice.is_empty() {
                return None;
            }
            let found = self.chosen_file(&files, kind, choice);
            if found.is_none() {
                p.add(field, format!("{choice:?} is not a {} plugin the lab offers", kind.as_str()));
            }
            found
        };
        let a_scorer = pick("a_scorer", PluginKind::Scorer, &form.a_scorer);
        let a_rules = pick("a_rules", PluginKind::LiquidationRules, &form.a_rules);
        let b_scorer = pick("b_scorer", PluginKind::Scorer, &form.b_scorer).or_else(|| a_scorer.clone());
        let b_rules =
            pick("b_rules", PluginKind::LiquidationRules, &form.b_rules).or_else(|| a_rules.clone());
        let mut a_over = Overrides::default();
        overrides(&mut p, "a_overrides", &form.a_overrides, &mut a_over);
        let mut b_over = a_over.clone();
        overrides(&mut p, "b_overrides", &form.b_overrides, &mut b_over);
        let base = base_settings(&self.engine);
        for (field, o) in [("a_overrides", &a_over), ("b_overrides", &b_over)] {
            if let Err(e) = o.apply_settings(&base) {
                p.add(field, e.to_string());
            }
        }
        let sweep = if kind == "sweep" {
            let axes: Vec<Axis> = form
                .grid
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .filter_map(|l| Axis::parse(l).map_err(|e| p.add("grid", e.to_string())).ok())
                .collect();
            if axes.is_empty() || axes.len() > MAX_AXES {
                p.add(
                    "grid",
                    format!("a sweep needs 1 to {MAX_AXES} axes, one a line: engine.max_positions=1,3,6"),
                );
            }
            let objective = match form.objective.trim() {
                "" => Some(Objective::Pnl),
                o => Objective::parse(o).map_err(|e| p.add("objective", e.to_string())).ok(),
            };
            let holdout = number(
                &mut p,
                "holdout",
                if form.holdout.trim().is_empty() { "25" } else { &form.holdout },
                0_u8,
                90,
            );
            Some((axes, objective, holdout))
        } else {
            None
        };
        if !p.0.is_empty() {
            let n = p.0.len();
            return Err(BackendError::Invalid {
                message: format!("the job was not started: {n} problem(s) below"),
                fields: p.0,
            });
        }

        let label = form.label.trim().chars().take(120).collect::<String>();
        let mut dirs = Vec::new();
        let (a_dir, a_live) = self.side_dir("a", a_scorer, a_rules)?;
        dirs.push(a_dir.clone());
        let backtest = |dir: &PathBuf,
                        live: &[(String, String, f64)],
                        over: &Overrides,
                        source: &DataSource,
                        side: &str| {
            let mut overrides = over.clone();
            // The bot's live parameters first, what the form sets after (and so over them).
            let mut params = live.to_vec();
            params.extend(overrides.params);
            overrides.params = params;
            Backtest {
                source: source.clone(),
                plugins: PluginOptions {
                    dir: dir.clone(),
                    prefer: Default::default(),
                    ..self.plugins.clone()
                },
                settings: base.clone(),
                overrides,
                trends: self.trends.clone(),
                from_ms: None,
                to_ms: None,
                cash: rust_decimal::Decimal::from(10_000),
                schedule: Schedule::AsRecorded,
                label: format!("{label} {side}").trim().to_owned(),
                calibrate: true,
                keep_decisions: true,
                world: None,
            }
        };
        let spec = match kind {
            "backtest" => JobSpec::Backtests(
                sources.iter().map(|s| backtest(&a_dir, &a_live, &a_over, s, "")).collect(),
            ),
            "compare" => {
                let (b_dir, b_live) = self.side_dir("b", b_scorer, b_rules)?;
                dirs.push(b_dir.clone());
                JobSpec::Comparisons(
                    sources
                        .iter()
                        .map(|s| {
                            (
                                backtest(&a_dir, &a_live, &a_over, s, "A"),
                                backtest(&b_dir, &b_live, &b_over, s, "B"),
                            )
                        })
                        .collect(),
                )
            }
            _ => {
                let Some((axes, Some(objective), Some(holdout))) = sweep else {
                    return Err(BackendError::invalid("the sweep's fields were not understood"));
                };
                let threads =
                    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
                JobSpec::Sweep(Box::new(Sweep {
                    base: backtest(&a_dir, &a_live, &a_over, &sources[0], ""),
                    space: Space::Grid(axes),
                    objective,
                    holdout_percent: holdout,
                    top: SWEEP_TOP,
                    threads,
                    keep_decisions: false,
                }))
            }
        };
        Ok((label, spec, dirs))
    }
}
