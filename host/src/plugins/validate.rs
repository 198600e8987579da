//! Checks of everything a plugin hands back: self-descriptions, parameter values and outputs.
//! A plugin that breaks a rule is a faulty plugin; its output is never acted upon.

use super::bindings::liquidation_rules::equilibrage::plugin::rules::{Action, Decision, PositionView};
use super::bindings::news_aggregator::equilibrage::plugin::news::NewsMatch;
use super::bindings::scorer::equilibrage::plugin::scoring::Scores;
use super::bindings::types as wit;
use super::bindings::whale_analyzer::equilibrage::plugin::whales::Analysis;
use super::model::{FactorSpec, ParamError, ParamSpec, PluginInfo, PluginKind};
use std::collections::HashSet;

const MAX_NAME: usize = 64;
const MAX_TEXT: usize = 2_048;
const MAX_PARAMS: usize = 64;
const MAX_FACTORS: usize = 32;

fn kind_of(kind: wit::PluginKind) -> PluginKind {
    match kind {
        wit::PluginKind::Scorer => PluginKind::Scorer,
        wit::PluginKind::WhaleAnalyzer => PluginKind::WhaleAnalyzer,
        wit::PluginKind::NewsAggregator => PluginKind::NewsAggregator,
        wit::PluginKind::LiquidationRules => PluginKind::LiquidationRules,
    }
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!("{what} {name:?} must be 1-{MAX_NAME} characters of a-z, 0-9, '-', '_' or '.'"))
    }
}

fn check_text(what: &str, text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT {
        return Err(format!("{what} is longer than {MAX_TEXT} bytes"));
    }
    Ok(())
}

/// Validates what `describe` returned by a plugin loaded as `expected`.
pub(crate) fn info(raw: wit::PluginInfo, expected: PluginKind) -> Result<PluginInfo, String> {
    let kind = kind_of(raw.kind);
    if kind != expected {
        return Err(format!(
            "describe() says kind {kind}, but the component implements the {expected} world"
        ));
    }
    check_name("plugin name", &raw.name)?;
    check_name("version", &raw.version)?;
    check_text("description", &raw.description)?;
    if raw.params.len() > MAX_PARAMS {
        return Err(format!("more than {MAX_PARAMS} parameters"));
    }
    let mut seen = HashSet::new();
    let mut params = Vec::with_capacity(raw.params.len());
    for p in raw.params {
        check_name("parameter", &p.name)?;
        check_text("parameter help", &p.help)?;
        if !seen.insert(p.name.clone()) {
            return Err(format!("parameter {:?} is declared twice", p.name));
        }
        let finite = p.min.is_finite() && p.max.is_finite() && p.default.is_finite();
        if !finite || p.min > p.max || p.default < p.min || p.default > p.max {
            return Err(format!(
                "parameter {:?} needs finite min <= default <= max, got {} <= {} <= {}",
                p.name, p.min, p.default, p.max
            ));
        }
        params.push(ParamSpec { name: p.name, help: p.help, default: p.default, min: p.min, max: p.max });
    }
    if kind != PluginKind::Scorer && !raw.factors.is_empty() {
        return Err("only scorers declare factors".into());
    }
    if raw.factors.len() > MAX_FACTORS {
        return Err(format!("more than {MAX_FACTORS} factors"));
    }
    let mut factor_names = HashSet::new();
    let mut factors = Vec::with_capacity(raw.factors.len());
    for f in raw.factors {
        check_name("factor", &f.name)?;
        check_text("factor help", &f.help)?;
        if !factor_names.insert(f.name.clone()) {
            return Err(format!("factor {:?} is declared twice", f.name));
        }
        if let Some(w) = &f.weight_param
            && !seen.contains(w)
        {
            return Err(format!("factor {:?} is weighed by undeclared parameter {w:?}", f.name));
        }
        factors.push(FactorSpec { name: f.name, help: f.help, weight_param: f.weight_param });
    }
    Ok(PluginInfo {
        name: raw.name,
        version: raw.version,
        kind,
        description: raw.description,
        params,
        factors,
    })
}

/// Checks a full set of parameter values against their specs.
pub(crate) fn param_values(values: &[f64], specs: &[ParamSpec]) -> Result<(), ParamError> {
    for (value, spec) in values.iter().zip(specs) {
        if !value.is_finite() || *value < spec.min || *value > spec.max {
            return Err(ParamError::OutOfRange {
                param: spec.name.clone(),
                value: *value,
                min: spec.min,
                max: spec.max,
            });
        }
    }
    Ok(())
}

