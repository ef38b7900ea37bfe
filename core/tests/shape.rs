//! Request shaping: known-answer bodies for three real APIs (HubSpot, Klaviyo,
//! ShipStation) from the policy output of a WooCommerce 10.0.2 order, and the
//! configuration and validation errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a test crate

use secure_forward_core::testing::shape::{api_error_message, Headers, Shape, UrlTemplate};
use secure_forward_core::{Error, ErrorKind};
use serde_json::Value;

const FILE: &str = "/etc/secure-forward/config.toml";

/// The policy's output (un-renamed) for fixture `order-registered-multi.json`
/// (order 42) with the fields the three recipes select; `line_items[].price` is
/// WooCommerce's REST `price` (total / quantity), which the plugin passes along.
const ORDER_42: &str = r#"{
 "id": 42, "number": "42", "status": "processing", "currency": "USD",
 "date_created": "2026-11-22T03:17:20+00:00", "total": "136.93", "total_tax": "10.88",
 "shipping_total": "5",
 "billing": {"first_name": "María", "last_name": "González", "address_1": "1455 Market St",
   "address_2": "Suite 600", "city": "San Francisco", "state": "CA", "postcode": "94103",
   "country": "US", "email": "maria.gonzalez@example.com", "phone": "+1 415 555 0142"},
 "shipping": {"first_name": "María", "last_name": "González", "company": "", "address_1": "1455 Market St",
   "address_2": "Suite 600", "city": "San Francisco", "state": "CA", "postcode": "94103",
   "country": "US", "phone": "+1 415 555 0142"},
 "line_items": [
   {"id": 49, "product_id": 19, "variation_id": 20, "sku": "HOODIE-NAVY-M", "name": "Organic Cotton Hoodie - Navy, M", "quantity": 2, "price": "48.60", "total": "97.2"},
   {"id": 50, "product_id": 25, "variation_id": 0, "sku": "BEANS-ETH-250", "name": "Single-Origin Beans – Ethiopia Yirgacheffe 250 g", "quantity": 1, "price": "13.05", "total": "13.05"},
   {"id": 51, "product_id": 27, "variation_id": 0, "sku": "", "name": "Sticker Pack (5 pcs)", "quantity": 3, "price": "3.60", "total": "10.8"}
 ],
 "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "5.00"}]
}"#;

/// Every leaf path of a policy output, as the policy names them (`line_items[].sku`).
fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaf_paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                leaf_paths(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {
            if !out.contains(&prefix.to_owned()) {
                out.push(prefix.to_owned());
            }
        }
    }
}

fn order() -> Value {
    serde_json::from_str(ORDER_42).unwrap()
}

/// Compiles `[destinations.DEST]` from `toml` with `selected` = the order's leaf paths.
fn compile_dest(toml_text: &str, dest: &str) -> (Shape, UrlTemplate, Headers) {
    let doc: toml::Table = toml::from_str(toml_text).unwrap();
    let d = doc["destinations"][dest].as_table().unwrap();
    let mut paths = Vec::new();
    leaf_paths(&order(), "", &mut paths);
    let selected = |p: &str| paths.iter().any(|x| x == p);
    let shape = Shape::compile(&d["body"], &selected, FILE, dest).unwrap();
    let url = UrlTemplate::compile(d["url"].as_str().unwrap(), &selected, FILE, dest).unwrap();
    let empty = toml::Table::new();
    let headers =
        Headers::compile(d.get("headers").and_then(|h| h.as_table()).unwrap_or(&empty), Some("Authorization"), FILE, dest)
            .unwrap();
    (shape, url, headers)
}

/// Renders from the `Value` and from the JSON bytes (the fast path): the same bytes.
fn render(shape: &Shape, v: &Value) -> String {
    let mut out = Vec::new();
    shape.render(v, &mut out).unwrap();
    let mut fast = Vec::new();
    shape.render_json(serde_json::to_string(v).unwrap().as_bytes(), &mut fast).unwrap();
    assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&out));
    String::from_utf8(out).unwrap()
}

/// The three recipes of docs/recipes.md (same text).
const HUBSPOT: &str = r#"
[destinations.hubspot]
url = "https://api.hubapi.com/crm/v3/objects/deals"
method = "POST"

