//! The operator's trading settings: defaults from `[engine]` in the config file, changed live
//! through the API, validated field by field, persisted so they survive a restart.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Everything the operator tunes about the strategy. Percentages are percent (30 = 30 %).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Enter positions by itself when an opportunity scores at or above the threshold.
    pub auto_trading: bool,
    /// Lowest score (1..=10) that auto-trading enters.
    pub opportunity_threshold: u8,
    /// Most positions open at once (1..=100).
    pub max_positions: u32,
    /// Share of available capital one entry uses, split 50/50 between YES and NO (0 < x ≤ 100).
    pub capital_allocation_percent: Decimal,
    /// A side whose best bid falls this far below its entry price is sold (0 < x < 100).
    pub liquidation_drop_percent: Decimal,
    /// Once one side is gone: sell the other this far below its entry (0 = off; 0 ≤ x < 100).
    pub stop_loss_percent: Decimal,
    /// Once one side is gone: sell the other this far above its entry (0 = off; 0 ≤ x ≤ 1000).
    pub take_profit_percent: Decimal,
    /// How far past the best ask an entry may walk the book; the pre-trade check wants each
    /// side's share of the capital resting within it (0 ≤ x ≤ 50).
    pub max_slippage_percent: Decimal,
    /// Scanner filters: the venue's liquidity figure and 24 h volume, pUSD.
    pub min_liquidity: Decimal,
    pub min_volume_24h: Decimal,
    /// Scanner filters: markets ending sooner or later than this are skipped.
    pub min_hours_to_end: u32,
    pub max_days_to_end: u32,
    /// Seconds between scans (10..=86400) and between safety sweeps of open positions (1..=3600).
    pub scan_interval_secs: u64,
    pub sweep_interval_secs: u64,
    /// Extra attempts at an entry side that failed while the other side filled, before the filled
    /// side is sold back (0..=5).
    pub leg_retries: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            auto_trading: false,
            opportunity_threshold: 6,
            max_positions: 3,
            capital_allocation_percent: Decimal::from(10),
            liquidation_drop_percent: Decimal::from(30),
            stop_loss_percent: Decimal::ZERO,
            take_profit_percent: Decimal::ZERO,
            max_slippage_percent: Decimal::from(2),
            min_liquidity: Decimal::from(500),
            min_volume_24h: Decimal::ZERO,
            min_hours_to_end: 1,
            max_days_to_end: 90,
            scan_interval_secs: 300,
            sweep_interval_secs: 30,
            leg_retries: 2,
        }
    }
}

/// One field that does not hold an acceptable value, with why, for the form or the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// Every field that was refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("invalid settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct SettingsError(pub Vec<FieldError>);

/// A partial change: the fields present replace the current values, all or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub auto_trading: Option<bool>,
    pub opportunity_threshold: Option<i64>,
    pub max_positions: Option<i64>,
    pub capital_allocation_percent: Option<Decimal>,
    pub liquidation_drop_percent: Option<Decimal>,
    pub stop_loss_percent: Option<Decimal>,
    pub take_profit_percent: Option<Decimal>,
    pub max_slippage_percent: Option<Decimal>,
    pub min_liquidity: Option<Decimal>,
    pub min_volume_24h: Option<Decimal>,
    pub min_hours_to_end: Option<i64>,
    pub max_days_to_end: Option<i64>,
    pub scan_interval_secs: Option<i64>,
    pub sweep_interval_secs: Option<i64>,
    pub leg_retries: Option<i64>,
}

fn pct(v: Decimal) -> Decimal {
    v / Decimal::ONE_HUNDRED
}

