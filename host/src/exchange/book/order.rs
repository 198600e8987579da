//! How a book side's levels are kept: best first, at distinct prices, none empty, and the
//! fast comparisons that check and restore it.

use super::{BookSide, Level};
use rust_decimal::Decimal;

/// Whether `a` comes before `b` on `side` (better price first).
#[inline]
pub(super) fn better(side: BookSide, a: Decimal, b: Decimal) -> bool {
    match side {
        BookSide::Bids => below(b, a),
        BookSide::Asks => below(a, b),
    }
}

/// `a < b`. A book's prices nearly always share one scale (the tick's), and then their
/// mantissas order them as their values do: one integer comparison in place of
/// `Decimal`'s general one, which books call on every level of every update.
#[inline]
pub(super) fn below(a: Decimal, b: Decimal) -> bool {
    if a.scale() == b.scale() { a.mantissa() < b.mantissa() } else { a < b }
}

/// `d > 0`, without `Decimal`'s general comparison.
#[inline]
pub(super) fn positive(d: Decimal) -> bool {
    !d.is_zero() && d.is_sign_positive()
}

/// Whether `levels` are best first, at distinct prices, none of them empty: a book side as it
/// is kept.
#[inline]
pub(super) fn in_order(levels: &[Level], side: BookSide) -> bool {
    // Monomorphic loops: this runs on every level of every snapshot each book set takes in.
    match side {
        BookSide::Bids => in_order_by(levels, side, |prev, next| next < prev),
        BookSide::Asks => in_order_by(levels, side, |prev, next| prev < next),
    }
}

/// [`in_order`], comparing the digits of positive prices of one scale (a book's, nearly
/// always) as unsigned integers; any other price takes `Decimal`'s general comparison.
#[inline(always)]
fn in_order_by(levels: &[Level], side: BookSide, before: impl Fn(u128, u128) -> bool) -> bool {
    let Some(first) = levels.first() else { return true };
    let head = first.price.unpack();
    let mut prev = u128::from(head.lo) | (u128::from(head.mid) << 32) | (u128::from(head.hi) << 64);
    for (i, l) in levels.iter().enumerate() {
        if !positive(l.size) {
            return false;
        }
        if i == 0 {
            continue;
        }
        let p = l.price.unpack();
        if head.negative || p.negative || p.scale != head.scale {
            return levels.windows(2).all(|w| better(side, w[0].price, w[1].price))
                && levels.iter().all(|l| positive(l.size));
        }
        let next = u128::from(p.lo) | (u128::from(p.mid) << 32) | (u128::from(p.hi) << 64);
        if !before(prev, next) {
            return false;
        }
        prev = next;
    }
    true
}

/// Fills `out` with `levels` best first: sizes of 0 dropped, and of a price given twice the
/// last one kept (as a map built from them would).
pub(super) fn sorted_into(out: &mut Vec<Level>, levels: &[Level], side: BookSide) {
    out.clear();
    // Nearly every snapshot comes best first without an empty level: one look, then a copy.
    if in_order(levels, side) {
        out.extend_from_slice(levels);
        return;
    }
    out.extend(levels.iter().copied().filter(|l| positive(l.size)));
    // Feeds send a side in one order or the other: check before sorting.
    if out.windows(2).all(|w| better(side, w[0].price, w[1].price)) {
        return;
    }
    if out.windows(2).all(|w| better(side, w[1].price, w[0].price)) {
        out.reverse();
        return;
    }
    // Stable: of equal prices the one given last stays last, and wins below.
    out.sort_by(|a, b| match side {
        BookSide::Bids => b.price.cmp(&a.price),
        BookSide::Asks => a.price.cmp(&b.price),
    });
    let mut kept = 0;
    for i in 0..out.len() {
        if kept > 0 && out[kept - 1].price == out[i].price {
            out[kept - 1] = out[i];
        } else {
            out[kept] = out[i];
            kept += 1;
        }
    }
    out.truncate(kept);
}
