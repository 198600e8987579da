"""The plugin's logic under plain CPython: `python3 -m unittest` in the project."""

import unittest

from equilibrage_plugin import MarketFeatures, Params

import plugin


class ScorerTest(unittest.TestCase):
    def test_a_balanced_liquid_market_scores_high(self):
        params = Params(plugin.INFO, [0.6, 0.4])
        score, factors = plugin.score(params, 0, MarketFeatures(yes_bid=490_000, yes_ask=510_000, liquidity=200_000_000_000))
        self.assertAlmostEqual(score, 10.0)
        self.assertEqual(factors, [1.0, 1.0])

    def test_scores_stay_between_1_and_10(self):
        params = Params(plugin.INFO, [0.6, 0.4])
        for bid in range(0, 1_000_001, 50_000):
            score, _ = plugin.score(params, 0, MarketFeatures(yes_bid=bid or None, yes_ask=None, liquidity=bid))
            self.assertTrue(1.0 <= score <= 10.0, (bid, score))


if __name__ == "__main__":
    unittest.main()
