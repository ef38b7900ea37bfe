//! Order validation and policy evaluation on arbitrary nested arrays of
//! arbitrary bytes (what a PHP plugin could put into an order).
//!
//! Invariants checked on every input, under the default policy and under a
//! policy that selects free-text fields (with `on_card_number` refuse and redact):
//! - no panic (a panic here aborts PHP);
//! - an accepted order's body is valid JSON, deterministic (same bytes twice),
//!   and none of its strings holds a Luhn-valid card number;
//! - a refusal is a ValidationException naming a path, never the value.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use secure_forward_core::{Error, ErrorKind, Result};
use secure_forward_core::testing::luhn::contains_card_number;
use secure_forward_core::{Key, Node, Scalar};
use secure_forward_core::testing::policy::Policy;

enum K {
    I(i64),
    S(Vec<u8>),
}

enum Tree {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Vec<u8>),
    Arr(Vec<(K, Tree)>),
}

impl Node for Tree {
    fn scalar(&self) -> Scalar<'_> {
        match self {
            Tree::Null => Scalar::Null,
            Tree::Bool(b) => Scalar::Bool(*b),
            Tree::Int(i) => Scalar::Int(*i),
            Tree::Float(f) => Scalar::Float(*f),
            Tree::Str(s) => Scalar::Str(s),
            Tree::Arr(_) => Scalar::Array,
        }
    }
    fn get(&self, key: &str) -> Option<&Self> {
        let Tree::Arr(items) = self else { return None };
        // PHP semantics: a digit-string key is the integer key.
        let as_int: Option<i64> = key.parse().ok().filter(|i: &i64| i.to_string() == key);
        items.iter().rev().find_map(|(k, v)| match (k, as_int) {
            (K::I(i), Some(j)) if *i == j => Some(v),
            (K::S(s), None) if s.as_slice() == key.as_bytes() => Some(v),
            _ => None,
        })
    }
    fn len(&self) -> usize {
        match self {
            Tree::Arr(items) => items.len(),
            _ => 0,
        }
    }
    fn for_each<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(Key<'_>, &Self) -> Result<()>,
    {
        if let Tree::Arr(items) = self {
            for (k, v) in items {
                match k {
                    K::I(i) => f(Key::Int(*i), v)?,
                    K::S(s) => f(Key::Str(s), v)?,
                }
            }
        }
        Ok(())
    }
}

/// Keys real orders use, so the policy finds what it selects.
const KEYS: &[&str] = &[
    "id", "number", "status", "currency", "total", "subtotal", "total_tax", "shipping_total", "discount_total",
    "date_created", "date_paid", "payment_method", "prices_include_tax", "billing", "shipping", "country", "email",
    "phone", "postcode", "first_name", "customer_note", "line_items", "product_id", "variation_id", "sku", "name",
    "quantity", "meta_data", "key", "value", "_marketing_consent", "refunds", "amount", "shipping_lines", "fee_lines",
    "coupon_lines", "code", "method_title",
];

/// Strings that matter: card numbers (valid and not), split by spaces/dashes, emails.
const STRINGS: &[&str] = &[
    "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111112", "378282246310005",
    "6011 0009 9013 9424", "call 4242424242424242 now", "jane@example.com", "12.50", "-3", "1e5", "", "0042",
];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
    fn int(&mut self) -> i64 {
        let mut v = [0u8; 8];
        for b in &mut v {
            *b = self.byte();
        }
        i64::from_le_bytes(v)
    }
    fn string(&mut self) -> Vec<u8> {
        match self.byte() % 4 {
            0 => {
                let i = usize::from(self.byte());
                STRINGS.get(i % STRINGS.len()).copied().unwrap_or_default().as_bytes().to_vec()
            }
            1 => {
                // A digit run with separators, often long enough to be a card number.
                let n = usize::from(self.byte() % 24);
                (0..n)
                    .map(|_| match self.byte() {
                        b @ 0..=9 => b'0' + b,
                        b if b % 7 == 0 => b' ',
                        b if b % 11 == 0 => b'-',
                        b => b'0' + b % 10,
                    })
                    .collect()
            }
            _ => {
                let n = usize::from(self.byte());
                self.bytes(n)
            }
        }
    }
    fn key(&mut self) -> K {
        match self.byte() % 5 {
            0 => K::I(i64::from(self.byte())),
            1 => K::S(self.string()),
            _ => {
                let i = usize::from(self.byte());
                K::S(KEYS.get(i % KEYS.len()).copied().unwrap_or_default().as_bytes().to_vec())
            }
        }
    }
    fn tree(&mut self, depth: u32) -> Tree {
        match self.byte() % 8 {
            _ if self.0.is_empty() => Tree::Null,
            0 => Tree::Null,
            1 => Tree::Bool(self.byte() % 2 == 0),
            2 => Tree::Int(self.int()),
            3 => Tree::Float(f64::from_bits(self.int() as u64)),
            4 | 5 => Tree::Str(self.string()),
            _ if depth > 20 => Tree::Null,
            _ => {
                let n = usize::from(self.byte() % 12);
                let list = self.byte() % 3 == 0;
                Tree::Arr(
                    (0..n)
                        .map(|i| {
                            let k = if list { K::I(i as i64) } else { self.key() };
                            (k, self.tree(depth + 1))
                        })
                        .collect(),
                )
            }
        }
    }
}

fn policies() -> &'static [Policy] {
    static P: OnceLock<Vec<Policy>> = OnceLock::new();
    P.get_or_init(|| {
        let compile = |src: Option<&str>| {
            let table: Option<toml::Table> = src.map(|s| toml::from_str(s).expect("fuzz policy is valid TOML"));
            Policy::compile(table.as_ref(), "/fuzz.toml", "destinations.fuzz.policy").expect("fuzz policy compiles")
        };
        let free_text = r#"fields = ["id", "total", "customer_note", "billing.phone", "billing.postcode", "line_items[].name", "line_items[].sku", "meta_data[].value"]
mask = { "billing.phone" = 2 }
truncate = { "billing.postcode" = 3 }
rename = { "customer_note" = "note.text" }
"#;
        vec![
            compile(None),
            compile(Some(free_text)),
            compile(Some(&format!("{free_text}on_card_number = \"redact\"\n"))),
        ]
    })
}

fn strings_have_no_card(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => !contains_card_number(s),
        serde_json::Value::Array(a) => a.iter().all(strings_have_no_card),
        serde_json::Value::Object(o) => o.iter().all(|(k, v)| !contains_card_number(k) && strings_have_no_card(v)),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let order = Input(data).tree(0);
    for policy in policies() {
        match policy.apply(&order) {
            Ok(prepared) => {
                let v: serde_json::Value = serde_json::from_slice(&prepared.body).expect("the body is JSON");
                assert!(strings_have_no_card(&v), "a card number would leave");
                let again = policy.apply(&order).expect("deterministic verdict");
                assert_eq!(prepared.body, again.body, "deterministic bytes");
            }
            Err(e @ Error::Validation { .. }) => {
                assert_eq!(e.kind(), ErrorKind::Validation);
                let shown = e.to_string();
                assert!(!contains_card_number(&shown), "a message carries a card number: {shown}");
            }
            Err(other) => panic!("only ValidationException may refuse an order, got {other:?}"),
        }
    }
});