/// One score per market in 1..=10, and one finite value per market and declared factor.
pub(crate) fn scores(out: &Scores, markets: usize, factors: usize) -> Result<(), String> {
    if out.values.len() != markets {
        return Err(format!("{} scores for {markets} markets", out.values.len()));
    }
    if out.factors.len() != markets * factors {
        return Err(format!(
            "{} factor values for {markets} markets × {factors} declared factors",
            out.factors.len()
        ));
    }
    // Branch-free passes first (they vectorize); find the culprit only when there is one.
    let scores_ok = out.values.iter().fold(true, |ok, s| ok & (*s >= 1.0) & (*s <= 10.0));
    if !scores_ok
        && let Some((i, bad)) = out.values.iter().enumerate().find(|(_, s)| !(1.0..=10.0).contains(*s))
    {
        return Err(format!("market {i}: score {bad} is outside 1-10"));
    }
    let factors_ok = out.factors.iter().fold(true, |ok, f| ok & f.is_finite());
    if !factors_ok && let Some((i, bad)) = out.factors.iter().enumerate().find(|(_, f)| !f.is_finite()) {
        return Err(format!("market {}: factor value {bad} is not finite", i / factors.max(1)));
    }
    Ok(())
}

/// Indices in range, each wallet and market at most once, weights, activity and concentration
/// in 0..=1.
pub(crate) fn analysis(a: &Analysis, wallets: u32, markets: u32) -> Result<(), String> {
    let mut seen = HashSet::new();
    for w in &a.whales {
        if w.wallet >= wallets {
            return Err(format!("wallet index {} is out of range (0..{wallets})", w.wallet));
        }
        if !seen.insert(w.wallet) {
            return Err(format!("wallet {} is profiled twice", w.wallet));
        }
        if !(0.0..=1.0).contains(&w.weight) {
            return Err(format!("wallet {}: weight {} is outside 0-1", w.wallet, w.weight));
        }
        if w.volume < 0 {
            return Err(format!("wallet {}: negative volume", w.wallet));
        }
    }
    let mut seen = HashSet::new();
    for m in &a.markets {
        if m.market >= markets {
            return Err(format!("market index {} is out of range (0..{markets})", m.market));
        }
        if !seen.insert(m.market) {
            return Err(format!("market {} has two signals", m.market));
        }
        if !(0.0..=1.0).contains(&m.activity) {
            return Err(format!("market {}: activity {} is outside 0-1", m.market, m.activity));
        }
        if !(0.0..=1.0).contains(&m.concentration) {
            return Err(format!("market {}: concentration {} is outside 0-1", m.market, m.concentration));
        }
    }
    Ok(())
}

/// Indices in range, relevance in 0..=1, sentiment in -1..=1.
pub(crate) fn matches(found: &[NewsMatch], items: usize, markets: usize) -> Result<(), String> {
    for m in found {
        if m.item as usize >= items || m.market as usize >= markets {
            return Err(format!(
                "match ({}, {}) is out of range ({items} items, {markets} markets)",
                m.item, m.market
            ));
        }
        if !(0.0..=1.0).contains(&m.relevance) || !(-1.0..=1.0).contains(&m.sentiment) {
            return Err(format!(
                "match ({}, {}): relevance {} or sentiment {} out of range",
                m.item, m.market, m.relevance, m.sentiment
            ));
        }
    }
    Ok(())
}

