//! Payment card number detection (PAN scanning) for outgoing strings, and the
//! same detector for the redaction layer ([`crate::redact`]).
//!
//! **Digits** are Unicode decimal digits of any script (general category Nd,
//! see [`digits`]): `٤١١١…` is read as `4111…`. A **group** is a maximal run of
//! digits. Groups may be joined by a **separator run** of one or two characters
//! of one kind: white space (any Unicode `White_Space`, so no-break spaces, tabs
//! and line breaks too), `-`, `.`, `/` or `_`; one kind per number
//! (`4111.1111.1111.1111`, `4111  1111  1111  1111`, `4111\r\n1111\r\n…`, but not
//! `4111-1111 1111.1111`).
//!
//! Every contiguous window of whole groups with the same separator kind is a
//! candidate; it is a **card number** when its digits
//! 1. have the length of a known brand whose IIN prefix they start with (see
//!    [`brand_ok`]), and
//! 2. pass the Luhn check.
//!
//! A single unseparated run of digits directly after or before an ASCII letter
//! is part of an alphanumeric code (tracking numbers such as `JJD0123…`, `1Z…`,
//! SKUs), not a card number (the word boundary of common DLP patterns). Only
//! ASCII letters count, so text in scripts without spaces (`卡号4111…`) is
//! still scanned, and a grouped number glued to a word (`… 1111exp 12/27`) is
//! still a card number. Two more narrow
//! exceptions keep common non-card numbers out: a window directly after `+`
//! with at most 15 digits is an international phone number (E.164 numbers have
//! at most 15 digits), and four `.`-separated groups of at most three digits
//! are an IPv4 address.
//!
//! So `4111 1111 1111 1111 2026` is caught (the first four groups), while an
//! unseparated run of 20 digits is one group of the wrong length and is ignored,
//! as are dates, totals, phone and tracking numbers.
//!
//! Redaction replaces each digit of a detected number with `*` and keeps the
//! separators (`**** **** **** ****`).

pub mod digits;

/// Fewest digits of a card number (Maestro).
pub const MIN_DIGITS: usize = 12;
/// Most digits of a card number.
pub const MAX_DIGITS: usize = 19;

/// Whether `digits` (values 0-9, most significant first) pass the Luhn check.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(*d);
            if i % 2 == 1 {
                let v = v * 2;
                if v > 9 {
                    v - 9
                } else {
                    v
                }
            } else {
                v
            }
        })
        .sum();
    !digits.is_empty() && sum % 10 == 0
}

/// Whether `d` (digit values) starts with the IIN prefix of a known brand and
/// has one of that brand's lengths. Prefixes and lengths as listed in
/// <https://en.wikipedia.org/wiki/Payment_card_number#Issuer_identification_number_(IIN)>
/// (checked December 2026):
///
/// | brand      | prefixes                 | lengths        |
/// |------------|--------------------------|----------------|
/// | Visa       | 4                        | 13, 16, 19     |
/// | Mastercard | 51-55, 2221-2720         | 16             |
/// | Amex       | 34, 37                   | 15             |
/// | Discover   | 6011, 644-649, 65        | 16-19          |
/// | Diners     | 36, 300-305, 38-39       | 14-19          |
/// | JCB        | 3528-3589                | 16-19          |
/// | UnionPay   | 62                       | 16-19          |
/// | Maestro    | 50, 56-69                | 12-19          |
pub fn brand_ok(d: &[u8]) -> bool {
    let len = d.len();
    let prefix = |n: usize| d.iter().take(n).fold(0u32, |acc, v| acc * 10 + u32::from(*v));
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    let visa = p1 == 4 && matches!(len, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16;
    let amex = matches!(p2, 34 | 37) && len == 15;
    let discover = (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65) && (16..=19).contains(&len);
    let diners = (p2 == 36 || (300..=305).contains(&p3) || matches!(p2, 38 | 39)) && (14..=19).contains(&len);
    let jcb = (3528..=3589).contains(&p4) && (16..=19).contains(&len);
    let unionpay = p2 == 62 && (16..=19).contains(&len);
    let maestro = (p2 == 50 || (56..=69).contains(&p2)) && (12..=19).contains(&len);
    visa || mastercard || amex || discover || diners || jcb || unionpay || maestro
}

/// The kinds of separator between the digit groups of one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Space,
    Dash,
    Dot,
    Slash,
    Underscore,
}