[destinations.hubspot.body.properties]
dealname = "WooCommerce order #{number}"
amount = { from = "total", as = "string" }
deal_currency_code = "{currency}"
pipeline = "default"
dealstage = "closedwon"
closedate = { from = "date_created", as = "date" }
"#;

const KLAVIYO: &str = r#"
[destinations.klaviyo]
url = "https://a.klaviyo.com/api/events"
headers = { revision = "2025-01-15", accept = "application/vnd.api+json", content-type = "application/vnd.api+json" }

[destinations.klaviyo.body.data]
type = "event"

[destinations.klaviyo.body.data.attributes]
properties = { OrderId = "{number}", ItemNames = { each = "line_items", to = "{name}" }, Items = [ { each = "line_items", to = { ProductID = { from = ["variation_id", "product_id"] }, SKU = "{sku}", ProductName = "{name}", Quantity = { from = "quantity", as = "integer" }, ItemPrice = { from = "price", as = "number" } } } ] }
metric = { data = { type = "metric", attributes = { name = "Placed Order" } } }
profile = { data = { type = "profile", attributes = { email = "{billing.email}", first_name = "{billing.first_name}", location = { country = "{billing.country}" } } } }
time = "{date_created}"
value = { from = "total", as = "number" }
value_currency = "{currency}"
unique_id = "woo-{id}"
"#;

const SHIPSTATION: &str = r#"
[destinations.shipstation]
url = "https://ssapi.shipstation.com/orders/createorder"

[destinations.shipstation.body]
orderNumber = "{number}"
orderKey = "woo-{id}"
orderDate = "{date_created}"
orderStatus = { from = "status", map = { pending = "awaiting_payment", processing = "awaiting_shipment", on-hold = "on_hold", completed = "shipped", cancelled = "cancelled" }, default = "on_hold" }
customerEmail = "{billing.email}"
amountPaid = { from = "total", as = "number" }
taxAmount = { from = "total_tax", as = "number" }
shippingAmount = { from = "shipping_total", as = "number" }
billTo = { name = "{billing.first_name} {billing.last_name}", street1 = "{billing.address_1}", street2 = "{billing.address_2}", city = "{billing.city}", state = "{billing.state}", postalCode = "{billing.postcode}", country = "{billing.country}", phone = "{billing.phone}" }
shipTo = { name = "{shipping.first_name} {shipping.last_name}", company = "{shipping.company}", street1 = "{shipping.address_1}", street2 = "{shipping.address_2}", city = "{shipping.city}", state = "{shipping.state}", postalCode = "{shipping.postcode}", country = "{shipping.country}", phone = "{shipping.phone}", residential = true }
items = { each = "line_items", to = { lineItemKey = "{id}", sku = "{sku}", name = "{name}", quantity = { from = "quantity", as = "integer" }, unitPrice = { from = "price", as = "number" } } }
"#;

#[test]
fn hubspot_deal() {
    let (shape, url, headers) = compile_dest(HUBSPOT, "hubspot");
    assert_eq!(
        render(&shape, &order()),
        r#"{"properties":{"dealname":"WooCommerce order #42","amount":"136.93","deal_currency_code":"USD","pipeline":"default","dealstage":"closedwon","closedate":"2026-11-22"}}"#
    );
    assert!(url.is_static());
    assert_eq!(url.render(&order()).unwrap(), "https://api.hubapi.com/crm/v3/objects/deals");
    assert_eq!((headers.content_type(), headers.accept(), headers.other().count()), ("application/json", "application/json", 0));
    assert_eq!(shape.paths(), ["number", "total", "currency", "date_created"]);
}

