<?php
/**
 * PHPUnit bootstrap: loads the real WordPress that run.sh installed (plugin active), with the
 * TEST-ONLY WooCommerce stand-ins and WP-CLI shim, and either the real extension (SF_EXTENSION,
 * loaded by `php -d extension=...`) or the TEST-ONLY fake-extension.php.
 *
 * @package SecureForward\Tests
 */

// wp-settings.php expects to run in global scope; PHPUnit includes this file from a method.
global $wpdb, $wp_version, $wp_db_version, $table_prefix, $current_site, $current_blog, $wp_rewrite,
	$shortcode_tags, $wp, $wp_query, $wp_the_query, $phpmailer, $wp_theme_directories, $wp_filter,
	$wp_actions, $wp_current_filter, $wp_roles, $wp_locale, $pagenow, $wp_object_cache;

if ( getenv( 'SF_EXTENSION' ) ) {
	if ( ! extension_loaded( 'secure_forward' ) ) {
		fwrite( STDERR, "SF_EXTENSION is set but the secure_forward extension is not loaded\n" );
		exit( 1 );
	}
} else {
	require __DIR__ . '/fake-extension.php';
}
require __DIR__ . '/fake-woocommerce.php';
require __DIR__ . '/wp-cli-shim.php';
require __DIR__ . '/load-config.php';
require ABSPATH . 'wp-settings.php';

if ( ! class_exists( 'Secure_Forward_Plugin' ) ) {
	fwrite( STDERR, "the secure-forward plugin was not loaded by WordPress (not active?)\n" );
	exit( 1 );
}
require __DIR__ . '/TestCase.php';
