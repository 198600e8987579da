"""The plugin's logic under plain CPython: `python3 -m unittest` in the project."""

import unittest

from equilibrage_plugin import BUY, SELL, YES, AnalysisInput, Params, Trade

import plugin


def trade(wallet: int, price: int, shares: int, side: str = BUY) -> Trade:
    return Trade(wallet=wallet, market=0, outcome=YES, side=side, price=price, shares=shares, at=0)


class WhalesTest(unittest.TestCase):
    def test_a_wallet_above_the_threshold_is_a_whale(self):
        params = Params(plugin.INFO, [10_000.0])
        # 0.50 x 30,000 shares = 15,000 pUSD in two trades; the other wallet trades 50 pUSD.
        trades = [trade(3, 500_000, 20_000_000_000), trade(1, 500_000, 100_000_000), trade(3, 500_000, 10_000_000_000, SELL)]
        out = plugin.analyze(params, 0, AnalysisInput(4, 1, trades))
        self.assertEqual([(w.wallet, w.volume, w.trades) for w in out.whales], [(3, 15_000_000_000, 2)])
        self.assertEqual(out.markets, [])

    def test_no_trades_no_whales(self):
        out = plugin.analyze(Params(plugin.INFO, []), 0, AnalysisInput(0, 0, []))
        self.assertEqual(out.whales, [])


if __name__ == "__main__":
    unittest.main()
