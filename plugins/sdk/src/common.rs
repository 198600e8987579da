//! Types every plugin kind shares: self-description, parameters, outcomes and logging.

/// The four kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Scores candidate markets 1–10 with a factor breakdown.
    Scorer,
    /// Turns raw trades into whale profiles and per-market signals.
    WhaleAnalyzer,
    /// Matches news items to markets.
    NewsAggregator,
    /// Decides liquidations, stop losses and take profits for open positions.
    LiquidationRules,
}

pub use crate::glue::wit_types::Outcome;

impl Outcome {
    /// The other side.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Yes => Self::No,
            Self::No => Self::Yes,
        }
    }
}

/// A tunable parameter; the host shows it as a form field and passes its value with each call.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Stable identifier, e.g. `liquidation-drop`.
    pub name: String,
    /// One sentence for the dashboard.
    pub help: String,
    /// Value used until the operator changes it.
    pub default: f64,
    /// Smallest accepted value.
    pub min: f64,
    /// Largest accepted value.
    pub max: f64,
}

impl ParamSpec {
    /// A parameter with its default and inclusive range.
    #[must_use]
    pub fn new(name: &str, default: f64, min: f64, max: f64, help: &str) -> Self {
        Self { name: name.into(), help: help.into(), default, min, max }
    }
}

/// A scorer factor: one column of the score breakdown.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorSpec {
    /// Column name, e.g. `liquidity`.
    pub name: String,
    /// What the factor measures.
    pub help: String,
    /// The parameter that weighs it, if any.
    pub weight_param: Option<String>,
}

impl FactorSpec {
    /// A factor weighed by the parameter `weight_param`.
    #[must_use]
    pub fn weighted(name: &str, weight_param: &str, help: &str) -> Self {
        Self { name: name.into(), help: help.into(), weight_param: Some(weight_param.into()) }
    }
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInfo {
    /// Unique per kind; a file with the same kind and name replaces the other.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// One paragraph for the dashboard.
    pub description: String,
    /// Tunable parameters, in the order their values arrive.
    pub params: Vec<ParamSpec>,
    /// Scorers only: the factor columns, in the order each score carries them.
    pub factors: Vec<FactorSpec>,
}

impl PluginInfo {
    /// A plugin with no parameters and no factors yet.
    #[must_use]
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            params: Vec::new(),
            factors: Vec::new(),
        }
    }

    /// Adds a parameter.
    #[must_use]
    pub fn param(mut self, name: &str, default: f64, min: f64, max: f64, help: &str) -> Self {
        self.params.push(ParamSpec::new(name, default, min, max, help));
        self
    }

    /// Adds a factor column weighed by the parameter `weight_param`.
    #[must_use]
    pub fn factor(mut self, name: &str, weight_param: &str, help: &str) -> Self {
        self.factors.push(FactorSpec::weighted(name, weight_param, help));
        self
    }

    /// The parameter values a call would carry if the operator changed nothing.
    #[must_use]
    pub fn defaults(&self) -> Params {
        Params::new(self.params.iter().map(|p| p.default).collect(), &self.params)
    }
}

/// Parameter values of one call, aligned with the declared [`ParamSpec`]s.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    values: Vec<f64>,
    names: Vec<String>,
    defaults: Vec<f64>,
}

impl Params {
    /// Values aligned with `specs`; a missing value falls back to its default.
    #[must_use]
    pub fn new(values: Vec<f64>, specs: &[ParamSpec]) -> Self {
        Self {
            values,
            names: specs.iter().map(|s| s.name.clone()).collect(),
            defaults: specs.iter().map(|s| s.default).collect(),
        }
    }

    /// The value of the parameter called `name`; 0 when no such parameter was declared.
    #[must_use]
    pub fn get(&self, name: &str) -> f64 {
        self.names
            .iter()
            .position(|n| n == name)
            .map_or(0.0, |i| self.values.get(i).copied().unwrap_or(self.defaults[i]))
    }

    /// The value at position `index` in declaration order (the fast path).
    #[must_use]
    pub fn at(&self, index: usize) -> f64 {
        self.values.get(index).or_else(|| self.defaults.get(index)).copied().unwrap_or(0.0)
    }

    /// All values in declaration order.
    #[must_use]
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

pub use crate::glue::wit_host::Level;

/// Sends a message to the host's log (rate-limited and truncated by the host). Outside a
/// WebAssembly host (native unit tests) it does nothing.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::glue::wit_host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}

/// Converts micro-units (1 pUSD = 1,000,000) to a float, for scoring arithmetic.
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "plugins score in floats; money stays integer at the boundary")]
pub fn micros(value: i64) -> f64 {
    value as f64 / 1_000_000.0
}
