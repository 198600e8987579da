//! Byte-level encoding of recordings: LEB128 varints, zigzag integers, exact decimals, strings.

use rust_decimal::Decimal;

/// Appends encoded values to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Enc {
    pub(crate) buf: Vec<u8>,
}

impl Enc {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            #[expect(clippy::cast_possible_truncation, reason = "the low seven bits")]
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        #[expect(clippy::cast_possible_truncation, reason = "below 0x80")]
        self.buf.push(v as u8);
    }

    pub(crate) fn zigzag(&mut self, v: i64) {
        #[expect(clippy::cast_sign_loss, reason = "zigzag encoding maps signed to unsigned")]
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// An exact decimal: its mantissa and scale, so `0.50` stays `0.50`. Small mantissas (the
    /// usual prices and sizes) take two or three bytes; anything else is escaped whole.
    pub(crate) fn decimal(&mut self, d: Decimal) {
        let scale = d.scale();
        let m = d.mantissa();
        if let Ok(m) = i64::try_from(m)
            && (-(1_i64 << 56)..(1_i64 << 56)).contains(&m)
        {
            // zigzag(m) << 5 | scale; scale ≤ 28 fits five bits, 31 marks the escape.
            #[expect(clippy::cast_sign_loss, reason = "zigzag encoding")]
            let z = ((m << 1) ^ (m >> 63)) as u64;
            self.varint((z << 5) | u64::from(scale));
        } else {
            self.varint(31);
            self.buf.extend_from_slice(&d.serialize());
        }
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
}

/// Why bytes could not be decoded, and where (offset in the decoded payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub(crate) at: usize,
    pub(crate) what: String,
}

/// Reads encoded values from a slice.
#[derive(Debug)]
pub(crate) struct Dec<'a> {
    bytes: &'a [u8],
    pub(crate) pos: usize,
}

pub(crate) type DecResult<T> = Result<T, DecodeError>;

impl<'a> Dec<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn fail<T>(&self, what: impl Into<String>) -> DecResult<T> {
        Err(DecodeError { at: self.pos, what: what.into() })
    }

    pub(crate) fn u8(&mut self) -> DecResult<u8> {
        let Some(b) = self.bytes.get(self.pos).copied() else { return self.fail("unexpected end") };
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn varint(&mut self) -> DecResult<u64> {
        let mut v = 0_u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.fail("varint longer than 64 bits")
    }

    pub(crate) fn zigzag(&mut self) -> DecResult<i64> {
        let z = self.varint()?;
        #[expect(clippy::cast_possible_wrap, reason = "zigzag decoding")]
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    pub(crate) fn usize(&mut self) -> DecResult<usize> {
        let v = self.varint()?;
        usize::try_from(v).or_else(|_| self.fail("length out of range"))
    }

    pub(crate) fn decimal(&mut self) -> DecResult<Decimal> {
        let v = self.varint()?;
        if v == 31 {
            let raw = self.take(16)?;
            let mut b = [0_u8; 16];
            b.copy_from_slice(raw);
            return Ok(Decimal::deserialize(b));
        }
        let scale = u32::try_from(v & 31).unwrap_or(31);
        if scale > 28 {
            return self.fail(format!("decimal scale {scale} above 28"));
        }
        let z = v >> 5;
        #[expect(clippy::cast_possible_wrap, reason = "zigzag decoding")]
        let m = ((z >> 1) as i64) ^ -((z & 1) as i64);
        Ok(Decimal::new(m, scale))
    }

    fn take(&mut self, n: usize) -> DecResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let Some(end) = end else { return self.fail(format!("{n} bytes announced, fewer left")) };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn bytes(&mut self) -> DecResult<&'a [u8]> {
        let n = self.usize()?;
        self.take(n)
    }

    pub(crate) fn str(&mut self) -> DecResult<&'a str> {
        let at = self.pos;
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| DecodeError { at, what: "string is not UTF-8".into() })
    }

    pub(crate) fn string(&mut self) -> DecResult<String> {
        self.str().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn values_round_trip_exactly_and_small_ones_stay_small() {
        let mut e = Enc::default();
        let decimals =
            [dec!(0.50), dec!(0.5), dec!(-3.25), dec!(0), dec!(1234.56), Decimal::MAX, dec!(1e-28)];
        for d in decimals {
            e.decimal(d);
        }
        e.zigzag(-5);
        e.zigzag(i64::MIN);
        e.varint(u64::MAX);
        e.str("héllo");
        let mut d = Dec::new(&e.buf);
        for want in decimals {
            let got = d.decimal().unwrap();
            assert_eq!((got, got.scale()), (want, want.scale()));
        }
        assert_eq!(d.zigzag().unwrap(), -5);
        assert_eq!(d.zigzag().unwrap(), i64::MIN);
        assert_eq!(d.varint().unwrap(), u64::MAX);
        assert_eq!(d.str().unwrap(), "héllo");
        assert!(d.is_empty());
        let mut small = Enc::default();
        small.decimal(dec!(0.52));
        assert_eq!(small.buf.len(), 2, "a cent price takes two bytes");
    }

    #[test]
    fn truncated_or_bad_input_is_an_error_with_its_offset() {
        let mut d = Dec::new(&[0x80, 0x80]);
        assert_eq!(d.varint().unwrap_err().at, 2);
        let mut d = Dec::new(&[5, b'a']);
        assert!(d.str().unwrap_err().what.contains("announced"));
        let mut d = Dec::new(&[0b0011_1110]);
        assert!(d.decimal().unwrap_err().what.contains("scale"));
    }
}