#[inline]
fn sep_kind(c: char) -> Option<Sep> {
    match c {
        '-' => Some(Sep::Dash),
        '.' => Some(Sep::Dot),
        '/' => Some(Sep::Slash),
        '_' => Some(Sep::Underscore),
        c if c.is_whitespace() => Some(Sep::Space),
        _ => None,
    }
}

/// Most separator characters between two groups of one number.
const MAX_SEP: usize = 2;

/// Whether `s` may hold a card number (a cheap pre-check: `false` means
/// [`redact_card_numbers`] certainly finds none). ASCII text is looked at byte
/// by byte: the digits in the longest run of groups joined by up to two
/// separator characters (of any kinds: an overcount) must reach
/// [`MIN_DIGITS`]; other text is decoded (digits of every script).
pub fn may_hold_card_number(s: &[u8]) -> bool {
    let (mut longest, mut run, mut gap) = (0usize, 0usize, 0usize);
    for &c in s {
        match RUN_CLASS.get(usize::from(c)).copied().unwrap_or(0) {
            DIGIT => {
                run += 1;
                gap = 0;
            }
            SEP if gap < MAX_SEP => gap += 1,
            WIDE => return may_hold_decoded(s),
            _ => {
                longest = longest.max(run);
                run = 0;
                gap = 0;
            }
        }
    }
    longest.max(run) >= MIN_DIGITS
}

/// [`may_hold_card_number`] for text that is not ASCII.
#[cold]
#[inline(never)]
fn may_hold_decoded(s: &[u8]) -> bool {
    match std::str::from_utf8(s) {
        Ok(t) => longest_run_chars(t) >= MIN_DIGITS,
        Err(_) => true,
    }
}

/// Classes of [`RUN_CLASS`].
const DIGIT: u8 = 1;
const SEP: u8 = 2;
const WIDE: u8 = 3;

/// Byte classes for [`may_hold_card_number`]: ASCII digits, ASCII separators
/// (white space, `-`, `.`, `/`, `_`), non-ASCII bytes, the rest 0.
static RUN_CLASS: [u8; 256] = run_classes();

// Evaluated at compile time: `i < 256` bounds every index.
#[allow(clippy::indexing_slicing)]
const fn run_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_digit() {
            DIGIT
        } else if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b'-' | b'.' | b'/' | b'_') {
            SEP
        } else if c >= 0x80 {
            WIDE
        } else {
            0
        };
        i += 1;
    }
    t
}

/// [`may_hold_card_number`] for decoded text.
fn longest_run_chars(s: &str) -> usize {
    let (mut longest, mut run, mut gap) = (0usize, 0usize, 0usize);
    for c in s.chars() {
        if digits::value(c).is_some() {
            run += 1;
            gap = 0;
        } else if run > 0 && gap < MAX_SEP && sep_kind(c).is_some() {
            gap += 1;
        } else {
            longest = longest.max(run);
            run = 0;
            gap = 0;
        }
    }
    longest.max(run)
}

/// One digit group: its byte range, where its digits start in the digit
/// buffer and how many there are, how it joins the group before it, and
/// whether a `+` comes right before it.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    first: usize,
    count: usize,
    link: Option<Sep>,
    plus: bool,
    letter_before: bool,
    letter_after: bool,
}

