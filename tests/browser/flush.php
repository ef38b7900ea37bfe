<?php
/**
 * The scheduled drain, as WP-Cron / Action Scheduler runs it (the flush, then the alerts),
 * in its own process; prints the flush counts as JSON.
 *
 * @package SecureForward\Tests
 */

$sf_config = getenv( 'SF_WP_CONFIG' );
require $sf_config;
$_SERVER['HTTP_HOST'] = parse_url( WP_HOME, PHP_URL_HOST ) . ':' . parse_url( WP_HOME, PHP_URL_PORT );
require ABSPATH . 'wp-settings.php';

$sf_result = null;
add_action(
	Secure_Forward_Plugin::DRAIN_HOOK,
	static function () use ( &$sf_result ) {
		$sf_result = Secure_Forward_Plugin::drain();
	},
	5
);
remove_action( Secure_Forward_Plugin::DRAIN_HOOK, array( 'Secure_Forward_Plugin', 'drain' ) );
do_action( Secure_Forward_Plugin::DRAIN_HOOK );
echo wp_json_encode( $sf_result ), "\n";