impl Settings {
    /// Checks every field; all problems are reported at once.
    ///
    /// # Errors
    /// Each field outside its range, named.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, field: &'static str, message: String| {
            if !ok {
                errors.push(FieldError { field, message });
            }
        };
        let (zero, hundred) = (Decimal::ZERO, Decimal::ONE_HUNDRED);
        check(
            (1..=10).contains(&self.opportunity_threshold),
            "opportunity_threshold",
            format!("must be a score from 1 to 10, got {}", self.opportunity_threshold),
        );
        check(
            (1..=100).contains(&self.max_positions),
            "max_positions",
            format!("must be from 1 to 100, got {}", self.max_positions),
        );
        let c = self.capital_allocation_percent;
        check(
            c > zero && c <= hundred,
            "capital_allocation_percent",
            format!("must be above 0 and at most 100, got {c}"),
        );
        let l = self.liquidation_drop_percent;
        check(
            l > zero && l < hundred,
            "liquidation_drop_percent",
            format!("must be above 0 and below 100, got {l}"),
        );
        let s = self.stop_loss_percent;
        check(
            s >= zero && s < hundred,
            "stop_loss_percent",
            format!("must be from 0 (off) to below 100, got {s}"),
        );
        let t = self.take_profit_percent;
        check(
            t >= zero && t <= Decimal::from(1_000),
            "take_profit_percent",
            format!("must be from 0 (off) to 1000, got {t}"),
        );
        let m = self.max_slippage_percent;
        check(
            m >= zero && m <= Decimal::from(50),
            "max_slippage_percent",
            format!("must be from 0 to 50, got {m}"),
        );
        check(
            self.min_liquidity >= zero,
            "min_liquidity",
            format!("must not be negative, got {}", self.min_liquidity),
        );
        check(
            self.min_volume_24h >= zero,
            "min_volume_24h",
            format!("must not be negative, got {}", self.min_volume_24h),
        );
        check(
            self.max_days_to_end >= 1
                && u64::from(self.max_days_to_end) * 24 > u64::from(self.min_hours_to_end),
            "max_days_to_end",
            format!(
                "must be at least 1 and leave a window after min_hours_to_end ({} h), got {}",
                self.min_hours_to_end, self.max_days_to_end
            ),
        );
        check(
            (10..=86_400).contains(&self.scan_interval_secs),
            "scan_interval_secs",
            format!("must be from 10 to 86400, got {}", self.scan_interval_secs),
        );
        check(
            (1..=3_600).contains(&self.sweep_interval_secs),
            "sweep_interval_secs",
            format!("must be from 1 to 3600, got {}", self.sweep_interval_secs),
        );
        check(self.leg_retries <= 5, "leg_retries", format!("must be from 0 to 5, got {}", self.leg_retries));
        if errors.is_empty() { Ok(()) } else { Err(SettingsError(errors)) }
    }

    /// These settings with `patch` applied, validated; `self` is untouched either way.
    ///
    /// # Errors
    /// Every field of the patch (or of the result) that is out of range.
    pub fn patched(&self, patch: &SettingsPatch) -> Result<Self, SettingsError> {
        let mut next = self.clone();
        let mut errors = Vec::new();
        let mut int = |value: Option<i64>, field: &'static str| -> Option<u64> {
            let v = value?;
            u64::try_from(v).map_or_else(
                |_| {
                    errors.push(FieldError { field, message: format!("must not be negative, got {v}") });
                    None
                },
                Some,
            )
        };
        // Out-of-type values (300 for a score) saturate so validation names them with their range.
        let small = |v: u64| u8::try_from(v).unwrap_or(u8::MAX);
        let mid = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        if let Some(v) = int(patch.opportunity_threshold, "opportunity_threshold") {
            next.opportunity_threshold = small(v);
        }
        if let Some(v) = int(patch.max_positions, "max_positions") {
            next.max_positions = mid(v);
        }
        if let Some(v) = int(patch.min_hours_to_end, "min_hours_to_end") {
            next.min_hours_to_end = mid(v);
        }
        if let Some(v) = int(patch.max_days_to_end, "max_days_to_end") {
            next.max_days_to_end = mid(v);
        }
        if let Some(v) = int(patch.scan_interval_secs, "scan_interval_secs") {
            next.scan_interval_secs = v;
        }
        if let Some(v) = int(patch.sweep_interval_secs, "sweep_interval_secs") {
            next.sweep_interval_secs = v;
        }
        if let Some(v) = int(patch.leg_retries, "leg_retries") {
            next.leg_retries = mid(v);
        }
        let decimals = [
            (patch.capital_allocation_percent, &mut next.capital_allocation_percent),
            (patch.liquidation_drop_percent, &mut next.liquidation_drop_percent),
            (patch.stop_loss_percent, &mut next.stop_loss_percent),
            (patch.take_profit_percent, &mut next.take_profit_percent),
            (patch.max_slippage_percent, &mut next.max_slippage_percent),
            (patch.min_liquidity, &mut next.min_liquidity),
            (patch.min_volume_24h, &mut next.min_volume_24h),
        ];
        for (value, slot) in decimals {
            if let Some(v) = value {
                *slot = v;
            }
        }
        if let Some(v) = patch.auto_trading {
            next.auto_trading = v;
        }
        match next.validate() {
            Ok(()) if errors.is_empty() => Ok(next),
            Ok(()) => Err(SettingsError(errors)),
            Err(SettingsError(more)) => {
                for e in more {
                    if !errors.iter().any(|x| x.field == e.field) {
                        errors.push(e);
                    }
                }
                Err(SettingsError(errors))
            }
        }
    }

    /// The liquidation drop as a fraction (0.30).
    #[must_use]
    pub fn liquidation_drop(&self) -> Decimal {
        pct(self.liquidation_drop_percent)
    }

    /// Stop loss as a fraction; zero when off.
    #[must_use]
    pub fn stop_loss(&self) -> Decimal {
        pct(self.stop_loss_percent)
    }

    /// Take profit as a fraction; zero when off.
    #[must_use]
    pub fn take_profit(&self) -> Decimal {
        pct(self.take_profit_percent)
    }

    /// Slippage as a fraction.
    #[must_use]
    pub fn max_slippage(&self) -> Decimal {
        pct(self.max_slippage_percent)
    }

    /// Capital allocation as a fraction.
    #[must_use]
    pub fn capital_allocation(&self) -> Decimal {
        pct(self.capital_allocation_percent)
    }

    /// Time between scans.
    #[must_use]
    pub fn scan_interval(&self) -> Duration {
        Duration::from_secs(self.scan_interval_secs)
    }

    /// Time between safety sweeps.
    #[must_use]
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_the_strategy() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!((s.opportunity_threshold, s.max_positions), (6, 3));
        assert_eq!(s.capital_allocation(), Decimal::new(1, 1));
        assert_eq!(s.liquidation_drop(), Decimal::new(3, 1));
        assert!(s.stop_loss().is_zero() && s.take_profit().is_zero());
    }

    #[test]
    fn the_seed_s_bad_values_are_refused_by_name_and_change_nothing() {
        let s = Settings::default();
        let patch = SettingsPatch {
            capital_allocation_percent: Some(Decimal::from(-5)),
            opportunity_threshold: Some(11),
            max_positions: Some(0),
            ..SettingsPatch::default()
        };
        let err = s.patched(&patch).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field).collect();
        assert_eq!(fields.len(), 3, "{err}");
        for f in ["capital_allocation_percent", "opportunity_threshold", "max_positions"] {
            assert!(fields.contains(&f), "{f} missing from {err}");
        }
        assert!(err.to_string().contains("must be a score from 1 to 10, got 11"), "{err}");
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn a_negative_integer_is_named_not_wrapped() {
        let err = Settings::default()
            .patched(&SettingsPatch { max_positions: Some(-3), ..SettingsPatch::default() })
            .unwrap_err();
        assert_eq!(
            err.0,
            vec![FieldError { field: "max_positions", message: "must not be negative, got -3".into() }]
        );
    }

    #[test]
    fn a_valid_patch_changes_only_its_fields() {
        let s = Settings::default();
        let next = s
            .patched(&SettingsPatch {
                stop_loss_percent: Some(Decimal::from(20)),
                auto_trading: Some(true),
                ..SettingsPatch::default()
            })
            .unwrap();
        assert_eq!(next.stop_loss(), Decimal::new(2, 1));
        assert!(next.auto_trading);
        assert_eq!(Settings { stop_loss_percent: s.stop_loss_percent, auto_trading: false, ..next }, s);
    }
}