/// Each decision names an existing position once and only sells sides still held.
pub(crate) fn decisions(found: &[Decision], positions: &[PositionView]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for d in found {
        let Some(p) = positions.get(d.position as usize) else {
            return Err(format!("decision about position {} of {}", d.position, positions.len()));
        };
        if !seen.insert(d.position) {
            return Err(format!("two decisions about position {}", d.position));
        }
        check_text("reason", &d.reason)?;
        let held = |side: wit::Outcome| match side {
            wit::Outcome::Yes => p.yes.shares > 0,
            wit::Outcome::No => p.no.shares > 0,
        };
        match d.action {
            Action::Liquidate(_) => {
                if !(p.yes.shares > 0 && p.no.shares > 0) {
                    return Err(format!("position {}: liquidate needs both sides held", d.position));
                }
            }
            Action::StopLoss(side) | Action::TakeProfit(side) => {
                if !held(side) {
                    return Err(format!("position {}: {side:?} is not held", d.position));
                }
            }
            Action::CloseAll => {
                if !(held(wit::Outcome::Yes) || held(wit::Outcome::No)) {
                    return Err(format!("position {}: nothing left to close", d.position));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::bindings::liquidation_rules::equilibrage::plugin::rules::Leg;

    fn raw() -> wit::PluginInfo {
        wit::PluginInfo {
            name: "s".into(),
            version: "1.0.0".into(),
            kind: wit::PluginKind::Scorer,
            description: String::new(),
            params: vec![wit::ParamSpec {
                name: "w".into(),
                help: String::new(),
                default: 0.5,
                min: 0.0,
                max: 1.0,
            }],
            factors: vec![wit::FactorSpec {
                name: "f".into(),
                help: String::new(),
                weight_param: Some("w".into()),
            }],
        }
    }

    #[test]
    fn info_rejects_wrong_kind_bad_ranges_duplicates_and_dangling_weights() {
        assert!(info(raw(), PluginKind::Scorer).is_ok());
        assert!(info(raw(), PluginKind::LiquidationRules).unwrap_err().contains("kind scorer"));
        let mut r = raw();
        r.params[0].default = 2.0;
        assert!(info(r, PluginKind::Scorer).unwrap_err().contains("min <= default <= max"));
        let mut r = raw();
        r.params[0].max = f64::NAN;
        assert!(info(r, PluginKind::Scorer).is_err());
        let mut r = raw();
        r.params.push(r.params[0].clone());
        assert!(info(r, PluginKind::Scorer).unwrap_err().contains("twice"));
        let mut r = raw();
        r.factors[0].weight_param = Some("nope".into());
        assert!(info(r, PluginKind::Scorer).unwrap_err().contains("undeclared"));
        let mut r = raw();
        r.name = "<script>".into();
        assert!(info(r, PluginKind::Scorer).is_err());
    }

    #[test]
    fn scores_must_be_one_to_ten_finite_and_aligned() {
        let out = |values: Vec<f32>, factors: Vec<f32>| Scores { values, factors };
        assert!(scores(&out(vec![1.0, 10.0], vec![0.0, 1.0]), 2, 1).is_ok());
        assert!(scores(&out(vec![10.5], vec![0.0]), 1, 1).unwrap_err().contains("outside 1-10"));
        assert!(scores(&out(vec![0.99], vec![0.0]), 1, 1).is_err());
        assert!(scores(&out(vec![f32::NAN], vec![0.0]), 1, 1).is_err());
        assert!(
            scores(&out(vec![5.0, 5.0], vec![0.0, 0.0, f32::INFINITY, 0.0]), 2, 2)
                .unwrap_err()
                .contains("market 1: factor value inf")
        );
        assert!(scores(&out(vec![5.0], vec![]), 1, 1).unwrap_err().contains("0 factor values"));
        assert!(scores(&out(vec![5.0], vec![0.0]), 2, 1).unwrap_err().contains("1 scores for 2"));
    }

    #[test]
    fn decisions_must_name_a_position_once_and_a_held_side() {
        let leg = |shares| Leg { shares, entry_price: 500_000, best_bid: Some(1), best_ask: None };
        let both = PositionView { yes: leg(1), no: leg(1), opened_at: 0, liquidated: None };
        let only_no =
            PositionView { yes: leg(0), no: leg(1), opened_at: 0, liquidated: Some(wit::Outcome::Yes) };
        let d = |position, action| Decision { position, action, reason: String::new() };
        let ps = [both, only_no];
        assert!(
            decisions(
                &[d(0, Action::Liquidate(wit::Outcome::Yes)), d(1, Action::StopLoss(wit::Outcome::No))],
                &ps
            )
            .is_ok()
        );
        assert!(decisions(&[d(2, Action::CloseAll)], &ps).is_err());
        assert!(
            decisions(&[d(0, Action::CloseAll), d(0, Action::CloseAll)], &ps)
                .unwrap_err()
                .contains("two decisions")
        );
        assert!(
            decisions(&[d(1, Action::TakeProfit(wit::Outcome::Yes))], &ps).unwrap_err().contains("not held")
        );
        assert!(
            decisions(&[d(1, Action::Liquidate(wit::Outcome::No))], &ps).unwrap_err().contains("both sides")
        );
    }

    #[test]
    fn param_values_must_be_finite_and_in_range() {
        let specs = [ParamSpec { name: "x".into(), help: String::new(), default: 1.0, min: 0.0, max: 2.0 }];
        assert!(param_values(&[2.0], &specs).is_ok());
        assert!(param_values(&[2.1], &specs).is_err());
        assert!(param_values(&[f64::NAN], &specs).is_err());
    }
}
