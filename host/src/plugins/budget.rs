//! How many bytes a plugin's answer may bring into the host, per call and per world: wasmtime's
//! hostcall fuel, counted as it lifts each string and list and before it copies them, set on the
//! call's store. An answer over budget is a fault (invalid output), and the host never holds
//! more than the budget of it, whatever the guest's strings point at.

/// Room for an error string (at most 2 KiB is accepted), the result's own envelope and slack.
const BASE: usize = 64 << 10;
/// A `describe()`: at most 64 parameters and 32 factors with names and 2 KiB help texts each.
pub(crate) const DESCRIBE: usize = 512 << 10;
/// A decision's reason is at most 2 KiB; the record around it, with room to spare.
const PER_DECISION: usize = 2_048 + 128;

/// A scorer's answer for `markets` markets with `factors` declared factors: one `f32` score and
/// one `f32` per factor each, twice over.
pub(crate) fn score(markets: usize, factors: usize) -> usize {
    BASE.saturating_add(markets.saturating_mul(factors.saturating_add(1)).saturating_mul(8))
}

/// A whale analysis: at most one profile per wallet and one signal per market.
pub(crate) fn analyze(wallets: usize, markets: usize) -> usize {
    BASE.saturating_add(wallets.saturating_add(markets).saturating_mul(96))
}

/// News matches: up to 64 markets per item, 16 bytes each, twice over.
pub(crate) fn match_news(items: usize, markets: usize) -> usize {
    BASE.saturating_add(items.saturating_mul(64).saturating_add(markets).saturating_mul(32))
}

/// Liquidation decisions: at most one per position.
pub(crate) fn evaluate(positions: usize) -> usize {
    BASE.saturating_add(positions.saturating_mul(PER_DECISION))
}

/// Whether a call failed because the answer was over budget.
pub(crate) fn exhausted(err: &wasmtime::Error) -> bool {
    format!("{err:#}").contains("fuel allocated for hostcalls has been exhausted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_follow_what_each_world_needs_and_never_overflow() {
        assert_eq!(score(1_000, 9), BASE + 80_000);
        assert_eq!(evaluate(3), BASE + 3 * PER_DECISION);
        assert!(evaluate(1) < (1 << 20), "one position's reasons fit well under a MiB");
        assert_eq!(score(usize::MAX, 32), usize::MAX);
        assert_eq!(match_news(usize::MAX, 1), usize::MAX);
        assert!(analyze(10, 10) > BASE && DESCRIBE > BASE);
    }
}
