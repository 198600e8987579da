//! A scorer plugin: favours liquid markets priced near 50/50.

use equilibrage_plugin_sdk::prelude::*;

struct Plugin;

impl Scorer for Plugin {
    fn info() -> PluginInfo {
        PluginInfo::new("template-plugin", "0.1.0", "Favours liquid markets priced near 50/50.")
            .param("weight-balance", 0.6, 0.0, 1.0, "Weight of price balance.")
            .factor("balance", "weight-balance", "How close YES is to 0.50.")
            .param("weight-liquidity", 0.4, 0.0, 1.0, "Weight of liquidity.")
            .factor("liquidity", "weight-liquidity", "Liquidity against 100k pUSD.")
    }

    fn score(params: &Params, _now_ms: i64, m: &MarketFeatures) -> MarketScore {
        let yes = micros(m.yes_bid.unwrap_or(0) + m.yes_ask.unwrap_or(1_000_000)) / 2.0;
        let balance = 1.0 - ((yes - 0.5).abs() * 2.0).min(1.0);
        let liquidity = (micros(m.liquidity) / 100_000.0).min(1.0);
        let (wb, wl) = (params.get("weight-balance"), params.get("weight-liquidity"));
        let blend = (wb * balance + wl * liquidity) / (wb + wl).max(f64::EPSILON);
        MarketScore {
            score: (1.0 + 9.0 * blend.clamp(0.0, 1.0)) as f32,
            factors: vec![balance as f32, liquidity as f32],
        }
    }
}

export_scorer!(Plugin);
