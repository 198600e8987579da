//! Server-side SVG charts for the History page (the realised equity curve and the P&L of each
//! closed position) and the drawing helpers the Lab's charts share. Presentation attributes only (the CSP forbids inline styles); floats are used
//! for drawing coordinates only, never for the values shown as text.

use crate::model::Performance;
use crate::query::utc_day;
use maud::{Markup, html};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;

pub(crate) const WIDTH: f64 = 640.0;
pub(crate) const HEIGHT: f64 = 240.0;
pub(crate) const LEFT: f64 = 72.0;
pub(crate) const RIGHT: f64 = 12.0;
pub(crate) const TOP: f64 = 12.0;
pub(crate) const BOTTOM: f64 = 28.0;
/// Bars beyond this many would be thinner than a pixel on a phone; the most recent are drawn.
const MAX_BARS: usize = 300;

pub(crate) const POS: &str = "#2e7d32";
pub(crate) const NEG: &str = "#c62828";

pub(crate) fn f(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

#[expect(clippy::cast_precision_loss, reason = "a drawing coordinate; a pixel is far coarser")]
pub(crate) fn ms_f64(ms: i64) -> f64 {
    ms as f64
}

#[expect(clippy::cast_precision_loss, reason = "a drawing coordinate; a pixel is far coarser")]
pub(crate) fn count_f64(n: usize) -> f64 {
    n as f64
}

/// A linear map from `[lo, hi]` onto `[out_lo, out_hi]` (a flat range maps to the middle).
pub(crate) fn scale(value: f64, lo: f64, hi: f64, out_lo: f64, out_hi: f64) -> f64 {
    if hi - lo <= f64::EPSILON {
        return f64::midpoint(out_lo, out_hi);
    }
    out_lo + (value - lo) / (hi - lo) * (out_hi - out_lo)
}

/// The value range to draw, widened a little so the line does not touch the frame.
pub(crate) fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let span = hi - lo;
    if span <= f64::EPSILON {
        let pad = (hi.abs() * 0.01).max(1.0);
        (lo - pad, hi + pad)
    } else {
        (lo - span * 0.05, hi + span * 0.05)
    }
}

pub(crate) fn frame(id: &str, title: &str, body: &Markup) -> Markup {
    html! {
        svg id=(id) class="chart" xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            role="img" aria-labelledby={ (id) "-title" } preserveAspectRatio="xMidYMid meet" {
            title id={ (id) "-title" } { (title) }
            rect class="plot" x=(LEFT) y=(TOP) width=(WIDTH - LEFT - RIGHT) height=(HEIGHT - TOP - BOTTOM)
                fill="none" stroke="#8884" {}
            (body)
        }
    }
}

pub(crate) fn empty(text: &str) -> Markup {
    html! {
        text x=(f64::midpoint(LEFT, WIDTH - RIGHT)) y=(HEIGHT / 2.0) text-anchor="middle" fill="currentColor" {
            (text)
        }
    }
}

pub(crate) fn y_label(y: f64, text: &str) -> Markup {
    html! {
        text class="label" x=(LEFT - 6.0) y=(format!("{:.1}", y + 4.0)) text-anchor="end" font-size="11"
            fill="currentColor" { (text) }
    }
}

pub(crate) fn x_label(x: f64, anchor: &str, text: &str) -> Markup {
    html! {
        text class="label" x=(format!("{x:.1}")) y=(HEIGHT - 8.0) text-anchor=(anchor) font-size="11"
            fill="currentColor" { (text) }
    }
}

