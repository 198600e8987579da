//! The Settings form: one descriptor per field of the engine's [`Settings`] (label, help, unit,
//! and how it is edited, within the ranges [`Settings::validate`] enforces), and the coercion of
//! a posted JSON object into a [`SettingsPatch`] with every bad key and value named. Forms post
//! numbers as the text typed, so strings are parsed; decimals are never taken through a float.

use crate::engine::{Settings, SettingsPatch};
use equilibrage_web::{FieldError, FieldInput, SettingField};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde_json::{Map, Value};
use std::str::FromStr as _;

/// The type a setting holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Decimal,
}

/// A setting as the form presents it.
#[derive(Debug)]
struct Spec {
    name: &'static str,
    label: &'static str,
    help: &'static str,
    unit: &'static str,
    kind: Kind,
    input: FieldInput,
}

const fn range(min: f64, max: f64, step: f64) -> FieldInput {
    FieldInput::Range { min, max, step }
}

const fn number(min: f64, max: Option<f64>, step: f64) -> FieldInput {
    FieldInput::Number { min, max, step }
}

/// Every setting, in the order the form shows them. Bounds follow `Settings::validate`; where it
/// excludes a bound (above 0, below 100) the form starts or stops one step inside it.
const SPECS: [Spec; 15] = [
    Spec {
        name: "auto_trading",
        label: "Auto-trading",
        help: "Enter positions without asking when an opportunity scores at or above the threshold.",
        unit: "",
        kind: Kind::Bool,
        input: FieldInput::Toggle,
    },
    Spec {
        name: "opportunity_threshold",
        label: "Opportunity threshold",
        help: "Lowest score (1–10) auto-trading enters and that counts as a new opportunity.",
        unit: "",
        kind: Kind::Int,
        input: range(1.0, 10.0, 1.0),
    },
    Spec {
        name: "max_positions",
        label: "Maximum positions",
        help: "Most positions open at once (1–100).",
        unit: "",
        kind: Kind::Int,
        input: number(1.0, Some(100.0), 1.0),
    },
    Spec {
        name: "capital_allocation_percent",
        label: "Capital per position",
        help: "Share of available capital one entry uses, split 50/50 between YES and NO (above 0, at most 100).",
        unit: "%",
        kind: Kind::Decimal,
        input: range(0.1, 100.0, 0.1),
    },
    Spec {
        name: "liquidation_drop_percent",
        label: "Liquidation drop",
        help: "A side whose best bid falls this far below its entry price is sold (above 0, below 100).",
        unit: "%",
        kind: Kind::Decimal,
        input: range(0.1, 99.9, 0.1),
    },
    Spec {
        name: "stop_loss_percent",
        label: "Stop loss",
        help: "Once one side is sold, sell the other this far below its entry (0 = off, below 100).",
        unit: "%",
        kind: Kind::Decimal,
        input: range(0.0, 99.9, 0.1),
    },
    Spec {
        name: "take_profit_percent",
        label: "Take profit",
        help: "Once one side is sold, sell the other this far above its entry (0 = off, at most 1000).",
        unit: "%",
        kind: Kind::Decimal,
        input: range(0.0, 1000.0, 1.0),
    },
    Spec {
        name: "max_slippage_percent",
        label: "Maximum slippage",
        help: "How far past the best ask an entry may walk the book; each side's share must rest within it (0–50).",
        unit: "%",
        kind: Kind::Decimal,
        input: range(0.0, 50.0, 0.1),
    },
    Spec {
        name: "min_liquidity",
        label: "Minimum liquidity",
        help: "The scanner skips markets whose liquidity is below this.",
        unit: "pUSD",
        kind: Kind::Decimal,
        input: number(0.0, None, 0.01),
    },
    Spec {
        name: "min_volume_24h",
        label: "Minimum 24 h volume",
        help: "The scanner skips markets that traded less than this over the last day.",
        unit: "pUSD",
        kind: Kind::Decimal,
        input: number(0.0, None, 0.01),
    },
    Spec {
        name: "min_hours_to_end",
        label: "Minimum time to end",
        help: "The scanner skips markets ending sooner than this.",
        unit: "h",
        kind: Kind::Int,
        input: number(0.0, None, 1.0),
    },
    Spec {
        name: "max_days_to_end",
        label: "Maximum time to end",
        help: "The scanner skips markets ending later than this (at least 1, and past the minimum time to end).",
        unit: "days",
        kind: Kind::Int,
        input: number(1.0, None, 1.0),
    },
    Spec {
        name: "scan_interval_secs",
        label: "Scan interval",
        help: "Time between scans (10–86400).",
        unit: "s",
        kind: Kind::Int,
        input: number(10.0, Some(86_400.0), 1.0),
    },
    Spec {
        name: "sweep_interval_secs",
        label: "Sweep interval",
        help: "Time between safety sweeps of open positions (1–3600).",
        unit: "s",
        kind: Kind::Int,
        input: number(1.0, Some(3_600.0), 1.0),
    },
    Spec {
        name: "leg_retries",
        label: "Entry side retries",
        help: "Extra attempts at an entry side that failed while the other filled, before the filled side is sold back (0–5).",
        unit: "",
        kind: Kind::Int,
        input: number(0.0, Some(5.0), 1.0),
    },
];

