//! Byte-class tables: one pass over a string's bytes tells whether it needs JSON
//! escaping, holds control characters, is ASCII, and how many digits it has.

/// `-?[0-9]+(\.[0-9]+)?`, in one pass.
pub(super) fn is_decimal(s: &[u8]) -> bool {
    let b = s.strip_prefix(b"-").unwrap_or(s);
    let mut int_digits = 0usize;
    let mut frac_digits = 0usize;
    let mut dot = false;
    for &c in b {
        match c {
            b'0'..=b'9' if dot => frac_digits += 1,
            b'0'..=b'9' => int_digits += 1,
            b'.' if !dot && int_digits > 0 => dot = true,
            _ => return false,
        }
    }
    int_digits > 0 && (!dot || frac_digits > 0)
}

/// What one pass over a string's bytes tells (written to vectorise: no early exit).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Facts {
    /// Needs JSON escaping: a C0 byte, `"` or `\`.
    pub(super) escape: bool,
    /// Has a C0 control other than tab/CR/LF, or DEL (meaningful when `ascii`).
    pub(super) control: bool,
    /// Only ASCII bytes.
    pub(super) ascii: bool,
    /// Number of ASCII digits, plus, in non-ASCII text, the bytes that can
    /// start a decimal digit of another script (see [`DIGIT_LEADS`]): never less
    /// than the number of Unicode decimal digits, exact for ASCII text.
    pub(super) digits: usize,
}

/// The first bytes of the UTF-8 encodings of the non-ASCII Unicode decimal
/// digits (those of `crate::luhn::digits::ND_ZEROS`, checked by a test): text
/// without them has no digits but ASCII ones.
pub(super) const DIGIT_LEADS: [u8; 8] = [0xd9, 0xdb, 0xdf, 0xe0, 0xe1, 0xea, 0xef, 0xf0];

/// Byte classes for [`Facts`]: bit 0 digit (or digit lead byte), bit 1 needs JSON escaping, bit 2
/// control character (C0 but tab/LF/CR, and DEL), bit 3 non-ASCII.
static CLASS: [u8; 256] = byte_classes();

// Evaluated at compile time: an index out of range would fail the build, never
// run, and `i < 256` bounds every index anyway.
#[allow(clippy::indexing_slicing)]
const fn byte_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut k = 0;
        let mut lead = false;
        let mut j = 0;
        while j < DIGIT_LEADS.len() {
            lead |= DIGIT_LEADS[j] == c;
            j += 1;
        }
        if c.is_ascii_digit() || lead {
            k |= 1;
        }
        if c < 0x20 || c == b'"' || c == b'\\' {
            k |= 2;
        }
        if (c < 0x20 && c != b'\t' && c != b'\n' && c != b'\r') || c == 0x7f {
            k |= 4;
        }
        if c >= 0x80 {
            k |= 8;
        }
        t[i] = k;
        i += 1;
    }
    t
}

impl Facts {
    #[inline(always)]
    pub(super) fn of(b: &[u8]) -> Facts {
        // One add per byte: the classes are counted in 16-bit fields of a u64
        // (digits, escapes, controls, non-ASCII), which cannot carry into each
        // other below 65,535 bytes; longer strings take the flag-by-flag loop.
        if b.len() < 0xffff {
            let count = |c: &u8| COUNTS.get(usize::from(*c)).copied().unwrap_or(0);
            // Four bytes a step, in two independent sums.
            let (mut sum, mut sum2) = (0u64, 0u64);
            let mut quads = b.chunks_exact(4);
            for q in &mut quads {
                if let [a, b, c, d] = q {
                    sum += count(a) + count(b);
                    sum2 += count(c) + count(d);
                }
            }
            for c in quads.remainder() {
                sum += count(c);
            }
            sum += sum2;
            return Facts {
                escape: (sum >> 16) & 0xffff != 0,
                control: (sum >> 32) & 0xffff != 0,
                ascii: sum >> 48 == 0,
                digits: (sum & 0xffff) as usize,
            };
        }
        let (mut any, mut digits) = (0u8, 0usize);
        for &c in b {
            let k = CLASS.get(usize::from(c)).copied().unwrap_or(0);
            any |= k;
            digits += usize::from(k & 1);
        }
        Facts { escape: any & 2 != 0, control: any & 4 != 0, ascii: any & 8 == 0, digits }
    }
}

/// [`CLASS`] as counters: bit `k` of a byte's class becomes 1 << (16 k).
static COUNTS: [u64; 256] = byte_counts();

