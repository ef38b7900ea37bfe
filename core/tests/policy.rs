//! Policy engine tests: fixtures, transforms, guarantees, config errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a test crate
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use secure_forward_core::error::{Error, ErrorKind, Result};
use secure_forward_core::node::{Key, Node, Scalar};
use secure_forward_core::policy::{mask_chars, truncate_chars, Policy};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/woocommerce-10.0.2");

fn fixtures() -> Vec<(String, Value)> {
    // SF_FIXTURES overrides the repository's copy of the fixtures.
    let dir = std::env::var("SF_FIXTURES").unwrap_or_else(|_| FIXTURES.to_owned());
    let mut v: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(v.len(), 8, "fixtures missing at {FIXTURES}");
    v
}

fn fixture(name: &str) -> Value {
    fixtures().into_iter().find(|(n, _)| n == name).unwrap().1
}

fn policy(toml_src: &str) -> Result<Policy> {
    let t: toml::Table = toml::from_str(toml_src).unwrap();
    Policy::compile(Some(&t), "/etc/sf.toml", "destinations.crm.policy")
}

fn body(p: &Policy, order: &Value) -> Value {
    serde_json::from_slice(&p.apply(order).unwrap().body).unwrap()
}

fn pepper(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sf-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn pii(order: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for part in ["billing", "shipping"] {
        for k in ["first_name", "last_name", "company", "address_1", "address_2", "email", "phone"] {
            if let Some(s) = order[part][k].as_str() {
                out.push(s.to_owned());
            }
        }
    }
    for k in ["customer_ip_address", "customer_user_agent", "customer_note", "order_key", "transaction_id"] {
        out.push(order[k].as_str().unwrap_or_default().to_owned());
    }
    for m in order["meta_data"].as_array().unwrap() {
        strings(&m["value"], &mut out);
    }
    // Short values ("yes", "4", "USD") would match innocently; PII is longer.
    out.retain(|s| s.chars().count() >= 5 && !s.chars().all(|c| c.is_ascii_digit() || c == '.'));
    out
}

#[test]
fn default_policy_leaks_no_pii_on_any_fixture() {
    let p = Policy::compile(None, "f", "k").unwrap();
    for (name, order) in fixtures() {
        let prepared = p.apply(&order).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = String::from_utf8(prepared.body.clone()).unwrap();
        for s in pii(&order) {
            assert!(!text.contains(&s), "{name}: leaked {s:?}");
        }
        for key in ["email", "phone", "first_name", "address_1", "customer_note", "meta_data", "order_key", "cart_hash"] {
            assert!(!text.contains(&format!("\"{key}\"")), "{name}: key {key} sent");
        }
        assert!(!text.contains('@'), "{name}: an email left");
        assert_eq!(prepared.order_id, order["id"].to_string());
        let b: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(b["id"], order["id"]);
        assert_eq!(b["total"], order["total"]);
        assert_eq!(b["billing"], json!({"country": order["billing"]["country"]}));
        assert_eq!(b["line_items"].as_array().unwrap().len(), order["line_items"].as_array().unwrap().len());
        // Deterministic.
        assert_eq!(p.apply(&order).unwrap().body, prepared.body);
    }
}

#[test]
fn default_shapes_lines_and_refunds() {
    let p = Policy::compile(None, "f", "k").unwrap();
    let b = body(&p, &fixture("order-partial-refund"));
    for r in b["refunds"].as_array().unwrap() {
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["amount", "date_created"]);
    }
    let b = body(&p, &fixture("order-registered-multi"));
    assert_eq!(b["coupon_lines"], json!([{"code": "welcome10", "discount": "13.45", "discount_tax": "1.16"}]));
    assert_eq!(
        b["shipping_lines"],
        json!([{"method_id": "flat_rate", "method_title": "Flat rate", "total": "5.00", "total_tax": "0.43"}])
    );
    // Output keys follow the fields list.
    let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(keys.first().map(|s| s.as_str()), Some("id"));
    assert_eq!(keys.get(1).map(|s| s.as_str()), Some("number"));
}

fn no_pan(text: &str) {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    assert!(!digits.contains("4111111111111111"), "{text}");
    assert!(!text.contains("4111"), "{text}");
}

