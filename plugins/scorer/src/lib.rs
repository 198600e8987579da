//! The default scorer: a weighted sum of eight transparent factors, mapped onto 1–10.

use equilibrage_plugin_sdk::prelude::*;

/// The default scorer.
#[derive(Debug)]
pub struct DefaultScorer;

/// Factor columns, in output order. Each is 0..1, higher is better for equilibrage.
const FACTORS: [(&str, &str, &str); N] = [
    (
        "liquidity",
        "weight-liquidity",
        "Venue liquidity and the thinner side's depth, log-scaled against the target.",
    ),
    ("spread", "weight-spread", "Tight YES and NO spreads: cheap to enter and to liquidate."),
    ("balance", "weight-balance", "How close the YES price is to 50/50."),
    ("volatility", "weight-volatility", "24 h price movement: equilibrage needs a side to move."),
    ("time", "weight-time", "Time to resolution: long enough to move, not so long capital idles."),
    ("whales", "weight-whales", "Whale activity in the market."),
    ("news", "weight-news", "Relevance of recent news."),
    (
        "trend",
        "weight-trend",
        "24 h momentum either way against its target (70 %) and rising 24 h volume (30 %): a market \
         already moving. Not counted while the bot has no price history of the market.",
    ),
];

/// Number of factors.
const N: usize = 8;
/// The trend factor's position.
const TREND: usize = 7;

const DEFAULT_WEIGHTS: [f64; N] = [0.25, 0.15, 0.20, 0.15, 0.10, 0.10, 0.05, 0.10];

// Positions of the non-weight parameters, after the weights.
const LIQUIDITY_TARGET: usize = N;
const MAX_SPREAD: usize = N + 1;
const VOLATILITY_TARGET: usize = N + 2;
const IDEAL_DAYS: usize = N + 3;
const MOMENTUM_TARGET: usize = N + 4;

impl Scorer for DefaultScorer {
    fn info() -> PluginInfo {
        let mut info = PluginInfo::new(
            "default-scorer",
            env!("CARGO_PKG_VERSION"),
            "Weighted sum of liquidity, spread, balance, volatility, time to resolution, whale \
             activity, news relevance and trend, mapped onto 1-10.",
        );
        for ((name, weight, help), default) in FACTORS.iter().zip(DEFAULT_WEIGHTS) {
            info = info
                .param(weight, default, 0.0, 1.0, &format!("Weight of the {name} factor."))
                .factor(name, weight, help);
        }
        info.param(
            "liquidity-target",
            50_000.0,
            100.0,
            10_000_000.0,
            "pUSD of liquidity that scores full marks.",
        )
        .param("max-spread", 0.10, 0.001, 1.0, "Combined YES+NO spread (price units) that scores zero.")
        .param("volatility-target", 0.05, 0.001, 1.0, "24 h volatility (price units) that scores full marks.")
        .param("ideal-days", 30.0, 1.0, 3650.0, "Days to resolution beyond which the time factor decays.")
        .param(
            "momentum-target",
            0.10,
            0.001,
            1.0,
            "24 h change of the YES price (either way, price units) that scores full trend marks.",
        )
    }

    fn score(params: &Params, _now_ms: i64, market: &MarketFeatures) -> MarketScore {
        score_market(params.values(), market)
    }

    // The batch path prepares the parameters once and writes rows straight into the output.
    fn score_batch(
        params: &Params,
        _now_ms: i64,
        markets: &MarketBatch,
        out: &mut Scores,
    ) -> Result<(), String> {
        let model = Model::new(params.values());
        let mut factors = [0.0; N];
        for m in markets.iter() {
            let score = model.score_into(&m, &mut factors);
            out.push(score, &factors);
        }
        Ok(())
    }
}

export_scorer!(DefaultScorer);

/// The scoring parameters, prepared once per batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    weights: [f64; N],
    total_weight: f64,
    ln_liquidity_target: f64,
    max_spread: f64,
    volatility_target: f64,
    ideal_days: f64,
    momentum_target: f64,
}

impl Model {
    /// From parameter values in declaration order.
    #[must_use]
    pub fn new(params: &[f64]) -> Self {
        let p = |i: usize| params.get(i).copied().unwrap_or(0.0);
        let weights: [f64; N] = std::array::from_fn(|i| nonneg(p(i)));
        let target = p(LIQUIDITY_TARGET);
        Self {
            weights,
            total_weight: weights.iter().sum(),
            ln_liquidity_target: if target > 0.0 { ln(1.0 + target) } else { 0.0 },
            max_spread: p(MAX_SPREAD),
            volatility_target: p(VOLATILITY_TARGET),
            ideal_days: p(IDEAL_DAYS),
            momentum_target: p(MOMENTUM_TARGET),
        }
    }

