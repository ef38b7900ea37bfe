<?php
/**
 * A separate WordPress process for what can't be tested in the PHPUnit process:
 *   php probe.php site-health   — Site Health results + admin notice (run WITHOUT the extension)
 *   php probe.php events        — Secure_Forward_Plugin::events() (SF_PROBE_EVENTS → SECURE_FORWARD_EVENTS)
 *   php probe.php action-scheduler — scheduling when Action Scheduler is present (TEST-ONLY
 *                                 recording as_* stand-ins and WooCommerce stand-ins)
 * Prints JSON.
 *
 * @package SecureForward\Tests
 */

if ( false !== getenv( 'SF_PROBE_EVENTS' ) ) {
	$sf_events = getenv( 'SF_PROBE_EVENTS' );
	define( 'SECURE_FORWARD_EVENTS', '[' === substr( $sf_events, 0, 1 ) ? json_decode( $sf_events, true ) : $sf_events );
}
$sf_what = $argv[1] ?? '';
if ( 'action-scheduler' === $sf_what ) {
	// TEST-ONLY stand-ins for Action Scheduler's public functions (single actions).
	$GLOBALS['sf_as'] = array();
	function as_next_scheduled_action( $hook, $args = null, $group = '' ) {
		foreach ( $GLOBALS['sf_as'] as $a ) {
			if ( $a['hook'] === $hook && $a['group'] === $group ) {
				return $a['timestamp'];
			}
		}
		return false;
	}
	function as_has_scheduled_action( $hook, $args = null, $group = '' ) {
		return false !== as_next_scheduled_action( $hook, $args, $group );
	}
	function as_schedule_single_action( $timestamp, $hook, $args = array(), $group = '', $unique = false ) {
		$delay              = $timestamp - time();
		$GLOBALS['sf_as'][] = compact( 'timestamp', 'delay', 'hook', 'args', 'group' );
		return count( $GLOBALS['sf_as'] );
	}
	function as_unschedule_all_actions( $hook, $args = array(), $group = '' ) {
		$GLOBALS['sf_as'] = array_values( array_filter( $GLOBALS['sf_as'], static fn( $a ) => ! ( $a['hook'] === $hook && $a['group'] === $group ) ) );
	}
	require __DIR__ . '/fake-woocommerce.php';
}
require __DIR__ . '/load-config.php';
require ABSPATH . 'wp-settings.php';
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
	// A shop manager (WooCommerce's role: manage_woocommerce, not manage_options) sees it too.
	add_role( 'sf_test_shop_manager', 'Shop manager', array( 'read' => true, 'manage_woocommerce' => true ) );
	$sf_manager = wp_insert_user( array( 'user_login' => 'sf_manager_' . getmypid(), 'user_pass' => wp_generate_password(), 'role' => 'sf_test_shop_manager' ) );
	wp_set_current_user( $sf_manager );
	ob_start();
	do_action( 'admin_notices' );
	$sf_out['admin_notices_shop_manager'] = ob_get_clean();
	require_once ABSPATH . 'wp-admin/includes/user.php';
	wp_delete_user( $sf_manager );
	remove_role( 'sf_test_shop_manager' );
	wp_set_current_user( 1 );
	$sf_out['dispatch']      = Secure_Forward_Plugin::instance()->forward( 1, 'order.processing', null );
	try {
		Secure_Forward_CLI::status();
		$sf_out['cli'] = 'no error';
	} catch ( Throwable $e ) {
		$sf_out['cli'] = $e->getMessage();
	}
} elseif ( 'action-scheduler' === $sf_what ) {
	do_action( 'action_scheduler_init' );
	wp_clear_scheduled_hook( Secure_Forward_Plugin::DRAIN_HOOK );
	$sf_out['at_load'] = $GLOBALS['sf_as'];
	$sf_order          = WC_Order::from_fixture( 'guest-simple', false );
	$sf_order->save(); // order.created → a pending row → the drain is scheduled.
	$sf_out['after_record'] = $GLOBALS['sf_as'];
	Secure_Forward_Plugin::instance()->reset_request_state();
	$sf_order = WC_Order::from_fixture( 'unicode-jp', false );
	$sf_order->save();
	$sf_out['after_second_record'] = $GLOBALS['sf_as'];
	$sf_out['wp_cron']             = (bool) wp_next_scheduled( Secure_Forward_Plugin::DRAIN_HOOK );
	Secure_Forward_Plugin::deactivate();
	$sf_out['after_deactivate'] = $GLOBALS['sf_as'];
	Secure_Forward_Plugin::instance()->reset_request_state();
	Secure_Forward_Pending::clear(); // Leave the shared test DB as it was.
} elseif ( 'events' === $sf_what ) {
	$sf_out['events'] = Secure_Forward_Plugin::events();
}
echo json_encode( $sf_out ), "\n";