#[test]
fn pan_in_note() {
    let order = fixture("order-pan-in-note");
    let p = Policy::compile(None, "f", "k").unwrap();
    no_pan(&String::from_utf8(p.apply(&order).unwrap().body).unwrap());

    let p = policy(r#"fields = ["id", "total", "customer_note"]"#).unwrap();
    let e = p.apply(&order).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    let msg = e.to_string();
    assert!(msg.contains("customer_note"), "{msg}");
    assert!(!msg.chars().any(|c| c.is_ascii_digit()), "{msg}");

    let p = policy("fields = [\"id\", \"customer_note\", \"meta_data[].value\"]\non_card_number = \"redact\"").unwrap();
    let out = String::from_utf8(p.apply(&order).unwrap().body).unwrap();
    no_pan(&out);
    assert!(out.contains("****"), "{out}");
}

#[test]
fn email_in_note_leaks_nothing() {
    let order = fixture("order-email-in-note");
    let p = Policy::compile(None, "f", "k").unwrap();
    let text = String::from_utf8(p.apply(&order).unwrap().body).unwrap();
    assert!(!text.contains('@'));
    assert!(!text.contains(order["customer_note"].as_str().unwrap()));
}

#[test]
fn pseudonymize_known_answer() {
    let one = pepper("one", "pepper-one\n");
    let two = pepper("two", "pepper-two");
    let src = |pf: &PathBuf| {
        format!("fields = [\"id\", \"billing.email\"]\npseudonymize = [\"billing.email\"]\npepper_file = \"{}\"", pf.display())
    };
    let order = json!({"id": 7, "billing": {"email": "  Maria.Gonzalez@Example.com "}});
    // printf %s maria.gonzalez@example.com | openssl dgst -sha256 -hmac pepper-one
    assert_eq!(
        body(&policy(&src(&one)).unwrap(), &order)["billing"]["email"],
        "375a4b92bca79201cc45337c0de792566b6402045e24e9c7ba74e8fd8f057bc8"
    );
    // Already trimmed and lower-case (no copy is made): the same pseudonym.
    let lower = json!({"id": 7, "billing": {"email": "maria.gonzalez@example.com"}});
    assert_eq!(
        body(&policy(&src(&one)).unwrap(), &lower)["billing"]["email"],
        "375a4b92bca79201cc45337c0de792566b6402045e24e9c7ba74e8fd8f057bc8"
    );
    // printf %s maria.gonzalez@example.com | openssl dgst -sha256 -hmac pepper-two
    assert_eq!(
        body(&policy(&src(&two)).unwrap(), &order)["billing"]["email"],
        "5d2a3425892c7ac5aebc1d66195fc02a83c22c4a9b185584b87f1d5a17b07d23"
    );
    let d = policy(&src(&one)).unwrap().describe().to_string();
    assert!(!d.contains("pepper-one"));
    assert!(d.contains("fingerprint"));
    // Pseudonymize without pepper_file.
    let e = policy("fields = [\"id\", \"billing.email\"]\npseudonymize = [\"billing.email\"]").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("pepper_file"));
}

#[test]
fn mask_truncate_rename() {
    let p = policy(
        r#"
fields = ["id", "billing.phone", "billing.postcode", "shipping.city", "billing.email", "line_items[].sku"]
mask = { "billing.phone" = 2 }
truncate = { "billing.postcode" = 3, "shipping.city" = 2 }
rename = { "billing.email" = "customer.ref", "billing.postcode" = "zip", "line_items[].sku" = "article" }
"#,
    )
    .unwrap();
    let order = json!({
        "id": "12",
        "billing": {"phone": "+1 415", "postcode": "94103", "email": "a@b.c"},
        "shipping": {"city": "東京都"},
        "line_items": [{"sku": "X"}, {"sku": "Y", "name": "n"}]
    });
    let b = body(&p, &order);
    assert_eq!(
        b,
        json!({"id": "12", "billing": {"phone": "****15"}, "zip": "941", "shipping": {"city": "東京"},
               "customer": {"ref": "a@b.c"}, "line_items": [{"article": "X"}, {"article": "Y"}]})
    );
    assert_eq!(mask_chars("ñandú", 2), "***dú");
    assert_eq!(mask_chars("ab", 5), "ab");
    assert_eq!(mask_chars("+49 30 901820", 2), "***********20");
    for len in [63, 64, 65, 66, 200] {
        assert_eq!(mask_chars(&"7".repeat(len), 2), format!("{}77", "*".repeat(len - 2)), "{len}");
    }
    assert_eq!(truncate_chars("日本語テキスト", 3), "日本語");
    assert_eq!(truncate_chars("ab", 0), "");
}

