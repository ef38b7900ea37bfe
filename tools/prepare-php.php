<?php
// The policies of tools/bench-prepare.sh written in plain PHP, shared by
// tools/bench-prepare.php (wall clock) and tools/callgrind-prepare.php (instructions).
declare(strict_types=1);

/** Copies `$keys` of `$a` that exist, in `$keys` order (the policy's field order). */
function pick(array $a, array $keys): array
{
    $out = [];
    foreach ($keys as $k) {
        if (array_key_exists($k, $a)) {
            $out[$k] = $a[$k];
        }
    }
    return $out;
}

const TOP = ['id', 'number', 'status', 'currency', 'total', 'subtotal', 'total_tax', 'shipping_total',
    'discount_total', 'date_created', 'date_paid', 'date_completed', 'payment_method', 'prices_include_tax'];
const ITEM = ['product_id', 'variation_id', 'sku', 'name', 'quantity', 'subtotal', 'total', 'total_tax'];
const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR;

/** The built-in default policy in plain PHP, same bytes as Rust (policy key order). */
function php_default_same(array $o): string
{
    $out = pick($o, TOP);
    if (isset($o['billing']) && array_key_exists('country', $o['billing'])) {
        $out['billing'] = ['country' => $o['billing']['country']];
    }
    foreach ([
        'line_items' => ITEM,
        'shipping_lines' => ['method_id', 'method_title', 'total', 'total_tax'],
        'fee_lines' => ['name', 'total', 'total_tax'],
        'coupon_lines' => ['code', 'discount', 'discount_tax'],
        'refunds' => ['amount', 'date_created'],
    ] as $list => $keys) {
        if (isset($o[$list])) {
            $out[$list] = array_map(fn ($i) => pick($i, $keys), $o[$list]);
        }
    }
    // refund.created's refund (never its reason), as the default policy selects it.
    if (isset($o['refund'])) {
        $r = pick($o['refund'], ['id', 'amount', 'date_created', 'refunded_payment']);
        if (isset($o['refund']['line_items'])) {
            $r['line_items'] = array_map(fn ($i) => pick($i, ['product_id', 'sku', 'quantity', 'total']), $o['refund']['line_items']);
        }
        $out['refund'] = $r;
    }
    return json_encode($out, JSON_FLAGS);
}

/** The default policy the fastest way PHP has (keeps input key order: not the same bytes). */
function php_default_fast(array $o): string
{
    static $top = null, $item = null;
    $top ??= array_flip(TOP);
    $item ??= array_flip(ITEM);
    $out = array_intersect_key($o, $top);
    $out['billing'] = ['country' => $o['billing']['country'] ?? null];
    $out['line_items'] = array_map(fn ($i) => array_intersect_key($i, $item), $o['line_items'] ?? []);
    $out['shipping_lines'] = array_map(fn ($i) => array_intersect_key($i, ['method_id' => 1, 'method_title' => 1, 'total' => 1, 'total_tax' => 1]), $o['shipping_lines'] ?? []);
    $out['fee_lines'] = array_map(fn ($i) => array_intersect_key($i, ['name' => 1, 'total' => 1, 'total_tax' => 1]), $o['fee_lines'] ?? []);
    $out['coupon_lines'] = array_map(fn ($i) => array_intersect_key($i, ['code' => 1, 'discount' => 1, 'discount_tax' => 1]), $o['coupon_lines'] ?? []);
    $out['refunds'] = array_map(fn ($i) => array_intersect_key($i, ['amount' => 1, 'date_created' => 1]), $o['refunds'] ?? []);
    if (isset($o['refund'])) {
        $out['refund'] = array_intersect_key($o['refund'], ['id' => 1, 'amount' => 1, 'date_created' => 1, 'refunded_payment' => 1]);
        $out['refund']['line_items'] = array_map(fn ($i) => array_intersect_key($i, ['product_id' => 1, 'sku' => 1, 'quantity' => 1, 'total' => 1]), $o['refund']['line_items'] ?? []);
    }
    return json_encode($out, JSON_FLAGS);
}

/** The crm policy (see tools/bench-prepare.sh) in plain PHP: same bytes as Rust. */
function php_crm(array $o, string $pepper): string
{
    $out = pick($o, ['id', 'number', 'status', 'currency', 'total']);
    $b = $o['billing'] ?? [];
    $billing = pick($b, ['country']);
    if (isset($b['email'])) {
        $billing['email'] = hash_hmac('sha256', strtolower(trim((string) $b['email'])), $pepper);
    }
    if (isset($b['phone'])) {
        $p = (string) $b['phone'];
        $n = mb_strlen($p);
        $billing['phone'] = str_repeat('*', max(0, $n - 2)) . mb_substr($p, max(0, $n - 2));
    }
    if ($billing) {
        $out['billing'] = $billing;
    }
    if (isset($o['line_items'])) {
        $out['line_items'] = array_map(fn ($i) => pick($i, ['sku', 'quantity', 'total']), $o['line_items']);
    }
    return json_encode($out, JSON_FLAGS);
}
