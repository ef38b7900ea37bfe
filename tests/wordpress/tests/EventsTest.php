<?php
/**
 * Events: order.created once, every transition into an enabled status once (repeats included),
 * refund.created per refund, duplicates collapse (one Idempotency-Key); filters, constant,
 * destinations; exceptions never escape the hooks and are logged with the order id only.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class EventsTest extends TestCase {

	/** Receipts of the last paid_order(). @var array */
	private $receipts = array();

	/** A paid classic-checkout order, forwarded; the next "request" starts after it. */
	private function paid_order( string $fixture = 'guest-simple' ) {
		$o              = sf_test_classic_checkout( $fixture );
		$this->receipts = $this->end_request();
		$this->next_request();
		return $o;
	}

	private function next_request(): void {
		\Secure_Forward_Plugin::instance()->reset_request_state();
		$this->mark();
	}

	private function assert_sent_once( string $event, int $order_id ): array {
		$sent = $this->sent_of( $event, $order_id );
		$this->assertCount( 1, $sent, "$event sent exactly once; sent: " . json_encode( $this->sent_events() ) );
		if ( ! self::fake() ) {
			$this->assertSame( $event, $sent[0]['headers']['x-event-type'] );
		}
		return $sent[0];
	}

	public function test_default_events(): void {
		$this->assertSame( array( 'order.created', 'order.processing', 'order.completed', 'order.cancelled', 'order.refunded', 'refund.created' ), \Secure_Forward_Plugin::events() );
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
	public function test_classic_checkout_forwards_created_and_processing_once( bool $hpos ): void {
		\SF_Test_Store::$hpos = $hpos;
		$o = sf_test_classic_checkout( 'guest-simple' );
		$this->assertSame( array(), $this->sent(), 'nothing is sent during the request (checkout is not slowed)' );
		$this->assertSame(
			array(
				array( 'order_id' => $o->get_id(), 'event' => 'order.created' ),
				array( 'order_id' => $o->get_id(), 'event' => 'order.processing' ),
			),
			\Secure_Forward_Plugin::instance()->pending()
		);
		$this->assertCount( 2, $this->pending_rows(), 'recorded in the shop database before the request ends' );
		$receipts = $this->end_request();
		$this->assertCount( 2, $receipts );
		$this->assertSame( array( 'delivered', 'delivered' ), array_column( $receipts, 'status' ) );
		$this->assertSame( array( 'order.created', 'order.processing' ), $this->sent_events() );
		$this->assert_sent_once( 'order.created', $o->get_id() );
		$this->assertSame( 'processing', $this->assert_sent_once( 'order.processing', $o->get_id() )['data']['status'] );
		$this->assertSame( array(), $this->pending_rows(), 'rows go once the extension has the forwards' );
	}

	/**
	 * @dataProvider hpos
	 */
	public function test_block_checkout_forwards_created_and_processing_once( bool $hpos ): void {
		\SF_Test_Store::$hpos = $hpos;
		$o = sf_test_block_checkout( 'unicode-jp' );
		$this->end_request();
		$this->assertSame( array( 'order.created', 'order.processing' ), $this->sent_events() );
		$this->assert_sent_once( 'order.created', $o->get_id() );
		$this->assert_sent_once( 'order.processing', $o->get_id() );
	}

	public function test_unpaid_checkouts_forward_created_only(): void {
		$a = sf_test_classic_checkout( 'long-note', false );
		$b = sf_test_block_checkout( 'long-note', false );
		$this->end_request();
		$this->assertSame( array( 'order.created', 'order.created' ), $this->sent_events() );
		$this->assertSame( array( $a->get_id(), $b->get_id() ), array_column( $this->sent(), 'order_id' ) );
	}

	public function test_bank_transfer_on_hold_order_is_created_then_processing_when_paid(): void {
		$o = \WC_Order::from_fixture( 'fee-tax-eu', false );
		$o->set_status( 'on-hold' ); // BACS: awaiting payment.
		$o->save();
		$this->end_request();
		$this->assertSame( 'on-hold', $this->assert_sent_once( 'order.created', $o->get_id() )['data']['status'] );
		$this->assertSame( array( 'order.created' ), $this->sent_events() );
		$this->next_request();
		wc_get_order( $o->get_id() )->update_status( 'processing' );
		$this->end_request();
		$this->assertSame( array( 'order.processing' ), $this->sent_events() );
	}

	public function test_virtual_order_straight_to_completed(): void {
		$o = \WC_Order::from_fixture( 'email-in-note', false );
		$o->save();
		$o = wc_get_order( $o->get_id() );
		$o->set_status( 'completed' );
		$o->save();
		$this->end_request();
		$this->assertSame( array( 'order.created', 'order.completed' ), $this->sent_events() );
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

	public function test_repeated_status_is_delivered_each_time_with_its_own_key(): void {
		$o   = $this->paid_order();
		$id  = $o->get_id();
		$all = array();
		foreach ( array( 'completed', 'processing', 'completed' ) as $status ) {
			wc_get_order( $id )->update_status( $status );
			$this->end_request();
			$all = array_merge( $all, $this->sent() );
			$this->next_request();
		}
		$this->assertSame( array( 'order.completed', 'order.processing', 'order.completed' ), array_column( $all, 'event' ) );
		$keys = array_merge( array( $this->receipts[1]['event_id'] ), array_column( $all, 'key' ) );
		$this->assertCount( 4, array_unique( $keys ), 'processing → completed → processing → completed: four deliveries, four keys' );
		$this->assertSame( array( 'completed', 'processing', 'completed' ), array_map( static fn( $s ) => $s['data']['status'], $all ) );
		$this->assertSame(
			array(
				'pending'    => 1,
				'processing' => 2,
				'completed'  => 2,
			),
			wc_get_order( $id )->get_meta( \Secure_Forward_Plugin::META_SEQ )
		);
	}

	public function test_full_refund_forwards_refunded_and_refund_created(): void {
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
		$this->assertSame( array( 'order.refunded', 'refund.created' ), $this->sent_events() );
		$this->assert_sent_once( 'order.refunded', $o->get_id() );
		$refund = $this->assert_sent_once( 'refund.created', $o->get_id() )['data']['refund'];
		$this->assertSame( (string) (float) $o->get_total(), $refund['amount'] );
	}

	public function test_other_statuses_are_not_forwarded(): void {
		$o = $this->paid_order();
		wc_get_order( $o->get_id() )->update_status( 'on-hold' );
		$this->assertSame( array(), \Secure_Forward_Plugin::instance()->pending() );
		$this->assertSame( array(), $this->pending_rows() );
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
		$this->end_request();
		$this->assertSame( array( 'order.completed' ), $this->sent_events() );
	}

	public function test_duplicate_hooks_in_a_later_request_keep_one_key_and_one_delivery(): void {
		$o  = $this->paid_order();
		$id = $o->get_id();
		wc_get_order( $id )->update_status( 'completed' );
		$first = $this->end_request();
		$this->assertCount( 1, $first );
		$this->next_request();
		// A retry / another plugin fires the same transition's hooks again in a later request.
		$again = wc_get_order( $id );
		do_action( 'woocommerce_order_status_completed', $id, $again, array() );
		do_action( 'woocommerce_order_status_changed', $id, 'processing', 'completed', $again );
		$second = $this->end_request();
		$this->assertCount( 1, $second );
		$this->assertSame( $first[0]['event_id'], $second[0]['event_id'], 'same occurrence → same event id (Idempotency-Key)' );
		$this->assertSame( array(), $this->sent(), 'the extension does not send the same event twice' );
	}

	public function test_same_state_same_event_is_enqueued_once_across_requests(): void {
		$o = $this->paid_order();
		\Secure_Forward_Plugin::instance()->queue( $o->get_id(), 'order.processing' );
		$r = $this->end_request();
		$this->assertCount( 1, $r );
		$this->assertSame( $this->receipts[1]['event_id'], $r[0]['event_id'], 'same occurrence + event → same event id' );
		$this->assertSame( array(), $this->sent(), 'the extension does not send the same event twice' );
		if ( self::fake() ) {
			$this->assertCount( 2, \SF_Fake_Extension::$outbox, 'created + processing' );
		}
	}

	public function test_events_filter(): void {
		$f = static fn( $e ) => array_merge( array_diff( $e, array( 'order.cancelled' ) ), array( 'on-hold' ) );
		add_filter( 'secure_forward_events', $f );
		try {
			$this->assertSame( array( 'order.created', 'order.processing', 'order.completed', 'order.refunded', 'refund.created', 'order.on-hold' ), \Secure_Forward_Plugin::events() );
			$o = $this->paid_order();
			wc_get_order( $o->get_id() )->update_status( 'on-hold' );
			$this->end_request();
			$this->assert_sent_once( 'order.on-hold', $o->get_id() );
			$this->next_request();
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
		$this->assertSame( array( 'order.created', 'order.processing' ), array_column( $seen, 1 ) );
		$this->assertCount( 4, $r, 'two events × two destinations' );
		$this->assertCount( 4, array_unique( array_column( $r, 'event_id' ) ) );
		$this->assertSame( array( 'order.created', 'order.created', 'order.processing', 'order.processing' ), $this->sent_events() );
	}

	public function test_extension_exceptions_never_break_checkout_and_are_logged_with_the_order_id_only(): void {
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
		$this->assertCount( 2, $this->pending_rows(), 'kept for the drain: a configuration error is not the order\'s fault' );
		$this->assertCount( 2, \SF_Test_Store::$logs );
		foreach ( \SF_Test_Store::$logs as list( $level, $message, $context ) ) {
			$this->assertSame( 'error', $level );
			$this->assertSame( array( 'source' => 'secure-forward' ), $context );
			$this->assertStringContainsString( 'SecureForward\\ConfigException', $message );
			$this->assertStringContainsString( 'order ' . $o->get_id() . ':', $message );
			$raw = \SF_Test_Store::fixture( 'pan-in-note' );
			foreach ( array( $raw['billing']['email'], $raw['billing']['last_name'], '4111', $raw['order_key'] ) as $secret ) {
				$this->assertStringNotContainsString( $secret, $message );
			}
		}
		$notes = $this->notes( $o->get_id() );
		$this->assertCount( 2, $notes );
		$this->assertStringContainsString( 'is pending', $notes[0] );
	}

	public function test_refused_order_is_dropped_with_a_note(): void {
		// An order the extension refuses (no id in the body) is refused, noted, not retried.
		$o = sf_test_classic_checkout( 'guest-simple', false );
		$this->end_request();
		$this->next_request();
		$f = static fn( $d ) => array( 'erp' );
		add_filter( 'secure_forward_destinations', $f );
		try {
			$row = array(
				'id'          => 0,
				'order_id'    => $o->get_id(),
				'event'       => 'order.created',
				'occurrence'  => "bad\nkey", // A control character: the extension refuses the key.
				'destination' => 'erp',
				'site'        => \Secure_Forward_Plugin::site(),
				'resend'      => 0,
				'last_error'  => null,
			);
			\Secure_Forward_Pending::add( $o->get_id(), 'order.created', $row['occurrence'], 'erp', $row['site'] );
			$row['id'] = (int) \Secure_Forward_Pending::all()[0]['id'];
			$this->assertNull( \Secure_Forward_Plugin::forward_row( $row ) );
		} finally {
			remove_filter( 'secure_forward_destinations', $f );
		}
		$this->assertSame( array(), $this->pending_rows() );
		$this->assertStringContainsString( 'ValidationException', end( \SF_Test_Store::$logs )[1] );
		$notes = $this->notes( $o->get_id() );
		$this->assertStringContainsString( 'was refused', end( $notes ) );
	}
}
