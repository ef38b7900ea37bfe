<?php
/**
 * Plugin Name: Secure Forward browser test — TEST-ONLY WooCommerce stand-in
 * Description: Loads tests/wordpress/fake-woocommerce.php, fills it with the fixture orders on
 * every request, registers a WooCommerce menu and an HPOS-like order screen
 * (woocommerce_page_wc-orders) that fires add_meta_boxes with the order like WooCommerce's
 * Edit screen, and records wp_mail() (pre_wp_mail) to SF_TEST_MAIL_LOG. Never shipped.
 *
 * @package SecureForward\Tests
 */

if ( ! defined( 'SF_TEST_FAKE_WOOCOMMERCE' ) ) {
	return;
}
require_once SF_TEST_FAKE_WOOCOMMERCE;

foreach ( glob( rtrim( (string) getenv( 'SF_FIXTURES' ), '/' ) . '/order-*.json' ) ?: array() as $sf_fixture ) {
	$sf_raw = json_decode( (string) file_get_contents( $sf_fixture ), true );
	if ( is_array( $sf_raw ) && ! empty( $sf_raw['id'] ) ) {
		SF_Test_Store::$orders[ (int) $sf_raw['id'] ] = $sf_raw;
	}
}
unset( $sf_fixture, $sf_raw );

if ( ! function_exists( 'wc_get_page_screen_id' ) ) {
	/**
	 * Like WooCommerce's wc_get_page_screen_id() with HPOS on.
	 *
	 * @param string $for Page.
	 */
	function wc_get_page_screen_id( $for ) {
		return 'shop-order' === $for ? 'woocommerce_page_wc-orders' : 'woocommerce_page_wc-' . $for;
	}
}

// No update checks against wordpress.org (no network in the tests).
foreach ( array( '_maybe_update_core', '_maybe_update_plugins', '_maybe_update_themes', 'wp_update_plugins', 'wp_update_themes' ) as $sf_cb ) {
	remove_action( 'admin_init', $sf_cb );
}
add_filter( 'pre_site_transient_update_core', static fn() => (object) array( 'last_checked' => time(), 'updates' => array(), 'version_checked' => $GLOBALS['wp_version'] ) );
add_filter( 'pre_site_transient_update_plugins', static fn() => (object) array( 'last_checked' => time(), 'response' => array(), 'checked' => array() ) );
add_filter( 'pre_site_transient_update_themes', static fn() => (object) array( 'last_checked' => time(), 'response' => array(), 'checked' => array() ) );

add_filter(
	'pre_wp_mail',
	static function ( $short, $atts ) {
		if ( defined( 'SF_TEST_MAIL_LOG' ) ) {
			file_put_contents( SF_TEST_MAIL_LOG, wp_json_encode( $atts ) . "\n", FILE_APPEND | LOCK_EX );
		}
		return true;
	},
	10,
	2
);

add_action(
	'admin_menu',
	static function () {
		add_menu_page( 'WooCommerce', 'WooCommerce', 'manage_woocommerce', 'woocommerce', 'sf_test_orders_screen', 'dashicons-cart', '55.5' );
		add_submenu_page( 'woocommerce', 'Orders', 'Orders', 'manage_woocommerce', 'wc-orders', 'sf_test_orders_screen' );
	}
);

/** The orders list, or one order's edit screen with its meta boxes (like WooCommerce's HPOS Edit). */
function sf_test_orders_screen() {
	// phpcs:ignore WordPress.Security.NonceVerification.Recommended
	$id    = isset( $_GET['id'] ) ? absint( $_GET['id'] ) : 0;
	$order = $id ? wc_get_order( $id ) : false;
	if ( ! $order ) {
		echo '<div class="wrap"><h1>Orders</h1><table class="widefat striped"><tbody>';
		foreach ( array_keys( SF_Test_Store::$orders ) as $oid ) {
			printf( '<tr><td><a href="%s">#%d</a></td></tr>', esc_url( admin_url( 'admin.php?page=wc-orders&action=edit&id=' . $oid ) ), (int) $oid );
		}
		echo '</tbody></table></div>';
		return;
	}
	$screen = 'woocommerce_page_wc-orders';
	do_action( 'add_meta_boxes', $screen, $order );
	do_action( 'add_meta_boxes_' . $screen, $order );
	printf( '<div class="wrap"><h1 class="wp-heading-inline">Edit order #%d</h1><hr class="wp-header-end" />', (int) $order->get_id() );
	echo '<form method="post" id="order" action="' . esc_url( admin_url( 'admin.php?page=wc-orders&action=edit&id=' . $order->get_id() ) ) . '">';
	echo '<input type="hidden" name="action" value="edit_order" />';
	echo '<div id="poststuff"><div id="post-body" class="metabox-holder columns-1"><div id="postbox-container-2" class="postbox-container">';
	printf( '<p>Status: <strong>%s</strong></p>', esc_html( $order->get_status() ) );
	do_meta_boxes( $screen, 'normal', $order );
	echo '</div></div></div></form></div>';
}
