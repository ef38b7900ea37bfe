//! The card-number detector on card numbers as people write them, and on the
//! numbers in an order that are not card numbers.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use secure_forward_core::error::ErrorKind;
use secure_forward_core::luhn::{contains_card_number, digits, redact_card_numbers};
use secure_forward_core::policy::Policy;
use serde_json::json;

fn luhn_complete(prefix: &[u8]) -> Vec<u8> {
    for d in 0..10u8 {
        let mut v = prefix.to_vec();
        v.push(d);
        let sum: u32 = v
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &x)| {
                let x = u32::from(x);
                if i % 2 == 1 {
                    let w = x * 2;
                    if w > 9 {
                        w - 9
                    } else {
                        w
                    }
                } else {
                    x
                }
            })
            .sum();
        if sum % 10 == 0 {
            return v;
        }
    }
    unreachable!()
}

/// (IIN prefix, length) of each brand the detector knows, one example per range end.
const BRANDS: &[(&str, usize)] = &[
    ("4", 13),
    ("4", 16),
    ("4", 19),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("644", 17),
    ("649", 19),
    ("65", 16),
    ("36", 14),
    ("300", 14),
    ("305", 19),
    ("38", 16),
    ("39", 14),
    ("3528", 16),
    ("3589", 19),
    ("62", 16),
    ("62", 19),
    ("50", 12),
    ("56", 12),
    ("69", 19),
];

/// Zeros of the digit scripts the forms are written in (ASCII, Arabic-Indic,
/// Extended Arabic-Indic, Devanagari, Thai, Fullwidth, Mathematical bold).
const ZEROS: &[u32] = &[0x30, 0x660, 0x6F0, 0x966, 0xE50, 0xFF10, 0x1D7CE];

/// Separator runs: 1 or 2 characters of one kind.
const SEPS: &[&str] = &[
    "",
    " ",
    "  ",
    "\u{a0}",
    "\u{a0}\u{a0}",
    "\u{202f}",
    "\t",
    "\n",
    "\r\n",
    "\n\n",
    "-",
    "--",
    ".",
    "..",
    "/",
    "//",
    "_",
    "__",
    " \u{a0}",
];

prop_compose! {
    /// A card number as a person may write it: a brand's prefix and length,
    /// Luhn-valid, in one script, cut into groups of 1-7 digits joined by one
    /// separator run, inside some text (not glued to a letter: see `luhn`).
    fn written_card()(
        brand in prop::sample::select(BRANDS),
        body in prop::collection::vec(0u8..10, 19),
        zero in prop::sample::select(ZEROS),
        sep in prop::sample::select(SEPS),
        cuts in prop::collection::vec(1usize..8, 19),
        before in "([a-z]{1,6}[:# (]|[:(#]?)",
        after in "([ ).,][a-z]{0,6})?",
    ) -> (String, String) {
        let (prefix, len) = brand;
        let mut d: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
        d.extend(body.iter().take(len - 1 - d.len()));
        let d = luhn_complete(&d);
        let mut number = String::new();
        let mut at = 0;
        for cut in cuts {
            if at >= d.len() {
                break;
            }
            if at > 0 {
                number.push_str(sep);
            }
            for v in d.iter().skip(at).take(cut) {
                number.push(char::from_u32(zero + u32::from(*v)).unwrap());
            }
            at += cut;
        }
        (format!("{before}{number}{after}"), number)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn cards_as_people_write_them_are_found_redacted_and_refused((text, number) in written_card()) {
        prop_assert!(contains_card_number(&text), "missed {:?}", text);
        let red = redact_card_numbers(&text).unwrap();
        prop_assert!(!red.chars().any(|c| digits::value(c).is_some()), "{:?} -> {:?}", text, red);
        prop_assert_eq!(red.chars().count(), text.chars().count());
        // The policy refuses it in a selected field, and redacts it on request.
        let p = |mode: &str| {
            let t: toml::Table = format!("fields = [\"id\", \"customer_note\"]\non_card_number = \"{mode}\"").parse().unwrap();
            Policy::compile(Some(&t), "/etc/sf.toml", "destinations.crm.policy").unwrap()
        };
        let order = json!({"id": 7, "customer_note": text});
        let e = p("refuse").apply(&order).unwrap_err();
        prop_assert_eq!(e.kind(), ErrorKind::Validation);
        prop_assert!(e.to_string().contains("customer_note"));
        let body = String::from_utf8(p("redact").apply(&order).unwrap().body).unwrap();
        prop_assert!(!body.contains(&number));
        let out: serde_json::Value = serde_json::from_str(&body).unwrap();
        prop_assert!(!contains_card_number(out["customer_note"].as_str().unwrap()));
    }
}

/// A small deterministic generator (xorshift64*), so that the corpus is the same
/// on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn digits_between(&mut self, lo: usize, hi: usize) -> String {
        let n = lo + self.below((hi - lo + 1) as u64) as usize;
        self.digits(n)
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
        (0..n).map(|_| char::from(A[self.below(A.len() as u64) as usize])).collect()
    }
}

