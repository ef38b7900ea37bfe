<?php
// The PHP child process of tests/residue: sends orders to each of DESTINATIONS
// (comma-separated; three each by default), keeps a deliberate copy of a control secret, says READY and stays
// alive until its stdin closes, so the parent can read its memory.
declare(strict_types=1);

[$_, $fixtures, $destinations, $count] = $argv + [null, null, 'default', '3'];
$control = getenv('SF_CONTROL_FILE');
// The control: a secret PHP itself keeps in a variable (the scanner must find it).
$kept = $control ? trim((string) file_get_contents($control)) : '';

$order = json_decode((string) file_get_contents("$fixtures/order-guest-simple.json"), true, 512, JSON_THROW_ON_ERROR);
// First, a destination whose key comes from key_env (the control for that case);
// the key_file orders come last, so nothing of ours overwrites their buffers.
if (getenv('SF_ENV_DESTINATION')) {
    $order['id'] = 800000 + getmypid();
    $r = secure_forward_order($order, (string) getenv('SF_ENV_DESTINATION'));
    if ($r['status'] !== 'delivered') {
        fwrite(STDERR, "env order: " . json_encode($r) . "\n");
        exit(2);
    }
}
foreach (explode(',', $destinations) as $d => $destination) {
    for ($i = 1; $i <= (int) $count; $i++) {
        $order['id'] = 700000 + getmypid() * 100 + $d * 10 + $i;
        $order['total'] = sprintf('%d.00', 10 + $i);
        $r = secure_forward_order($order, $destination);
        if ($r['status'] !== 'delivered') {
            fwrite(STDERR, "order $i to $destination: " . json_encode($r) . "\n");
            exit(2);
        }
    }
}
echo "READY ", getmypid(), "\n";
fflush(STDOUT);
fgets(STDIN);
echo strlen($kept) > 0 ? "bye\n" : "bye (no control)\n";
