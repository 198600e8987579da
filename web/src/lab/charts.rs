//! The Lab's SVG charts, drawn by the server: equity curves overlaid with their drawdown, daily
//! P&L bars side by side, and a position's quotes with what happened marked on them. Lines fold
//! each pixel column's points into its first, lowest, highest and last, so 10,000 points draw
//! as a few thousand at most and stay readable.

use super::model::{BucketView, MarkerView, QuoteView};
use crate::charts::{
    BOTTOM, HEIGHT, LEFT, NEG, POS, RIGHT, TOP, WIDTH, count_f64, empty, f, frame, ms_f64, padded, scale,
    x_label, y_label,
};
use crate::query::utc_day;
use maud::{Markup, html};
use rust_decimal::Decimal;
use std::fmt::Write as _;

/// A line's colour for run A, run B, and the other quotes.
pub(crate) const COLORS: [&str; 4] = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f"];

/// One series of bars: its label, colour and (day, value) points.
pub(crate) type Bars<'a> = (&'a str, &'a str, &'a [(i64, Decimal)]);

/// How a quote line reads its value.
type QuoteLine = (&'static str, &'static str, bool, fn(&QuoteView) -> Option<Decimal>);

/// One line of a chart.
pub(crate) struct Series<'a> {
    pub label: &'a str,
    pub color: &'a str,
    /// (Unix ms, value), in time order.
    pub points: Vec<(i64, Decimal)>,
    pub dashed: bool,
}

/// A path through `points` (pixels, x ascending), each pixel column reduced to its first,
/// lowest, highest and last point.
fn line_path(points: impl Iterator<Item = (f64, f64)>) -> String {
    let mut d = String::new();
    // (column, first y, lowest y, highest y, last y)
    let mut column: Option<(f64, f64, f64, f64, f64)> = None;
    let flush = |d: &mut String, (x, first, lo, hi, last): (f64, f64, f64, f64, f64)| {
        let cmd = if d.is_empty() { 'M' } else { 'L' };
        let _ = write!(d, "{cmd}{x:.1} {first:.1}");
        for y in [lo, hi, last] {
            let _ = write!(d, " L{x:.1} {y:.1}");
        }
        d.push(' ');
    };
    for (x, y) in points {
        let px = x.round();
        column = Some(match column {
            Some((c, first, lo, hi, _)) if c == px => (c, first, lo.min(y), hi.max(y), y),
            Some(done) => {
                flush(&mut d, done);
                (px, y, y, y, y)
            }
            None => (px, y, y, y, y),
        });
    }
    if let Some(done) = column {
        flush(&mut d, done);
    }
    d.trim_end().to_owned()
}

/// The chart's key, under it: a short line in each series' colour and dash, and its label.
fn legend<'a>(items: impl IntoIterator<Item = (&'a str, &'a str, bool)>) -> Markup {
    html! {
        figcaption class="chart-legend" {
            @for (label, color, dashed) in items {
                span class="key" {
                    svg width="22" height="8" viewBox="0 0 22 8" aria-hidden="true" {
                        line x1="1" x2="21" y1="4" y2="4" stroke=(color) stroke-width="3" stroke-dasharray=[dashed.then_some("5 3")] {}
                    }
                    " " (label)
                }
            }
        }
    }
}

/// A chart with its key.
fn figure(chart: Markup, key: Markup) -> Markup {
    html! { figure class="lab-chart" { (chart) (key) } }
}