// Evaluated at compile time (see `byte_classes`).
#[allow(clippy::indexing_slicing)]
const fn byte_counts() -> [u64; 256] {
    let classes = byte_classes();
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let k = classes[i] as u64;
        t[i] = (k & 1) | ((k >> 1) & 1) << 16 | ((k >> 2) & 1) << 32 | ((k >> 3) & 1) << 48;
        i += 1;
    }
    t
}

/// Control characters other than tab, CR and LF (C0, DEL and C1: the general
/// category Cc that `char::is_control` tests), read from the UTF-8 bytes: C0 and
/// DEL are single bytes, C1 (U+0080..U+009F) is 0xC2 followed by 0x80..=0x9F.
#[cfg(test)]
fn has_control(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().any(|&c| (c < 0x20 && !matches!(c, b'\t' | b'\r' | b'\n')) || c == 0x7f) || has_c1(b)
}

/// Whether UTF-8 `b` holds a C1 control character (0xC2 0x80..=0x9F).
pub(super) fn has_c1(b: &[u8]) -> bool {
    b.contains(&0xc2) && b.windows(2).any(|w| matches!(w, [0xc2, 0x80..=0x9f]))
}

/// [`is_decimal`] for a string of which `digits` bytes are ASCII digits: at
/// most a leading `-` and one `.` are not digits, so only strings with a dot
/// are looked at again (up to the dot).
#[inline(always)]
pub(super) fn is_decimal_counted(s: &[u8], digits: usize) -> bool {
    let b = s.strip_prefix(b"-").unwrap_or(s);
    match b.len().wrapping_sub(digits) {
        0 => !b.is_empty(),
        1 => match b.iter().position(|c| !c.is_ascii_digit()) {
            Some(p) => p > 0 && p + 1 < b.len() && b.get(p) == Some(&b'.'),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for ok in ["0", "108", "-5", "13.45", "0.946125"] {
            assert!(is_decimal(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "1.", ".5", "1e5", "1,5", " 1", "abc"] {
            assert!(!is_decimal(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn counted_decimals_agree_with_is_decimal() {
        let alphabet = [b'0', b'7', b'.', b'-', b'a', b' '];
        let mut cases: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            let next: Vec<Vec<u8>> =
                cases.iter().flat_map(|c| alphabet.iter().map(move |a| [c.as_slice(), &[*a]].concat())).collect();
            cases.extend(next);
            cases.sort();
            cases.dedup();
        }
        for c in cases {
            let digits = c.iter().filter(|b| b.is_ascii_digit()).count();
            assert_eq!(is_decimal_counted(&c, digits), is_decimal(&c), "{:?}", String::from_utf8_lossy(&c));
        }
    }

    #[test]
    fn control_characters_are_category_cc() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let s = format!("é{c}x");
            assert_eq!(has_control(&s), c.is_control() && !matches!(c, '\t' | '\r' | '\n'), "{:x}", u32::from(c));
        }
    }

    #[test]
    fn byte_classes_match_their_definitions() {
        for b in 0u8..=255 {
            let f = Facts::of(&[b]);
            assert_eq!(f.digits, usize::from(b.is_ascii_digit() || DIGIT_LEADS.contains(&b)), "{b}");
            assert_eq!(f.escape, b < 0x20 || b == b'"' || b == b'\\', "{b}");
            assert_eq!(f.ascii, b.is_ascii(), "{b}");
            if b.is_ascii() {
                assert_eq!(f.control, has_control(&char::from(b).to_string()), "{b}");
            }
        }
        let long = "7\"".repeat(40_000);
        let f = Facts::of(long.as_bytes());
        assert_eq!((f.digits, f.escape, f.ascii, f.control), (40_000, true, true, false));
        let f = Facts::of("4111 1111 1111 1111 \"x\" é".as_bytes());
        assert_eq!((f.digits, f.escape, f.ascii, f.control), (16, true, false, false));
    }

    #[test]
    fn digit_leads_cover_every_unicode_decimal_digit() {
        for z in crate::luhn::digits::ND_ZEROS {
            for d in 0..10 {
                let c = char::from_u32(z + d).unwrap().to_string();
                assert_eq!(Facts::of(c.as_bytes()).digits, 1, "{:x}", z + d);
            }
        }
        assert_eq!(Facts::of("日本語のテキスト、é".as_bytes()).digits, 0);
    }
}
