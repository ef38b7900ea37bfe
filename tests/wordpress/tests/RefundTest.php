<?php
/**
 * refund.created: once per refund, full or partial, with the refund (positive amounts and
 * quantities, refunded_payment, refunded lines) and never its free-text reason; a partial refund
 * sends refund.created only.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class RefundTest extends TestCase {

	private function paid( string $fixture ) {
		$o = sf_test_classic_checkout( $fixture );
		$this->end_request();
		\Secure_Forward_Plugin::instance()->reset_request_state();
		$this->mark();
		return $o;
	}

	public function test_partial_refund_sends_refund_created_only_with_the_refund(): void {
		$o    = $this->paid( 'partial-refund' );
		$line = array_values( $o->get_items( 'line_item' ) )[0];
		$r    = wc_create_refund(
			array(
				'order_id'       => $o->get_id(),
				'amount'         => '15.75',
				'reason'         => 'Bag arrived torn — call me on +44 7700 900123',
				'refund_payment' => true,
				'line_items'     => array(
					$line->get_id() => array(
						'qty'          => 1,
						'refund_total' => 15.75,
					),
				),
			)
		);
		$this->assertSame( 'processing', wc_get_order( $o->get_id() )->get_status(), 'partial: the status stays' );
		$this->end_request();
		$this->assertSame( array( 'refund.created' ), $this->sent_events(), 'no order.refunded for a partial refund' );
		$sent = $this->sent()[0];
		$this->assertSame( $o->get_id(), $sent['order_id'] );
		$refund = $sent['data']['refund'];
		$this->assertSame( $r->get_id(), $refund['id'] );
		$this->assertSame( '15.75', $refund['amount'] );
		$this->assertTrue( $refund['refunded_payment'] );
		$this->assertMatchesRegularExpression( '/^\d{4}-\d\d-\d\dT/', $refund['date_created'] );
		$this->assertArrayNotHasKey( 'reason', $refund, 'never the free-text reason' );
		$this->assertStringNotContainsString( '7700 900123', json_encode( $sent['data'] ) );
		$this->assertCount( 1, $refund['line_items'] );
		$l = $refund['line_items'][0];
		$this->assertSame( $line->get_product_id(), $l['product_id'] );
		$this->assertSame( $line->get_product()->get_sku(), $l['sku'] );
		$this->assertSame( '1', $l['quantity'], 'positive, although WooCommerce stores -1' );
		$this->assertSame( '15.75', $l['total'], 'positive, although WooCommerce stores -15.75' );
		if ( ! self::fake() ) {
			$this->assertSame( 'refund.created', $sent['headers']['x-event-type'] );
		}
	}

	public function test_each_refund_once_and_duplicates_collapse(): void {
		$o  = $this->paid( 'partial-refund' );
		$r1 = wc_create_refund( array( 'order_id' => $o->get_id(), 'amount' => '1.00', 'reason' => 'one' ) );
		$this->end_request();
		\Secure_Forward_Plugin::instance()->reset_request_state();
		$r2 = wc_create_refund( array( 'order_id' => $o->get_id(), 'amount' => '2.00', 'reason' => 'two' ) );
		do_action( 'woocommerce_order_refunded', $o->get_id(), $r1->get_id() ); // Fired again for the first.
		$this->end_request();
		$sent = $this->sent();
		$this->assertSame( array( 'refund.created', 'refund.created' ), array_column( $sent, 'event' ) );
		$this->assertSame( array( $r1->get_id(), $r2->get_id() ), array_map( static fn( $s ) => $s['data']['refund']['id'], $sent ) );
		$this->assertSame( array( '1', '2' ), array_map( static fn( $s ) => $s['data']['refund']['amount'], $sent ) );
		$this->assertFalse( $sent[0]['data']['refund']['refunded_payment'] );
		$this->assertNotSame( $sent[0]['key'], $sent[1]['key'] );
	}

	public function test_full_refund_sends_order_refunded_and_refund_created(): void {
		$o = $this->paid( 'guest-simple' );
		wc_create_refund(
			array(
				'order_id' => $o->get_id(),
				'amount'   => $o->get_total(),
				'reason'   => 'full',
			)
		);
		$this->end_request();
		$this->assertSame( array( 'order.refunded', 'refund.created' ), $this->sent_events() );
		$this->assertSame( 'refunded', $this->sent()[0]['data']['status'] );
	}
}
