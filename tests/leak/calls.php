<?php
// make test-leak: a few thousand calls of every kind in one PHP process, under
// valgrind. argv: fixtures dir, rounds, webhook key file (raw bytes).
declare(strict_types=1);

[$_, $fixtures, $rounds, $whKeyFile] = $argv;
$whKey = (string) file_get_contents($whKeyFile);
$order = json_decode((string) file_get_contents("$fixtures/order-guest-simple.json"), true, 512, JSON_THROW_ON_ERROR);
$pan = json_decode((string) file_get_contents("$fixtures/order-pan-in-note.json"), true, 512, JSON_THROW_ON_ERROR);
$counts = [];
$count = function (string $what) use (&$counts): void { $counts[$what] = ($counts[$what] ?? 0) + 1; };
$expectThrow = function (string $what, callable $f) use ($count): void {
    try {
        $f();
        $count("$what: no exception");
    } catch (Throwable $e) {
        $count("$what: " . get_class($e));
    }
};
$base = getmypid() * 100000;
for ($i = 0; $i < (int) $rounds; $i++) {
    $o = $order;
    $o['id'] = $base + $i;
    $o['total'] = sprintf('%d.%02d', 10 + intdiv($i, 100), $i % 100);
    $count('order ' . secure_forward_order($o)['status']);
    $count('prepare ' . (strlen(secure_forward_prepare($o)) > 0 ? 'ok' : 'empty'));
    $expectThrow('invalid event', fn () => secure_forward_order($o, 'default', 'bad event'));
    $expectThrow('invalid order', fn () => secure_forward_prepare(['id' => ['nested' => str_repeat("\xff", 40)]]));
    $expectThrow('unknown destination', fn () => secure_forward_prepare($o, 'nope'));
    $expectThrow('card number', fn () => secure_forward_prepare($pan));
    $body = json_encode(['type' => 'order.updated', 'n' => $i]);
    $id = "msg_$base$i";
    $ts = (string) time();
    $sig = 'v1,' . base64_encode(hash_hmac('sha256', "$id.$ts.$body", $whKey, true));
    $h = ['webhook-id' => $id, 'webhook-timestamp' => $ts, 'webhook-signature' => $sig];
    $count('webhook ' . (secure_forward_verify_webhook($body, $h)['n'] === $i ? 'ok' : 'wrong'));
    $expectThrow('webhook forged', fn () => secure_forward_verify_webhook($body, ['webhook-id' => "x$id"] + $h));
}
secure_forward_status();
ksort($counts);
foreach ($counts as $k => $n) {
    echo "  $k: $n\n";
}
