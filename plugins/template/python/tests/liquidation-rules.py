"""The plugin's logic under plain CPython: `python3 -m unittest` in the project."""

import unittest

from equilibrage_plugin import Leg, Params, PositionView, liquidate

import plugin


class RulesTest(unittest.TestCase):
    def test_a_side_below_the_drop_is_sold(self):
        params = Params(plugin.INFO, [0.25])
        p = PositionView(yes=Leg(100_000_000, 500_000, best_bid=370_000), no=Leg(100_000_000, 500_000, best_bid=620_000))
        self.assertEqual(plugin.evaluate(params, 0, p), (liquidate("yes"), "YES fell below the drop"))

    def test_both_above_the_drop_hold(self):
        params = Params(plugin.INFO, [0.25])
        p = PositionView(yes=Leg(100_000_000, 500_000, best_bid=400_000), no=Leg(100_000_000, 500_000, best_bid=None))
        self.assertIsNone(plugin.evaluate(params, 0, p))


if __name__ == "__main__":
    unittest.main()