/// Lines over time on one value axis, with a dashed reference value (the initial capital).
pub(crate) fn lines_chart(
    id: &str,
    title: &str,
    series: &[Series<'_>],
    reference: Option<Decimal>,
    unit: &str,
) -> Markup {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (Some(t0), Some(t1)) = (all().map(|p| p.0).min(), all().map(|p| p.0).max()) else {
        return frame(id, title, &empty("Nothing to draw yet."));
    };
    let values = all().map(|p| p.1).chain(reference);
    let (lo, hi) = (values.clone().min().unwrap_or_default(), values.max().unwrap_or_default());
    let (vlo, vhi) = padded(f(lo), f(hi));
    let x = |ms: i64| scale(ms_f64(ms), ms_f64(t0), ms_f64(t1), LEFT, WIDTH - RIGHT);
    let y = |v: Decimal| scale(f(v), vlo, vhi, HEIGHT - BOTTOM, TOP);
    let body = html! {
        @if let Some(r) = reference {
            @let ry = format!("{:.1}", y(r));
            line class="baseline" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(ry) y2=(ry) stroke="#888" stroke-dasharray="4 4" {}
        }
        @for s in series {
            path class="series" data-series=(s.label) d=(line_path(s.points.iter().map(|&(t, v)| (x(t), y(v)))))
                fill="none" stroke=(s.color) stroke-width="2" stroke-linejoin="round"
                stroke-dasharray=[s.dashed.then_some("5 3")] {}
        }
        (y_label(y(hi), &format!("{}{unit}", hi.round_dp(2))))
        (y_label(y(lo), &format!("{}{unit}", lo.round_dp(2))))
        (x_label(LEFT, "start", &utc_day(t0)))
        (x_label(WIDTH - RIGHT, "end", &utc_day(t1)))
    };
    figure(frame(id, title, &body), legend(series.iter().map(|s| (s.label, s.color, s.dashed))))
}

/// Each equity sample's fall from the highest equity before it, percent (0 or below).
pub(crate) fn drawdown(equity: &[(i64, Decimal)], initial: Decimal) -> Vec<(i64, Decimal)> {
    let mut peak = initial;
    equity
        .iter()
        .map(|&(t, v)| {
            peak = peak.max(v);
            let dd = if peak.is_zero() {
                Decimal::ZERO
            } else {
                ((v - peak) * Decimal::ONE_HUNDRED / peak).round_dp(4)
            };
            (t, dd)
        })
        .collect()
}

/// Daily P&L bars, one group per day with a bar per series.
pub(crate) fn daily_chart(id: &str, title: &str, series: &[Bars<'_>]) -> Markup {
    let mut days: Vec<i64> = series.iter().flat_map(|s| s.2.iter().map(|d| d.0)).collect();
    days.sort_unstable();
    days.dedup();
    if days.is_empty() {
        return frame(id, title, &empty("No whole day yet."));
    }
    let values = series.iter().flat_map(|s| s.2.iter().map(|d| d.1));
    let lo = values.clone().min().unwrap_or_default().min(Decimal::ZERO);
    let hi = values.max().unwrap_or_default().max(Decimal::ZERO);
    let (vlo, vhi) = if lo == hi { (-1.0, 1.0) } else { (f(lo), f(hi)) };
    let y = |v: Decimal| scale(f(v), vlo, vhi, HEIGHT - BOTTOM, TOP);
    let zero = y(Decimal::ZERO);
    let slot = (WIDTH - LEFT - RIGHT) / count_f64(days.len());
    let bar = (slot * 0.8 / count_f64(series.len().max(1))).clamp(0.3, 24.0);
    let body = html! {
        @for (i, day) in days.iter().enumerate() {
            @for (k, (label, color, values)) in series.iter().enumerate() {
                @if let Some(&(_, v)) = values.iter().find(|d| d.0 == *day) {
                    @let top = y(v).min(zero);
                    @let height = (y(v) - zero).abs().max(0.5);
                    rect class="series-bar" data-series=(label)
                        x=(format!("{:.1}", LEFT + slot * count_f64(i) + slot * 0.1 + bar * count_f64(k)))
                        y=(format!("{top:.1}")) width=(format!("{bar:.1}")) height=(format!("{height:.1}"))
                        fill=(color) {
                        title { (label) ", " (utc_day(*day)) ": " (v.round_dp(2)) " pUSD" }
                    }
                }
            }
        }
        line class="zero" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{zero:.1}")) y2=(format!("{zero:.1}")) stroke="#888" {}
        @if hi > Decimal::ZERO { (y_label(y(hi), &hi.round_dp(2).to_string())) }
        (y_label(zero, "0"))
        @if lo < Decimal::ZERO { (y_label(y(lo), &lo.round_dp(2).to_string())) }
        (x_label(LEFT, "start", &utc_day(days[0])))
        (x_label(WIDTH - RIGHT, "end", &utc_day(days[days.len() - 1])))
    };
    let key = if series.len() > 1 {
        legend(series.iter().map(|s| (s.0, s.1, false)))
    } else {
        html! {}
    };
    figure(frame(id, title, &body), key)
}

/// A position's quotes (both sides' best bid and ask) on a 0–1 price axis, with its entry,
/// liquidation, exits and resolution marked where and at what price they happened.
pub(crate) fn price_chart(quotes: &[QuoteView], markers: &[MarkerView]) -> Markup {
    let title = "Best bid and ask of both sides over the position's life, and what happened";
    let times = quotes.iter().map(|q| q.at_ms).chain(markers.iter().map(|m| m.at_ms));
    let (Some(t0), Some(t1)) = (times.clone().min(), times.max()) else {
        return frame("price-chart", title, &empty("No quotes were recorded for this position."));
    };
    let x = |ms: i64| scale(ms_f64(ms), ms_f64(t0), ms_f64(t1), LEFT, WIDTH - RIGHT);
    let y = |v: Decimal| scale(f(v), 0.0, 1.0, HEIGHT - BOTTOM, TOP);
    let lines: [QuoteLine; 4] = [
        ("YES bid", COLORS[0], false, |q| q.yes_bid),
        ("YES ask", COLORS[0], true, |q| q.yes_ask),
        ("NO bid", COLORS[1], false, |q| q.no_bid),
        ("NO ask", COLORS[1], true, |q| q.no_ask),
    ];
    let body = html! {
        @for (label, color, dashed, get) in &lines {
            @let d = line_path(quotes.iter().filter_map(|q| get(q).map(|v| (x(q.at_ms), y(v)))));
            @if !d.is_empty() {
                path class="series" data-series=(label) d=(d) fill="none" stroke=(color) stroke-width="1.5"
                    stroke-dasharray=[dashed.then_some("5 3")] {}
            }
        }
        @for m in markers {
            @let (cx, cy) = (x(m.at_ms), y(m.price));
            g class={ "marker " (m.kind) } data-kind=(m.kind) {
                circle cx=(format!("{cx:.1}")) cy=(format!("{cy:.1}")) r="5"
                    fill=(if m.leg == "yes" { COLORS[0] } else { COLORS[1] }) stroke="#fff" stroke-width="1.5" {
                    title { (m.kind.replace('_', " ")) " " (m.leg.to_uppercase()) " at " (m.price) ", " (crate::query::utc_time(m.at_ms)) }
                }
                text x=(format!("{cx:.1}")) y=(format!("{:.1}", (cy - 9.0).max(TOP + 10.0))) text-anchor="middle"
                    font-size="10" fill="currentColor" { (marker_letter(&m.kind)) }
            }
        }
        (y_label(y(Decimal::ONE), "1.00"))
        (y_label(y(Decimal::new(5, 1)), "0.50"))
        (y_label(y(Decimal::ZERO), "0.00"))
        (x_label(LEFT, "start", &crate::query::utc_time(t0)))
        (x_label(WIDTH - RIGHT, "end", &crate::query::utc_time(t1)))
    };
    figure(frame("price-chart", title, &body), legend(lines.iter().map(|(l, c, d, _)| (*l, *c, *d))))
}

/// The letter drawn over a marker (its kind is in its tooltip and the legend below the chart).
fn marker_letter(kind: &str) -> &'static str {
    match kind {
        "entry" => "E",
        "liquidation" => "L",
        "stop_loss" => "S",
        "take_profit" => "T",
        "close" => "C",
        "unwind" => "U",
        "resolution" => "R",
        _ => "•",
    }
}

/// A bar per part of a P&L (spread, fees, liquidated side, kept side) and the total, each
/// labelled with its exact value.
pub(crate) fn attribution_chart(id: &str, parts: &[(&str, Decimal)]) -> Markup {
    let title = "Where the P&L came from (pUSD)";
    if parts.is_empty() {
        return frame(id, title, &empty("No closed position to attribute."));
    }
    let lo = parts.iter().map(|p| p.1).min().unwrap_or_default().min(Decimal::ZERO);
    let hi = parts.iter().map(|p| p.1).max().unwrap_or_default().max(Decimal::ZERO);
    let (vlo, vhi) = if lo == hi { (-1.0, 1.0) } else { padded(f(lo), f(hi)) };
    let y = |v: Decimal| scale(f(v), vlo, vhi, HEIGHT - BOTTOM, TOP);
    let zero = y(Decimal::ZERO);
    let slot = (WIDTH - LEFT - RIGHT) / count_f64(parts.len());
    let body = html! {
        @for (i, (label, v)) in parts.iter().enumerate() {
            @let top = y(*v).min(zero);
            @let height = (y(*v) - zero).abs().max(0.5);
            @let cx = LEFT + slot * count_f64(i) + slot / 2.0;
            rect class="bar" x=(format!("{:.1}", cx - slot * 0.3)) y=(format!("{top:.1}"))
                width=(format!("{:.1}", slot * 0.6)) height=(format!("{height:.1}"))
                fill=(if *v < Decimal::ZERO { NEG } else { POS }) {
                title { (label) ": " (v) " pUSD" }
            }
            text x=(format!("{cx:.1}")) y=(HEIGHT - 8.0) text-anchor="middle" font-size="11" fill="currentColor" { (label) }
            text x=(format!("{cx:.1}")) y=(format!("{:.1}", if *v < Decimal::ZERO { top + height + 12.0 } else { top - 4.0 }))
                text-anchor="middle" font-size="11" fill="currentColor" { (v.round_dp(2)) }
        }
        line class="zero" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{zero:.1}")) y2=(format!("{zero:.1}")) stroke="#888" {}
        (y_label(zero, "0"))
    };
    frame(id, title, &body)
}

/// Buckets with fewer trades than this do not stretch the calibration chart's axis.
const MIN_SHOWN_INTERVAL: usize = 10;

/// The calibration chart: the mean simulated P&L of each score bucket, 1 to 10, with its 95 %
/// interval as a whisker and its count under it.
pub(crate) fn calibration_chart(buckets: &[BucketView]) -> Markup {
    let title = "Mean simulated P&L per trade by score (pUSD), with 95 % intervals";
    // The axis spans the means, and the intervals of buckets with enough trades to say much;
    // a wider interval is cut at the frame (its tooltip has the figures).
    let values: Vec<Decimal> = buckets
        .iter()
        .filter_map(|b| b.pnl.as_ref())
        .flat_map(|e| {
            if e.n >= MIN_SHOWN_INTERVAL { [Some(e.mean), e.low, e.high] } else { [Some(e.mean), None, None] }
        })
        .flatten()
        .chain([Decimal::ZERO])
        .collect();
    if buckets.iter().all(|b| b.pnl.is_none()) {
        return frame("calibration-chart", title, &empty("No simulated trade yet."));
    }
    let (lo, hi) =
        (values.iter().min().copied().unwrap_or_default(), values.iter().max().copied().unwrap_or_default());
    let (vlo, vhi) = padded(f(lo), f(hi));
    let y = |v: Decimal| scale(f(v), vlo, vhi, HEIGHT - BOTTOM, TOP);
    let zero = y(Decimal::ZERO);
    let slot = (WIDTH - LEFT - RIGHT) / count_f64(buckets.len().max(1));
    let body = html! {
        @for (i, b) in buckets.iter().enumerate() {
            @let cx = LEFT + slot * count_f64(i) + slot / 2.0;
            g class="bucket" data-score=(b.score) data-n=(b.pnl.as_ref().map_or(0, |e| e.n)) {
                @if let Some(e) = &b.pnl {
                    @let top = y(e.mean).min(zero);
                    @let height = (y(e.mean) - zero).abs().max(0.5);
                    rect class="bar" x=(format!("{:.1}", cx - slot * 0.3)) y=(format!("{top:.1}"))
                        width=(format!("{:.1}", slot * 0.6)) height=(format!("{height:.1}"))
                        fill=(if e.mean < Decimal::ZERO { NEG } else { POS }) {
                        title { "score " (b.score) ": mean " (e.mean.round_dp(2)) " pUSD over " (e.n) " trades"
                            @if let (Some(l), Some(h)) = (e.low, e.high) { ", 95 % interval " (l.round_dp(2)) " to " (h.round_dp(2)) } }
                    }
                    @if let (Some(l), Some(h)) = (e.low, e.high) {
                        line class="whisker" x1=(format!("{cx:.1}")) x2=(format!("{cx:.1}"))
                            y1=(format!("{:.1}", y(l).min(HEIGHT - BOTTOM))) y2=(format!("{:.1}", y(h).max(TOP)))
                            stroke="currentColor" stroke-width="1.5" {}
                    }
                }
                text x=(format!("{cx:.1}")) y=(HEIGHT - 14.0) text-anchor="middle" font-size="11" fill="currentColor" { (b.score) }
                text x=(format!("{cx:.1}")) y=(HEIGHT - 2.0) text-anchor="middle" font-size="9" fill="currentColor" {
                    "n=" (b.pnl.as_ref().map_or(0, |e| e.n))
                }
            }
        }
        line class="zero" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{zero:.1}")) y2=(format!("{zero:.1}")) stroke="#888" {}
        (y_label(y(hi), &hi.round_dp(2).to_string()))
        (y_label(zero, "0"))
        (y_label(y(lo), &lo.round_dp(2).to_string()))
    };
    frame("calibration-chart", title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::dec;

    #[test]
    fn ten_thousand_points_draw_as_a_few_per_pixel_column() {
        let points: Vec<(i64, Decimal)> =
            (0..10_000).map(|i| (i64::from(i) * 60_000, Decimal::from(1_000 + (i % 13) * 3))).collect();
        let svg = lines_chart(
            "equity",
            "t",
            &[Series { label: "A", color: COLORS[0], points, dashed: false }],
            Some(dec("1000")),
            "",
        )
        .into_string();
        let path = svg.split("d=\"").nth(1).unwrap().split('"').next().unwrap();
        let vertices = path.matches('L').count() + 1;
        assert!(vertices <= 4 * 560, "{vertices} vertices");
        assert!(svg.contains(">1036<") && svg.contains(">1000<"), "the extremes are labelled");
        assert!(!svg.contains("NaN") && !svg.contains("style="));
        let none = lines_chart("e", "t", &[], None, "").into_string();
        assert!(none.contains("Nothing to draw yet."));
    }

    #[test]
    fn drawdown_is_the_fall_from_the_running_peak() {
        let dd =
            drawdown(&[(1, dec("1000")), (2, dec("1100")), (3, dec("990")), (4, dec("1200"))], dec("1000"));
        assert_eq!(dd, [(1, dec("0")), (2, dec("0")), (3, dec("-10")), (4, dec("0"))]);
    }

    #[test]
    fn markers_sit_on_the_price_they_happened_at() {
        let q = |t: i64, yb: Decimal| QuoteView {
            at_ms: t,
            yes_bid: Some(yb),
            yes_ask: Some(yb + dec("0.02")),
            no_bid: Some(dec("0.98") - yb),
            no_ask: Some(dec("1") - yb),
        };
        let markers = [
            MarkerView { at_ms: 0, kind: "entry".into(), leg: "yes".into(), price: dec("0.52") },
            MarkerView { at_ms: 100, kind: "liquidation".into(), leg: "no".into(), price: dec("0.3") },
        ];
        let svg = price_chart(&[q(0, dec("0.5")), q(100, dec("0.7"))], &markers).into_string();
        assert_eq!(svg.matches("<g class=\"marker ").count(), 2);
        assert!(svg.contains("data-kind=\"liquidation\"") && svg.contains("liquidation NO at 0.3"));
        assert_eq!(svg.matches("<path class=\"series\"").count(), 4, "both sides' bid and ask");
        assert!(price_chart(&[], &[]).into_string().contains("No quotes were recorded"));
    }
}
