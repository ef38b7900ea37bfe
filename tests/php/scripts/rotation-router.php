<?php
// Router of the long-lived `php -S` server in RotationTest: each request sends one
// fresh order and answers with the receipt and this server's pid.
declare(strict_types=1);

$order = json_decode(file_get_contents(getenv('SF_FIXTURES') . '/order-guest-simple.json'), true, 512, JSON_THROW_ON_ERROR);
$n = (int) ($_GET['n'] ?? 0);
$order['id'] = 500000 + $n;
$order['total'] = sprintf('%d.%02d', 200 + $n, getmypid() % 100);
header('Content-Type: application/json');
try {
    $r = secure_forward_order($order, 'rotating');
    echo json_encode(['pid' => getmypid(), 'receipt' => $r]);
} catch (SecureForward\Exception $e) {
    http_response_code(500);
    echo json_encode(['pid' => getmypid(), 'error' => get_class($e) . ': ' . $e->getMessage()]);
}
