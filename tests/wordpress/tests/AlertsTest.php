<?php
/**
 * Alerts by email from the scheduled drain (wp_mail captured with pre_wp_mail): an open circuit
 * after 15 minutes, new dead letters; one message per destination per hour; facts only.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class AlertsTest extends TestCase {

	/** Captured wp_mail() calls. @var list<array> */
	private $mails = array();

	protected function setUp(): void {
		parent::setUp();
		if ( self::fake() || ! function_exists( 'secure_forward_deliveries' ) ) {
			$this->markTestSkipped( 'alerts read the real extension (secure_forward_deliveries, circuit_opened_at)' );
		}
		delete_option( \Secure_Forward_Alerts::OPTION );
		$this->mails = array();
		add_filter( 'pre_wp_mail', array( $this, 'capture' ), 10, 2 );
	}

	protected function tearDown(): void {
		remove_filter( 'pre_wp_mail', array( $this, 'capture' ), 10 );
		delete_option( \Secure_Forward_Alerts::OPTION );
		parent::tearDown();
	}

	/** @internal pre_wp_mail: record, don't send. */
	public function capture( $short, $atts ) {
		$this->mails[] = $atts;
		return true;
	}

	/** Mails about one destination. */
	private function about( string $dest ): array {
		return array_values( array_filter( $this->mails, static fn( $m ) => false !== strpos( $m['subject'], '"' . $dest . '"' ) ) );
	}

	/** A fresh order (unique id and total) mapped like the plugin does. */
	private static function order( int $n ): array {
		$o = \WC_Order::from_fixture( 'registered-multi' );
		$d = \Secure_Forward_Mapper::map( $o );
		$d['id']    = 700000 + ( getmypid() % 1000 ) * 100 + $n;
		$d['total'] = sprintf( '%d.%02d', 300 + $n, $n );
		return $d;
	}

	/** Secrets and customer data that must never be in a message. */
	private function assert_facts_only( array $mail, array $order ): void {
		$all = wp_json_encode( $mail );
		$this->assertStringNotContainsString( 'sf-wordpress-test-api-key', $all, 'no key' );
		foreach ( array( $order['billing']['email'] ?? '', $order['billing']['last_name'] ?? '', $order['billing']['address_1'] ?? '', $order['total'] ) as $v ) {
			if ( '' !== (string) $v ) {
				$this->assertStringNotContainsString( (string) $v, $all, 'no order data' );
			}
		}
		$this->assertStringNotContainsString( '/status/', $all, 'no destination path' );
	}

	public function test_open_circuit_after_15_minutes_once_per_hour(): void {
		$order = null;
		for ( $i = 0; $i < 6; $i++ ) {
			$order = self::order( $i );
			secure_forward_order( $order, 'down', 'order.processing' );
		}
		$d = secure_forward_status()['destinations']['down'];
		$this->assertNotSame( 'closed', $d['circuit'], 'five 503s open the circuit' );
		$this->assertIsInt( $d['circuit_opened_at'], 'Unix seconds' );
		$opened = $d['circuit_opened_at'];
		$this->assertGreaterThan( time() - 600, $opened );

		$this->assertNotContains( 'down', \Secure_Forward_Alerts::check( $opened + 14 * 60 ), 'not yet: open for 14 minutes' );
		$this->assertSame( array(), $this->about( 'down' ) );

		$sent = \Secure_Forward_Alerts::check( $opened + 16 * 60 );
		$this->assertContains( 'down', $sent );
		$mails = $this->about( 'down' );
		$this->assertCount( 1, $mails );
		$m = $mails[0];
		$this->assertContains( get_option( 'admin_email' ), (array) $m['to'] );
		$this->assertStringContainsString( 'circuit', $m['message'] );
		$this->assertStringContainsString( gmdate( 'Y-m-d H:i', $opened ), $m['message'], 'since when' );
		$this->assertStringContainsString( 'Host: localhost', $m['message'], 'which host' );
		$this->assertMatchesRegularExpression( '/Queued: [1-9]\d*, dead: \d+/', $m['message'], 'counts' );
		$this->assertStringContainsString( 'page=secure-forward', $m['message'], 'where to look' );
		$this->assert_facts_only( $m, $order );

		$this->mails = array();
		$this->assertNotContains( 'down', \Secure_Forward_Alerts::check( $opened + 40 * 60 ), 'at most one per hour' );
		$this->assertSame( array(), $this->about( 'down' ) );
		$this->assertContains( 'down', \Secure_Forward_Alerts::check( $opened + 16 * 60 + 3600 ), 'again an hour later' );
	}

	public function test_new_dead_letters_with_their_event_ids_and_the_extra_address(): void {
		if ( ! isset( secure_forward_status()['destinations']['reject'] ) ) {
			$this->markTestSkipped( 'needs the refusing (422) destination `reject` of run.sh' );
		}
		$order = self::order( 50 );
		$site  = array( 'site' => \Secure_Forward_Plugin::site() ); // As the plugin forwards.
		$r     = secure_forward_order( $order, 'reject', 'order.processing', $site );
		$this->assertSame( 'dead', $r['status'] );
		if ( ! defined( 'SECURE_FORWARD_ALERT_EMAIL' ) ) {
			define( 'SECURE_FORWARD_ALERT_EMAIL', 'ops@example.org, not-an-address' );
		}
		$this->assertSame( array( get_option( 'admin_email' ), 'ops@example.org' ), \Secure_Forward_Alerts::recipients() );
		$now = time();
		$this->assertContains( 'reject', \Secure_Forward_Alerts::check( $now ) );
		$m = $this->about( 'reject' );
		$this->assertCount( 1, $m );
		$this->assertStringContainsString( $r['event_id'], $m[0]['message'] );
		$this->assertStringContainsString( 'new dead letter', $m[0]['message'] );
		$this->assertContains( 'ops@example.org', (array) $m[0]['to'] );
		$this->assert_facts_only( $m[0], $order );

		// Told once: the same dead letter is not news; a new one is, but not within the hour.
		$this->mails = array();
		$this->assertNotContains( 'reject', \Secure_Forward_Alerts::check( $now + 600 ) );
		$r2 = secure_forward_order( self::order( 51 ), 'reject', 'order.processing', $site );
		$other = secure_forward_order( self::order( 52 ), 'reject', 'order.processing', array( 'site' => '99:https://another-site.example' ) );
		wp_clear_scheduled_hook( \Secure_Forward_Alerts::CHECK_HOOK );
		$this->assertNotContains( 'reject', \Secure_Forward_Alerts::check( $now + 1800 ), 'within the hour of the last message' );
		$this->assertSame( array(), $this->about( 'reject' ) );
		$this->assertSame( $now + 3600, wp_next_scheduled( \Secure_Forward_Alerts::CHECK_HOOK ), 'a check when the hour has passed' );
		$this->assertSame( 10, has_action( \Secure_Forward_Alerts::CHECK_HOOK, array( 'Secure_Forward_Alerts', 'check' ) ) );
		wp_clear_scheduled_hook( \Secure_Forward_Alerts::CHECK_HOOK );
		$this->assertContains( 'reject', \Secure_Forward_Alerts::check( $now + 3700 ) );
		$m = $this->about( 'reject' );
		$this->assertCount( 1, $m );
		$this->assertStringContainsString( $r2['event_id'], $m[0]['message'] );
		$this->assertStringNotContainsString( $r['event_id'], $m[0]['message'], 'only the new one' );
		$this->assertStringNotContainsString( $other['event_id'], $m[0]['message'], "not another site's" );
		$this->assertNotContains( 'reject', \Secure_Forward_Alerts::check( $now + 7400 ), 'nothing new since' );
	}

	public function test_runs_after_the_scheduled_drain(): void {
		$this->assertSame( 20, has_action( \Secure_Forward_Plugin::DRAIN_HOOK, array( 'Secure_Forward_Alerts', 'check' ) ) );
		$this->assertSame( 10, has_action( \Secure_Forward_Plugin::DRAIN_HOOK, array( 'Secure_Forward_Plugin', 'drain' ) ) );
	}
}
