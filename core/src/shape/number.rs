//! Numbers and dates from their text, never through floating point.

/// Splits `-?digits[.digits]` into (negative, integer digits, fraction digits).
fn decimal_parts(s: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (neg, body) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let dot = body.iter().position(|&b| b == b'.');
    let (int, frac) = match dot {
        Some(i) => (body.get(..i)?, body.get(i + 1..)?),
        None => (body, &b""[..]),
    };
    if int.is_empty() || (dot.is_some() && frac.is_empty()) {
        return None;
    }
    if !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    Some((neg, int, frac))
}

/// Leading zeros of the integer part and trailing zeros of the fraction removed.
fn trimmed<'a>(int: &'a [u8], frac: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    let lead = int.iter().take_while(|&&b| b == b'0').count().min(int.len().saturating_sub(1));
    let trail = frac.iter().rev().take_while(|&&b| b == b'0').count();
    (int.get(lead..).unwrap_or(int), frac.get(..frac.len() - trail).unwrap_or(frac))
}

/// Writes the decimal text `s` (`-?digits[.digits]`) as a normalised JSON
/// number (`"48.60"` → `48.6`, `"007"` → `7`, `"-0.0"` → `0`); `false` (nothing
/// written) when `s` is not such a decimal.
pub(crate) fn write_decimal(s: &[u8], out: &mut Vec<u8>) -> bool {
    let Some((neg, int, frac)) = decimal_parts(s) else {
        return false;
    };
    let (int, frac) = trimmed(int, frac);
    if neg && !(int == b"0" && frac.is_empty()) {
        out.push(b'-');
    }
    out.extend_from_slice(int);
    if !frac.is_empty() {
        out.push(b'.');
        out.extend_from_slice(frac);
    }
    true
}

/// Writes the decimal text `s` as a JSON integer when its fraction is zero
/// (`"2"`, `"2.00"`, `"-007"`); `false` (nothing written) otherwise.
pub(crate) fn write_integer(s: &[u8], out: &mut Vec<u8>) -> bool {
    let Some((neg, int, frac)) = decimal_parts(s) else {
        return false;
    };
    let (int, frac) = trimmed(int, frac);
    if !frac.is_empty() {
        return false;
    }
    if neg && int != b"0" {
        out.push(b'-');
    }
    out.extend_from_slice(int);
    true
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |a, &d| a * 10 + i64::from(d - b'0')))
}

/// The `YYYY-MM-DD` part of an ISO 8601 date or date-time, as written.
pub(crate) fn date_part(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let date = s.get(..10)?;
    let (y, m, d) = ymd(b.get(..10)?)?;
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    match b.get(10) {
        None | Some(b'T' | b't' | b' ') => Some(date),
        _ => None,
    }
}

fn ymd(b: &[u8]) -> Option<(i64, i64, i64)> {
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    Some((digits(b.get(..4)?)?, digits(b.get(5..7)?)?, digits(b.get(8..10)?)?))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Milliseconds since the Unix epoch of an ISO 8601 date (`YYYY-MM-DD`, taken
/// as midnight UTC) or date-time (`YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z`,
/// `±HH:MM`, `±HHMM` or no offset, taken as UTC, as WooCommerce's `*_gmt`
/// fields are written).
pub(crate) fn unix_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    date_part(s)?;
    let (y, m, d) = ymd(b.get(..10)?)?;
    let days = crate::civil::days_from_civil(y, m, d);
    let Some(time) = b.get(11..) else {
        return Some(days * 86_400_000);
    };
    let hh = digits(time.get(..2)?)?;
    if time.get(2) != Some(&b':') {
        return None;
    }
    let mm = digits(time.get(3..5)?)?;
    let mut rest = time.get(5..)?;
    let mut ss = 0;
    let mut ms = 0;
    if let Some(r) = rest.strip_prefix(b":") {
        ss = digits(r.get(..2)?)?;
        rest = r.get(2..)?;
        if let Some(r) = rest.strip_prefix(b".") {
            let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let frac = r.get(..n)?;
            ms = frac.iter().take(3).fold(0i64, |a, &c| a * 10 + i64::from(c - b'0'))
                * [100, 10, 1].get(frac.len().min(3) - 1).copied().unwrap_or(1);
            rest = r.get(n..)?;
        }
    }
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let offset_min = match rest {
        b"" | b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let oh = digits(&[*h1, *h2])?;
            let om = digits(&[*m1, *m2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            if *sign == b'-' {
                -(oh * 60 + om)
            } else {
                oh * 60 + om
            }
        }
        _ => return None,
    };
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss - offset_min * 60;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Option<String> {
        let mut out = Vec::new();
        write_decimal(s.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    fn int(s: &str) -> Option<String> {
        let mut out = Vec::new();
        write_integer(s.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn decimals_known_answers() {
        for (i, o) in [
            ("48.60", "48.6"),
            ("5", "5"),
            ("-0.50", "-0.5"),
            ("007", "7"),
            ("0.00", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("10.0100", "10.01"),
            ("136.93", "136.93"),
            ("0", "0"),
        ] {
            assert_eq!(dec(i).as_deref(), Some(o), "{i}");
        }
        for bad in ["", "-", ".5", "5.", "1e3", "1,5", " 5", "5 ", "+5", "0x10", "--1", "1.2.3", "NaN"] {
            assert_eq!(dec(bad), None, "{bad:?}");
        }
        assert_eq!(int("2.00").as_deref(), Some("2"));
        assert_eq!(int("-007").as_deref(), Some("-7"));
        assert_eq!(int("2.5"), None);
    }

    #[test]
    fn dates_known_answers() {
        assert_eq!(date_part("2026-11-22T03:17:20+00:00"), Some("2026-11-22"));
        assert_eq!(date_part("2026-11-22"), Some("2026-11-22"));
        assert_eq!(date_part("2026-02-30"), None);
        assert_eq!(date_part("2026-11-22X"), None);
        assert_eq!(date_part("22.11.2026"), None);
        assert_eq!(unix_ms("1970-01-01T00:00:00Z"), Some(0));
        // date -u -d 2026-11-22T03:17:20Z +%s → 1795317440
        assert_eq!(unix_ms("2026-11-22T03:17:20+00:00"), Some(1_795_317_440_000));
        assert_eq!(unix_ms("2026-11-22T04:17:20+01:00"), Some(1_795_317_440_000));
        assert_eq!(unix_ms("2026-11-22T03:17:20.5Z"), Some(1_795_317_440_500));
        assert_eq!(unix_ms("2000-02-29"), Some(951_782_400_000));
        assert_eq!(unix_ms("2026-11-22T25:00:00"), None);
        assert_eq!(unix_ms("2026-11-22T03:17:20+0"), None);
    }
}
