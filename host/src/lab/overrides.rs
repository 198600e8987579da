//! What a run changes from the base settings and plugin parameters: `--set engine.X=V` and
//! `--param PLUGIN.PARAM=V`, parsed and applied with every problem named.

use super::{LabError, Result};
use crate::engine::Settings;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Settings and plugin parameters a run changes from the base ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overrides {
    /// `engine.<field>` → value as written (`--set engine.max_positions=5`).
    pub settings: Vec<(String, String)>,
    /// (plugin name, parameter, value) (`--param default-scorer.weight-liquidity=0.4`).
    pub params: Vec<(String, String, f64)>,
}

impl Overrides {
    /// Parses `--set KEY=VALUE` (KEY `engine.<field>` or `<field>`).
    ///
    /// # Errors
    /// No `=`.
    pub fn set(&mut self, arg: &str) -> Result<()> {
        let (k, v) = arg.split_once('=').ok_or_else(|| {
            LabError::Invalid(format!("--set {arg:?}: expected KEY=VALUE, e.g. engine.max_positions=5"))
        })?;
        let k = k.trim().strip_prefix("engine.").unwrap_or(k.trim());
        self.settings.push((k.to_owned(), v.trim().to_owned()));
        Ok(())
    }

    /// Parses `--param PLUGIN.PARAM=VALUE`.
    ///
    /// # Errors
    /// Not of that shape, or a value that is not a finite number.
    pub fn param(&mut self, arg: &str) -> Result<()> {
        let bad = || {
            LabError::Invalid(format!(
                "--param {arg:?}: expected PLUGIN.PARAM=NUMBER, e.g. default-scorer.weight-liquidity=0.4"
            ))
        };
        let (k, v) = arg.split_once('=').ok_or_else(bad)?;
        let (plugin, param) = k.trim().split_once('.').ok_or_else(bad)?;
        let value: f64 = v.trim().parse().map_err(|_| bad())?;
        if !value.is_finite() {
            return Err(bad());
        }
        self.params.push((plugin.to_owned(), param.to_owned(), value));
        Ok(())
    }

    /// `base` with the setting overrides, validated all at once. Each value is read as the
    /// type its setting has (a number, a decimal from its text, true or false), so nothing goes
    /// through a float.
    ///
    /// # Errors
    /// An unknown setting, a value of the wrong type, or values out of range, each named.
    pub fn apply_settings(&self, base: &Settings) -> Result<Settings> {
        if self.settings.is_empty() {
            return Ok(base.clone());
        }
        let bad = |m: String| LabError::Invalid(format!("--set: {m}"));
        let mut fields = match serde_json::to_value(base) {
            Ok(Value::Object(fields)) => fields,
            _ => return Err(bad("the settings do not serialize as an object".into())),
        };
        for (key, text) in &self.settings {
            if !fields.contains_key(key) {
                let known: Vec<String> = fields.keys().map(|k| format!("engine.{k}")).collect();
                return Err(bad(format!("no setting engine.{key}; there are {}", known.join(", "))));
            }
            let Some(slot) = fields.get_mut(key) else { continue };
            *slot = match slot {
                Value::Bool(_) => match text.to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(bad(format!("engine.{key} is true or false, got {text:?}"))),
                },
                Value::Number(_) => text
                    .parse::<u64>()
                    .map(Value::from)
                    .map_err(|_| bad(format!("engine.{key} is a whole number, got {text:?}")))?,
                // Decimals are kept as their text.
                _ => Value::String(text.clone()),
            };
        }
        let settings: Settings =
            serde_json::from_value(Value::Object(fields)).map_err(|e| bad(e.to_string()))?;
        settings.validate().map_err(|e| bad(e.to_string()))?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn settings_are_read_as_their_own_types_and_bad_ones_are_named() {
        let mut o = Overrides::default();
        o.set("engine.max_positions=5").unwrap();
        o.set("capital_allocation_percent=12.5").unwrap();
        o.set("engine.auto_trading=true").unwrap();
        let s = o.apply_settings(&Settings::default()).unwrap();
        assert_eq!((s.max_positions, s.capital_allocation_percent, s.auto_trading), (5, dec!(12.5), true));
        assert_eq!(s.capital_allocation_percent.scale(), 1, "exact, from the text");

        let refused = |arg: &str| {
            let mut o = Overrides::default();
            o.set(arg).unwrap();
            o.apply_settings(&Settings::default()).unwrap_err().to_string()
        };
        assert!(refused("engine.max_postions=5").contains("no setting engine.max_postions"));
        assert!(refused("engine.max_positions=five").contains("whole number"));
        assert!(refused("engine.auto_trading=yes").contains("true or false"));
        assert!(refused("engine.max_positions=0").contains("max_positions"), "out of range");
        assert!(Overrides::default().set("max_positions").is_err(), "no =");
    }

    #[test]
    fn parameters_need_a_plugin_a_name_and_a_finite_number() {
        let mut o = Overrides::default();
        o.param("default-scorer.weight-liquidity=0.4").unwrap();
        assert_eq!(o.params, vec![("default-scorer".into(), "weight-liquidity".into(), 0.4)]);
        for bad in ["weight=0.4", "a.b=x", "a.b=inf", "a.b"] {
            assert!(o.param(bad).is_err(), "{bad}");
        }
    }
}
