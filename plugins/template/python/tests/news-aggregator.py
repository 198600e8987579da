"""The plugin's logic under plain CPython: `python3 -m unittest` in the project."""

import unittest

from equilibrage_plugin import MarketText, NewsItem, Params

import plugin


class NewsTest(unittest.TestCase):
    def test_an_item_naming_the_category_matches_its_markets(self):
        params = Params(plugin.INFO, [0.7])
        items = [NewsItem("Fed holds rates; CRYPTO rallies"), NewsItem("Weather")]
        markets = [MarketText("Will BTC top 100k?", "Crypto"), MarketText("Who wins?", "Sports"), MarketText("Untagged?", "")]
        matches = plugin.match_news(params, 0, items, markets)
        self.assertEqual([(m.item, m.market, m.relevance) for m in matches], [(0, 0, 0.7)])

    def test_nothing_matches_nothing(self):
        self.assertEqual(plugin.match_news(Params(plugin.INFO, [0.5]), 0, [], []), [])


if __name__ == "__main__":
    unittest.main()
