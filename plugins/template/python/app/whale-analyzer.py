"""The component's glue (built by componentize-py, world `whale-analyzer`): the host's types in,
the plugin's analysis out. The strategy is in plugin.py."""

import equilibrage_plugin as sdk
import plugin
import wit_world
from componentize_py_types import Err
from wit_world.imports import types, whales


def trade(t: whales.Trade) -> sdk.Trade:
    return sdk.Trade(
        wallet=t.wallet,
        market=t.market,
        outcome=sdk.YES if t.outcome == types.Outcome.YES else sdk.NO,
        side=sdk.BUY if t.side == whales.TradeSide.BUY else sdk.SELL,
        price=t.price,
        shares=t.shares,
        at=t.at,
    )


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return sdk.wit_info(types, types.PluginKind.WHALE_ANALYZER, plugin.INFO)

    def analyze(self, params, now, input) -> whales.Analysis:
        view = sdk.AnalysisInput(input.wallet_count, input.market_count, [trade(t) for t in input.trades])
        try:
            out = sdk.check_analysis(plugin.analyze(sdk.Params(plugin.INFO, params), now, view), view)
        except ValueError as e:
            raise Err(str(e))
        return whales.Analysis(
            whales=[
                whales.WalletProfile(
                    wallet=w.wallet, volume=w.volume, trades=w.trades, net_yes_flow=w.net_yes_flow, weight=w.weight
                )
                for w in out.whales
            ],
            markets=[
                whales.MarketSignal(
                    market=m.market,
                    activity=m.activity,
                    net_yes_flow=m.net_yes_flow,
                    whale_count=m.whale_count,
                    concentration=m.concentration,
                )
                for m in out.markets
            ],
        )
