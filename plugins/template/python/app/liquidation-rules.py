"""The component's glue (built by componentize-py, world `liquidation-rules`): the host's types
in, the plugin's decisions out. The strategy is in plugin.py."""

import equilibrage_plugin as sdk
import plugin
import wit_world
from wit_world.imports import rules, types

OUTCOMES = {sdk.YES: types.Outcome.YES, sdk.NO: types.Outcome.NO}


def leg(l: rules.Leg) -> sdk.Leg:
    return sdk.Leg(shares=l.shares, entry_price=l.entry_price, best_bid=l.best_bid, best_ask=l.best_ask)


def position(p: rules.PositionView) -> sdk.PositionView:
    liquidated = None
    if p.liquidated is not None:
        liquidated = sdk.YES if p.liquidated == types.Outcome.YES else sdk.NO
    return sdk.PositionView(yes=leg(p.yes), no=leg(p.no), opened_at=p.opened_at, liquidated=liquidated)


def action(a):
    kind, side = a
    if kind == "liquidate":
        return rules.Action_Liquidate(OUTCOMES[side])
    if kind == "stop-loss":
        return rules.Action_StopLoss(OUTCOMES[side])
    if kind == "take-profit":
        return rules.Action_TakeProfit(OUTCOMES[side])
    return rules.Action_CloseAll()


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return sdk.wit_info(types, types.PluginKind.LIQUIDATION_RULES, plugin.INFO)

    def evaluate(self, params, now, positions):
        views = [position(p) for p in positions]
        return [
            rules.Decision(position=i, action=action(a), reason=why)
            for i, a, why in sdk.evaluate_all(plugin.INFO, params, now, views, plugin.evaluate)
        ]
