<?php
/**
 * A separate WordPress request that takes an order and then dies in a way the PHPUnit process
 * can't (run by DurabilityTest):
 *   php probe-order.php absent — the extension is not loaded in this request (run without it);
 *   php probe-order.php fatal  — a shutdown callback of "another plugin" (priority 10, before
 *                                this plugin's forward at 1000) dies with a fatal error.
 * Both take a paid classic-checkout order. The request's order store (the WooCommerce stand-in
 * keeps orders in memory) is printed as JSON — at exit for `absent`, just before the fatal for
 * `fatal` — so the test process can load it and run the drain: the pending rows this request
 * wrote to the real database are what must survive.
 * SF_PROBE_FAKE_EXT=1 loads the TEST-ONLY fake extension (the suite without SF_EXTENSION);
 * SF_PROBE_NO_NOTES=1 defines SECURE_FORWARD_ORDER_NOTES as false.
 *
 * @package SecureForward\Tests
 */

$sf_what = $argv[1] ?? '';
if ( getenv( 'SF_PROBE_NO_NOTES' ) ) {
	define( 'SECURE_FORWARD_ORDER_NOTES', false ); // As a shop would in wp-config.php.
}
if ( 'fatal' === $sf_what && getenv( 'SF_PROBE_FAKE_EXT' ) ) {
	require __DIR__ . '/fake-extension.php';
}
require __DIR__ . '/fake-woocommerce.php';
require __DIR__ . '/load-config.php';
require ABSPATH . 'wp-settings.php';

/** What the test process needs from this request. */
function sf_probe_state(): string {
	return json_encode(
		array(
			'extension' => function_exists( 'secure_forward_order' ),
			'orders'    => SF_Test_Store::$orders,
			'next_id'   => SF_Test_Store::$next_id,
			'notes'     => SF_Test_Store::$notes,
			'logs'      => array_column( SF_Test_Store::$logs, 1 ),
			'pending'   => Secure_Forward_Pending::all(),
		)
	) . "\n";
}

SF_Test_Store::$next_id = 900000 + getmypid() % 1000 * 100; // Ids the test process has not used.
$sf_order               = sf_test_classic_checkout( 'guest-simple' );

if ( 'fatal' === $sf_what ) {
	add_action(
		'shutdown',
		static function () {
			echo sf_probe_state(); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped
			sf_probe_no_such_function(); // Fatal error: the rest of shutdown never runs.
		},
		10
	);
} else {
	register_shutdown_function(
		static function () {
			echo sf_probe_state(); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped
		}
	);
}
