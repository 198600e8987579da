"""A liquidation-rules plugin: sell a side once its best bid falls a set fraction below entry
(the twin of the Rust template)."""

from equilibrage_plugin import NO, YES, Info, Leg, Params, PositionView, liquidate, micros

INFO = Info("template-plugin", "0.1.0", "Sells a side once it falls below entry by the drop.").param(
    "drop", 0.25, 0.01, 0.99, "Fall below entry that sells a side (0.25 = 25 %)."
)


def evaluate(params: Params, now_ms: int, p: PositionView):
    """An action and why, or None to hold."""

    def fallen(leg: Leg) -> bool:
        return leg.shares > 0 and leg.best_bid is not None and micros(leg.best_bid) <= micros(leg.entry_price) * (
            1.0 - params.get("drop")
        )

    if fallen(p.yes):
        side = YES
    elif fallen(p.no):
        side = NO
    else:
        return None
    return liquidate(side), f"{side.upper()} fell below the drop"
