<?php
/**
 * Installs WordPress (Debian's package, ABSPATH=/usr/share/wordpress/) into the throw-away DB.
 * Run by run.sh in its own process.
 *
 * @package SecureForward\Tests
 */

define( 'WP_INSTALLING', true );
require __DIR__ . '/load-config.php';
require ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

if ( is_blog_installed() ) {
	echo "WordPress already installed\n";
	exit( 0 );
}
add_filter( 'pre_wp_mail', '__return_false' ); // No MTA needed for the install notice.
$result = wp_install( 'Secure Forward Test Shop', 'admin', 'admin@example.org', false, '', 'admin-password-not-used' );
if ( empty( $result['user_id'] ) ) {
	fwrite( STDERR, "wp_install failed\n" );
	exit( 1 );
}
echo 'WordPress ', $GLOBALS['wp_version'], " installed\n";