#[test]
fn klaviyo_placed_order_event() {
    let (shape, _url, headers) = compile_dest(KLAVIYO, "klaviyo");
    let want = concat!(
        r#"{"data":{"type":"event","attributes":{"#,
        r#""properties":{"OrderId":"42","ItemNames":["Organic Cotton Hoodie - Navy, M","Single-Origin Beans – Ethiopia Yirgacheffe 250 g","Sticker Pack (5 pcs)"],"#,
        r#""Items":[{"ProductID":20,"SKU":"HOODIE-NAVY-M","ProductName":"Organic Cotton Hoodie - Navy, M","Quantity":2,"ItemPrice":48.6},"#,
        r#"{"ProductID":25,"SKU":"BEANS-ETH-250","ProductName":"Single-Origin Beans – Ethiopia Yirgacheffe 250 g","Quantity":1,"ItemPrice":13.05},"#,
        r#"{"ProductID":27,"SKU":"","ProductName":"Sticker Pack (5 pcs)","Quantity":3,"ItemPrice":3.6}]},"#,
        r#""metric":{"data":{"type":"metric","attributes":{"name":"Placed Order"}}},"#,
        r#""profile":{"data":{"type":"profile","attributes":{"email":"maria.gonzalez@example.com","first_name":"María","location":{"country":"US"}}}},"#,
        r#""time":"2026-11-22T03:17:20+00:00","value":136.93,"value_currency":"USD","unique_id":"woo-42"}}}"#
    );
    assert_eq!(render(&shape, &order()), want);
    assert_eq!(headers.content_type(), "application/vnd.api+json");
    assert_eq!(headers.accept(), "application/vnd.api+json");
    assert_eq!(headers.other().collect::<Vec<_>>(), [("revision", "2025-01-15")]);
}

