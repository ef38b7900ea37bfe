<?php
/**
 * A separate WordPress process for what can't be tested in the PHPUnit process:
 *   php probe.php site-health   — Site Health results + admin notice (run WITHOUT the extension)
 *   php probe.php events        — Secure_Forward_Plugin::events() (SF_PROBE_EVENTS → SECURE_FORWARD_EVENTS)
 * Prints JSON.
 *
 * @package SecureForward\Tests
 */

if ( false !== getenv( 'SF_PROBE_EVENTS' ) ) {
	$sf_events = getenv( 'SF_PROBE_EVENTS' );
	define( 'SECURE_FORWARD_EVENTS', '[' === substr( $sf_events, 0, 1 ) ? json_decode( $sf_events, true ) : $sf_events );
}
require __DIR__ . '/load-config.php';
require ABSPATH . 'wp-settings.php';

$sf_what = $argv[1] ?? '';
$sf_out  = array(
	'extension_loaded' => extension_loaded( 'secure_forward' ),
	'functions'        => function_exists( 'secure_forward_order' ),
	'plugin_loaded'    => class_exists( 'Secure_Forward_Plugin' ),
);
if ( 'site-health' === $sf_what ) {
	wp_set_current_user( 1 );
	$sf_out['results'] = Secure_Forward_Site_Health::run_all();
	ob_start();
	do_action( 'admin_notices' );
	$sf_out['admin_notices'] = ob_get_clean();
	$sf_out['dispatch']      = Secure_Forward_Plugin::instance()->forward( 1, 'order.processing', null );
} elseif ( 'events' === $sf_what ) {
	$sf_out['events'] = Secure_Forward_Plugin::events();
}
echo json_encode( $sf_out ), "\n";
