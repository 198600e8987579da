"""The equilibrage plugin SDK for Python: declarations, parameters, micro-units, and helpers that
turn the host's batches into one call per market or position, as the Rust SDK does.

Plain Python with no import of the generated bindings, so a plugin's logic is unit-tested under
ordinary CPython; only `app.py` (the component's glue) imports `wit_world`.
"""

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

MICROS = 1_000_000


def micros(value: int) -> float:
    """Micro-units (the host's integers for pUSD and prices) as a float: 530_000 -> 0.53."""
    return value / 1_000_000.0


def to_micros(value: float) -> int:
    """A float amount or price as micro-units, rounded to the nearest."""
    return int(round(value * MICROS))


@dataclass
class Param:
    name: str
    default: float
    min: float
    max: float
    help: str


@dataclass
class Factor:
    name: str
    weight_param: Optional[str]
    help: str


@dataclass
class Info:
    """What the plugin says about itself (`describe`): name, version, parameters, factors."""

    name: str
    version: str
    description: str
    params: List[Param] = field(default_factory=list)
    factors: List[Factor] = field(default_factory=list)

    def param(self, name: str, default: float, lo: float, hi: float, help: str) -> "Info":
        self.params.append(Param(name, default, lo, hi, help))
        return self

    def factor(self, name: str, weight_param: Optional[str], help: str) -> "Info":
        self.factors.append(Factor(name, weight_param, help))
        return self


def wit_info(types, kind, info: Info):
    """`info` as the generated bindings' `PluginInfo` (`types` is `wit_world.imports.types`,
    passed in so this module imports no bindings)."""
    return types.PluginInfo(
        name=info.name,
        version=info.version,
        kind=kind,
        description=info.description,
        params=[types.ParamSpec(name=p.name, help=p.help, default=p.default, min=p.min, max=p.max) for p in info.params],
        factors=[types.FactorSpec(name=f.name, help=f.help, weight_param=f.weight_param) for f in info.factors],
    )


class Params:
    """The parameter values of a call, by name (the host sends them in declaration order)."""

    def __init__(self, info: Info, values: Sequence[float]):
        self._index = {p.name: i for i, p in enumerate(info.params)}
        self._defaults = [p.default for p in info.params]
        self._values = list(values)

    def get(self, name: str) -> float:
        i = self._index[name]
        return self._values[i] if i < len(self._values) else self._defaults[i]

    def at(self, i: int) -> float:
        return self._values[i] if i < len(self._values) else self._defaults[i]


# --- Scorers -------------------------------------------------------------------------------

COLUMNS = (
    "yes_bid", "yes_ask", "no_bid", "no_ask", "yes_depth", "no_depth", "liquidity", "volume_24h",
    "volatility_24h", "seconds_to_end", "history_points", "momentum_24h", "volume_change_24h",
    "whale_activity", "whale_net_flow", "whale_count", "whale_concentration", "news_relevance",
    "news_count", "news_sentiment",
)
QUOTES = ("yes_bid", "yes_ask", "no_bid", "no_ask")


@dataclass
class MarketFeatures:
    """One candidate market. Quotes are micro-units, `None` where that side of the book is empty."""

    yes_bid: Optional[int] = None
    yes_ask: Optional[int] = None
    no_bid: Optional[int] = None
    no_ask: Optional[int] = None
    yes_depth: int = 0
    no_depth: int = 0
    liquidity: int = 0
    volume_24h: int = 0
    volatility_24h: float = 0.0
    seconds_to_end: int = 0
    history_points: int = 0
    momentum_24h: float = 0.0
    volume_change_24h: float = 0.0
    whale_activity: float = 0.0
    whale_net_flow: int = 0
    whale_count: int = 0
    whale_concentration: float = 0.0
    news_relevance: float = 0.0
    news_count: int = 0
    news_sentiment: float = 0.0


def market_rows(batch) -> List[MarketFeatures]:
    """The host's columns (a `market-batch`) as one `MarketFeatures` per market."""
    columns = [getattr(batch, c) for c in COLUMNS]
    rows = []
    for values in zip(*columns):
        row = dict(zip(COLUMNS, values))
        for q in QUOTES:
            if row[q] == 0:
                row[q] = None
        rows.append(MarketFeatures(**row))
    return rows


ScoreFn = Callable[[Params, int, MarketFeatures], Tuple[float, Sequence[float]]]