#[test]
fn shipstation_order() {
    let (shape, url, _) = compile_dest(SHIPSTATION, "shipstation");
    let want = concat!(
        r#"{"orderNumber":"42","orderKey":"woo-42","orderDate":"2026-11-22T03:17:20+00:00","orderStatus":"awaiting_shipment","#,
        r#""customerEmail":"maria.gonzalez@example.com","amountPaid":136.93,"taxAmount":10.88,"shippingAmount":5,"#,
        r#""billTo":{"name":"María González","street1":"1455 Market St","street2":"Suite 600","city":"San Francisco","state":"CA","postalCode":"94103","country":"US","phone":"+1 415 555 0142"},"#,
        r#""shipTo":{"name":"María González","company":"","street1":"1455 Market St","street2":"Suite 600","city":"San Francisco","state":"CA","postalCode":"94103","country":"US","phone":"+1 415 555 0142","residential":true},"#,
        r#""items":[{"lineItemKey":"49","sku":"HOODIE-NAVY-M","name":"Organic Cotton Hoodie - Navy, M","quantity":2,"unitPrice":48.6},"#,
        r#"{"lineItemKey":"50","sku":"BEANS-ETH-250","name":"Single-Origin Beans – Ethiopia Yirgacheffe 250 g","quantity":1,"unitPrice":13.05},"#,
        r#"{"lineItemKey":"51","sku":"","name":"Sticker Pack (5 pcs)","quantity":3,"unitPrice":3.6}]}"#
    );
    assert_eq!(render(&shape, &order()), want);
    assert_eq!(url.render(&order()).unwrap(), "https://ssapi.shipstation.com/orders/createorder");
    // Status map: unmapped → default; on-hold mapped.
    let mut o = order();
    o["status"] = "refunded".into();
    assert!(render(&shape, &o).contains(r#""orderStatus":"on_hold""#));
    o["status"] = "completed".into();
    assert!(render(&shape, &o).contains(r#""orderStatus":"shipped""#));
}

/// The rendered bodies parse as JSON objects; they are written to
/// `$CARGO_TARGET_TMPDIR/shape-bodies/NAME.json` for `tests/schemas/validate.py`
/// (the vendors' request schemas).
#[test]
fn bodies_parse_as_json() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("shape-bodies");
    std::fs::create_dir_all(&dir).unwrap();
    for (t, d, schema) in [
        (HUBSPOT, "hubspot", "hubspot-deal"),
        (KLAVIYO, "klaviyo", "klaviyo-event"),
        (SHIPSTATION, "shipstation", "shipstation-order"),
    ] {
        let (shape, _, _) = compile_dest(t, d);
        let body = render(&shape, &order());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v.is_object(), "{d}");
        std::fs::write(dir.join(format!("{schema}.json")), body).unwrap();
    }
}

// --- building blocks -------------------------------------------------------

fn selected_all(_: &str) -> bool {
    true
}

fn shape(body: &str) -> Result<Shape, Error> {
    let t: toml::Table = toml::from_str(body).unwrap();
    Shape::compile(&toml::Value::Table(t), &selected_all, FILE, "d")
}

fn shape_sel(body: &str, sel: &[&str]) -> Result<Shape, Error> {
    let t: toml::Table = toml::from_str(body).unwrap();
    let f = |p: &str| sel.contains(&p);
    Shape::compile(&toml::Value::Table(t), &f, FILE, "d")
}

fn run(body: &str, input: &str) -> Result<String, Error> {
    let s = shape(body).unwrap();
    let mut fast = Vec::new();
    let fast_r = s.render_json(input.as_bytes(), &mut fast);
    let mut out = b"prefix".to_vec();
    let r = s.render(&serde_json::from_str(input).unwrap(), &mut out);
    assert_eq!(fast_r.as_ref().err(), r.as_ref().err(), "both paths agree");
    if r.is_ok() {
        assert_eq!(fast, out[6..]);
    }
    assert!(out.starts_with(b"prefix"));
    match r {
        Ok(()) => Ok(String::from_utf8(out[6..].to_vec()).unwrap()),
        Err(e) => {
            assert_eq!(out, b"prefix", "out restored on error");
            Err(e)
        }
    }
}

fn config_err(e: Error) -> (Option<String>, String) {
    match e {
        Error::Config { file, key, reason } => {
            assert_eq!(file, FILE);
            (key, reason.to_string())
        }
        other => panic!("not a config error: {other:?}"),
    }
}

fn validation_err(e: Error) -> (String, String) {
    match e {
        Error::Validation { path, reason } => (path, reason.to_string()),
        other => panic!("not a validation error: {other:?}"),
    }
}

#[test]
fn templates_literals_and_omission() {
    let body = r#"
a = "Order #{number} from {billing.country}"
b = "{{literal}} {n} {t} {missing} {nul}"
c = 5
d = [1, true, "x"]
e = { literal = { from = "total", each = "x" } }
f = { from = "missing" }
g = { from = "missing", default = "none" }
h = { from = "nul", as = "number", default = 0 }
i = { from = ["zero", "zs", "empty", "nul", "number"] }
j = { from = "t", as = "string" }
k = { from = "n", as = "string" }
l = { sub = "{number}", from = "not a typed value: has other keys" }
m = {}
"#;
    let input = r#"{"number":"42","billing":{"country":"US"},"n":7.5,"t":true,"nul":null,"zero":0,"zs":"0","empty":""}"#;
    assert_eq!(
        run(body, input).unwrap(),
        concat!(
            r#"{"a":"Order #42 from US","b":"{literal} 7.5 true  ","c":5,"d":[1,true,"x"],"e":{"from":"total","each":"x"},"#,
            r#""g":"none","h":0,"i":"42","j":"true","k":"7.5","l":{"sub":"42","from":"not a typed value: has other keys"},"m":{}}"#
        )
    );
}

#[test]
fn escaping_survives_both_input_paths() {
    let body = r#"a = "<{v}>"
b = { from = "v" }
c = { from = "w", as = "string" }"#;
    let input = r#"{"v":"say \"hi\"\n\\ \u00e9\ud83d\ude00 \/","w":"plain é"}"#;
    assert_eq!(run(body, input).unwrap(), r#"{"a":"<say \"hi\"\n\\ é😀 />","b":"say \"hi\"\n\\ é😀 /","c":"plain é"}"#);
}

#[test]
fn numbers_from_decimal_text() {
    let body = r#"a = [ { from = "a", as = "number" }, { from = "b", as = "number" }, { from = "c", as = "number" }, { from = "d", as = "number" }, { from = "e", as = "number" }, { from = "f", as = "integer" }, { from = "g", as = "integer" }, { from = "h", as = "boolean" }, { from = "i", as = "boolean" } ]"#;
    let input = r#"{"a":"48.60","b":"5","c":"-0.50","d":"007","e":12.25,"f":"3.00","g":4,"h":"yes","i":0}"#;
    assert_eq!(run(body, input).unwrap(), r#"{"a":[48.6,5,-0.5,7,12.25,3,4,true,false]}"#);
    for bad in [r#""1e3""#, r#""12,50""#, r#""""#, r#"" 5""#, r#""abc""#, "true"] {
        let (path, reason) =
            validation_err(run(r#"x = { y = { from = "v", as = "number" } }"#, &format!(r#"{{"v":{bad}}}"#)).unwrap_err());
        assert_eq!(path, "body.x.y");
        assert!(reason.starts_with("v: "), "{reason}");
        assert!(!reason.contains("abc") && !reason.contains("12,50"));
    }
    let (path, reason) = validation_err(run(r#"q = { from = "v", as = "integer" }"#, r#"{"v":"2.5"}"#).unwrap_err());
    assert_eq!((path.as_str(), reason.as_str()), ("body.q", "v: is not an integer"));
}

#[test]
fn dates() {
    // 1795317440000 passes the Luhn check: a computed Unix time is not scanned.
    let body = r#"d = { from = "t", as = "date" }
u = { from = "t", as = "unix" }
ms = { from = "t", as = "unix_ms" }"#;
    assert_eq!(
        run(body, r#"{"t":"2026-11-22T03:17:20+00:00"}"#).unwrap(),
        r#"{"d":"2026-11-22","u":1795317440,"ms":1795317440000}"#
    );
    let (path, _) = validation_err(run(body, r#"{"t":"22/11/2026"}"#).unwrap_err());
    assert_eq!(path, "body.d");
}

#[test]
fn lists_spliced_and_nested() {
    let body = r#"
LineItems = [ { each = "line_items", to = { sku = "{sku}", qty = { from = "quantity", as = "integer" } } }, { each = "shipping_lines", to = { sku = "SHIP-{method_id}", amount = { from = "total", as = "number" } } }, { note = "end" } ]
names = { each = "line_items", to = "{sku}" }
none = { each = "absent", to = "{x}" }
metas = { each = "line_items", to = { each = "meta", to = "{k}" } }
"#;
    let input = r#"{"line_items":[{"sku":"A","quantity":"2","meta":[{"k":"x"}]},{"sku":"B","quantity":1}],"shipping_lines":[{"method_id":"flat_rate","total":"5.00"}]}"#;
    assert_eq!(
        run(body, input).unwrap(),
        concat!(
            r#"{"LineItems":[{"sku":"A","qty":2},{"sku":"B","qty":1},{"sku":"SHIP-flat_rate","amount":5},{"note":"end"}],"#,
            r#""names":["A","B"],"metas":[["x"]]}"#
        )
    );
    // An element whose `to` yields nothing (here: no `meta` list) is left out.
    // Paths inside `to` are checked against the policy as `list[].path`.
    let s = shape_sel(
        body,
        &[
            "line_items[].sku",
            "line_items[].quantity",
            "shipping_lines[].method_id",
            "shipping_lines[].total",
            "absent[].x",
            "line_items[].meta[].k",
        ],
    );
    assert!(s.is_ok());
    assert!(s.unwrap().paths().contains(&"line_items[].meta[].k".to_owned()));
}

#[test]
fn each_over_a_non_list() {
    let (path, reason) = validation_err(run(r#"x = { each = "billing", to = "{a}" }"#, r#"{"billing":{"a":1}}"#).unwrap_err());
    assert_eq!((path.as_str(), reason.as_str()), ("body.x", "billing is not a list"));
    let (path, _) = validation_err(run(r#"x = [ { each = "n", to = "{a}" } ]"#, r#"{"n":"5"}"#).unwrap_err());
    assert_eq!(path, "body.x[0]");
}

#[test]
fn array_or_object_in_a_string_template() {
    for input in [r#"{"v":[1,2]}"#, r#"{"v":{"a":1}}"#] {
        let (path, reason) = validation_err(run(r#"a = { b = "x {v}" }"#, input).unwrap_err());
        assert_eq!(path, "body.a.b");
        assert!(reason.starts_with("v: "), "{reason}");
        let (path, _) = validation_err(run(r#"a = { from = "v", as = "string" }"#, input).unwrap_err());
        assert_eq!(path, "body.a");
    }
}

#[test]
fn path_not_selected() {
    let (key, reason) = config_err(shape_sel(r#"p = { name = "{billing.first_name}" }"#, &["id"]).unwrap_err());
    assert_eq!(key.as_deref(), Some("destinations.d.body.p.name"));
    assert_eq!(reason, "path billing.first_name is not selected by the policy");
    let (key, reason) =
        config_err(shape_sel(r#"i = { each = "line_items", to = { s = "{sku}" } }"#, &["line_items[].name"]).unwrap_err());
    assert_eq!(key.as_deref(), Some("destinations.d.body.i[].s"));
    assert_eq!(reason, "path line_items[].sku is not selected by the policy");
    let (key, _) = config_err(shape_sel(r#"t = { from = ["a", "b"], as = "number" }"#, &["a"]).unwrap_err());
    assert_eq!(key.as_deref(), Some("destinations.d.body.t"));
    // A list whose elements use no field: its length alone would leak.
    let (_, reason) = config_err(shape_sel(r#"i = { each = "line_items", to = "x" }"#, &["line_items[].sku"]).unwrap_err());
    assert!(reason.contains("line_items[]"), "{reason}");
}

#[test]
fn malformed_bodies() {
    for (body, key, needle) in [
        (r#"a = { from = "total", as = "float" }"#, "destinations.d.body.a", "unknown `as = \"float\"`"),
        (r#"a = { from = "total", as = 5 }"#, "destinations.d.body.a", "`as` must be a string"),
        (r#"a = { from = "status", map = { x = "y" }, as = "string" }"#, "destinations.d.body.a", "`as` does not apply"),
        (r#"a = { from = 5 }"#, "destinations.d.body.a", "`from` must be"),
        (r#"a = { from = [] }"#, "destinations.d.body.a", "`from` must be"),
        (r#"a = { from = "bad path!" }"#, "destinations.d.body.a", "malformed path"),
        (r#"a = { each = "line_items" }"#, "destinations.d.body.a", "needs `to`"),
        (r#"a = "x {unclosed""#, "destinations.d.body.a", "unclosed"),
        (r#"a = "x } y""#, "destinations.d.body.a", "lone `}`"),
        (r#"a = "{not a path}""#, "destinations.d.body.a", "malformed placeholder"),
    ] {
        let (k, reason) = config_err(shape(body).unwrap_err());
        assert_eq!(k.as_deref(), Some(key), "{body}");
        assert!(reason.contains(needle), "{body}: {reason}");
    }
}

#[test]
fn card_numbers() {
    // In a constant: refused at load, wherever it is.
    for body in [
        r#"a = "4111 1111 1111 1111""#,
        r#"a = { b = [ "x", "pay 4111-1111-1111-1111" ] }"#,
        r#"a = 4111111111111111"#,
        r#"a = "{n} 4111111111111111""#,
        r#"a = { from = "n", default = "4111111111111111" }"#,
        r#"a = { from = "n", map = { x = "4111111111111111" } }"#,
        r#"a = { literal = { b = "4111111111111111" } }"#,
    ] {
        let (_, reason) = config_err(shape(body).unwrap_err());
        assert!(reason.contains("card number"), "{body}: {reason}");
    }
    // In the final body: made of two values, or one value written as a number.
    let (path, reason) = validation_err(run(r#"a = "{x} {y}""#, r#"{"x":"4111 1111","y":"1111 1111"}"#).unwrap_err());
    assert_eq!((path.as_str(), reason.as_str()), ("body.a", "template: contains a card number"));
    let (path, reason) = validation_err(run(r#"a = { from = "x", as = "number" }"#, r#"{"x":"4111111111111111"}"#).unwrap_err());
    assert_eq!((path.as_str(), reason.as_str()), ("body.a", "x: contains a card number"));
    assert!(!reason.contains("4111"));
    assert_eq!(run(r#"a = "{x} {y}""#, r#"{"x":"4111 1111","y":"1111 1112"}"#).unwrap(), r#"{"a":"4111 1111 1111 1112"}"#);
}

// --- URL ---------------------------------------------------------------------

fn url(u: &str) -> Result<UrlTemplate, Error> {
    UrlTemplate::compile(u, &selected_all, FILE, "d")
}

#[test]
fn url_placeholders_are_percent_encoded() {
    let t = url("https://api.example.com/stores/shop-1/orders/{id}?ref={number}#top").unwrap();
    assert!(!t.is_static());
    assert_eq!(t.head(), "https://api.example.com");
    for (id, want) in [
        ("42", "42"),
        ("a/b", "a%2Fb"),
        ("a?b", "a%3Fb"),
        ("a#b", "a%23b"),
        ("../admin", "..%2Fadmin"),
        ("...", "..."),
        ("a b", "a%20b"),
        ("100%", "100%25"),
        ("x&y=z", "x%26y%3Dz"),
        ("ü日", "%C3%BC%E6%97%A5"),
        ("a-b_c.d~e", "a-b_c.d~e"),
    ] {
        let v = serde_json::json!({ "id": id, "number": 7 });
        assert_eq!(t.render(&v).unwrap(), format!("https://api.example.com/stores/shop-1/orders/{want}?ref=7#top"), "{id}");
    }
    for bad in [
        serde_json::json!({"number": 7}),
        serde_json::json!({"id": null, "number": 7}),
        serde_json::json!({"id": "", "number": 7}),
        serde_json::json!({"id": [1], "number": 7}),
    ] {
        let (path, reason) = validation_err(t.render(&bad).unwrap_err());
        assert_eq!(path, "url");
        assert!(reason.starts_with("id: "), "{reason}");
    }
    // A dot segment, alone or with the template's own dot: %2E is '.' to a
    // normalising server, so it is refused, not encoded.
    let dotted = url("https://api.example.com/stores/shop-1/orders/.{id}/x?ref={number}").unwrap();
    for (t, id) in [(&t, ".."), (&t, "."), (&dotted, "."), (&dotted, "")] {
        let v = serde_json::json!({ "id": id, "number": 7 });
        let (path, _) = validation_err(t.render(&v).unwrap_err());
        assert_eq!(path, "url", "{id}");
    }
    // In the query a dot is only a dot.
    let v = serde_json::json!({ "id": "1", "number": ".." });
    assert!(t.render(&v).unwrap().ends_with("/orders/1?ref=%2E%2E#top"));
    assert!(dotted.render(&serde_json::json!({ "id": "a", "number": 7 })).unwrap().contains("/orders/.a/x"));
    // A rendered URL too long to send is refused before anything is stored.
    let v = serde_json::json!({ "id": "a".repeat(9000), "number": 7 });
    let (path, reason) = validation_err(t.render(&v).unwrap_err());
    assert_eq!(path, "url");
    assert!(reason.contains("longer than 8192 bytes"), "{reason}");
}

#[test]
fn url_placeholder_in_scheme_or_host() {
    for u in
        ["https://{host}/x", "https://api.{region}.example.com/x", "{scheme}://h/x", "https://user:{p}@h/x", "https://h:{port}/x"]
    {
        let (key, reason) = config_err(url(u).unwrap_err());
        assert_eq!(key.as_deref(), Some("destinations.d.url"), "{u}");
        assert!(reason.contains("scheme and host"), "{u}: {reason}");
    }
    let (_, reason) = config_err(url("https://h/x#{frag}").unwrap_err());
    assert!(reason.contains("fragment"), "{reason}");
    let (_, reason) = config_err(url("/relative/{id}").unwrap_err());
    assert!(reason.contains("absolute"), "{reason}");
    let (key, reason) =
        config_err(UrlTemplate::compile("https://h/o/{billing.email}", &|p: &str| p == "id", FILE, "d").unwrap_err());
    assert_eq!(
        (key.as_deref(), reason.as_str()),
        (Some("destinations.d.url"), "path billing.email is not selected by the policy")
    );
}

// --- headers -----------------------------------------------------------------

fn headers(t: &str, key_header: Option<&str>) -> Result<Headers, Error> {
    let t: toml::Table = toml::from_str(t).unwrap();
    Headers::compile(&t, key_header, FILE, "d")
}

#[test]
fn forbidden_headers() {
    for name in [
        "Host",
        "content-length",
        "Transfer-Encoding",
        "CONNECTION",
        "Authorization",
        "Idempotency-Key",
        "webhook-signature",
        "Webhook-Id",
        "X-Api-Key",
        "keep-alive",
        "upgrade",
        "X-Event-Type",
        "User-Agent",
    ] {
        let e = headers(&format!("\"{name}\" = \"v\""), Some("x-api-key")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let (key, reason) = config_err(e);
        assert_eq!(key.as_deref(), Some("destinations.d.headers"));
        assert!(reason.contains(name), "{name}: {reason}");
    }
    let h = headers(
        r#"revision = "2024-10-15"
"xero-tenant-id" = "abc"
"Content-Type" = "application/vnd.api+json""#,
        Some("x-api-key"),
    )
    .unwrap();
    assert_eq!(h.other().collect::<Vec<_>>(), [("revision", "2024-10-15"), ("xero-tenant-id", "abc")]);
    assert_eq!((h.content_type(), h.accept()), ("application/vnd.api+json", "application/json"));
}

#[test]
fn control_bytes_in_headers() {
    for t in [
        "a = \"x\\r\\nInjected: 1\"",
        "a = \"x\\ny\"",
        "a = \"x\\u0000\"",
        "a = \"x\\ty\"",
        "a = \"x\\u007f\"",
        "\"a\\r\\nb\" = \"x\"",
        "\"a b\" = \"x\"",
        "\"a:b\" = \"x\"",
        "a = 5",
        "a = \"x\"\nA = \"y\"",
        "a = \"4111 1111 1111 1111\"",
    ] {
        let e = headers(t, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{t}");
        assert!(!e.to_string().contains("Injected"), "{t}");
    }
}

// --- the API's error message -------------------------------------------------

#[test]
fn api_error_messages() {
    assert_eq!(
        api_error_message(
            br#"{"status":"error","message":"Property values were not valid: amount for jane@example.com","correlationId":"aa"}"#
        )
        .as_deref(),
        Some("Property values were not valid: amount for [email]")
    );
    assert_eq!(
        api_error_message(
            br#"{"errors":[{"status":400,"title":"Invalid input.","detail":"The phone number 4155550142 is invalid"}]}"#
        )
        .as_deref(),
        Some("The phone number ********** is invalid")
    );
    assert_eq!(api_error_message(b"Bad Request"), None);
}

/// The recipes of docs/recipes.md: each policy selects every path its body and
/// URL use, and each renders the same body as the recipe tested above.
#[test]
fn recipes_in_the_docs_compile_against_their_policy() {
    let doc = include_str!("../../docs/recipes.md");
    let blocks: Vec<&str> = doc.split("```toml\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    assert_eq!(blocks.len(), 3);
    for (block, (text, dest)) in blocks.iter().zip([(HUBSPOT, "hubspot"), (KLAVIYO, "klaviyo"), (SHIPSTATION, "shipstation")]) {
        let doc: toml::Table = toml::from_str(block).unwrap();
        let d = doc["destinations"][dest].as_table().unwrap();
        let fields: Vec<&str> = d["policy"]["fields"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let selected = |p: &str| fields.contains(&p);
        let shape = Shape::compile(&d["body"], &selected, FILE, dest).unwrap();
        UrlTemplate::compile(d["url"].as_str().unwrap(), &selected, FILE, dest).unwrap();
        let empty = toml::Table::new();
        let key_header = d.get("key_header").and_then(|k| k.as_str());
        Headers::compile(d.get("headers").and_then(|h| h.as_table()).unwrap_or(&empty), key_header, FILE, dest).unwrap();
        let (tested, _, _) = compile_dest(text, dest);
        assert_eq!(render(&shape, &order()), render(&tested, &order()), "{dest}");
        // Every selected field is used: the recipes send nothing they do not need.
        for f in &fields {
            assert!(*f == "id" || shape.paths().iter().any(|p| p == f), "{dest}: {f} selected but unused");
        }
    }
}
