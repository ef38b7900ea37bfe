//! Payment card number detection (PAN scanning) for outgoing strings.
//!
//! A candidate is a run of ASCII digits in which single separators (one space or
//! one dash) may appear between two digits, e.g. `4111 1111 1111 1111` or
//! `4111-1111-1111-1111`. Inside such a run the digit groups (the maximal
//! separator-free digit sequences) are considered in every contiguous window of
//! whole groups: a window of 13 to 19 digits that passes the Luhn check is a card
//! number. So `4111 1111 1111 1111 2026` is caught (the first four groups), while
//! an unseparated run of 12 or 20 digits is one group of the wrong length and is
//! ignored, as are dates, totals and phone numbers (fewer than 13 digits).
//!
//! Redaction replaces each digit of a detected number with `*` and keeps the
//! separators (`**** **** **** ****`).

/// Fewest digits of a card number.
pub const MIN_DIGITS: usize = 13;
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

/// Digits in the longest run of digit groups joined by single spaces or dashes
/// (what [`scan`] treats as one candidate), in one pass: a date, a phone number
/// or a price never reaches the Luhn work. Never less than what `scan` counts.
fn longest_run(s: &[u8]) -> usize {
    let (mut longest, mut run, mut after_sep) = (0usize, 0usize, false);
    for &c in s {
        if c.is_ascii_digit() {
            run += 1;
            after_sep = false;
        } else if matches!(c, b' ' | b'-') && run > 0 && !after_sep {
            after_sep = true;
        } else {
            longest = longest.max(run);
            run = 0;
            after_sep = false;
        }
    }
    longest.max(run)
}

/// Whether `s` has a run of digits long enough for a card number (a cheap
/// pre-check: `false` means [`redact_card_numbers`] certainly finds none).
pub fn may_hold_card_number(s: &[u8]) -> bool {
    longest_run(s) >= MIN_DIGITS
}

/// Calls `found(start, end)` with the byte range of every card number in `s`
/// (ranges may overlap). Allocation-free for strings with fewer than 13 digits.
fn scan(s: &[u8], mut found: impl FnMut(usize, usize)) {
    if longest_run(s) < MIN_DIGITS {
        return;
    }
    let n = s.len();
    let digit = |j: usize| s.get(j).is_some_and(u8::is_ascii_digit);
    // Groups of a candidate run: (start, end) byte ranges of digit sequences.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < n {
        if !digit(i) {
            i += 1;
            continue;
        }
        // One run: digit groups joined by single spaces or dashes. Count its
        // digits first; only a run long enough to hold a card number (not a date,
        // a phone number or a price) is collected and checked.
        let run_start = i;
        let mut digits = 0usize;
        loop {
            while digit(i) {
                i += 1;
                digits += 1;
            }
            if matches!(s.get(i), Some(b' ' | b'-')) && digit(i + 1) {
                i += 1;
            } else {
                break;
            }
        }
        if digits < MIN_DIGITS {
            continue;
        }
        groups.clear();
        let mut j = run_start;
        while j < i {
            let start = j;
            while j < i && digit(j) {
                j += 1;
            }
            groups.push((start, j));
            j += 1; // the separator
        }
        check_run(s, &groups, &mut found);
    }
}

fn check_run(s: &[u8], groups: &[(usize, usize)], found: &mut impl FnMut(usize, usize)) {
    for (a, &(start, _)) in groups.iter().enumerate() {
        let mut buf = [0u8; MAX_DIGITS];
        let mut count = 0usize;
        for &(gs, ge) in groups.iter().skip(a) {
            let len = ge - gs;
            if count + len > MAX_DIGITS {
                break;
            }
            for (slot, b) in buf.iter_mut().skip(count).zip(s.iter().skip(gs).take(len)) {
                *slot = b - b'0';
            }
            count += len;
            if count >= MIN_DIGITS && luhn_valid(buf.get(..count).unwrap_or_default()) {
                found(start, ge);
            }
        }
    }
}

/// Whether `s` contains a card number.
pub fn contains_card_number(s: &str) -> bool {
    let mut any = false;
    scan(s.as_bytes(), |_, _| any = true);
    any
}

/// `s` with the digits of every card number replaced by `*`, or `None` when
/// `s` contains none.
pub fn redact_card_numbers(s: &str) -> Option<String> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    scan(s.as_bytes(), |a, b| ranges.push((a, b)));
    if ranges.is_empty() {
        return None;
    }
    let out: Vec<u8> = s
        .bytes()
        .enumerate()
        .map(|(i, b)| if b.is_ascii_digit() && ranges.iter().any(|&(a, e)| (a..e).contains(&i)) { b'*' } else { b })
        .collect();
    // Only ASCII digits were replaced by an ASCII byte: still UTF-8.
    Some(String::from_utf8(out).unwrap_or_default())
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
    fn detects_card_numbers() {
        for s in [
            "4111111111111111",
            "pay with 4111 1111 1111 1111 please",
            "4111-1111-1111-1111",
            "x4111111111111111y",
            "5500 0000 0000 0004",
            "378282246310005",          // Amex, 15 digits
            "6011111111111117",         // Discover
            "4222222222222",            // 13 digits
            "4111 1111 1111 1111 2026", // followed by a year
            "12 4111 1111 1111 1111",   // preceded by a number
        ] {
            assert!(contains_card_number(s), "{s}");
        }
    }

    #[test]
    fn ignores_non_card_numbers() {
        for s in [
            "4111111111111112", // Luhn-invalid
            "4111 1111 1111 1112",
            "411111111117",         // 12 digits, Luhn-valid
            "41111111111111111115", // 20 digits
            "2026-11-22T03:17:20+00:00",
            "+1 415 555 0142",
            "136.93",
            "4111  1111  1111  1111", // double separators split the run
            "",
        ] {
            assert!(!contains_card_number(s), "{s}");
        }
        // The 12- and 20-digit runs above really are Luhn-valid.
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn_valid(&d("411111111117")));
        assert!(luhn_valid(&d("41111111111111111115")));
    }

    #[test]
    fn redacts_keeping_separators() {
        assert_eq!(redact_card_numbers("card 4111 1111 1111 1111.").as_deref(), Some("card **** **** **** ****."));
        assert_eq!(redact_card_numbers("4111-1111-1111-1111 ok 42").as_deref(), Some("****-****-****-**** ok 42"));
        assert_eq!(redact_card_numbers("nothing 123"), None);
    }

    #[test]
    fn longest_run_never_undercounts_what_scan_checks() {
        assert_eq!(longest_run(b"2026-11-22T03:17:20+00:00"), 8);
        assert_eq!(longest_run(b"4111 1111 1111 1111"), 16);
        assert_eq!(longest_run(b"4111-1111 1111--1111"), 12);
        assert_eq!(longest_run(b"x 12 -34"), 2);
        assert_eq!(longest_run(b""), 0);
        // Every card number the detector finds sits in a run at least that long.
        for s in ["4111111111111111", "pay with 4111 1111 1111 1111 please", "12 4111 1111 1111 1111"] {
            assert!(longest_run(s.as_bytes()) >= MIN_DIGITS, "{s}");
            assert!(contains_card_number(s), "{s}");
        }
    }
}
