<?php
/**
 * Uninstall: removes this plugin's options and schedules only. The outbox (owned by the
 * extension and the operator) is left alone on purpose: queued orders may still need delivery.
 *
 * @package SecureForward
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

foreach ( array( 'secure_forward_activated_at', 'secure_forward_plugin_version' ) as $secure_forward_option ) {
	delete_option( $secure_forward_option );
}
wp_clear_scheduled_hook( 'secure_forward_drain_outbox' );
if ( function_exists( 'as_unschedule_all_actions' ) ) {
	as_unschedule_all_actions( 'secure_forward_drain_outbox', array(), 'secure-forward' );
}
