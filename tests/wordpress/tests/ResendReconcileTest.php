<?php
/**
 * `wp secure-forward resend` (again, even what was delivered: new event ids, marked) and
 * `wp secure-forward reconcile --since=` (what the shop has and the outbox lacks, never twice).
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class ResendReconcileTest extends TestCase {

	private function wp( string $sub, array $args = array(), array $assoc = array() ): array {
		return \WP_CLI::sf_run( 'secure-forward', $sub, $args, $assoc );
	}

	/** A paid order whose forwards were all delivered. */
	private function forwarded( string $fixture ) {
		$o = sf_test_classic_checkout( $fixture );
		$this->end_request();
		\Secure_Forward_Plugin::instance()->reset_request_state();
		return $o;
	}

	/** A paid order whose forwards were lost before the plugin had a pending table (old versions). */
	private function lost( string $fixture ) {
		$o = sf_test_classic_checkout( $fixture );
		\Secure_Forward_Plugin::instance()->reset_request_state();
		\Secure_Forward_Pending::clear();
		return $o;
	}

	public function test_resend_delivers_again_with_new_event_ids(): void {
		$o = $this->forwarded( 'guest-simple' );
		$this->mark();
		$out = $this->wp( 'resend', array( (string) $o->get_id() ) );
		$this->assertSame( array( 'success', 'resent 1 order(s), 1 forward(s): 1 delivered, 0 queued, 0 dead, 0 pending' ), end( $out ) );
		$bar = \WP_CLI\Utils\SF_Test_Progress::$last;
		$this->assertSame( array( 1, 1, true ), array( $bar->count, $bar->ticks, $bar->finished ) );
		$sent = $this->sent();
		$this->assertSame( array( 'order.processing' ), array_column( $sent, 'event' ), 'the current status, although it was delivered before' );
		$this->assertSame( $o->get_id(), $sent[0]['order_id'] );
		if ( self::fake() ) {
			$this->assertTrue( $sent[0]['resend'] );
		}
		$again = $this->wp( 'resend', array( (string) $o->get_id() ) );
		$this->assertStringContainsString( '1 delivered', end( $again )[1] );
		$this->assertCount( 2, $this->sent(), 'each resend is delivered' );
		$this->assertNotSame( $this->sent()[0]['key'], $this->sent()[1]['key'] );
		$this->assertStringContainsString( 'Forwarded order.processing (resend) to default: delivered', end( \SF_Test_Store::$notes[ $o->get_id() ] )[0] );
	}

	public function test_resend_event_destination_and_bad_ids(): void {
		$a = $this->forwarded( 'guest-simple' );
		$b = $this->forwarded( 'unicode-jp' );
		$this->mark();
		$out = $this->wp( 'resend', array( (string) $a->get_id(), (string) $b->get_id(), '987654' ), array( 'event' => 'order.created', 'destination' => 'erp' ) );
		$this->assertSame( array( 'success', 'resent 2 order(s), 2 forward(s): 2 delivered, 0 queued, 0 dead, 0 pending, 1 order(s) not found' ), end( $out ) );
		$this->assertSame( array( 'order.created', 'order.created' ), $this->sent_events() );
		if ( self::fake() ) {
			$this->assertSame( array( 'erp', 'erp' ), array_column( $this->sent(), 'destination' ) );
		}
		$this->expectException( \SF_Test_CLI_Exit::class );
		$this->wp( 'resend', array( '12abc' ) );
	}

	public function test_reconcile_backfills_exactly_the_missing_ones_and_never_twice(): void {
		$done    = $this->forwarded( 'guest-simple' );
		$lost    = $this->lost( 'unicode-jp' );
		$partial = $this->forwarded( 'registered-multi' );
		// Its completion was lost (say a worker was killed before the plugin recorded it).
		$p = wc_get_order( $partial->get_id() );
		$p->set_status( 'completed' );
		remove_action( 'woocommerce_order_status_changed', array( \Secure_Forward_Plugin::instance(), 'on_status_changed' ), 10 );
		remove_action( 'woocommerce_order_status_completed', array( \Secure_Forward_Plugin::instance(), 'on_status' ), 10 );
		try {
			$p->save();
		} finally {
			add_action( 'woocommerce_order_status_changed', array( \Secure_Forward_Plugin::instance(), 'on_status_changed' ), 10, 4 );
			\Secure_Forward_Plugin::instance()->register_status_hooks();
		}
		\Secure_Forward_Plugin::instance()->reset_request_state();
		$this->mark();

		$out = $this->wp( 'reconcile', array(), array( 'since' => '1h' ) );
		$bar = \WP_CLI\Utils\SF_Test_Progress::$last;
		$this->assertSame( array( 3, 3, true ), array( $bar->count, $bar->ticks, $bar->finished ), 'one tick per order changed in the window' );
		$this->assertSame( 'success', end( $out )[0] );
		$this->assertStringContainsString( 'reconciled 3 order(s), 7 forward(s)', end( $out )[1], 'created + every status occurrence each order has' );
		$got = array_map( static fn( $s ) => $s['order_id'] . ' ' . $s['event'], $this->sent() );
		sort( $got );
		$want = array(
			$lost->get_id() . ' order.created',
			$lost->get_id() . ' order.processing',
			$partial->get_id() . ' order.completed',
		);
		sort( $want );
		$this->assertSame( $want, $got, 'exactly the missing ones; nothing of ' . $done->get_id() );

		$this->mark();
		$this->wp( 'reconcile', array(), array( 'since' => gmdate( 'Y-m-d\TH:i:s\Z', time() - 600 ) ) );
		$this->assertSame( array(), $this->sent(), 'never twice' );
	}

	public function test_reconcile_window(): void {
		$now = 1_900_000_000; // 2030-03-17.
		$this->assertSame( $now - 90 * 60, \Secure_Forward_CLI::since( '90m', $now ) );
		$this->assertSame( $now - 2 * 3600, \Secure_Forward_CLI::since( '2h', $now ) );
		$this->assertSame( $now - 3 * 86400, \Secure_Forward_CLI::since( '3d', $now ) );
		$this->assertSame( strtotime( '2027-01-15T10:00:00Z' ), \Secure_Forward_CLI::since( '2027-01-15T10:00:00Z', $now ) );
		$this->assertSame( strtotime( '2027-01-15' ), \Secure_Forward_CLI::since( '2027-01-15', $now ) );
		foreach ( array( '', '5', '5w', 'yesterday', '2099-01-01', '-1d' ) as $bad ) {
			try {
				\Secure_Forward_CLI::since( $bad, $now );
				$this->fail( "accepted --since=$bad" );
			} catch ( \RuntimeException $e ) {
				$this->assertStringContainsString( '--since', $e->getMessage() );
			}
		}
		$old = $this->lost( 'long-note' );
		\SF_Test_Store::$orders[ $old->get_id() ]['date_modified'] = gmdate( DATE_ATOM, time() - 7200 );
		$this->mark();
		$this->wp( 'reconcile', array(), array( 'since' => '1h' ) );
		$this->assertSame( array(), $this->sent(), 'orders changed before the window are left alone' );
		$this->wp( 'reconcile', array(), array( 'since' => '3h' ) );
		$this->assertSame( array( 'order.created', 'order.processing' ), $this->sent_events() );
	}
}