    /// Scores one market (1..=10) and writes its factor values.
    // Inlined into the batch loop so the row never has to be spilled to (wasm) memory.
    #[inline(always)]
    pub fn score_into(&self, m: &MarketFeatures, factors: &mut [f32; N]) -> f32 {
        let values = [
            self.liquidity(m),
            spread(m, self.max_spread),
            balance(m),
            ratio(f64::from(m.volatility_24h), self.volatility_target),
            time(m.seconds_to_end, self.ideal_days),
            unit(f64::from(m.whale_activity)),
            unit(f64::from(m.news_relevance)),
            self.trend(m),
        ];
        let weighted: f64 = values.iter().zip(&self.weights).map(|(v, w)| v * w).sum();
        // Without history the trend is unknown, not still: its weight leaves the blend (its
        // value, 0, adds nothing) rather than pulling every new market down.
        let total =
            if m.history_points > 0 { self.total_weight } else { self.total_weight - self.weights[TREND] };
        let blend = if total > 0.0 { weighted / total } else { 0.0 };
        for (out, v) in factors.iter_mut().zip(values) {
            #[allow(clippy::cast_possible_truncation, reason = "factors are 0..1")]
            let v = v as f32;
            *out = v;
        }
        #[allow(clippy::cast_possible_truncation, reason = "scores are 1..10")]
        let score = (1.0 + 9.0 * unit(blend)) as f32;
        score
    }

    /// Movement already under way: the 24 h momentum's size (a fall moves a side as much as a
    /// rise) and, less, a rise in volume (doubling scores full marks).
    fn trend(&self, m: &MarketFeatures) -> f64 {
        let momentum = f64::from(m.momentum_24h);
        let size = if momentum < 0.0 { -momentum } else { momentum };
        0.7 * ratio(size, self.momentum_target) + 0.3 * unit(f64::from(m.volume_change_24h))
    }

    #[inline(always)]
    fn liquidity(&self, m: &MarketFeatures) -> f64 {
        if self.ln_liquidity_target <= 0.0 {
            return 0.0;
        }
        let scaled = |usd: f64| unit(ln(1.0 + nonneg(usd)) / self.ln_liquidity_target);
        let depth = micros(m.yes_depth.min(m.no_depth));
        0.5 * scaled(micros(m.liquidity)) + 0.5 * scaled(depth * 10.0)
    }
}

/// Scores one market with parameter values in declaration order.
#[must_use]
pub fn score_market(params: &[f64], m: &MarketFeatures) -> MarketScore {
    let mut factors = [0.0; N];
    let score = Model::new(params).score_into(m, &mut factors);
    MarketScore { score, factors: factors.to_vec() }
}

/// Natural logarithm for `x >= 1`, to about 1e-6: plenty for a score, and several times faster
/// than a libm `ln` inside WebAssembly (where it is software), so the plugin stays cheap.
fn ln(x: f64) -> f64 {
    // x = m * 2^e with m in [1, 2); ln x = e ln 2 + ln m, and ln m = 2 atanh((m-1)/(m+1)).
    let bits = x.to_bits();
    #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation, reason = "an 11-bit exponent")]
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let series = t
        * (2.0
            + t2 * (2.0 / 3.0 + t2 * (2.0 / 5.0 + t2 * (2.0 / 7.0 + t2 * (2.0 / 9.0 + t2 * (2.0 / 11.0))))));
    #[allow(clippy::cast_precision_loss, reason = "an 11-bit exponent")]
    let e = e as f64;
    e * std::f64::consts::LN_2 + series
}

// Comparisons rather than `f64::max`/`clamp`: in WebAssembly those become calls to libm's
// `fmax` (Rust's NaN rules differ from the instruction's), a measurable cost per market.
fn nonneg(x: f64) -> f64 {
    if x > 0.0 { x } else { 0.0 }
}

/// `x` limited to 0..=1; NaN counts as 0.
fn unit(x: f64) -> f64 {
    if x > 1.0 {
        1.0
    } else if x > 0.0 {
        x
    } else {
        0.0
    }
}

