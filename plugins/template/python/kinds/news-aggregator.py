"""A news-aggregator plugin: an item matches a market when its title contains the market's
category (the twin of the Rust template)."""

from equilibrage_plugin import Info, MarketText, NewsItem, NewsMatch, Params

INFO = (
    Info("template-plugin", "0.1.0", "Matches items whose title names the market's category.")
    .param("relevance", 0.5, 0.0, 1.0, "Relevance given to every match.")
)


def match_news(params: Params, now_ms: int, items: list, markets: list) -> list:
    """One `NewsMatch` per (item, market) pair that belong together."""
    out = []
    for i, item in enumerate(items):
        title = item.title.lower()
        for m, market in enumerate(markets):
            if market.category and market.category.lower() in title:
                out.append(NewsMatch(item=i, market=m, relevance=params.get("relevance"), sentiment=0.0))
    return out
