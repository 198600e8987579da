//! A liquidation-rules plugin: sell a side once its best bid falls a set fraction below entry.

use equilibrage_plugin_sdk::prelude::*;

struct Plugin;

impl LiquidationRules for Plugin {
    fn info() -> PluginInfo {
        PluginInfo::new("template-plugin", "0.1.0", "Sells a side once it falls below entry by the drop.")
            .param("drop", 0.25, 0.01, 0.99, "Fall below entry that sells a side (0.25 = 25 %).")
    }

    fn evaluate(params: &Params, _now_ms: i64, p: &PositionView) -> Option<(Action, String)> {
        let fallen = |leg: &Leg| {
            leg.shares > 0 && leg.best_bid.is_some_and(|bid| micros(bid) <= micros(leg.entry_price) * (1.0 - params.get("drop")))
        };
        let (side, name) = if fallen(&p.yes) {
            (Outcome::Yes, "YES")
        } else if fallen(&p.no) {
            (Outcome::No, "NO")
        } else {
            return None;
        };
        Some((Action::Liquidate(side), format!("{name} fell below the drop")))
    }
}

export_liquidation_rules!(Plugin);
