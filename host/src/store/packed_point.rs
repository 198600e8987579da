//! A price point packed for the in-memory history: its time and five quotes in 48 bytes, where
//! a [`PricePoint`] takes 112; a point with a quote that does not fit is kept whole beside it.
//!
//! A quote packs into eight bytes: its mantissa in the top 56 bits (two's complement), its
//! scale in bits 1 to 5, and bit 0 set; an absent quote is 0. Unpacking gives back the same
//! `Decimal` bit for bit (digits, scale and sign). Quotes whose mantissa needs more than 56 bits,
//! and a negative zero (whose sign the mantissa cannot carry), do not pack: their point gets a
//! stand-in ([`Packed::wide`]) and the caller keeps it whole.

use rust_decimal::Decimal;

use super::PricePoint;

/// Mantissas from −2⁵⁵ to 2⁵⁵ − 1 pack.
const MANTISSA_BITS: u32 = 56;

/// A packed point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Packed {
    pub(super) at_ms: i64,
    quotes: [u64; 5],
}

/// One quote packed, or none when it does not fit.
fn pack(q: Option<Decimal>) -> Option<u64> {
    let Some(d) = q else { return Some(0) };
    if d.is_zero() && d.is_sign_negative() {
        return None;
    }
    let m = d.mantissa();
    let limit = 1_i128 << (MANTISSA_BITS - 1);
    if m < -limit || m >= limit {
        return None;
    }
    let m = i64::try_from(m).ok()?;
    #[expect(clippy::cast_sign_loss, reason = "the mantissa's two's complement bits, shifted up")]
    let bits = (m as u64) << (64 - MANTISSA_BITS);
    Some(bits | (u64::from(d.scale()) << 1) | 1)
}

/// A quote as [`pack`] packed it.
fn unpack(bits: u64) -> Option<Decimal> {
    if bits & 1 == 0 {
        return None;
    }
    #[expect(clippy::cast_possible_wrap, reason = "the mantissa's two's complement bits")]
    let m = (bits as i64) >> (64 - MANTISSA_BITS);
    let scale = u32::try_from((bits >> 1) & 0x1f).unwrap_or(0);
    Decimal::try_from_i128_with_scale(i128::from(m), scale).ok()
}

impl Packed {
    /// The mark of a point kept whole: no packed quote has bit 0 clear and is not 0.
    const WIDE_MARK: u64 = 2;

    /// `p` packed, or `None` when one of its quotes does not fit.
    pub(super) fn new(p: &PricePoint) -> Option<Self> {
        Some(Self {
            at_ms: p.at_ms,
            quotes: [
                pack(p.yes_bid)?,
                pack(p.yes_ask)?,
                pack(p.no_bid)?,
                pack(p.no_ask)?,
                pack(p.volume_24h)?,
            ],
        })
    }

    /// The stand-in for a point kept whole.
    pub(super) const fn wide(at_ms: i64) -> Self {
        Self { at_ms, quotes: [Self::WIDE_MARK, 0, 0, 0, 0] }
    }

    /// Whether the point is kept whole elsewhere.
    pub(super) const fn is_wide(&self) -> bool {
        self.quotes[0] == Self::WIDE_MARK
    }

    /// The point (a wide one's stand-in unpacks to no quotes: ask for the point kept whole).
    pub(super) fn unpack(&self) -> PricePoint {
        let [yes_bid, yes_ask, no_bid, no_ask, volume_24h] = self.quotes.map(unpack);
        PricePoint { at_ms: self.at_ms, yes_bid, yes_ask, no_bid, no_ask, volume_24h }
    }
}

/// A zero with its sign bit set, as `Decimal` can hold one (its constructors drop the sign of
/// a zero; its bytes keep it).
#[cfg(test)]
pub(super) fn negative_zero(scale: u32) -> Decimal {
    let mut bytes = [0_u8; 16];
    bytes[..4].copy_from_slice(&((scale << 16) | 0x8000_0000).to_le_bytes());
    Decimal::deserialize(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every quote that packs comes back bit for bit (digits, scale, sign) and unlike an absent
    /// one; the others do not pack.
    #[test]
    fn a_packed_quote_unpacks_to_the_same_decimal_bit_for_bit() {
        let limit = 1_i128 << 55;
        let mantissas = [
            0,
            1,
            -1,
            5,
            49,
            -49,
            123_456,
            999_999,
            1_000_000,
            -987_654_321,
            limit - 1,
            -limit,
            i128::from(i64::MAX >> 9),
            i128::from(i64::MIN >> 9),
        ];
        for scale in 0..=28 {
            for m in mantissas {
                let d = Decimal::from_i128_with_scale(m, scale);
                let bits = pack(Some(d)).unwrap_or_else(|| panic!("{m} e-{scale} packs"));
                assert_ne!(bits, 0, "{m} e-{scale} is not an absent quote");
                let back = unpack(bits).unwrap();
                assert_eq!(back.serialize(), d.serialize(), "{m} e-{scale}");
                assert_eq!((back.scale(), back.to_string()), (d.scale(), d.to_string()));
            }
            for m in [limit, -limit - 1, i128::from(i64::MAX), i128::from(u64::MAX) * 1_000] {
                assert_eq!(pack(Some(Decimal::from_i128_with_scale(m, scale))), None, "{m} e-{scale}");
            }
        }
        for d in [Decimal::MAX, Decimal::MIN] {
            assert_eq!(pack(Some(d)), None);
        }
        let negative_zero = negative_zero(3);
        assert!(negative_zero.is_sign_negative() && negative_zero.is_zero());
        assert_eq!(pack(Some(negative_zero)), None, "a negative zero keeps its sign whole");
        assert_eq!(pack(None), Some(0));
        assert_eq!(unpack(0), None);
    }

    #[test]
    fn a_point_packs_unless_a_quote_does_not_fit() {
        let p = PricePoint {
            at_ms: 1_767_225_600_123,
            yes_bid: Some(Decimal::new(48, 2)),
            yes_ask: Some(Decimal::new(5_100, 4)),
            no_bid: None,
            no_ask: Some(Decimal::new(-3, 0)),
            volume_24h: Some(Decimal::new(123_456_789_012, 6)),
        };
        let packed = Packed::new(&p).unwrap();
        assert!(!packed.is_wide());
        assert_eq!(packed.unpack(), p);
        assert_eq!(packed.at_ms, p.at_ms);
        let wide = PricePoint { volume_24h: Some(Decimal::MAX), ..p };
        assert_eq!(Packed::new(&wide), None);
        assert!(Packed::wide(7).is_wide());
        assert!(std::mem::size_of::<Packed>() <= 48);
    }
}
