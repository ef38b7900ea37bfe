<?php
// make bench-prepare: µs per order for secure_forward_prepare() (default policy) versus the
// same minimisation written in plain PHP (array_intersect_key + json_encode), on every fixture.
// Run with the extension loaded and a config that has a [destinations.default] without policy.
declare(strict_types=1);

$dir = $argv[1] ?? __DIR__ . '/../../shared/fixtures/woocommerce-10.0.2';
$rounds = (int) ($argv[2] ?? 20000);
$orders = array_map(fn ($f) => json_decode(file_get_contents($f), true), glob("$dir/order-*.json"));

/** The built-in default policy, in plain PHP. */
function php_minimise(array $o): string
{
    static $top = ['id' => 1, 'number' => 1, 'status' => 1, 'currency' => 1, 'total' => 1, 'subtotal' => 1,
        'total_tax' => 1, 'shipping_total' => 1, 'discount_total' => 1, 'date_created' => 1, 'date_paid' => 1,
        'date_completed' => 1, 'payment_method' => 1, 'prices_include_tax' => 1];
    static $item = ['product_id' => 1, 'variation_id' => 1, 'sku' => 1, 'name' => 1, 'quantity' => 1,
        'subtotal' => 1, 'total' => 1, 'total_tax' => 1];
    $out = array_intersect_key($o, $top);
    $out['billing'] = ['country' => $o['billing']['country'] ?? null];
    $out['line_items'] = array_map(fn ($i) => array_intersect_key($i, $item), $o['line_items'] ?? []);
    $out['shipping_lines'] = array_map(fn ($i) => array_intersect_key($i, ['method_id' => 1, 'method_title' => 1, 'total' => 1, 'total_tax' => 1]), $o['shipping_lines'] ?? []);
    $out['fee_lines'] = array_map(fn ($i) => array_intersect_key($i, ['name' => 1, 'total' => 1, 'total_tax' => 1]), $o['fee_lines'] ?? []);
    $out['coupon_lines'] = array_map(fn ($i) => array_intersect_key($i, ['code' => 1, 'discount' => 1, 'discount_tax' => 1]), $o['coupon_lines'] ?? []);
    $out['refunds'] = array_map(fn ($i) => array_intersect_key($i, ['amount' => 1, 'date_created' => 1]), $o['refunds'] ?? []);
    return json_encode($out, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
}

$time = function (callable $f) use ($orders, $rounds): float {
    $ok = array_values(array_filter($orders, function ($o) use ($f) {
        try { $f($o); return true; } catch (Throwable) { return false; }
    }));
    $t = hrtime(true);
    for ($i = 0; $i < $rounds; $i++) {
        $f($ok[$i % count($ok)]);
    }
    return (hrtime(true) - $t) / 1e3 / $rounds;
};
$rust = $time(fn ($o) => secure_forward_prepare($o));
$php = $time('php_minimise');
printf("%-44s %8s\n", 'prepare, default policy, 8 fixtures', 'µs/order');
printf("%-44s %8.2f\n", 'secure_forward_prepare() (Rust, validated)', $rust);
printf("%-44s %8.2f\n", 'plain PHP (array_intersect_key+json_encode)', $php);
printf("%-44s %8.2fx\n", 'ratio (PHP / Rust, >1 = Rust faster)', $php / $rust);