/// Calls `found(start, end)` with the byte range of every card number in `s`
/// (ranges may overlap). Allocation-free for text without a long enough run.
fn scan(s: &str, mut found: impl FnMut(usize, usize)) {
    if !may_hold_card_number(s.as_bytes()) {
        return;
    }
    let mut values: Vec<u8> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    // The separator run since the last group: its kind, length, and whether it
    // is still usable (one kind, at most MAX_SEP characters).
    let (mut gap_kind, mut gap_len, mut gap_ok) = (None, 0usize, false);
    let mut in_group = false;
    let mut prev: Option<char> = None;
    for (i, c) in s.char_indices() {
        if let Some(v) = digits::value(c) {
            if in_group {
                if let Some(g) = groups.last_mut() {
                    g.end = i + c.len_utf8();
                    g.count += 1;
                }
            } else {
                let link = if gap_ok && gap_len > 0 { gap_kind } else { None };
                groups.push(Group {
                    start: i,
                    end: i + c.len_utf8(),
                    first: values.len(),
                    count: 1,
                    link,
                    plus: prev == Some('+'),
                    letter_before: prev.is_some_and(|p| p.is_ascii_alphabetic()),
                    letter_after: false,
                });
                in_group = true;
            }
            values.push(v);
        } else {
            let k = sep_kind(c);
            if in_group {
                if let Some(g) = groups.last_mut() {
                    g.letter_after = c.is_ascii_alphabetic();
                }
                (gap_kind, gap_len, gap_ok) = (k, 1, k.is_some());
            } else {
                gap_len += 1;
                gap_ok = gap_ok && k.is_some() && k == gap_kind && gap_len <= MAX_SEP;
            }
            in_group = false;
        }
        prev = Some(c);
    }
    check_groups(&values, &groups, &mut found);
}

fn check_groups(values: &[u8], groups: &[Group], found: &mut impl FnMut(usize, usize)) {
    for (a, first) in groups.iter().enumerate() {
        let mut count = 0usize;
        let mut kind: Option<Sep> = None;
        let mut short_dotted = true;
        for (n, g) in groups.iter().skip(a).enumerate() {
            if n > 0 {
                match (g.link, kind) {
                    (Some(l), None) => kind = Some(l),
                    (Some(l), Some(k)) if l == k => {}
                    _ => break,
                }
            }
            count += g.count;
            short_dotted &= g.count <= 3;
            if count > MAX_DIGITS {
                break;
            }
            if count < MIN_DIGITS {
                continue;
            }
            let ipv4 = n == 3 && kind == Some(Sep::Dot) && short_dotted;
            let phone = first.plus && count <= 15;
            let d = values.get(first.first..first.first + count).unwrap_or_default();
            // A single unseparated run glued to an ASCII letter is part of a code
            // (tracking numbers such as `JJD…` or `1Z…`); grouped digits are not.
            let glued = n == 0 && (first.letter_before || g.letter_after);
            if !ipv4 && !phone && !glued && brand_ok(d) && luhn_valid(d) {
                found(first.start, g.end);
            }
        }
    }
}

/// Whether `s` contains a card number.
pub fn contains_card_number(s: &str) -> bool {
    let mut any = false;
    scan(s, |_, _| any = true);
    any
}