def score_batch(info: Info, values: Sequence[float], now: int, batch, score: ScoreFn):
    """Calls `score(params, now, market)` per market; returns the scores and the factors,
    row-major, as the host wants them."""
    params = Params(info, values)
    scores: List[float] = []
    factors: List[float] = []
    for row in market_rows(batch):
        value, row_factors = score(params, now, row)
        if len(row_factors) != len(info.factors):
            raise ValueError(f"{len(row_factors)} factor values for {len(info.factors)} factors")
        scores.append(float(value))
        factors.extend(float(f) for f in row_factors)
    return scores, factors


# --- Liquidation rules ---------------------------------------------------------------------

YES = "yes"
NO = "no"


@dataclass
class Leg:
    shares: int
    entry_price: int
    best_bid: Optional[int] = None
    best_ask: Optional[int] = None


@dataclass
class PositionView:
    yes: Leg
    no: Leg
    opened_at: int = 0
    # "yes" or "no": the side already liquidated.
    liquidated: Optional[str] = None


def liquidate(side: str) -> Tuple[str, str]:
    return ("liquidate", side)


def stop_loss(side: str) -> Tuple[str, str]:
    return ("stop-loss", side)


def take_profit(side: str) -> Tuple[str, str]:
    return ("take-profit", side)


CLOSE_ALL = ("close-all", None)

EvaluateFn = Callable[[Params, int, PositionView], Optional[Tuple[Tuple[str, Optional[str]], str]]]


def evaluate_all(info: Info, values: Sequence[float], now: int, positions: Sequence[PositionView], evaluate: EvaluateFn):
    """Calls `evaluate(params, now, position)` per position; returns (index, action, reason) for
    each position it decided about."""
    params = Params(info, values)
    out = []
    for i, p in enumerate(positions):
        decided = evaluate(params, now, p)
        if decided is not None:
            action, reason = decided
            out.append((i, action, reason))
    return out


# --- Whale analyzers -----------------------------------------------------------------------

BUY = "buy"
SELL = "sell"


def notional(price: int, shares: int) -> int:
    """pUSD micro-units of `shares` at `price` (both micro-units), truncated toward zero as the
    Rust SDK's integer arithmetic does."""
    product = price * shares
    whole = abs(product) // MICROS
    return whole if product >= 0 else -whole


@dataclass
class Trade:
    """One trade. `wallet` and `market` index the call's wallet and market tables."""

    wallet: int
    market: int
    outcome: str  # YES or NO
    side: str  # BUY or SELL
    price: int
    shares: int
    at: int


@dataclass
class AnalysisInput:
    wallet_count: int
    market_count: int
    trades: List[Trade] = field(default_factory=list)


@dataclass
class WalletProfile:
    """A wallet the plugin considers a whale: pUSD traded, trades, net pUSD into YES, weight 0..1."""

    wallet: int
    volume: int
    trades: int
    net_yes_flow: int = 0
    weight: float = 1.0


@dataclass
class MarketSignal:
    """Whale activity in one market: strength 0..1, net pUSD into YES, whales, concentration 0..1."""

    market: int
    activity: float
    net_yes_flow: int = 0
    whale_count: int = 0
    concentration: float = 0.0


@dataclass
class Analysis:
    whales: List[WalletProfile] = field(default_factory=list)
    markets: List[MarketSignal] = field(default_factory=list)


def check_analysis(analysis: Analysis, input: AnalysisInput) -> Analysis:
    """Raises `ValueError` for an index outside the call's tables (the host would refuse it)."""
    for w in analysis.whales:
        if not 0 <= w.wallet < input.wallet_count:
            raise ValueError(f"wallet {w.wallet} outside 0..{input.wallet_count}")
    for m in analysis.markets:
        if not 0 <= m.market < input.market_count:
            raise ValueError(f"market {m.market} outside 0..{input.market_count}")
    return analysis


# --- News aggregators ----------------------------------------------------------------------


@dataclass
class NewsItem:
    title: str
    summary: str = ""
    source: str = ""
    published: int = 0


@dataclass
class MarketText:
    question: str
    category: str = ""


@dataclass
class NewsMatch:
    """Item `item` is relevant (0..1) to market `market`; sentiment -1 (bad for YES) ..= 1."""

    item: int
    market: int
    relevance: float
    sentiment: float = 0.0


def check_matches(matches: Sequence[NewsMatch], items: Sequence[NewsItem], markets: Sequence[MarketText]) -> List[NewsMatch]:
    """Raises `ValueError` for an index outside the call's lists (the host would refuse it)."""
    for m in matches:
        if not 0 <= m.item < len(items):
            raise ValueError(f"item {m.item} outside 0..{len(items)}")
        if not 0 <= m.market < len(markets):
            raise ValueError(f"market {m.market} outside 0..{len(markets)}")
    return list(matches)
