"""A whale-analyzer plugin: every wallet trading more than a threshold is a whale (the twin of
the Rust template)."""

from equilibrage_plugin import Analysis, AnalysisInput, Info, Params, WalletProfile, notional

INFO = (
    Info("template-plugin", "0.1.0", "Wallets above a volume threshold are whales.")
    .param("min-volume", 10_000.0, 1.0, 1e9, "pUSD a wallet must trade to be a whale.")
)


def analyze(params: Params, now_ms: int, input: AnalysisInput) -> Analysis:
    """The whales among the call's wallets, by wallet index, and (here) no market signals."""
    volume = {}
    for t in input.trades:
        v, n = volume.get(t.wallet, (0, 0))
        volume[t.wallet] = (v + notional(t.price, t.shares), n + 1)
    minimum = int(params.get("min-volume") * 1e6)
    whales = [
        WalletProfile(wallet=w, volume=v, trades=n, net_yes_flow=0, weight=1.0)
        for w, (v, n) in sorted(volume.items())
        if v >= minimum
    ]
    return Analysis(whales=whales, markets=[])