/// Phone numbers in the formats of a few countries (national and international).
fn phone(r: &mut Rng) -> String {
    match r.below(14) {
        0 => format!("({}) {}-{}", 200 + r.below(800), 200 + r.below(800), r.digits(4)),
        1 => format!("+1 {} {} {}", 200 + r.below(800), 200 + r.below(800), r.digits(4)),
        2 => format!("1-800-{}-{}", r.digits(3), r.digits(4)),
        3 => format!("+49 {} {}", r.pick(&["151", "160", "170", "176", "30", "89"]), r.digits_between(7, 8)),
        4 => format!("0{} {}", r.pick(&["151", "160", "170", "176", "30", "89", "40"]), r.digits_between(7, 8)),
        5 => format!("+44 7{} {}", r.digits(3), r.digits(6)),
        6 => format!("07{} {}", r.digits(3), r.digits(6)),
        7 => format!("+33 6 {} {} {} {}", r.digits(2), r.digits(2), r.digits(2), r.digits(2)),
        8 => format!("0{}.{}.{}.{}.{}", 1 + r.below(9), r.digits(2), r.digits(2), r.digits(2), r.digits(2)),
        9 => format!(
            "+{}{}",
            r.pick(&["1", "44", "49", "33", "39", "34", "31", "61", "81", "86", "91", "55"]),
            r.digits_between(9, 11)
        ),
        10 => format!("+39 3{} {}", r.digits(2), r.digits(7)),
        11 => format!("+61 4{} {} {}", r.digits(2), r.digits(3), r.digits(3)),
        12 => format!("0049 {} {}", r.pick(&["151", "30"]), r.digits(8)),
        _ => format!("+86 1{} {} {}", r.digits(2), r.digits(4), r.digits(4)),
    }
}

/// Tracking numbers as carriers issue them (USPS in its stored, unspaced form).
fn tracking(r: &mut Rng) -> String {
    match r.below(7) {
        0 => format!("1Z{}{}", r.alnum(6), r.digits(10)),
        1 => format!("7{}", r.digits(11)), // FedEx Express
        2 => format!("{}{}", r.pick(&["9400", "9205", "9361", "9274"]), r.digits(18)), // USPS, 22 digits
        3 => r.digits(10),                 // DHL Express
        4 => format!("{}{}GB", r.pick(&["AB", "RR", "JD", "LX"]), r.digits(9)), // UPU S10
        5 => format!("JJD{}", r.digits(18)), // DHL Parcel
        _ => format!("{} {} {}", r.digits(4), r.digits(4), r.digits(2)), // DHL, printed
    }
}

/// Dates and times as stores and people write them.
fn date(r: &mut Rng) -> String {
    let (y, m, d) = (2000 + r.below(40), 1 + r.below(12), 1 + r.below(28));
    let (h, mi, s) = (r.below(24), r.below(60), r.below(60));
    match r.below(10) {
        0 => format!("{y}-{m:02}-{d:02}"),
        1 => format!("{d:02}.{m:02}.{y}"),
        2 => format!("{m:02}/{d:02}/{y}"),
        3 => format!("{y}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00"),
        4 => format!("{y}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
        5 => format!("{y}{m:02}{d:02}"),
        6 => format!("{y}{m:02}{d:02}{h:02}{mi:02}{s:02}"),
        7 => format!("{d:02}/{m:02}/{y} {h:02}:{mi:02}"),
        8 => format!("{y}-{m:02}-{d:02} - {y}-{m:02}-{:02}", d + 1),
        _ => format!("{d}. {m}. {y}"),
    }
}

/// Long references: order, invoice and customer numbers, UUIDs, timestamps.
fn reference(r: &mut Rng) -> String {
    match r.below(9) {
        0 => format!("WC-{}", r.digits(9)),
        1 => format!("INV-{}-{}", 2000 + r.below(40), r.digits(6)),
        2 => format!("INV/{}/{}", 2000 + r.below(40), r.digits(6)),
        3 => format!("PO-45{}", r.digits(8)),
        4 => format!("#{}", 100_000 + r.below(900_000)),
        5 => {
            let h = |r: &mut Rng, n: usize| -> String {
                (0..n).map(|_| char::from(b"0123456789abcdef"[r.below(16) as usize])).collect()
            };
            format!("{}-{}-4{}-a{}-{}", h(r, 8), h(r, 4), h(r, 3), h(r, 3), h(r, 12))
        }
        6 => format!("{}", 1_600_000_000 + r.below(300_000_000)), // Unix time
        7 => format!("E2E-{}{:02}{:02}-{}", 2000 + r.below(40), 1 + r.below(12), 1 + r.below(28), r.digits(6)),
        _ => format!("CUST_{}_{}", r.digits(6), r.digits(4)),
    }
}

#[test]
fn ten_thousand_phone_tracking_date_and_reference_numbers_are_not_card_numbers() {
    let mut r = Rng(0x5eed_cafe_f00d_d00d);
    let mut hits = Vec::new();
    let mut n = 0;
    for _ in 0..3000 {
        for s in [phone(&mut r), tracking(&mut r), date(&mut r), reference(&mut r)] {
            n += 1;
            if contains_card_number(&s) {
                hits.push(s);
            }
        }
    }
    assert!(n >= 10_000);
    assert!(hits.is_empty(), "{} false positives: {:?}", hits.len(), &hits[..hits.len().min(20)]);
}

#[test]
fn the_generators_make_what_they_claim() {
    let mut r = Rng(1);
    let p: Vec<String> = (0..200).map(|_| phone(&mut r)).collect();
    assert!(p.iter().all(|s| s.chars().filter(char::is_ascii_digit).count() >= 10), "{p:?}");
    let t: Vec<String> = (0..200).map(|_| tracking(&mut r)).collect();
    assert!(t.iter().all(|s| s.chars().filter(char::is_ascii_digit).count() >= 9), "{t:?}");
    // Card numbers in the same shapes are found (the corpus would show them).
    assert!(contains_card_number("+1 4111 1111 1111 1111"));
    assert!(contains_card_number("WC-4111111111111111"));
}
