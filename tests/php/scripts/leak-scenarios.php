<?php
// Every scenario the project has, run in a child process by LeakTest with a
// config of its own; prints everything PHP code can see (receipts, exception
// messages and traces, status(), phpinfo()) to stdout, for LeakTest to grep.
declare(strict_types=1);

$order = json_decode(file_get_contents(getenv('SF_FIXTURES') . '/order-pan-in-note.json'), true, 512, JSON_THROW_ON_ERROR);
$order['id'] = (int) getenv('SF_LEAK_ORDER_ID');
$order['total'] = sprintf('%d.00', 1000 + $order['id'] % 1000);

/** A user function taking the order, as a shop's code would: its frame is in every trace. */
function send_to(array $order, string $destination, string $event = 'order.updated'): array
{
    return secure_forward_order($order, $destination, $event);
}

function show(string $label, callable $f): void
{
    try {
        echo "== $label\n", json_encode($f()), "\n";
    } catch (Throwable $e) {
        echo "== $label threw ", get_class($e), "\n", $e->getMessage(), "\n", $e->getTraceAsString(), "\n",
            (string) $e, "\n", print_r($e->getTrace(), true), "\n";
    }
}

$note = $order;
$note['customer_note'] = 'call me on ' . $order['billing']['phone'];
show('delivered', fn () => send_to($note, 'pii'));
show('retried', fn () => send_to($order, 's503'));
show('flush (retry exhausted: dead)', fn () => secure_forward_flush(10, 5.0));
show('dead-lettered', fn () => send_to($order, 's401'));
show('tls failure', fn () => send_to($order, 'untrusted'));
$bad = $order;
$bad['total'] = $order['billing']['email'];
show('validation refusal (email in a money field)', fn () => send_to($bad, 'pii'));
show('validation refusal (event name)', fn () => send_to($order, 'pii', $order['billing']['email']));
show('card-number refusal', fn () => send_to($order, 'notes'));
show('prepare refusal', fn () => secure_forward_prepare($order, 'notes'));
show('unknown destination', fn () => send_to($order, 'nowhere'));
show('status', fn () => secure_forward_status());
show('purge', fn () => secure_forward_purge($order['id']));
show('policy', fn () => secure_forward_policy('pii'));
ob_start();
phpinfo(INFO_MODULES);
echo "== phpinfo\n", ob_get_clean(), "\n";
