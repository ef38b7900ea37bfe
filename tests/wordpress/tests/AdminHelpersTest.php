<?php
/**
 * Admin helpers that need no extension: "Preview what leaves" shows the exact body (indented
 * only when PHP's JSON round trip gives back the same bytes); an action's notice is shown once.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class AdminHelpersTest extends TestCase {

	public static function setUpBeforeClass(): void {
		parent::setUpBeforeClass();
		require_once WP_PLUGIN_DIR . '/secure-forward/includes/class-secure-forward-order-box.php';
		require_once WP_PLUGIN_DIR . '/secure-forward/includes/class-secure-forward-admin-actions.php';
	}

	public function test_pretty_only_when_nothing_but_whitespace_changes(): void {
		$this->assertSame( "{\n    \"id\": 41,\n    \"s\": \"a/b é\",\n    \"o\": {},\n    \"p\": 39.0\n}", \Secure_Forward_Order_Box::pretty_body( '{"id":41,"s":"a/b é","o":{},"p":39.0}' ) );
		foreach ( array(
			'{"d":12345678901234567890}', // Beyond 64 bits: PHP would write a float.
			'{"p":1e21}',                 // PHP would write 1.0e+21.
			'{"a": 1}',                   // Not compact: shown as it leaves.
			'{"s":"\u00e9"}',             // An escape PHP writes differently.
			'not json',
		) as $body ) {
			$this->assertSame( $body, \Secure_Forward_Order_Box::pretty_body( $body ), $body );
		}
	}

	public function test_the_notice_args_are_not_carried_into_paging_links(): void {
		$this->assertNotContains( 'sf_notice', wp_removable_query_args() );
		\Secure_Forward_Admin::register();
		try {
			$this->assertContains( 'sf_notice', wp_removable_query_args() );
			$this->assertContains( 'sf_count', wp_removable_query_args() );
			$this->assertContains( 'updated', wp_removable_query_args(), "WordPress's own stay" );
			$url = 'http://example.org/wp-admin/admin.php?page=secure-forward&sf_notice=requeued&sf_count=1&paged=2';
			$this->assertSame( 'http://example.org/wp-admin/admin.php?page=secure-forward&paged=2', remove_query_arg( wp_removable_query_args(), $url ) );
		} finally {
			remove_filter( 'removable_query_args', array( 'Secure_Forward_Admin', 'removable_query_args' ) );
			remove_action( 'admin_menu', array( 'Secure_Forward_Admin', 'menu' ), 99 );
			remove_action( 'admin_notices', array( 'Secure_Forward_Admin', 'notices' ) );
			foreach ( array( 'row', 'bulk', 'requeue_all', 'auth_check', 'resend' ) as $a ) {
				remove_action( 'admin_post_secure_forward_' . $a, array( 'Secure_Forward_Admin_Actions', $a ) );
			}
		}
	}
}