/// The realised equity after each close, as steps (equity only changes when a position closes),
/// with the initial capital as a dashed reference line.
pub(crate) fn equity_chart(perf: &Performance) -> Markup {
    let points = &perf.equity;
    let title = "Realised equity after each close (pUSD)";
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return frame("equity-chart", title, &empty("No closed positions yet."));
    };
    let (t0, t1) = (ms_f64(first.0), ms_f64(last.0.max(first.0)));
    let values = points.iter().map(|p| p.1).chain([perf.initial_capital]);
    let lo = values.clone().min().unwrap_or_default();
    let hi = values.max().unwrap_or_default();
    let (vlo, vhi) = padded(f(lo), f(hi));
    let x = |ms: i64| {
        if points.len() < 2 { WIDTH - RIGHT } else { scale(ms_f64(ms), t0, t1, LEFT, WIDTH - RIGHT) }
    };
    let y = |v: Decimal| scale(f(v), vlo, vhi, HEIGHT - BOTTOM, TOP);
    let mut d = format!("M{:.1} {:.1}", if points.len() < 2 { LEFT } else { x(first.0) }, y(first.1));
    step_path(&mut d, points.iter().skip(1).map(|&(ms, value)| (x(ms), y(value))));
    if points.len() < 2 {
        d.push_str(&format!(" H{:.1}", WIDTH - RIGHT));
    }
    let base = y(perf.initial_capital);
    let body = html! {
        line class="baseline" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{base:.1}")) y2=(format!("{base:.1}"))
            stroke="#888" stroke-dasharray="4 4" {}
        path class="line" d=(d) fill="none" stroke="#1565c0" stroke-width="2" stroke-linejoin="round" {}
        (y_label(y(hi), &hi.round_dp(2).to_string()))
        (y_label(y(lo), &lo.round_dp(2).to_string()))
        (x_label(LEFT, "start", &utc_day(first.0)))
        (x_label(WIDTH - RIGHT, "end", &utc_day(last.0)))
    };
    frame("equity-chart", title, &body)
}

/// Appends the steps to `points` (x, y in pixels, x ascending) to a path, one whole pixel column
/// at a time: the closes that land in one column become its lowest and highest value and where
/// it ended, so 10,000 closes draw the same picture as a few hundred segments.
fn step_path(d: &mut String, points: impl Iterator<Item = (f64, f64)>) {
    use std::fmt::Write as _;
    // (column, lowest y, highest y, last y)
    let mut column: Option<(f64, f64, f64, f64)> = None;
    let flush = |d: &mut String, (x, lo, hi, last): (f64, f64, f64, f64)| {
        let _ = write!(d, " H{x:.1}");
        if lo < last || hi > last {
            let _ = write!(d, " V{lo:.1} V{hi:.1}");
        }
        let _ = write!(d, " V{last:.1}");
    };
    for (x, y) in points {
        let px = x.round();
        column = Some(match column {
            Some((c, lo, hi, _)) if c == px => (c, lo.min(y), hi.max(y), y),
            Some(done) => {
                flush(d, done);
                (px, y, y, y)
            }
            None => (px, y, y, y),
        });
    }
    if let Some(done) = column {
        flush(d, done);
    }
}