#[test]
fn meta_fields_select_one_entry_by_key() {
    let order = fixture("order-fee-tax-eu");
    let p = policy(r#"fields = ["id", "meta:_billing_vat_number", "meta:is_vat_exempt", "meta:_absent"]"#).unwrap();
    let b = body(&p, &order);
    assert_eq!(b, json!({"id": order["id"], "meta:_billing_vat_number": "DE123456789", "meta:is_vat_exempt": "no"}));
    // Renamed (nesting from the top like any plain field), transformed, in fields order.
    let p = policy(
        r#"
fields = ["meta:_billing_vat_number", "id"]
rename = { "meta:_billing_vat_number" = "customer.vat" }
mask = { "meta:_billing_vat_number" = 3 }
"#,
    )
    .unwrap();
    let prep = p.apply(&order).unwrap();
    let want = format!("{{\"customer\":{{\"vat\":\"********789\"}},\"id\":{}}}", order["id"]);
    assert_eq!(String::from_utf8(prep.body).unwrap(), want);
    // The first entry with the key counts; later ones are ignored.
    let p = policy(r#"fields = ["id", "meta:k"]"#).unwrap();
    let meta = json!([{"key": "other", "value": 1}, {"key": "k", "value": "first"}, {"key": "k", "value": "second"}]);
    assert_eq!(body(&p, &json!({"id": 1, "meta_data": meta}))["meta:k"], "first");
    // No meta_data, not a list, no value: nothing is sent.
    for o in [json!({"id": 1}), json!({"id": 1, "meta_data": "x"}), json!({"id": 1, "meta_data": [{"key": "k"}]})] {
        assert_eq!(body(&p, &o), json!({"id": 1}), "{o}");
    }
    // The value is checked like any field: a scalar, and by its kind.
    refused(&p, &json!({"id": 1, "meta_data": [{"key": "k", "value": {"a": 1}}]}), "meta:k");
    refused(&p, &json!({"id": 1, "meta_data": [{"key": "k", "value": "a\u{0}"}]}), "meta:k");
    refused(&p, &json!({"id": 1, "meta_data": [{"key": "k", "value": "4111 1111 1111 1111"}]}), "meta:k");
    let p = policy(r#"fields = ["id", "meta:_order_total"]"#).unwrap();
    refused(&p, &json!({"id": 1, "meta_data": [{"key": "_order_total", "value": "1,00"}]}), "meta:_order_total");
    // Keys of the path grammar only.
    for bad in ["meta:", "meta:a b", "meta:a.b", "meta:x[]"] {
        let e = policy(&format!("fields = [\"{bad}\"]")).unwrap_err().to_string();
        assert!(e.contains("destinations.crm.policy.fields") && e.contains("malformed path"), "{e}");
    }
    let d = policy(r#"fields = ["id", "meta:k"]"#).unwrap().describe();
    assert_eq!(d["fields"], json!(["id", "meta:k"]));
    assert_eq!(d["output"]["meta:k"], "meta:k");
}

#[test]
fn consent() {
    let p = policy(
        r#"
fields = ["id", "billing.email", "billing.phone"]
require_consent = { "billing.email" = "meta:_marketing_consent", "billing.phone" = "consent.phone" }
"#,
    )
    .unwrap();
    let with = |meta: Value, consent: Value| {
        body(&p, &json!({"id": 1, "billing": {"email": "x@y.z", "phone": "123"}, "meta_data": meta, "consent": consent}))
    };
    let b = with(json!([{"id": 1, "key": "_marketing_consent", "value": "Yes"}]), json!({"phone": true}));
    assert_eq!(b["billing"], json!({"email": "x@y.z", "phone": "123"}));
    let b = with(json!([]), json!({}));
    assert_eq!(b, json!({"id": 1}));
    let b = with(json!([{"id": 1, "key": "_marketing_consent", "value": "no"}]), json!({"phone": "0"}));
    assert_eq!(b, json!({"id": 1}));
    let b = with(json!([{"id": 1, "key": "_marketing_consent", "value": false}]), json!({"phone": 1}));
    assert_eq!(b["billing"], json!({"phone": "123"}));
}

#[test]
fn config_errors_name_key_and_path() {
    let cases = [
        ("fields = [\"id\"]\nmasks = {}", "destinations.crm.policy.masks", ""),
        ("fields = [\"id\"]\nmask = { \"billing.phone\" = 2 }", "destinations.crm.policy.mask", "billing.phone"),
        ("fields = [\"id\"]\ntruncate = { \"x\" = 2 }", "destinations.crm.policy.truncate", "\"x\""),
        ("fields = [\"id\"]\nrename = { \"x\" = \"y\" }", "destinations.crm.policy.rename", "\"x\""),
        ("fields = [\"id\"]\nrequire_consent = { \"x\" = \"y\" }", "destinations.crm.policy.require_consent", "\"x\""),
        ("fields = [\"a..b\"]", "destinations.crm.policy.fields", "a..b"),
        ("fields = [\"a[]x\"]", "destinations.crm.policy.fields", "a[]x"),
        ("fields = [\"[]\"]", "destinations.crm.policy.fields", "[]"),
        ("fields = [\"\"]", "destinations.crm.policy.fields", "\"\""),
        ("fields = [\"id\", \"id\"]", "destinations.crm.policy.fields", "id"),
        ("fields = [\"billing\", \"billing.country\"]", "destinations.crm.policy.fields", "billing"),
        ("fields = [\"a\", \"b\"]\nrename = { \"b\" = \"a\" }", "destinations.crm.policy.rename", "\"b\""),
        ("fields = [\"a[].b\"]\nrename = { \"a[].b\" = \"x.y\" }", "destinations.crm.policy.rename", "a[].b"),
        ("fields = [\"a\"]\nmask = { \"a\" = -1 }", "destinations.crm.policy.mask", "\"a\""),
        ("on_card_number = \"ignore\"", "destinations.crm.policy.on_card_number", ""),
        ("fields = \"id\"", "destinations.crm.policy.fields", ""),
        ("fields = [\"id\"]\npepper_file = \"/nonexistent/pepper\"", "/nonexistent/pepper", ""),
    ];
    for (src, key, path) in cases {
        let e = policy(src).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{src}");
        let msg = e.to_string();
        assert!(msg.contains(key), "{src}: {msg}");
        assert!(msg.contains(path), "{src}: {msg}");
    }
    // An empty section is the default field list.
    assert!(policy("").is_ok());
}

#[test]
fn type_errors_name_the_key_never_the_value() {
    // Serde's own messages quote the value ("invalid type: string \"…\""); the
    // policy's name the key (and the field path), with a fixed reason.
    let cases = [
        ("fields = \"s3cr3t-value\"", "destinations.crm.policy.fields: must be a list of strings"),
        ("fields = [\"id\", 41]", "destinations.crm.policy.fields: must be a list of strings"),
        ("pseudonymize = \"s3cr3t-value\"", "destinations.crm.policy.pseudonymize: must be a list of field paths"),
        ("mask = \"s3cr3t-value\"", "destinations.crm.policy.mask: must be a table of field = value"),
        (
            "fields = [\"a\"]\nmask = { \"a\" = \"s3cr3t-value\" }",
            "destinations.crm.policy.mask: \"a\": must be an integer between 0 and 65536",
        ),
        ("truncate = { \"a\" = 1.5 }", "destinations.crm.policy.truncate: \"a\": must be an integer"),
        ("rename = { \"a\" = 7 }", "destinations.crm.policy.rename: \"a\": must be a string"),
        ("require_consent = { \"a\" = true }", "destinations.crm.policy.require_consent: \"a\": must be a string"),
        ("pepper_file = 5", "destinations.crm.policy.pepper_file: must be a file path"),
        ("pepper_file = \"\"", "destinations.crm.policy.pepper_file: must be a file path"),
        ("on_card_number = \"s3cr3t-value\"", "destinations.crm.policy.on_card_number: must be \"refuse\" or \"redact\""),
        ("on_card_number = 1", "destinations.crm.policy.on_card_number: must be \"refuse\" or \"redact\""),
        ("fields = [\"id\"]\n[s3cr3t-value]\nx = 1", "destinations.crm.policy.s3cr3t-value: unknown policy key"),
    ];
    for (src, want) in cases {
        let e = policy(src).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{src}");
        let msg = e.to_string();
        assert!(msg.contains(want), "{src}: {msg}");
        assert!(!msg.contains("s3cr3t") || want.contains("s3cr3t"), "{src}: {msg}");
        assert!(!msg.contains("41") && !msg.contains("1.5"), "{src}: {msg}");
    }
    // The plain-data form compiles the same as the table.
    let t: toml::Table = "fields = [\"id\", \"billing.phone\"]\nmask = { \"billing.phone\" = 4 }".parse().unwrap();
    let cfg = secure_forward_core::policy::PolicyConfig::from_table(&t, "f", "k").unwrap();
    assert_eq!(cfg.fields.as_deref(), Some(&["id".to_owned(), "billing.phone".to_owned()][..]));
    assert_eq!(cfg.mask.get("billing.phone"), Some(&4));
    let a = Policy::from_config(&cfg, false, "f", "k").unwrap().describe();
    assert_eq!(a, policy("fields = [\"id\", \"billing.phone\"]\nmask = { \"billing.phone\" = 4 }").unwrap().describe());
}

fn refused(p: &Policy, order: &Value, path: &str) {
    match p.apply(order) {
        Err(Error::Validation { path: got, .. }) => assert_eq!(got, path),
        other => panic!("expected refusal at {path}, got {other:?}"),
    }
}

#[test]
fn bounds() {
    let p = Policy::compile(None, "f", "k").unwrap();
    let nest = |levels: usize| {
        let mut v = json!("x");
        for _ in 0..levels - 1 {
            v = json!([v]);
        }
        json!({"id": 1, "deep": v})
    };
    assert!(p.apply(&nest(16)).is_ok());
    refused(&p, &nest(17), "deep[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]");
    // Keys are order data too: a key that is not a usual name
    // (^[A-Za-z_][A-Za-z0-9_]{0,63}$) shows in a path by its position in its
    // array, counted from 1 (element indexes count from 0), never by its text.
    let mut deep = json!("x");
    for _ in 0..16 {
        deep = json!([deep]);
    }
    let odd = json!({"id": 1, "4111 1111 1111 1111": {"jane@example.com\nforged": deep}, &"k".repeat(200): 1});
    let e = p.apply(&odd).unwrap_err().to_string();
    assert!(e.starts_with("order refused: <key #2>.<key #1>[0][0]"), "{e}");
    for part in ["4111", "****", "jane", "[email]", "forged", "\\u"] {
        assert!(!e.contains(part), "{part} in {e}");
    }
    let mut long_key = serde_json::Map::new();
    long_key.insert("k".repeat(65), json!([[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]));
    long_key.insert("id".into(), json!(1));
    let e = p.apply(&Value::Object(long_key)).unwrap_err().to_string();
    assert!(e.starts_with("order refused: <key #1>[0]") && !e.contains("kk"), "{e}");
    let mut usual = serde_json::Map::new();
    usual.insert("_K".repeat(32), json!([[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]));
    usual.insert("id".into(), json!(1));
    let e = p.apply(&Value::Object(usual)).unwrap_err().to_string();
    assert!(e.starts_with(&format!("order refused: {}[0]", "_K".repeat(32))), "{e}");
    let big = "a".repeat(64 * 1024 + 1);
    let order = json!({"id": 1, "line_items": [{}, {}, {}, {"total": "1.00", "gift-note": big}]});
    refused(&p, &order, "line_items[3].<key #2>");
    let order = json!({"id": 1, "line_items": [{}, {}, {}, {"total": "1.00", "Straße": {"x": big}}]});
    refused(&p, &order, "line_items[3].<key #2>.x");
    let long = "a".repeat(64 * 1024 + 1);
    refused(&p, &json!({"id": 1, "meta_data": [{"value": long}]}), "meta_data[0].value");
    let chunk = "a".repeat(60 * 1024);
    let many: Vec<Value> = (0..18).map(|_| json!(chunk)).collect();
    refused(&p, &json!({"id": 1, "x": many}), "x[17]");
    let items: Vec<Value> = (0..1001).map(|i| json!(i)).collect();
    refused(&p, &json!({"id": 1, "line_items": items}), "line_items");
    let thousand: Vec<Value> = (0..1000).map(|i| json!(i)).collect();
    let within: Vec<Value> = (0..99).map(|_| json!(thousand)).collect();
    assert!(p.apply(&json!({"id": 1, "meta_data": within})).is_ok());
    let past: Vec<Value> = (0..101).map(|_| json!(thousand)).collect();
    refused(&p, &json!({"id": 1, "meta_data": past}), "meta_data[99]"); // 2 + 101 + 100 × 1,000 entries
                                                                        // Validation of selected fields.
    refused(&p, &json!({"id": 1, "status": "a\u{0}b"}), "status");
    assert!(policy("fields = [\"id\", \"n\"]").unwrap().apply(&json!({"id": 1, "n": "a\tb\r\n"})).is_ok());
    refused(&p, &json!({"id": 1, "line_items": [{}, {}, {}, {"total": "1,00"}]}), "line_items[3].total");
    refused(&p, &json!({"id": 1, "line_items": [{"product_id": "x1"}]}), "line_items[0].product_id");
    refused(&p, &json!({"id": 1, "number": 1.5}), "number");
    refused(&p, &json!({"id": 1, "total": true}), "total");
    refused(&p, &json!({"id": 1, "status": {"a": 1}}), "status");
    refused(&p, &json!({"id": 1, "line_items": "x"}), "line_items");
    refused(&p, &json!({"id": 0}), "id");
    refused(&p, &json!({"id": "abc"}), "id");
    refused(&p, &json!({"number": 1}), "id");
    // Unselected junk is fine.
    assert!(p.apply(&json!({"id": 1, "meta_data": [{"value": "a\u{0}b"}], "total": "1.50"})).is_ok());
}

/// A node with raw bytes and objects, like the PHP binding can produce.
#[derive(Debug)]
enum Raw {
    Bytes(Vec<u8>),
    Obj,
    Map(Vec<(String, Raw)>),
    Int(i64),
}

impl Node for Raw {
    fn scalar(&self) -> Scalar<'_> {
        match self {
            Raw::Bytes(b) => Scalar::Str(b),
            Raw::Obj => Scalar::Other("object"),
            Raw::Map(_) => Scalar::Array,
            Raw::Int(i) => Scalar::Int(*i),
        }
    }
    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Raw::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn len(&self) -> usize {
        match self {
            Raw::Map(m) => m.len(),
            _ => 0,
        }
    }
    fn for_each<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(Key<'_>, &Self) -> Result<()>,
    {
        match self {
            Raw::Map(m) => m.iter().try_for_each(|(k, v)| f(Key::Str(k.as_bytes()), v)),
            _ => Ok(()),
        }
    }
}

#[test]
fn raw_bytes_and_objects() {
    let p = Policy::compile(None, "f", "k").unwrap();
    let order =
        |status: Raw, other: Raw| Raw::Map(vec![("id".into(), Raw::Int(5)), ("status".into(), status), ("plugin".into(), other)]);
    let e = p.apply(&order(Raw::Bytes(vec![b'o', 0xff, b'k']), Raw::Obj)).unwrap_err();
    assert_eq!(e, Error::validation("status", "is not valid UTF-8"));
    let e = p.apply(&order(Raw::Obj, Raw::Obj)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.to_string().contains("status"));
    // Objects and bad bytes in unselected fields are ignored.
    let ok = p.apply(&order(Raw::Bytes(b"done".to_vec()), Raw::Bytes(vec![0xff]))).unwrap();
    assert_eq!(ok.body, br#"{"id":5,"status":"done"}"#);
}

#[test]
fn describe_lists_fields_and_transforms() {
    let p = policy("fields = [\"id\", \"billing.phone\"]\nmask = { \"billing.phone\" = 4 }").unwrap();
    let d = p.describe();
    assert_eq!(d["fields"], json!(["id", "billing.phone"]));
    assert_eq!(d["transforms"]["mask"], json!({"billing.phone": 4}));
    assert_eq!(d["on_card_number"], "refuse");
    assert_eq!(d["pepper"], Value::Null);
    assert_eq!(Policy::compile(None, "f", "k").unwrap().describe()["default"], true);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn luhn_complete(prefix: &str) -> String {
        for d in 0..10 {
            let s = format!("{prefix}{d}");
            let digits: Vec<u32> = s.chars().map(|c| c.to_digit(10).unwrap()).collect();
            let sum: u32 = digits
                .iter()
                .rev()
                .enumerate()
                .map(|(i, &v)| {
                    if i % 2 == 1 {
                        let w = v * 2;
                        if w > 9 {
                            w - 9
                        } else {
                            w
                        }
                    } else {
                        v
                    }
                })
                .sum();
            if sum % 10 == 0 {
                return s;
            }
        }
        unreachable!()
    }

    /// Strings with embedded digit runs, some of them valid card numbers
    /// (optionally split by spaces or dashes).
    fn text() -> impl Strategy<Value = String> {
        let pan = ("[1-9][0-9]{11,17}", prop::sample::select(vec!["", " ", "-", "  ", ".", "/", "_", "\u{a0}", "\r\n", "- "]))
            .prop_map(|(p, sep)| {
                let full = luhn_complete(&p);
                let mut s = String::new();
                for (i, c) in full.chars().enumerate() {
                    if i > 0 && i % 4 == 0 {
                        s.push_str(sep);
                    }
                    s.push(c);
                }
                s
            });
        prop::collection::vec(prop_oneof!["[a-z @.]{0,6}", "[0-9]{1,22}", "[0-9 -]{0,25}", pan, "\\PC{0,4}"], 0..5)
            .prop_map(|parts| parts.join(" x "))
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (1_000_000_000_000i64..i64::MAX).prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[a-c]", inner), 0..5).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Independent check: any window of whole digit groups (Unicode decimal
    /// digits; one or two separators of one kind — white space, `-`, `.`, `/`,
    /// `_` — between groups, the same kind throughout) with the length and IIN
    /// prefix of a known brand and passing Luhn; not 4 short dotted groups (an
    /// IPv4 address) nor at most 15 digits right after `+` (a phone number).
    pub(crate) fn has_pan(s: &str) -> bool {
        let c: Vec<char> = s.chars().collect();
        let dv = |i: usize| c.get(i).and_then(|&ch| secure_forward_core::luhn::digits::value(ch));
        let kind = |ch: char| -> Option<char> {
            if ch.is_whitespace() {
                Some(' ')
            } else if "-./_".contains(ch) {
                Some(ch)
            } else {
                None
            }
        };
        for i in 0..c.len() {
            if dv(i).is_none() || (i > 0 && dv(i - 1).is_some()) {
                continue;
            }
            let plus = i > 0 && c[i - 1] == '+';
            if i > 0 && c[i - 1].is_alphabetic() {
                continue;
            }
            let mut digits = String::new();
            let (mut groups, mut short, mut sep) = (0usize, true, None::<char>);
            let mut j = i;
            loop {
                let g0 = digits.len();
                while let Some(d) = dv(j) {
                    digits.push(char::from(b'0' + d));
                    j += 1;
                }
                groups += 1;
                short &= digits.len() - g0 <= 3;
                if digits.len() > 19 {
                    break;
                }
                let n = digits.len();
                let ipv4 = groups == 4 && sep == Some('.') && short;
                let glued = c.get(j).is_some_and(|ch| ch.is_alphabetic());
                if (12..=19).contains(&n)
                    && !glued
                    && brand(&digits)
                    && luhn_complete(&digits[..n - 1]) == digits
                    && !ipv4
                    && !(plus && n <= 15)
                {
                    return true;
                }
                // The separator run: 1 or 2 characters of the window's one kind.
                let k = c.get(j).and_then(|&ch| kind(ch));
                if k.is_none() || (sep.is_some() && k != sep) {
                    break;
                }
                let len = if c.get(j + 1).and_then(|&ch| kind(ch)) == k { 2 } else { 1 };
                if dv(j + len).is_none() {
                    break;
                }
                sep = k;
                j += len;
            }
        }
        false
    }

    /// Known brands by prefix and length (the table in `luhn::brand_ok`, written
    /// as prefix strings).
    pub(crate) fn brand(d: &str) -> bool {
        let n = d.len();
        let any = |prefixes: &[std::ops::RangeInclusive<u32>]| {
            prefixes.iter().any(|r| r.clone().any(|p| d.starts_with(&p.to_string())))
        };
        (any(&[4..=4]) && [13, 16, 19].contains(&n))
            || (any(&[51..=55, 2221..=2720]) && n == 16)
            || (any(&[34..=34, 37..=37]) && n == 15)
            || (any(&[6011..=6011, 644..=649, 65..=65]) && (16..=19).contains(&n))
            || (any(&[36..=36, 300..=305, 38..=39]) && (14..=19).contains(&n))
            || (any(&[3528..=3589]) && (16..=19).contains(&n))
            || (any(&[62..=62]) && (16..=19).contains(&n))
            || (any(&[50..=50, 56..=69]) && (12..=19).contains(&n))
    }

    #[test]
    fn checker_sanity() {
        assert!(has_pan("a 4111 1111 1111 1111 b"));
        assert!(has_pan("4111111111111111"));
        assert!(!has_pan("41111111111111111115"));
        assert!(!has_pan("4111111111111112"));
        assert!(has_pan("4111.1111.1111.1111"));
        assert!(has_pan("4111\u{a0}\u{a0}1111\u{a0}\u{a0}1111\u{a0}\u{a0}1111"));
        assert!(!has_pan("4111-1111 1111-1111"));
        assert!(!has_pan("4111   1111   1111   1111"));
        assert!(!has_pan("1111111111111117"));
        assert!(!has_pan("x4111111111111111"));
        assert!(has_pan("x 4111111111111111."));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn never_panics_never_leaks(a in value(), b in value(), items in prop::collection::vec(value(), 0..4), redact in any::<bool>()) {
            let order = json!({"id": 3, "a": a, "b": {"c": b}, "l": items.iter().map(|v| json!({"x": v})).collect::<Vec<_>>()});
            let mode = if redact { "redact" } else { "refuse" };
            let p = policy(&format!("fields = [\"id\", \"a\", \"b.c\", \"l[].x\"]\non_card_number = \"{mode}\"")).unwrap();
            let _ = Policy::compile(None, "f", "k").unwrap().apply(&order);
            if let Ok(prep) = p.apply(&order) {
                let out: Value = serde_json::from_slice(&prep.body).unwrap();
                let mut all = Vec::new();
                strings(&out, &mut all);
                for s in all {
                    prop_assert!(!has_pan(&s), "leaked in {:?}", s);
                }
            }
        }
    }
}

#[test]
fn fixtures_have_no_false_positive_card_numbers() {
    fn walk(v: &Value, path: String, hits: &mut Vec<String>) {
        match v {
            Value::String(s) if secure_forward_core::luhn::contains_card_number(s) => hits.push(path),
            Value::Number(n) if secure_forward_core::luhn::contains_card_number(&n.to_string()) => hits.push(path),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| walk(x, format!("{path}[{i}]"), hits)),
            Value::Object(m) => m.iter().for_each(|(k, x)| walk(x, format!("{path}.{k}"), hits)),
            _ => {}
        }
    }
    for (name, order) in fixtures() {
        let mut hits = Vec::new();
        walk(&order, String::new(), &mut hits);
        if name == "order-pan-in-note" {
            assert!(hits.contains(&".customer_note".to_owned()), "{hits:?}");
            assert!(hits.iter().all(|h| h == ".customer_note" || h.starts_with(".meta_data[")), "{hits:?}");
            assert_eq!(hits.len(), 4, "{hits:?}");
        } else {
            assert!(hits.is_empty(), "{name}: {hits:?}");
        }
    }
}

#[test]
fn transformed_output_is_scanned_too() {
    let order = json!({"id": 1, "customer_note": "card: 4111-1111-1111-1111 thanks", "n": 4111111111111111i64});
    let p = policy(
        "fields = [\"id\", \"customer_note\"]\ntruncate = { \"customer_note\" = 25 }\nrename = { \"customer_note\" = \"note\" }",
    )
    .unwrap();
    refused(&p, &order, "customer_note");
    let p = policy("fields = [\"id\", \"customer_note\"]\nmask = { \"customer_note\" = 30 }").unwrap();
    refused(&p, &order, "customer_note");
    // Masking that hides enough digits is fine.
    let p = policy("fields = [\"id\", \"customer_note\"]\nmask = { \"customer_note\" = 10 }").unwrap();
    assert_eq!(body(&p, &order)["customer_note"], format!("{}111 thanks", "*".repeat(22)));
    // Integers are scanned as well.
    refused(&policy("fields = [\"id\", \"n\"]").unwrap(), &order, "n");
    let p = policy("fields = [\"id\", \"n\"]\non_card_number = \"redact\"").unwrap();
    assert_eq!(body(&p, &order)["n"], "****************");
}

#[test]
fn output_follows_fields_order_byte_for_byte() {
    let order = json!({"id": 9, "total": "1.50", "billing": {"country": "DE", "city": "Berlin"}, "status": "done"});
    let p = policy("fields = [\"total\", \"billing.country\", \"id\", \"status\", \"missing\"]").unwrap();
    let b = p.apply(&order).unwrap().body;
    assert_eq!(b, br#"{"total":"1.50","billing":{"country":"DE"},"id":9,"status":"done"}"#);
    assert_eq!(p.apply(&order).unwrap().body, b);
}

#[test]
fn replaced_pepper_takes_effect_in_a_running_policy() {
    // The HMAC key schedule is cached per pepper; replacing the file (atomic
    // rename) must still switch pseudonyms within the 1 s re-check.
    let path = pepper("rotating", "pepper-one\n");
    let p = policy(&format!(
        "fields = [\"id\", \"billing.email\"]\npseudonymize = [\"billing.email\"]\npepper_file = \"{}\"",
        path.display()
    ))
    .unwrap();
    let order = json!({"id": 7, "billing": {"email": "maria.gonzalez@example.com"}});
    let one = "375a4b92bca79201cc45337c0de792566b6402045e24e9c7ba74e8fd8f057bc8";
    let two = "5d2a3425892c7ac5aebc1d66195fc02a83c22c4a9b185584b87f1d5a17b07d23";
    assert_eq!(body(&p, &order)["billing"]["email"], one);
    assert_eq!(body(&p, &order)["billing"]["email"], one, "the cached key gives the same pseudonym");
    let tmp = pepper("rotating.new", "pepper-two");
    std::fs::rename(&tmp, &path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(body(&p, &order)["billing"]["email"], two);
}
