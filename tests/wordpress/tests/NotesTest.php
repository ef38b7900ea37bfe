<?php
/**
 * A private order note per forward result; none with SECURE_FORWARD_ORDER_NOTES = false.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class NotesTest extends TestCase {

	public function test_a_private_note_per_result(): void {
		$o = sf_test_classic_checkout( 'guest-simple' );
		$this->end_request();
		$this->assertSame(
			array(
				array( 'Forwarded order.created to default: delivered (HTTP 200)', 0 ),
				array( 'Forwarded order.processing to default: delivered (HTTP 200)', 0 ),
			),
			\SF_Test_Store::$notes[ $o->get_id() ]
		);
	}

	public function test_queued_note_says_why(): void {
		$this->hold_deliveries();
		$o = \WC_Order::from_fixture( 'guest-simple', false );
		$o->save();
		$this->end_request();
		$note = $this->notes( $o->get_id() )[0];
		$this->assertStringStartsWith( 'Forwarded order.created to ', $note );
		$this->assertStringContainsString( ': queued', $note );
		$this->assertMatchesRegularExpression( '/queued(: | \(HTTP 503\): ).+/', $note, 'with the reason' );
	}

	public function test_an_api_message_in_a_note_is_text_not_markup(): void {
		$o = \WC_Order::from_fixture( 'guest-simple', false );
		$o->save();
		\Secure_Forward_Plugin::note( $o, 'Forwarded order.created to crm: dead (HTTP 422): <a href="https://evil.example/">Log in</a><img src=https://evil.example/p.gif> & more' );
		$note = end( \SF_Test_Store::$notes[ $o->get_id() ] )[0];
		$this->assertSame( 'Forwarded order.created to crm: dead (HTTP 422): &lt;a href=&quot;https://evil.example/&quot;&gt;Log in&lt;/a&gt;&lt;img src=https://evil.example/p.gif&gt; &amp; more', $note );
		$this->assertSame( wp_kses_post( $note ), $note, 'WooCommerce shows it as this text' );
	}

	public function test_notes_can_be_switched_off(): void {
		$cmd  = array( PHP_BINARY, dirname( __DIR__ ) . '/probe-order.php', 'absent' );
		$proc = proc_open( $cmd, array( 1 => array( 'pipe', 'w' ), 2 => array( 'pipe', 'w' ) ), $pipes, null, array_merge( getenv(), array( 'SF_PROBE_NO_NOTES' => '1' ) ) );
		$out  = stream_get_contents( $pipes[1] );
		$err  = stream_get_contents( $pipes[2] );
		$this->assertSame( 0, proc_close( $proc ), $err );
		$lines = array_values( array_filter( explode( "\n", $out ), static fn( $l ) => '{' === substr( $l, 0, 1 ) ) );
		$state = json_decode( end( $lines ), true );
		$this->assertCount( 2, $state['pending'], 'still pending, still logged' );
		$this->assertSame( array(), $state['notes'], 'but no order notes' );
		$this->assertNotEmpty( $state['logs'] );
	}
}
