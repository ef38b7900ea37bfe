<?php
/**
 * Fan-out by configuration (#18): every destination whose `events` include an event receives
 * it, with no PHP written; a destination without `events` takes the plugin's events; the
 * `secure_forward_destinations` filter still applies on top.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class FanOutTest extends TestCase {

	public function test_configured_destinations_receive_their_events_without_php(): void {
		if ( self::fake() ) {
			$this->markTestSkipped( 'needs the real extension (secure_forward_destinations)' );
		}
		$o = sf_test_classic_checkout( 'guest-simple' );
		$this->end_request();
		\Secure_Forward_Plugin::instance()->reset_request_state();
		$this->mark();
		// run.sh: default (no events), erp [order.manual], crm [order.manual, order.shipped], down [order.never].
		$this->assertSame( array( 'default' ), \Secure_Forward_Plugin::destinations( $o, 'order.processing' ) );
		$this->assertSame( array( 'crm', 'erp' ), \Secure_Forward_Plugin::destinations( $o, 'order.manual' ) );
		$this->assertSame( array( 'crm' ), \Secure_Forward_Plugin::destinations( $o, 'order.shipped' ) );
		$this->assertTrue( \Secure_Forward_Plugin::event_enabled( 'order.shipped' ), 'a destination\'s own event is enabled' );
		$this->assertFalse( \Secure_Forward_Plugin::event_enabled( 'order.nothing' ) );
		$receipts = \Secure_Forward_Plugin::instance()->forward( $o->get_id(), 'order.manual' );
		$this->assertCount( 2, $receipts );
		$this->assertSame( array( 'delivered', 'delivered' ), array_column( $receipts, 'status' ) );
		$this->assertNotSame( $receipts[0]['event_id'], $receipts[1]['event_id'] );
		$this->assertSame( array( 'order.manual' ), $this->sent_events(), 'erp (on /ok) got it; crm got it on /ok/crm' );
		// The filter still applies on top.
		$f = static fn( $d ) => array_merge( $d, array( 'default' ) );
		add_filter( 'secure_forward_destinations', $f );
		try {
			$this->assertSame( array( 'crm', 'default' ), \Secure_Forward_Plugin::destinations( $o, 'order.shipped' ) );
		} finally {
			remove_filter( 'secure_forward_destinations', $f );
		}
	}
}