/// The form for `settings`: every field with the value in force (a JSON bool, an integer, or a
/// decimal as its exact string).
#[must_use]
pub(crate) fn fields(settings: &Settings) -> Vec<SettingField> {
    // Settings serialise exactly as the form wants its values: decimals as strings.
    let values = match serde_json::to_value(settings) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    SPECS
        .iter()
        .map(|s| SettingField {
            name: s.name.to_owned(),
            label: s.label.to_owned(),
            help: s.help.to_owned(),
            input: s.input.clone(),
            value: values.get(s.name).cloned().unwrap_or(Value::Null),
            unit: s.unit.to_owned(),
        })
        .collect()
}

/// A setting's value, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Typed {
    Bool(bool),
    Int(i64),
    Decimal(Decimal),
}

/// At most this much of what was sent is repeated in a message.
const ECHO: usize = 40;

fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if text.chars().count() > ECHO {
        format!("{}…", text.chars().take(ECHO).collect::<String>())
    } else {
        text
    }
}

/// A decimal from its text: plain (`12.5`) or scientific (`1e3`, as JSON numbers may print).
fn decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    Decimal::from_str(text)
        .ok()
        .or_else(|| text.contains(['e', 'E']).then(|| Decimal::from_scientific(text).ok()).flatten())
}

impl Kind {
    fn parse(self, value: &Value) -> Result<Typed, &'static str> {
        let text = match value {
            Value::String(s) if s.trim().is_empty() => return Err("a value is required"),
            Value::String(s) => s.trim().to_owned(),
            // A JSON number's own text: 12.5 stays 12.5, never a float's nearest binary value.
            Value::Number(n) => n.to_string(),
            Value::Bool(b) if self == Self::Bool => return Ok(Typed::Bool(*b)),
            Value::Null => return Err("a value is required"),
            _ => String::new(),
        };
        match self {
            Self::Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "on" | "1" => Ok(Typed::Bool(true)),
                "false" | "off" | "0" => Ok(Typed::Bool(false)),
                _ => Err("must be true or false"),
            },
            Self::Int => match text.parse::<i64>() {
                Ok(v) => Ok(Typed::Int(v)),
                // "10.0" is a whole number too.
                Err(_) => decimal(&text)
                    .filter(|d| d.fract().is_zero())
                    .and_then(|d| d.to_i64())
                    .map(Typed::Int)
                    .ok_or("must be a whole number"),
            },
            Self::Decimal => decimal(&text).map(Typed::Decimal).ok_or("must be a number"),
        }
    }
}

