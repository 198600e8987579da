//! A whale-analyzer plugin: every wallet trading more than a threshold is a whale.

use equilibrage_plugin_sdk::prelude::*;
use std::collections::BTreeMap;

struct Plugin;

impl WhaleAnalyzer for Plugin {
    fn info() -> PluginInfo {
        PluginInfo::new("template-plugin", "0.1.0", "Wallets above a volume threshold are whales.")
            .param("min-volume", 10_000.0, 1.0, 1e9, "pUSD a wallet must trade to be a whale.")
    }

    fn analyze(params: &Params, _now_ms: i64, input: &AnalysisInput) -> Result<Analysis, String> {
        let mut volume: BTreeMap<u32, (i64, u32)> = BTreeMap::new();
        for t in &input.trades {
            let v = volume.entry(t.wallet).or_default();
            v.0 += (i128::from(t.price) * i128::from(t.shares) / 1_000_000) as i64;
            v.1 += 1;
        }
        let min = (params.get("min-volume") * 1e6) as i64;
        let whales = volume
            .into_iter()
            .filter(|(_, (v, _))| *v >= min)
            .map(|(wallet, (volume, trades))| WalletProfile { wallet, volume, trades, net_yes_flow: 0, weight: 1.0 })
            .collect();
        Ok(Analysis { whales, markets: vec![] })
    }
}

export_whale_analyzer!(Plugin);
