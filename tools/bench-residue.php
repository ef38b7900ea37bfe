<?php
// tools/bench-residue.sh's workload: ROUNDS calls of one kind after a warm-up.
// argv: fixtures dir, kind (order | prepare), rounds. Prints µs per call (wall clock).
declare(strict_types=1);

[$_, $fixtures, $kind, $rounds] = $argv;
$order = json_decode((string) file_get_contents("$fixtures/order-guest-simple.json"), true, 512, JSON_THROW_ON_ERROR);
$base = getmypid() * 1000000;
$call = match ($kind) {
    'order' => function (int $i) use ($order, $base): void {
        $order['id'] = $base + $i;
        $r = secure_forward_order($order);
        if ($r['status'] !== 'delivered') {
            fwrite(STDERR, json_encode($r) . "\n");
            exit(2);
        }
    },
    'prepare' => fn (int $i) => secure_forward_prepare($order),
    // Loads the key (from key_file) and drops it: the per-send key path without the network.
    'key' => fn (int $i) => secure_forward_auth_check(),
};
for ($i = 0; $i < 20; $i++) {
    $call(-1 - $i); // warm-up: agent, connection, caches
}
$t = hrtime(true);
for ($i = 0; $i < (int) $rounds; $i++) {
    $call($i);
}
printf("%.1f\n", (hrtime(true) - $t) / 1000 / max(1, (int) $rounds));
