<?php
/**
 * Personal-data eraser purges queued payloads of the customer's orders.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class PrivacyTest extends TestCase {

	/** Queues (not delivers) one processing event for a new order from $fixture with $email. */
	private function queued_order( string $fixture, string $email ): int {
		$o = \WC_Order::from_fixture( $fixture, false );
		$o->set_billing_email( $email );
		$o->save();
		$o->payment_complete( 'txn' );
		$r = $this->end_request();
		\Secure_Forward_Plugin::instance()->reset_request_state();
		$this->assertSame( 'queued', $r[0]['status'] );
		return $o->get_id();
	}

	public function test_eraser_registered(): void {
		$e = apply_filters( 'wp_privacy_personal_data_erasers', array() );
		$this->assertArrayHasKey( 'secure-forward', $e );
		$this->assertIsCallable( $e['secure-forward']['callback'] );
		$this->assertNotEmpty( $e['secure-forward']['eraser_friendly_name'] );
	}

	public function test_eraser_finds_events_queued_before_a_domain_move(): void {
		$this->hold_deliveries();
		$id   = $this->queued_order( 'guest-simple', 'moved.shop@example.com' );
		$site = \Secure_Forward_Plugin::site();
		$home = get_option( 'home' );
		update_option( 'home', 'https://new-domain.example' );
		try {
			$this->assertSame( $site, \Secure_Forward_Plugin::site(), 'the site id does not follow the home URL' );
			$e   = apply_filters( 'wp_privacy_personal_data_erasers', array() );
			$res = call_user_func( $e['secure-forward']['callback'], 'moved.shop@example.com', 1 );
			$this->assertTrue( $res['items_removed'], "order $id's queued payload is erased after the move" );
		} finally {
			update_option( 'home', $home );
		}
	}

	public function test_eraser_purges_only_that_customers_queued_payloads(): void {
		$this->hold_deliveries();
		$this->queued_order( 'guest-simple', 'erase.me@example.com' );
		$this->queued_order( 'unicode-jp', 'Erase.Me@example.com' );
		$this->queued_order( 'registered-multi', 'keep.me@example.com' );
		$before = secure_forward_status()['queued'];

		$e   = apply_filters( 'wp_privacy_personal_data_erasers', array() );
		$res = call_user_func( $e['secure-forward']['callback'], 'erase.me@example.com', 1 );
		$this->assertTrue( $res['items_removed'] );
		$this->assertFalse( $res['items_retained'] );
		$this->assertTrue( $res['done'] );
		$this->assertStringContainsString( 'Removed 4 queued', $res['messages'][0], 'two orders × (order.created, order.processing)' );
		$this->assertSame( $before - 4, secure_forward_status()['queued'] );

		$again = \Secure_Forward_Privacy::erase( 'erase.me@example.com', 1 );
		$this->assertFalse( $again['items_removed'] );
		$this->assertSame( array(), \Secure_Forward_Privacy::erase( 'nobody@example.com' )['messages'] );
	}

	public function test_eraser_finds_a_registered_customers_orders_under_another_billing_email(): void {
		$this->hold_deliveries();
		$user = get_user_by( 'email', 'registered.eraser@example.com' );
		$uid  = $user ? $user->ID : wp_insert_user(
			array(
				'user_login' => 'registered_eraser',
				'user_email' => 'registered.eraser@example.com',
				'user_pass'  => wp_generate_password(),
			)
		);
		$this->assertIsInt( $uid );
		$o = \WC_Order::from_fixture( 'registered-multi', false );
		$o->set_billing_email( 'work.address@example.com' ); // Not the account's email.
		$o->set_customer_id( $uid );
		$o->save();
		$o->payment_complete( 'txn' );
		$this->end_request();
		\Secure_Forward_Plugin::instance()->reset_request_state();
		$other = $this->queued_order( 'guest-simple', 'work.address.other@example.com' );

		$res = \Secure_Forward_Privacy::erase( 'registered.eraser@example.com', 1 );
		$this->assertTrue( $res['items_removed'] );
		$this->assertStringContainsString( 'Removed 2 queued', $res['messages'][0] );
		$this->assertSame( 0, secure_forward_purge( $o->get_id() ), 'nothing of that order is left' );
		$this->assertSame( 2, secure_forward_purge( $other ), 'another customer\'s order is untouched' );
	}

	public function test_purge_and_eraser_act_on_this_sites_events_only(): void {
		$this->hold_deliveries();
		$id   = $this->queued_order( 'guest-simple', 'site.scope@example.com' );
		$dest = self::fake() ? 'default' : 'down';
		// Another shop sharing the outbox queues an event for an order with the same id.
		$other_site = '2:https://other-shop.example';
		$receipt    = secure_forward_order(
			array(
				'id'     => $id,
				'status' => 'processing',
			),
			$dest,
			'order.processing',
			array(
				'key'  => 'processing#1',
				'site' => $other_site,
			)
		);
		$this->assertSame( 'queued', $receipt['status'] );
		$res = \Secure_Forward_Privacy::erase( 'site.scope@example.com', 1 );
		$this->assertStringContainsString( 'Removed 2 queued', $res['messages'][0], 'this site\'s two events only' );
		$this->assertSame( 0, secure_forward_purge( $id, \Secure_Forward_Plugin::site() ) );
		$this->assertSame( 1, secure_forward_purge( $id, $other_site ), 'the other shop\'s order ' . $id . ' is still queued' );
	}

	public function test_eraser_through_wordpress_privacy_request(): void {
		$this->hold_deliveries();
		$id = $this->queued_order( 'email-in-note', 'request@example.com' );
		// WordPress's own eraser pipeline (wp_privacy_process_personal_data_erasure_page) calls the
		// registered callback; drive the filter it uses.
		$response = apply_filters(
			'wp_privacy_personal_data_erasure_page',
			\Secure_Forward_Privacy::erase( 'request@example.com', 1 ),
			0,
			'request@example.com',
			1,
			0,
			'secure-forward'
		);
		$this->assertTrue( $response['items_removed'] );
		$this->assertSame( 0, secure_forward_purge( $id ) );
	}
}
