//! Request shaping per order, against the policy alone (the unshaped prepare):
//! for each recipe of docs/recipes.md, over the WooCommerce fixtures, prints
//! ns/order of `Policy::apply_into` and of parsing its output + `Shape::render`.
//!
//! `cargo bench -p secure_forward_core --bench shape` (FIXTURES=dir to point
//! elsewhere; SHAPE_BENCH_ITERS=n rounds and SHAPE_BENCH_ONLY=recipe for callgrind:
//! inclusive instructions of `Shape::render_json` / (n × fixtures)).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a bench tool
use std::hint::black_box;
use std::time::Instant;

use secure_forward_core::testing::policy::Policy;
use secure_forward_core::testing::shape::Shape;
use serde_json::Value;

const RECIPES: &[(&str, &str)] = &[
    (
        "hubspot",
        r#"
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
"#,
    ),
    (
        "klaviyo",
        r#"
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
"#,
    ),
    (
        "shipstation",
        r#"
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
items = { each = "line_items", to = { lineItemKey = "{id}", sku = "{sku}", name = "{name}", quantity = { from = "quantity", as = "integer" }, unitPrice = { from = "price", as = "number" }, productId = { from = "product_id", as = "integer" } } }
"#,
    ),
];

fn main() {
    let dir = std::env::var("FIXTURES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/woocommerce-10.0.2").to_owned());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("shape bench: no fixtures in {dir} (set FIXTURES)");
        return;
    };
    let mut orders: Vec<Value> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    orders.sort_by_key(|o| o["id"].as_u64());
    let iters: usize = std::env::var("SHAPE_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let only = std::env::var("SHAPE_BENCH_ONLY").ok();
    for (dest, text) in RECIPES {
        if only.as_deref().is_some_and(|o| o != *dest) {
            continue;
        }
        let doc: toml::Table = toml::from_str(text).unwrap();
        let body = &doc["destinations"][*dest]["body"];
        // The policy selects exactly the paths the body uses.
        let probe = Shape::compile(body, &|_| true, "bench", dest).unwrap();
        let mut fields: Vec<String> = vec!["id".to_owned()];
        fields.extend(probe.paths().iter().filter(|p| *p != "id").cloned());
        let mut pt = toml::Table::new();
        pt.insert("fields".into(), toml::Value::Array(fields.iter().map(|f| toml::Value::String(f.clone())).collect()));
        let policy = Policy::compile(Some(&pt), "bench", dest).unwrap();
        let shape = Shape::compile(body, &|p| fields.iter().any(|f| f == p), "bench", dest).unwrap();
        let outputs: Vec<Vec<u8>> = orders.iter().map(|o| policy.apply(o).unwrap().body).collect();
        if std::env::var("SHAPE_BENCH_DUMP").is_ok() {
            for b in &outputs {
                println!("{}", String::from_utf8_lossy(b));
            }
        }
        let (mut buf, mut out) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
        let t = Instant::now();
        for _ in 0..iters {
            for o in &orders {
                policy.apply_into(black_box(o), &mut buf).unwrap();
                black_box(&buf);
            }
        }
        let policy_ns = t.elapsed().as_nanos() as f64 / (iters * orders.len()) as f64;
        let t = Instant::now();
        for _ in 0..iters {
            for b in &outputs {
                out.clear();
                shape.render_json(black_box(b), &mut out).unwrap();
                black_box(&out);
            }
        }
        let shape_ns = t.elapsed().as_nanos() as f64 / (iters * orders.len()) as f64;
        let avg_in = outputs.iter().map(Vec::len).sum::<usize>() / outputs.len();
        println!(
            "{dest:12} policy {policy_ns:7.0} ns/order | shape (parse + render) {shape_ns:7.0} ns/order = {:.2}x policy | policy output {avg_in} B, {} orders",
            shape_ns / policy_ns,
            orders.len()
        );
    }
}
