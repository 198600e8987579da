//! A news-aggregator plugin: an item matches a market when its title contains the market's
//! category.

use equilibrage_plugin_sdk::prelude::*;

struct Plugin;

impl NewsAggregator for Plugin {
    fn info() -> PluginInfo {
        PluginInfo::new("template-plugin", "0.1.0", "Matches items whose title names the market's category.")
            .param("relevance", 0.5, 0.0, 1.0, "Relevance given to every match.")
    }

    fn match_news(params: &Params, _now_ms: i64, items: &[NewsItem], markets: &[MarketText]) -> Result<Vec<NewsMatch>, String> {
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let title = item.title.to_lowercase();
            for (m, market) in markets.iter().enumerate() {
                if !market.category.is_empty() && title.contains(&market.category.to_lowercase()) {
                    let relevance = params.get("relevance") as f32;
                    out.push(NewsMatch { item: i as u32, market: m as u32, relevance, sentiment: 0.0 });
                }
            }
        }
        Ok(out)
    }
}

export_news_aggregator!(Plugin);
