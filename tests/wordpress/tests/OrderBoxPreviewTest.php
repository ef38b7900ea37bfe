<?php
/**
 * "Preview what leaves" shows the exact body: indented only when PHP's JSON round trip gives
 * back the same bytes (known answers; no extension needed).
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class OrderBoxPreviewTest extends TestCase {

	public static function setUpBeforeClass(): void {
		parent::setUpBeforeClass();
		require_once WP_PLUGIN_DIR . '/secure-forward/includes/class-secure-forward-order-box.php';
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
}