/// Puts a typed value in the patch; false for a name the patch has no field for.
fn set(patch: &mut SettingsPatch, name: &str, value: Typed) -> bool {
    let slot_int = |slot: &mut Option<i64>| match value {
        Typed::Int(v) => {
            *slot = Some(v);
            true
        }
        _ => false,
    };
    let slot_decimal = |slot: &mut Option<Decimal>| match value {
        Typed::Decimal(v) => {
            *slot = Some(v);
            true
        }
        _ => false,
    };
    match name {
        "auto_trading" => match value {
            Typed::Bool(v) => {
                patch.auto_trading = Some(v);
                true
            }
            _ => false,
        },
        "opportunity_threshold" => slot_int(&mut patch.opportunity_threshold),
        "max_positions" => slot_int(&mut patch.max_positions),
        "min_hours_to_end" => slot_int(&mut patch.min_hours_to_end),
        "max_days_to_end" => slot_int(&mut patch.max_days_to_end),
        "scan_interval_secs" => slot_int(&mut patch.scan_interval_secs),
        "sweep_interval_secs" => slot_int(&mut patch.sweep_interval_secs),
        "leg_retries" => slot_int(&mut patch.leg_retries),
        "capital_allocation_percent" => slot_decimal(&mut patch.capital_allocation_percent),
        "liquidation_drop_percent" => slot_decimal(&mut patch.liquidation_drop_percent),
        "stop_loss_percent" => slot_decimal(&mut patch.stop_loss_percent),
        "take_profit_percent" => slot_decimal(&mut patch.take_profit_percent),
        "max_slippage_percent" => slot_decimal(&mut patch.max_slippage_percent),
        "min_liquidity" => slot_decimal(&mut patch.min_liquidity),
        "min_volume_24h" => slot_decimal(&mut patch.min_volume_24h),
        _ => false,
    }
}

