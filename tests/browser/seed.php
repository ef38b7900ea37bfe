<?php
/**
 * Seeds the browser test: a shop manager and a subscriber (random passwords), one delivered
 * event (order 42 → default) and one dead letter (order 41 → flaky, whose receiver path answers
 * 422 first). Prints JSON for test_admin.py.
 *
 * @package SecureForward\Tests
 */

require getenv( 'SF_WP_CONFIG' );
$_SERVER['HTTP_HOST'] = parse_url( WP_HOME, PHP_URL_HOST ) . ':' . parse_url( WP_HOME, PHP_URL_PORT );
require ABSPATH . 'wp-settings.php';

// WooCommerce's shop manager role, as WooCommerce installs it (the capabilities these screens need).
add_role(
	'shop_manager',
	'Shop manager',
	array(
		'read'                 => true,
		'manage_woocommerce'   => true,
		'view_admin_dashboard' => true,
	)
);
$users = array();
foreach ( array( 'manager' => 'shop_manager', 'subscriber' => 'subscriber' ) as $login => $role ) {
	$pass = wp_generate_password( 24, false );
	$id   = wp_insert_user(
		array(
			'user_login' => 'sf_' . $login,
			'user_pass'  => $pass,
			'user_email' => $login . '@example.org',
			'role'       => $role,
		)
	);
	if ( is_wp_error( $id ) ) {
		fwrite( STDERR, $id->get_error_message() . "\n" );
		exit( 1 );
	}
	$users[ $login ] = array(
		'user' => 'sf_' . $login,
		'pass' => $pass,
	);
}

// As the plugin forwards: this site's id with each event (the screens list this site's events).
$site = method_exists( 'Secure_Forward_Plugin', 'site' ) ? array( 'site' => Secure_Forward_Plugin::site() ) : array();
$ok   = secure_forward_order( Secure_Forward_Mapper::map( wc_get_order( 42 ), 'default' ), 'default', 'order.processing', ...( $site ? array( $site ) : array() ) );
$dead = secure_forward_order( Secure_Forward_Mapper::map( wc_get_order( 41 ), 'flaky' ), 'flaky', 'order.processing', ...( $site ? array( $site ) : array() ) );
if ( 'delivered' !== $ok['status'] || 'dead' !== $dead['status'] || 422 !== $dead['http_status'] ) {
	fwrite( STDERR, 'unexpected receipts: ' . wp_json_encode( array( $ok, $dead ) ) . "\n" );
	exit( 1 );
}
echo wp_json_encode(
	array(
		'users'         => $users,
		'dead_event_id' => $dead['event_id'],
		'dead_order_id' => 41,
		'ok_event_id'   => $ok['event_id'],
	)
), "\n";