/// One bar per closed position, in the order they closed: green above zero, red below.
pub(crate) fn pnl_chart(perf: &Performance) -> Markup {
    let title = "P&L of each closed position (pUSD)";
    let bars = &perf.per_position[perf.per_position.len().saturating_sub(MAX_BARS)..];
    if bars.is_empty() {
        return frame("pnl-chart", title, &empty("No closed positions yet."));
    }
    let lo = bars.iter().map(|b| b.2).min().unwrap_or_default().min(Decimal::ZERO);
    let hi = bars.iter().map(|b| b.2).max().unwrap_or_default().max(Decimal::ZERO);
    let (vlo, vhi) = if lo == hi { (-1.0, 1.0) } else { (f(lo), f(hi)) };
    let y = |v: Decimal| scale(f(v), vlo, vhi, HEIGHT - BOTTOM, TOP);
    let zero = y(Decimal::ZERO);
    let slot = (WIDTH - LEFT - RIGHT) / count_f64(bars.len());
    let width = (slot * 0.8).clamp(0.5, 40.0);
    let body = html! {
        @for (i, &(id, ms, pnl)) in bars.iter().enumerate() {
            @let top = y(pnl).min(zero);
            @let height = (y(pnl) - zero).abs().max(0.5);
            @let negative = pnl < Decimal::ZERO;
            rect class={ "bar " (if negative { "neg" } else { "pos" }) }
                x=(format!("{:.1}", LEFT + slot * count_f64(i) + (slot - width) / 2.0)) y=(format!("{top:.1}"))
                width=(format!("{width:.1}")) height=(format!("{height:.1}"))
                fill=(if negative { NEG } else { POS }) {
                title { "Position " (id) ", closed " (utc_day(ms)) ": " (pnl.round_dp(2)) " pUSD" }
            }
        }
        line class="zero" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{zero:.1}")) y2=(format!("{zero:.1}"))
            stroke="#888" {}
        @if hi > Decimal::ZERO { (y_label(y(hi), &hi.round_dp(2).to_string())) }
        (y_label(zero, "0"))
        @if lo < Decimal::ZERO { (y_label(y(lo), &lo.round_dp(2).to_string())) }
        (x_label(LEFT, "start", &format!("#{}", bars[0].0)))
        (x_label(WIDTH - RIGHT, "end", &format!("#{}", bars[bars.len() - 1].0)))
    };
    frame("pnl-chart", title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::dec;

    fn perf(equity: &[(i64, &str)], per: &[(u64, &str)]) -> Performance {
        Performance {
            initial_capital: dec("1000"),
            equity: equity.iter().map(|&(t, v)| (t, dec(v))).collect(),
            per_position: per.iter().map(|&(id, v)| (id, 1_700_000_000_000, dec(v))).collect(),
            ..Performance::default()
        }
    }

    #[test]
    fn equity_is_a_step_line_within_the_frame() {
        let svg = equity_chart(&perf(&[(0, "1000"), (1000, "1100"), (2000, "900")], &[])).into_string();
        assert!(svg.starts_with("<svg id=\"equity-chart\""));
        assert!(svg.contains("<path class=\"line\" d=\"M72.0 "), "{svg}");
        assert!(svg.contains(" H628.0 V"), "the last close is at the right edge: {svg}");
        // Ten thousand closes fold into at most one column per pixel, keeping the extremes.
        let many: Vec<(i64, String)> =
            (0..10_000).map(|i| (i64::from(i), format!("{}", 1000 + (i % 7) * 10 - 30))).collect();
        let many: Vec<(i64, &str)> = many.iter().map(|(t, v)| (*t, v.as_str())).collect();
        let big = equity_chart(&perf(&many, &[])).into_string();
        assert!(big.len() < 40_000, "{} bytes", big.len());
        assert!(big.matches(" H").count() <= 557, "one step per pixel column");
        assert!(big.contains(">1030<") && big.contains(">970<"), "the extremes are still labelled");
        assert!(svg.contains(">1100<") && svg.contains(">900<"), "highest and lowest are labelled");
        assert!(!svg.contains("style="));
        let one = equity_chart(&perf(&[(5, "1000")], &[])).into_string();
        assert!(one.contains("<path"), "a single point is a flat line");
        let none = equity_chart(&perf(&[], &[])).into_string();
        assert!(none.contains("No closed positions yet.") && !none.contains("NaN"));
    }

    #[test]
    fn bars_go_up_for_gains_and_down_for_losses() {
        let svg = pnl_chart(&perf(&[], &[(1, "12.34"), (2, "-5"), (3, "0")])).into_string();
        assert!(svg.starts_with("<svg id=\"pnl-chart\""));
        assert_eq!(svg.matches("<rect class=\"bar ").count(), 3);
        assert!(svg.contains("class=\"bar neg\"") && svg.contains(&format!("fill=\"{NEG}\"")));
        assert!(svg.contains("Position 1, closed 2023-11-14: 12.34 pUSD"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let flat = pnl_chart(&perf(&[], &[(1, "0")])).into_string();
        assert!(!flat.contains("NaN"));
        assert!(pnl_chart(&perf(&[], &[])).into_string().contains("No closed positions yet."));
    }
}
