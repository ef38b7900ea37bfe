<?php
/**
 * Events: each default event forwards once; duplicates in one request collapse; filters,
 * constant, destinations; exceptions never escape the hooks and are logged without order data.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class EventsTest extends TestCase {

	/** Receipts of the last paid_order(). @var array */
	private $receipts = array();

	private function paid_order( string $fixture = 'guest-simple' ) {
		$o              = sf_test_classic_checkout( $fixture );
		$this->receipts = $this->end_request();
		\Secure_Forward_Plugin::instance()->reset_request_state(); // Next request.
		$this->mark();
		return $o;
	}

	private function assert_sent_once( string $event, int $order_id ): void {
		$sent = array_values( array_filter( $this->sent(), static fn( $s ) => $s['event'] === $event ) );
		$this->assertCount( 1, $sent, "$event sent exactly once; sent: " . json_encode( $this->sent_events() ) );
		if ( null !== $sent[0]['order_id'] ) {
			$this->assertSame( $order_id, $sent[0]['order_id'] );
		}
		if ( ! self::fake() ) {
			$this->assertSame( $event, $sent[0]['headers']['x-event-type'] );
		}
	}

	public function test_default_events(): void {
		$this->assertSame( array( 'order.processing', 'order.completed', 'order.cancelled', 'order.refunded' ), \Secure_Forward_Plugin::events() );
	}

	public function hpos(): array {
		return array(
			'HPOS on'  => array( true ),
			'HPOS off' => array( false ),
		);
	}

	/**
	 * @dataProvider hpos
	 */
	public function test_classic_checkout_forwards_processing_once( bool $hpos ): void {
		\SF_Test_Store::$hpos = $hpos;
		$o = sf_test_classic_checkout( 'guest-simple' );
		$this->assertSame( array(), $this->sent(), 'nothing is sent during the request (checkout is not slowed)' );
		$this->assertSame( array( array( 'order_id' => $o->get_id(), 'event' => 'order.processing' ) ), \Secure_Forward_Plugin::instance()->pending() );
		$receipts = $this->end_request();
		$this->assertCount( 1, $receipts );
		$this->assertSame( 'delivered', $receipts[0]['status'] );
		$this->assertSame( array( 'order.processing' ), $this->sent_events() );
		$this->assert_sent_once( 'order.processing', $o->get_id() );
	}

	/**
	 * @dataProvider hpos
	 */
	public function test_block_checkout_forwards_processing_once( bool $hpos ): void {
		\SF_Test_Store::$hpos = $hpos;
		$o = sf_test_block_checkout( 'unicode-jp' );
		$this->end_request();
		$this->assertSame( array( 'order.processing' ), $this->sent_events() );
		$this->assert_sent_once( 'order.processing', $o->get_id() );
	}

	public function test_unpaid_checkout_forwards_nothing(): void {
		sf_test_classic_checkout( 'long-note', false );
		sf_test_block_checkout( 'long-note', false );
		$this->assertSame( array(), \Secure_Forward_Plugin::instance()->pending() );
		$this->assertSame( array(), $this->end_request() );
		$this->assertSame( array(), $this->sent() );
	}

	public function test_completed_once(): void {
		$o = $this->paid_order();
		wc_get_order( $o->get_id() )->update_status( 'completed' );
		$this->end_request();
		$this->assertSame( array( 'order.completed' ), $this->sent_events() );
		$this->assert_sent_once( 'order.completed', $o->get_id() );
	}

	public function test_cancelled_once(): void {
		$o = $this->paid_order( 'registered-multi' );
		wc_get_order( $o->get_id() )->update_status( 'cancelled' );
		$this->end_request();
		$this->assertSame( array( 'order.cancelled' ), $this->sent_events() );
		$this->assert_sent_once( 'order.cancelled', $o->get_id() );
	}

	public function test_full_refund_forwards_refunded_once(): void {
		$o = $this->paid_order( 'fee-tax-eu' );
		wc_create_refund(
			array(
				'order_id' => $o->get_id(),
				'amount'   => $o->get_total(),
				'reason'   => 'full',
			)
		);
		$this->assertSame( 'refunded', wc_get_order( $o->get_id() )->get_status() );
		$this->end_request();
		$this->assertSame( array( 'order.refunded' ), $this->sent_events() );
		$this->assert_sent_once( 'order.refunded', $o->get_id() );
	}

	public function test_partial_refunds_forward_refunded_per_request(): void {
		$o = $this->paid_order( 'partial-refund' );
		wc_create_refund( array( 'order_id' => $o->get_id(), 'amount' => '1.00', 'reason' => 'one' ) );
		$this->assertSame( 'processing', wc_get_order( $o->get_id() )->get_status() );
		$this->end_request();
		$this->assert_sent_once( 'order.refunded', $o->get_id() );
		$this->mark();

		// A second partial refund in a later request is a new order state → a new event.
		\Secure_Forward_Plugin::instance()->reset_request_state();
		wc_create_refund( array( 'order_id' => $o->get_id(), 'amount' => '2.00', 'reason' => 'two' ) );
		$this->end_request();
		$this->assert_sent_once( 'order.refunded', $o->get_id() );
	}

	public function test_other_statuses_are_not_forwarded(): void {
		$o = $this->paid_order();
		wc_get_order( $o->get_id() )->update_status( 'on-hold' );
		$this->assertSame( array(), \Secure_Forward_Plugin::instance()->pending() );
		$this->assertSame( array(), $this->sent() );
	}

	public function test_duplicate_hooks_in_one_request_forward_once(): void {
		$o  = $this->paid_order();
		$id = $o->get_id();
		$o  = wc_get_order( $id );
		$o->update_status( 'completed' );
		// Everything else that may fire for the same change in the same request.
		do_action( 'woocommerce_order_status_completed', $id, $o, array() );
		do_action( 'woocommerce_order_status_changed', $id, 'processing', 'completed', $o );
		do_action( 'woocommerce_payment_complete', $id, 'txn' );
		$o->save();
		do_action( 'woocommerce_order_status_changed', $id, 'processing', 'completed', wc_get_order( $id ) );
		$this->assertCount( 1, \Secure_Forward_Plugin::instance()->pending() );
		$this->end_request();
		$this->assertSame( array( 'order.completed' ), $this->sent_events() );
		// Still once if the shutdown callback runs twice.
		\Secure_Forward_Plugin::instance()->on_shutdown();
		do_action( 'woocommerce_order_status_completed', $id, $o, array() );
		$this->assertSame( array(), \Secure_Forward_Plugin::instance()->pending() );
		$this->assertSame( array( 'order.completed' ), $this->sent_events() );
	}

	public function test_same_state_same_event_is_enqueued_once_across_requests(): void {
		$o = $this->paid_order();
		\Secure_Forward_Plugin::instance()->queue( $o->get_id(), 'order.processing' );
		$r = $this->end_request();
		$this->assertCount( 1, $r );
		$this->assertSame( $this->receipts[0]['event_id'], $r[0]['event_id'], 'same order state + event → same event id' );
		$this->assertSame( array(), $this->sent(), 'the extension does not send the same event twice' );
		if ( self::fake() ) {
			$all = array_column( \SF_Fake_Extension::$calls, 3 );
			$this->assertCount( 2, $all );
			$this->assertSame( $all[0], $all[1], 'same order state + event → same event id' );
			$this->assertCount( 1, \SF_Fake_Extension::$outbox );
		}
	}

	public function test_events_filter(): void {
		$f = static fn( $e ) => array_merge( array_diff( $e, array( 'order.cancelled' ) ), array( 'on-hold' ) );
		add_filter( 'secure_forward_events', $f );
		try {
			$this->assertSame( array( 'order.processing', 'order.completed', 'order.refunded', 'order.on-hold' ), \Secure_Forward_Plugin::events() );
			$o = $this->paid_order();
			wc_get_order( $o->get_id() )->update_status( 'on-hold' );
			$this->end_request();
			$this->assert_sent_once( 'order.on-hold', $o->get_id() );
			\Secure_Forward_Plugin::instance()->reset_request_state();
			wc_get_order( $o->get_id() )->update_status( 'cancelled' );
			$this->assertSame( array(), \Secure_Forward_Plugin::instance()->pending() );
		} finally {
			remove_filter( 'secure_forward_events', $f );
		}
	}

	public function test_events_constant_comma_list_and_array(): void {
		$r = $this->probe( 'events', array( 'SF_PROBE_EVENTS' => 'processing, wc-completed,order.shipped' ) );
		$this->assertSame( array( 'order.processing', 'order.completed', 'order.shipped' ), $r['events'] );
		$r = $this->probe( 'events', array( 'SF_PROBE_EVENTS' => '["cancelled"]' ) );
		$this->assertSame( array( 'order.cancelled' ), $r['events'] );
	}

	public function test_destinations_filter(): void {
		$seen = array();
		$f    = static function ( $d, $order, $event ) use ( &$seen ) {
			$seen[] = array( get_class( $order ), $event );
			return array( 'default', 'erp', 'default' );
		};
		add_filter( 'secure_forward_destinations', $f, 10, 3 );
		try {
			$o = sf_test_classic_checkout( 'guest-simple' );
			$r = $this->end_request();
		} finally {
			remove_filter( 'secure_forward_destinations', $f, 10 );
		}
		$this->assertSame( array( array( \Automattic\WooCommerce\Admin\Overrides\Order::class, 'order.processing' ) ), $seen );
		$this->assertCount( 2, $r );
		$this->assertNotSame( $r[0]['event_id'], $r[1]['event_id'] );
		$this->assertSame( array( 'order.processing', 'order.processing' ), $this->sent_events() );
	}

	public function test_extension_exceptions_never_break_checkout_and_are_logged_without_order_data(): void {
		$f = static fn() => array( 'no-such-destination' );
		add_filter( 'secure_forward_destinations', $f );
		try {
			$o = sf_test_classic_checkout( 'pan-in-note' );
			$r = $this->end_request();
		} finally {
			remove_filter( 'secure_forward_destinations', $f );
		}
		$this->assertSame( array(), $r );
		$this->assertSame( array(), $this->sent() );
		$this->assertCount( 1, \SF_Test_Store::$logs );
		list( $level, $message, $context ) = \SF_Test_Store::$logs[0];
		$this->assertSame( 'error', $level );
		$this->assertSame( array( 'source' => 'secure-forward' ), $context );
		$this->assertStringContainsString( 'SecureForward\\ConfigException', $message );
		$raw = \SF_Test_Store::fixture( 'pan-in-note' );
		foreach ( array( $raw['billing']['email'], $raw['billing']['last_name'], '4111', $raw['order_key'] ) as $secret ) {
			$this->assertStringNotContainsString( $secret, $message );
		}
	}

	public function test_validation_exception_is_caught(): void {
		// An order the extension refuses (no id) goes straight to forward(): caught, logged.
		$o = new \WC_Order( array( 'status' => 'processing' ) );
		$r = \Secure_Forward_Plugin::instance()->forward( 999999, 'order.processing', $o );
		$this->assertSame( array(), $r );
		$this->assertCount( 1, \SF_Test_Store::$logs );
		$this->assertStringContainsString( 'SecureForward\\', \SF_Test_Store::$logs[0][1] );
	}
}