/// The patch a posted object describes.
///
/// # Errors
/// Every unknown key ("unknown setting") and every value that is not of its field's type, each
/// naming its field; nothing is applied then.
pub(crate) fn coerce(posted: &Map<String, Value>) -> Result<SettingsPatch, Vec<FieldError>> {
    let mut patch = SettingsPatch::default();
    let mut errors = Vec::new();
    for (key, value) in posted {
        let Some(spec) = SPECS.iter().find(|s| s.name == key) else {
            errors.push(FieldError {
                field: key.chars().take(100).collect(),
                message: "unknown setting".into(),
            });
            continue;
        };
        match spec.kind.parse(value) {
            Ok(typed) => {
                let known = set(&mut patch, spec.name, typed);
                debug_assert!(known, "{} has a descriptor but no patch field", spec.name);
            }
            Err(why) => errors.push(FieldError {
                field: spec.name.to_owned(),
                message: format!("{} {why}, got {}", spec.label, shown(value)),
            }),
        }
    }
    if errors.is_empty() { Ok(patch) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn every_setting_has_one_descriptor_and_a_patch_field() {
        let values = object(serde_json::to_value(Settings::default()).unwrap());
        let names: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
        let mut keys: Vec<&str> = values.keys().map(String::as_str).collect();
        let mut sorted = names.clone();
        keys.sort_unstable();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "the form covers every field of Settings, once");
        for s in &SPECS {
            let sample = match s.kind {
                Kind::Bool => Typed::Bool(true),
                Kind::Int => Typed::Int(1),
                Kind::Decimal => Typed::Decimal(Decimal::ONE),
            };
            assert!(set(&mut SettingsPatch::default(), s.name, sample), "{}", s.name);
            assert_eq!(matches!(s.input, FieldInput::Toggle), s.kind == Kind::Bool, "{}", s.name);
        }
        let form = fields(&Settings::default());
        let by = |n: &str| form.iter().find(|f| f.name == n).unwrap().value.clone();
        assert_eq!(by("auto_trading"), json!(false));
        assert_eq!(by("scan_interval_secs"), json!(300));
        assert_eq!(by("liquidation_drop_percent"), json!("30"), "decimals as exact strings");
    }

    /// The form's bounds are the validation's: the bound itself is accepted, one step past it
    /// refused.
    #[test]
    fn form_bounds_match_validation() {
        let base = Settings::default();
        let try_value = |name: &str, v: f64| {
            let text = Decimal::from_f64_retain(v).unwrap().round_dp(6).normalize().to_string();
            let patch = coerce(&object(json!({ name: text }))).unwrap();
            base.patched(&patch).is_ok()
        };
        for s in SPECS.iter().filter(|s| s.kind != Kind::Bool) {
            let (min, max, step) = match s.input {
                FieldInput::Range { min, max, step } => (min, Some(max), step),
                FieldInput::Number { min, max, step } => (min, max, step),
                FieldInput::Toggle => unreachable!(),
            };
            assert!(try_value(s.name, min), "{} accepts its minimum {min}", s.name);
            assert!(!try_value(s.name, min - step), "{} refuses below {min}", s.name);
            if let Some(max) = max {
                assert!(try_value(s.name, max), "{} accepts its maximum {max}", s.name);
                assert!(!try_value(s.name, max + step), "{} refuses above {max}", s.name);
            }
        }
    }

    #[test]
    fn strings_numbers_and_bools_are_coerced_exactly() {
        let patch = coerce(&object(json!({
            "stop_loss_percent": "12.5",
            "take_profit_percent": 40.1,
            "min_liquidity": 1e3,
            "capital_allocation_percent": " 7.25 ",
            "max_positions": "5",
            "scan_interval_secs": 600,
            "leg_retries": "2.0",
            "auto_trading": "on",
        })))
        .unwrap();
        assert_eq!(patch.stop_loss_percent, Some(dec!(12.5)));
        assert_eq!(patch.take_profit_percent, Some(dec!(40.1)), "a JSON number by its text, not as a float");
        assert_eq!(patch.min_liquidity, Some(dec!(1000)));
        assert_eq!(patch.capital_allocation_percent, Some(dec!(7.25)));
        assert_eq!(
            (patch.max_positions, patch.scan_interval_secs, patch.leg_retries),
            (Some(5), Some(600), Some(2))
        );
        assert_eq!(patch.auto_trading, Some(true));
        for (value, expected) in [(json!(false), false), (json!("true"), true), (json!("false"), false)] {
            let p = coerce(&object(json!({ "auto_trading": value }))).unwrap();
            assert_eq!(p.auto_trading, Some(expected));
        }
        assert_eq!(coerce(&Map::new()).unwrap(), SettingsPatch::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_each_named() {
        let errors = coerce(&object(json!({
            "stop_los_percent": "5",
            "max_positions": "three",
            "opportunity_threshold": "6.5",
            "liquidation_drop_percent": "",
            "auto_trading": "maybe",
            "min_liquidity": [1],
        })))
        .unwrap_err();
        let by = |f: &str| errors.iter().find(|e| e.field == f).map(|e| e.message.clone());
        assert_eq!(errors.len(), 6, "{errors:?}");
        assert_eq!(by("stop_los_percent").as_deref(), Some("unknown setting"));
        assert_eq!(
            by("max_positions").as_deref(),
            Some("Maximum positions must be a whole number, got \"three\"")
        );
        assert!(by("opportunity_threshold").unwrap().contains("whole number"));
        assert!(by("liquidation_drop_percent").unwrap().contains("a value is required"));
        assert!(by("auto_trading").unwrap().contains("true or false"));
        assert!(by("min_liquidity").unwrap().contains("must be a number"));
        let long = "9".repeat(500);
        let e = coerce(&object(json!({ "max_positions": format!("x{long}") }))).unwrap_err();
        assert!(e[0].message.len() < 120, "what was sent is cut short: {}", e[0].message);
    }
}
