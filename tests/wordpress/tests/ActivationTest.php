<?php
/**
 * Activation, hooks, compatibility declarations, deactivation, uninstall.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class ActivationTest extends TestCase {

	public function test_plugin_is_active_in_real_wordpress(): void {
		require_once ABSPATH . 'wp-admin/includes/plugin.php';
		$this->assertTrue( is_plugin_active( 'secure-forward/secure-forward.php' ) );
		$this->assertContains( 'secure-forward/secure-forward.php', get_option( 'active_plugins' ) );
		$this->assertGreaterThan( 0, (int) get_option( 'secure_forward_activated_at' ), 'activation hook ran' );
		$this->assertSame( SECURE_FORWARD_PLUGIN_VERSION, get_option( 'secure_forward_plugin_version' ) );
		$this->assertInstanceOf( \wpdb::class, $GLOBALS['wpdb'] );
		$this->assertStringContainsString( 'MariaDB', $GLOBALS['wpdb']->get_var( 'SELECT VERSION()' ) . ' ' . $GLOBALS['wpdb']->db_server_info() );
	}

	public function test_plugin_header(): void {
		require_once ABSPATH . 'wp-admin/includes/plugin.php';
		$file = WP_PLUGIN_DIR . '/secure-forward/secure-forward.php';
		$h    = get_file_data(
			$file,
			array(
				'name'   => 'Plugin Name',
				'php'    => 'Requires PHP',
				'needs'  => 'Requires Plugins',
				'lic'    => 'License',
				'wc_min' => 'WC requires at least',
				'wc_max' => 'WC tested up to',
			)
		);
		$this->assertNotSame( '', $h['name'] );
		$this->assertSame( '8.2', $h['php'], 'what the extension builds for' );
		$this->assertSame( 'woocommerce', $h['needs'] );
		$this->assertSame( 'MIT', $h['lic'], 'the licence of Cargo.toml and LICENSE' );
		$this->assertSame( '8.0', $h['wc_min'] );
		$this->assertMatchesRegularExpression( '/^10\./', $h['wc_max'] );
	}

	public function test_order_hooks_registered(): void {
		$p = \Secure_Forward_Plugin::instance();
		$this->assertNotFalse( has_action( 'woocommerce_order_status_changed', array( $p, 'on_status_changed' ) ) );
		$this->assertNotFalse( has_action( 'woocommerce_order_refunded', array( $p, 'on_refunded' ) ) );
		$this->assertNotFalse( has_action( 'woocommerce_payment_complete', array( $p, 'on_current_status' ) ) );
		$this->assertNotFalse( has_action( 'woocommerce_checkout_order_processed', array( $p, 'on_current_status' ) ) );
		$this->assertNotFalse( has_action( 'woocommerce_store_api_checkout_order_processed', array( $p, 'on_current_status' ) ) );
		foreach ( array( 'processing', 'completed', 'cancelled', 'refunded' ) as $s ) {
			$this->assertNotFalse( has_action( 'woocommerce_order_status_' . $s, array( $p, 'on_status' ) ), $s );
		}
	}

	public function test_declares_hpos_and_blocks_compatibility(): void {
		\Automattic\WooCommerce\Utilities\FeaturesUtil::$declared = array();
		do_action( 'before_woocommerce_init' );
		$file = WP_PLUGIN_DIR . '/secure-forward/secure-forward.php';
		$this->assertContains( array( 'custom_order_tables', $file, true ), \Automattic\WooCommerce\Utilities\FeaturesUtil::$declared );
		$this->assertContains( array( 'cart_checkout_blocks', $file, true ), \Automattic\WooCommerce\Utilities\FeaturesUtil::$declared );
	}

	public function test_deactivate_and_uninstall_remove_only_own_options_and_schedules(): void {
		require_once ABSPATH . 'wp-admin/includes/plugin.php';
		$this->assertNotFalse( wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ) );
		$before = secure_forward_status();

		deactivate_plugins( 'secure-forward/secure-forward.php' );
		$this->assertFalse( wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ), 'deactivation stops the drain' );

		// Uninstall as WordPress does it (uninstall.php with WP_UNINSTALL_PLUGIN).
		update_option( 'unrelated_option', 'stays' );
		if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
			define( 'WP_UNINSTALL_PLUGIN', 'secure-forward/secure-forward.php' );
		}
		include WP_PLUGIN_DIR . '/secure-forward/uninstall.php';
		$this->assertFalse( get_option( 'secure_forward_activated_at' ) );
		$this->assertFalse( get_option( 'secure_forward_plugin_version' ) );
		$this->assertSame( 'stays', get_option( 'unrelated_option' ) );
		$this->assertFalse( wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ) );
		$after = secure_forward_status();
		foreach ( array( 'queued', 'dead', 'delivered' ) as $k ) {
			$this->assertSame( $before[ $k ], $after[ $k ], "uninstall leaves the outbox alone ($k)" );
		}

		// Re-activate for the other tests (runs the activation hook again).
		$r = activate_plugin( 'secure-forward/secure-forward.php' );
		$this->assertNull( $r );
		$this->assertGreaterThan( 0, (int) get_option( 'secure_forward_activated_at' ) );
		$this->assertNotFalse( wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ) );
	}

	public function test_update_from_an_older_version_without_reactivation(): void {
		global $wpdb;
		// What 0.1.0 left: no pending table, a recurring every-minute drain.
		\Secure_Forward_Pending::drop();
		\Secure_Forward_Plugin::clear_schedule();
		wp_schedule_event( time(), \Secure_Forward_Plugin::CRON_SCHEDULE, \Secure_Forward_Plugin::DRAIN_HOOK );
		$this->assertNull( $wpdb->get_var( $wpdb->prepare( 'SHOW TABLES LIKE %s', \Secure_Forward_Pending::table() ) ) );

		$before = $wpdb->num_queries;
		\Secure_Forward_Plugin::instance()->register_status_hooks();
		$this->assertSame( $before, $wpdb->num_queries, 'a page load still queries nothing' );

		$o = sf_test_classic_checkout( 'guest-simple' ); // The first order after the update.
		$this->assertSame( \Secure_Forward_Pending::table(), $wpdb->get_var( $wpdb->prepare( 'SHOW TABLES LIKE %s', \Secure_Forward_Pending::table() ) ) );
		$this->assertCount( 2, \Secure_Forward_Pending::all(), 'recorded durably' );
		$event = wp_get_scheduled_event( \Secure_Forward_Plugin::DRAIN_HOOK );
		$this->assertFalse( $event->schedule, 'the recurring drain replaced by a single one' );
		$this->end_request();
		$this->assertSame( array( 'order.created', 'order.processing' ), $this->sent_events() );
		$this->assertSame( $o->get_id(), $this->sent()[0]['order_id'] );
	}
}
