<?php
// make bench-prepare: µs per order for secure_forward_prepare() versus the same policy written in
// plain PHP, on every fixture, for two policies:
//   default  the built-in default policy (no config policy section);
//   crm      a small allowlist with a pseudonymised email (HMAC-SHA256 with the pepper) and a
//            masked phone: the array_intersect_key + hash_hmac + json_encode approach.
// Each PHP version is checked to produce byte-for-byte the body Rust produces first, so the
// comparison is like for like; for the default policy the fastest PHP (array_intersect_key, which
// keeps the input's key order and so does NOT give the same bytes) is shown too.
// Needs the extension loaded and a config with [destinations.default] (no policy) and
// [destinations.crm] as written by tools/bench-prepare.sh. Prints; never fails on a figure.
declare(strict_types=1);

$dir = $argv[1] ?? __DIR__ . '/../tests/fixtures/woocommerce-10.0.2';
$rounds = (int) ($argv[2] ?? 20000);
$pepper = (string) file_get_contents((string) ($argv[3] ?? getenv('SF_BENCH_PEPPER')));
$orders = array_map(fn ($f) => json_decode(file_get_contents($f), true), glob("$dir/order-*.json"));

require __DIR__ . '/prepare-php.php';

$variants = [
    'default' => [
        'rust' => fn ($o) => secure_forward_prepare($o),
        'php (same bytes)' => 'php_default_same',
        'php (array_intersect_key, other key order)' => 'php_default_fast',
    ],
    'crm' => [
        'rust' => fn ($o) => secure_forward_prepare($o, 'crm'),
        'php (same bytes, hash_hmac)' => fn ($o) => php_crm($o, $pepper),
    ],
];

printf("%-8s %-44s %9s %8s\n", 'policy', 'implementation', 'µs/order', 'PHP/Rust');
foreach ($variants as $policy => $impls) {
    // The fixtures the policy accepts (one carries a card number in a field the crm policy drops,
    // so it passes; none is refused by these two policies, but keep the check honest).
    $ok = [];
    foreach ($orders as $o) {
        try { $impls['rust']($o); $ok[] = $o; } catch (Throwable) {}
    }
    $same = true;
    $twin = array_values(array_filter(array_keys($impls), fn ($k) => str_contains($k, 'same')))[0];
    foreach ($ok as $o) {
        $same = $same && $impls[$twin]($o) === $impls['rust']($o);
    }
    // Interleaved rounds, best of five: the machine may be busy; the minimum is the least disturbed.
    $best = array_fill_keys(array_keys($impls), INF);
    for ($r = 0; $r < 5; $r++) {
        foreach ($impls as $name => $f) {
            $t = hrtime(true);
            for ($i = 0, $n = count($ok); $i < $rounds; $i++) {
                $f($ok[$i % $n]);
            }
            $best[$name] = min($best[$name], (hrtime(true) - $t) / 1e3 / $rounds);
        }
    }
    foreach ($best as $name => $us) {
        $ratio = $name === 'rust' ? '' : sprintf('%.2fx', $us / $best['rust']);
        printf("%-8s %-44s %9.2f %8s\n", $policy, $name, $us, $ratio);
    }
    printf("%-8s %-44s %9s\n", '', 'PHP output identical to Rust', $same ? 'yes' : 'NO');
}
echo "goal: PHP/Rust >= 2.00x (issue #3); figures are wall-clock, best of 5 interleaved rounds\n";