/// `s` with the digits of every card number replaced by `*`, or `None` when
/// `s` contains none.
pub fn redact_card_numbers(s: &str) -> Option<String> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    scan(s, |a, b| ranges.push((a, b)));
    if ranges.is_empty() {
        return None;
    }
    let out: String = s
        .char_indices()
        .map(|(i, c)| if digits::value(c).is_some() && ranges.iter().any(|&(a, e)| (a..e).contains(&i)) { '*' } else { c })
        .collect();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn_valid(&d("4111111111111111")));
        assert!(luhn_valid(&d("79927398713")));
        assert!(!luhn_valid(&d("4111111111111112")));
        assert!(!luhn_valid(&[]));
    }

    #[test]
    fn brands() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        // Known test numbers of each brand (issuers' published test cards).
        for ok in [
            "4111111111111111", // Visa
            "4222222222222",    // Visa 13
            "5555555555554444", // Mastercard
            "2223003122003222", // Mastercard 2-series
            "378282246310005",  // Amex
            "6011111111111117", // Discover
            "30569309025904",   // Diners 14
            "3566002020360505", // JCB
            "6200000000000005", // UnionPay
            "6759649826438453", // Maestro
            "501800000009",     // Maestro 12 (made Luhn-valid)
        ] {
            assert!(brand_ok(&d(ok)) && luhn_valid(&d(ok)), "{ok}");
        }
        for bad in
            ["1111111111111117", "411111111111111", "5555555555554", "37828224631000", "2721000000000000", "7000000000000000"]
        {
            assert!(!brand_ok(&d(bad)), "{bad}");
        }
    }

    #[test]
    fn detects_card_numbers() {
        for s in [
            "4111111111111111",
            "pay with 4111 1111 1111 1111 please",
            "4111-1111-1111-1111",
            "5500 0000 0000 0004",
            "378282246310005",          // Amex, 15 digits
            "3782 822463 10005",        // Amex layout
            "6011111111111117",         // Discover
            "4222222222222",            // 13 digits
            "4111 1111 1111 1111 2026", // followed by a year
            "12 4111 1111 1111 1111",   // preceded by a number
            "card:4111111111111111.",
            "x 4111111111111111 y",
            "4111.1111.1111.1111",
            "4111  1111  1111  1111",
            "4111\u{a0}1111\u{a0}1111\u{a0}1111",
            "4111\u{202f}1111\u{202f}1111\u{202f}1111",
            "4111/1111/1111/1111",
            "4111_1111_1111_1111",
            "4111\n1111\n1111\n1111",
            "card:\r\n4111\r\n1111\r\n1111\r\n1111\r\n",
            "\u{664}\u{661}\u{661}\u{661} \u{661}\u{661}\u{661}\u{661} \u{661}\u{661}\u{661}\u{661} \u{661}\u{661}\u{661}\u{661}",
            "\u{FF14}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}",
            "tel +49 4111 1111 1111 1111", // 16 digits after '+': not a phone number
        ] {
            assert!(contains_card_number(s), "{s:?}");
        }
    }

    #[test]
    fn ignores_non_card_numbers() {
        for s in [
            "4111111111111112", // Luhn-invalid
            "4111 1111 1111 1112",
            "411111111117",         // 12 digits, Luhn-valid, Visa has no 12
            "41111111111111111115", // 20 digits
            "1111111111111117",     // Luhn-valid, no brand
            "2026-11-22T03:17:20+00:00",
            "+1 415 555 0142",
            "136.93",
            "4111 - 1111 - 1111 - 1111", // three separator characters
            "4111-1111 1111.1111",       // mixed kinds
            "4111 -1111 -1111 -1111",    // mixed kinds in one run
            "56.123.234.116",            // IPv4 address (Maestro prefix, 12 digits, Luhn-valid)
            "+4915112345678",            // E.164 phone number (Visa 13 prefix, Luhn-valid)
            "x4111111111111111y",        // part of an alphanumeric code (one run glued to ASCII letters)
            "JJD4111111111111111",
            "4111111111111111GB",
            "",
        ] {
            assert!(!contains_card_number(s), "{s:?}");
        }
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        for s in ["411111111117", "41111111111111111115", "1111111111111117", "561232341116", "4915112345678"] {
            assert!(luhn_valid(&d(s)), "{s}");
        }
    }

    #[test]
    fn finds_numbers_glued_to_non_ascii_text_or_grouped_before_a_word() {
        for s in [
            "卡号4111111111111111",
            "カード番号\u{ff14}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}\u{ff11}です",
            "4111 1111 1111 1111exp 12/27",
            "card:4111-1111-1111-1111cvv",
            "Номер4111111111111111",
        ] {
            assert!(contains_card_number(s), "{s:?}");
        }
    }

    #[test]
    fn redacts_keeping_separators() {
        assert_eq!(redact_card_numbers("card 4111 1111 1111 1111.").as_deref(), Some("card **** **** **** ****."));
        assert_eq!(redact_card_numbers("4111-1111-1111-1111 ok 42").as_deref(), Some("****-****-****-**** ok 42"));
        assert_eq!(
            redact_card_numbers("4111\u{a0}1111\u{a0}1111\u{a0}1111 x").as_deref(),
            Some("****\u{a0}****\u{a0}****\u{a0}**** x")
        );
        assert_eq!(
            redact_card_numbers("n \u{664}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}\u{661}").as_deref(),
            Some("n ****************")
        );
        assert_eq!(redact_card_numbers("nothing 123"), None);
    }

    #[test]
    fn precheck_never_misses_what_scan_finds() {
        for s in [
            "4111111111111111",
            "pay with 4111  1111  1111  1111 please",
            "12 4111.1111.1111.1111",
            "4111\r\n1111\r\n1111\r\n1111",
        ] {
            assert!(may_hold_card_number(s.as_bytes()), "{s}");
            assert!(contains_card_number(s), "{s}");
        }
        assert!(!may_hold_card_number(b"2026-11-22T03:17:20+00:00"));
        assert!(!may_hold_card_number(b"x 12 -34"));
        assert!(!may_hold_card_number(b""));
    }
}
