//! Unicode decimal digits (general category Nd): every script's 0-9 come as a
//! contiguous run of ten code points, so a digit is known by the run's zero.
//!
//! [`ND_ZEROS`] was generated with the `unicodedata2` package from PyPI (Unicode 18.0.0;
//! Python 3.11's own `unicodedata` stops at Unicode 14 and lacks e.g. Kawi and Garay):
//!
//! ```text
//! python3 -c "import sys, unicodedata2 as u; print([hex(c) for c in range(sys.maxunicode + 1)
//!     if u.category(chr(c)) == 'Nd' and u.digit(chr(c)) == 0])"
//! ```
//!
//! (the same script checked that each of the 770 Nd code points is `zero + value`
//! for one of these zeros).

/// The zero of every run of ten Unicode decimal digits, ascending.
pub const ND_ZEROS: [u32; 77] = [
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50,
    0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
    0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x10D40, 0x11066, 0x110F0, 0x11136, 0x111D0,
    0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x116D0, 0x116DA, 0x11730, 0x118E0, 0x11950, 0x11BF0, 0x11C50, 0x11D50, 0x11DA0,
    0x11DE0, 0x11F50, 0x16130, 0x16A60, 0x16AC0, 0x16B50, 0x16D70, 0x1CCF0, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140,
    0x1E2F0, 0x1E4F0, 0x1E5F1, 0x1E950, 0x1FBF0,
];

/// The value of `c` if it is a Unicode decimal digit (any script).
#[inline]
pub fn value(c: char) -> Option<u8> {
    let cp = u32::from(c);
    if c.is_ascii_digit() {
        return u8::try_from(cp - 0x30).ok();
    }
    if cp < 0x660 {
        return None;
    }
    let i = ND_ZEROS.partition_point(|&z| z <= cp).checked_sub(1)?;
    let off = cp - ND_ZEROS.get(i)?;
    if off < 10 {
        u8::try_from(off).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digits() {
        assert_eq!(value('7'), Some(7));
        assert_eq!(value('\u{664}'), Some(4)); // ARABIC-INDIC DIGIT FOUR
        assert_eq!(value('\u{6F9}'), Some(9)); // EXTENDED ARABIC-INDIC DIGIT NINE
        assert_eq!(value('\u{96A}'), Some(4)); // DEVANAGARI DIGIT FOUR
        assert_eq!(value('\u{FF11}'), Some(1)); // FULLWIDTH DIGIT ONE
        assert_eq!(value('\u{1D7CE}'), Some(0)); // MATHEMATICAL BOLD DIGIT ZERO
        assert_eq!(value('\u{11F57}'), Some(7)); // KAWI DIGIT SEVEN (Unicode 15)
        assert_eq!(value('\u{10D43}'), Some(3)); // GARAY DIGIT THREE (Unicode 16)
        for c in ['a', ' ', '\u{B2}', '\u{2460}', '\u{2155}', '\u{669}', '\u{66A}', '\u{10FFFF}'] {
            // superscript two, circled one, vulgar fraction: numeric, not Nd
            assert_eq!(value(c).is_some(), c == '\u{669}', "{:x}", u32::from(c));
        }
    }

    #[test]
    fn table_is_runs_of_ten_numeric_chars() {
        assert!(ND_ZEROS.windows(2).all(|w| w[0] + 10 <= w[1]));
        for z in ND_ZEROS {
            for d in 0..10u32 {
                let c = char::from_u32(z + d).unwrap();
                assert!(c.is_numeric(), "{:x}", z + d);
                assert_eq!(value(c), Some(d as u8));
            }
        }
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            assert_eq!(value(c).is_some() && c.is_ascii(), c.is_ascii_digit());
        }
    }
}
