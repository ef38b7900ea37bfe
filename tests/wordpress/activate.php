<?php
/**
 * Activates the plugin the way wp-admin does (activate_plugin(), which runs the activation
 * hook), in a normal (non-installing) WordPress request. Run by run.sh in its own process.
 *
 * @package SecureForward\Tests
 */

require __DIR__ . '/load-config.php';
require ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

$r = activate_plugin( 'secure-forward/secure-forward.php', '', false, false );
if ( is_wp_error( $r ) ) {
	fwrite( STDERR, 'activation failed: ' . $r->get_error_message() . "\n" );
	exit( 1 );
}
echo "secure-forward activated\n";
