"""A scorer plugin: favours liquid markets priced near 50/50 (the twin of the Rust template)."""

from equilibrage_plugin import Info, MarketFeatures, Params, micros

INFO = (
    Info("template-plugin", "0.1.0", "Favours liquid markets priced near 50/50.")
    .param("weight-balance", 0.6, 0.0, 1.0, "Weight of price balance.")
    .factor("balance", "weight-balance", "How close YES is to 0.50.")
    .param("weight-liquidity", 0.4, 0.0, 1.0, "Weight of liquidity.")
    .factor("liquidity", "weight-liquidity", "Liquidity against 100k pUSD.")
)

EPSILON = 2.220446049250313e-16


def score(params: Params, now_ms: int, m: MarketFeatures):
    """A score from 1 to 10 and one value per factor."""
    yes = micros((m.yes_bid or 0) + (m.yes_ask if m.yes_ask is not None else 1_000_000)) / 2.0
    balance = 1.0 - min(abs(yes - 0.5) * 2.0, 1.0)
    liquidity = min(micros(m.liquidity) / 100_000.0, 1.0)
    wb, wl = params.get("weight-balance"), params.get("weight-liquidity")
    blend = (wb * balance + wl * liquidity) / max(wb + wl, EPSILON)
    return 1.0 + 9.0 * min(max(blend, 0.0), 1.0), [balance, liquidity]
