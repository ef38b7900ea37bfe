<?php
// Instruction-count driver for `CALLGRIND=1 make bench-prepare` (see tools/bench-prepare.sh):
// runs one implementation N times over every fixture. Run under callgrind with N and with 0;
// the difference divided by N × fixtures is the cost per order, start-up cancelled out.
// Args: fixtures dir, N, implementation (rust | php-same | php-fast | rust-crm | php-crm), pepper file.
declare(strict_types=1);

require __DIR__ . '/prepare-php.php';
require __DIR__ . '/shape-php.php';

[$dir, $n, $impl, $pepperFile] = [$argv[1], (int) $argv[2], $argv[3], $argv[4]];
$pepper = (string) file_get_contents($pepperFile);
$orders = array_map(fn ($f) => json_decode((string) file_get_contents($f), true), glob("$dir/order-*.json"));
if (str_contains($impl, 'hubspot') || str_contains($impl, 'klaviyo') || str_contains($impl, 'shipstation')) {
    // The plugin mapper's shape: line items carry `price`.
    $orders = array_map('bench_mapped', $orders);
}
$f = match ($impl) {
    'rust' => 'secure_forward_prepare',
    'php-same' => 'php_default_same',
    'php-fast' => 'php_default_fast',
    'rust-crm' => fn ($o) => secure_forward_prepare($o, 'crm'),
    'php-crm' => fn ($o) => php_crm($o, $pepper),
    'php-shipstation' => 'php_shipstation',
    default => fn ($o) => secure_forward_prepare($o, substr($impl, 5)),
};
// One call outside the count, in the N run and the 0 run alike: the first call parses the
// configuration (the cache is per process), which is not a per-order cost.
$f($orders[0]);
for ($i = 0; $i < $n; $i++) {
    foreach ($orders as $o) {
        $f($o);
    }
}