fn ratio(value: f64, target: f64) -> f64 {
    if target > 0.0 { unit(value / target) } else { 0.0 }
}

fn mid(bid: Option<i64>, ask: Option<i64>) -> Option<f64> {
    match (bid, ask) {
        (Some(b), Some(a)) => Some((micros(b) + micros(a)) / 2.0),
        (Some(x), None) | (None, Some(x)) => Some(micros(x)),
        (None, None) => None,
    }
}

fn spread(m: &MarketFeatures, max_spread: f64) -> f64 {
    let side = |bid: Option<i64>, ask: Option<i64>| match (bid, ask) {
        (Some(b), Some(a)) => Some(nonneg(micros(a - b))),
        _ => None,
    };
    match (side(m.yes_bid, m.yes_ask), side(m.no_bid, m.no_ask)) {
        (Some(y), Some(n)) if max_spread > 0.0 => unit(1.0 - (y + n) / max_spread),
        _ => 0.0,
    }
}

fn balance(m: &MarketFeatures) -> f64 {
    match mid(m.yes_bid, m.yes_ask) {
        Some(yes) => unit(1.0 - (yes - 0.5).abs() * 2.0),
        None => 0.0,
    }
}

#[allow(clippy::cast_precision_loss, reason = "seconds to days for a score")]
fn time(seconds_to_end: i64, ideal_days: f64) -> f64 {
    let days = seconds_to_end as f64 / 86_400.0;
    if days <= 0.0 {
        0.0
    } else if days < 1.0 {
        days
    } else if days <= ideal_days {
        1.0
    } else {
        unit(ideal_days / days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market() -> MarketFeatures {
        MarketFeatures {
            yes_bid: Some(490_000),
            yes_ask: Some(510_000),
            no_bid: Some(490_000),
            no_ask: Some(510_000),
            yes_depth: 20_000_000_000,
            no_depth: 20_000_000_000,
            liquidity: 100_000_000_000,
            volume_24h: 50_000_000_000,
            volatility_24h: 0.05,
            seconds_to_end: 10 * 86_400,
            history_points: 20,
            momentum_24h: -0.12,
            volume_change_24h: 1.5,
            whale_activity: 1.0,
            whale_net_flow: 0,
            whale_count: 2,
            whale_concentration: 0.5,
            news_relevance: 1.0,
            news_count: 3,
            news_sentiment: 0.4,
        }
    }

    fn defaults() -> Vec<f64> {
        DefaultScorer::info().defaults().values().to_vec()
    }

    #[test]
    fn declares_one_weight_per_factor_and_scores_carry_every_factor() {
        let info = DefaultScorer::info();
        assert_eq!(info.factors.len(), N);
        assert_eq!(info.params.len(), N + 5);
        for f in &info.factors {
            let w = f.weight_param.as_deref().unwrap();
            assert!(info.params.iter().any(|p| p.name == w), "{w} is declared");
        }
        assert_eq!(score_market(&defaults(), &market()).factors.len(), N);
    }

    #[test]
    fn an_ideal_market_scores_near_ten_and_an_empty_one_scores_one() {
        let best = score_market(&defaults(), &market());
        assert!(best.score > 9.0, "{}", best.score);
        let empty = MarketFeatures {
            yes_bid: None,
            yes_ask: None,
            no_bid: None,
            no_ask: None,
            yes_depth: 0,
            no_depth: 0,
            liquidity: 0,
            volume_24h: 0,
            volatility_24h: 0.0,
            seconds_to_end: -5,
            history_points: 0,
            momentum_24h: 0.0,
            volume_change_24h: 0.0,
            whale_activity: 0.0,
            whale_net_flow: 0,
            whale_count: 0,
            whale_concentration: 0.0,
            news_relevance: 0.0,
            news_count: 0,
            news_sentiment: 0.0,
        };
        let worst = score_market(&defaults(), &empty);
        assert!((worst.score - 1.0).abs() < 1e-6, "{}", worst.score);
        assert!(worst.factors.iter().all(|f| *f == 0.0));
    }

    #[test]
    fn a_lopsided_market_loses_balance_and_a_wide_spread_loses_spread() {
        let mut m = market();
        m.yes_bid = Some(890_000);
        m.yes_ask = Some(910_000);
        let s = score_market(&defaults(), &m);
        assert!((s.factors[2] - 0.2).abs() < 1e-3, "balance {}", s.factors[2]);
        let mut wide = market();
        wide.yes_ask = Some(600_000);
        let s = score_market(&defaults(), &wide);
        assert_eq!(s.factors[1], 0.0, "spread {}", s.factors[1]);
    }

    #[test]
    fn zero_weights_score_one_and_nan_inputs_stay_in_range() {
        let mut params = defaults();
        params[..N].fill(0.0);
        assert!((score_market(&params, &market()).score - 1.0).abs() < 1e-6);
        let mut m = market();
        m.volatility_24h = f32::NAN;
        m.whale_activity = f32::INFINITY;
        m.momentum_24h = f32::NAN;
        m.volume_change_24h = f32::NEG_INFINITY;
        let s = score_market(&defaults(), &m);
        assert!((1.0..=10.0).contains(&s.score));
        assert!(s.factors.iter().all(|f| f.is_finite()));
    }

    #[test]
    fn the_batch_path_gives_the_single_market_answers() {
        let params = DefaultScorer::info().defaults();
        let mut lopsided = market();
        lopsided.yes_bid = Some(100_000);
        let markets = [market(), lopsided];
        let mut out = Scores::with_capacity(2, N);
        DefaultScorer::score_batch(&params, 0, &MarketBatch::from_rows(&markets), &mut out).unwrap();
        for (i, m) in markets.iter().enumerate() {
            let one = score_market(params.values(), m);
            assert_eq!(out.values[i].to_bits(), one.score.to_bits());
            assert_eq!(&out.factors[i * N..(i + 1) * N], one.factors.as_slice());
        }
    }

    #[test]
    fn momentum_either_way_and_rising_volume_raise_the_trend_factor_and_the_score() {
        let still = MarketFeatures { momentum_24h: 0.0, volume_change_24h: 0.0, ..market() };
        let base = score_market(&defaults(), &still);
        assert_eq!(base.factors[7], 0.0);
        for momentum in [0.05, -0.05] {
            let moving = score_market(&defaults(), &MarketFeatures { momentum_24h: momentum, ..still });
            assert!((moving.factors[7] - 0.35).abs() < 1e-6, "{momentum}: {}", moving.factors[7]);
            assert!(moving.score > base.score);
        }
        let busier = score_market(&defaults(), &MarketFeatures { volume_change_24h: 0.5, ..still });
        assert!((busier.factors[7] - 0.15).abs() < 1e-6);
        let quieter = score_market(&defaults(), &MarketFeatures { volume_change_24h: -0.5, ..still });
        assert_eq!(quieter.factors[7], 0.0, "falling volume is no trend, and no penalty");
        let full =
            score_market(&defaults(), &MarketFeatures { momentum_24h: 0.3, volume_change_24h: 3.0, ..still });
        assert!((full.factors[7] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn without_history_the_trend_is_left_out_rather_than_counted_as_still() {
        let unknown =
            MarketFeatures { history_points: 0, momentum_24h: 0.0, volume_change_24h: 0.0, ..market() };
        let still = MarketFeatures { history_points: 12, ..unknown };
        let mut no_trend_weight = defaults();
        no_trend_weight[TREND] = 0.0;
        let (a, b, c) = (
            score_market(&defaults(), &unknown),
            score_market(&defaults(), &still),
            score_market(&no_trend_weight, &still),
        );
        assert_eq!(a.score.to_bits(), c.score.to_bits(), "unknown scores as if the trend had no weight");
        assert!(b.score < a.score, "a market known to be still scores below an unknown one");
        assert_eq!((a.factors[TREND], b.factors[TREND]), (0.0, 0.0));
    }

    #[test]
    fn the_fast_logarithm_matches_libm_to_a_millionth() {
        for x in [1.0, 1.5, 2.0, 10.0, 1_234.5, 50_001.0, 1e7, 1e12] {
            let (fast, exact) = (ln(x), f64::ln(x));
            assert!((fast - exact).abs() < 1e-6 * exact.max(1.0), "{x}: {fast} vs {exact}");
        }
    }

    #[test]
    fn time_factor_is_zero_past_end_full_in_window_and_decays_after() {
        assert_eq!(time(-1, 30.0), 0.0);
        assert!((time(43_200, 30.0) - 0.5).abs() < 1e-9);
        assert_eq!(time(10 * 86_400, 30.0), 1.0);
        assert!((time(60 * 86_400, 30.0) - 0.5).abs() < 1e-9);
    }
}
