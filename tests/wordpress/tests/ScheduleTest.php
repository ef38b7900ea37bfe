<?php
/**
 * The drain: scheduled only while something is pending or queued (one single WP-Cron event or
 * Action Scheduler action a minute ahead), never checked on an ordinary page load.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class ScheduleTest extends TestCase {

	protected function setUp(): void {
		parent::setUp();
		\Secure_Forward_Plugin::clear_schedule();
	}

	public function test_ordinary_page_load_queries_nothing_and_schedules_nothing(): void {
		global $wpdb;
		$this->assertFalse( has_action( 'init', array( \Secure_Forward_Plugin::class, 'ensure_schedule' ) ) );
		$this->assertFalse( has_action( 'action_scheduler_init', array( \Secure_Forward_Plugin::class, 'ensure_schedule' ) ) );
		$before = $wpdb->num_queries;
		\Secure_Forward_Plugin::instance()->register_status_hooks(); // What the plugin runs on init.
		$this->assertSame( $before, $wpdb->num_queries, 'no query on init' );
		$this->assertFalse( wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ), 'idle: no drain scheduled' );
	}

	public function test_recording_a_forward_schedules_one_single_drain_a_minute_ahead(): void {
		$this->hold_deliveries();
		$t = time();
		sf_test_classic_checkout( 'guest-simple' );
		$event = wp_get_scheduled_event( \Secure_Forward_Plugin::DRAIN_HOOK );
		$this->assertIsObject( $event, 'scheduled at once, before the request ends (stored in the real DB)' );
		$this->assertFalse( $event->schedule, 'a single event, not a recurring one' );
		$this->assertGreaterThanOrEqual( $t + 60, $event->timestamp );
		$this->assertLessThanOrEqual( time() + 60, $event->timestamp );
		$cron = $GLOBALS['wpdb']->get_var( $GLOBALS['wpdb']->prepare( "SELECT option_value FROM {$GLOBALS['wpdb']->options} WHERE option_name = %s", 'cron' ) );
		$this->assertStringContainsString( \Secure_Forward_Plugin::DRAIN_HOOK, $cron );
		sf_test_classic_checkout( 'unicode-jp' );
		$this->assertSame( $event->timestamp, wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ), 'still one' );
	}

	public function test_drain_forwards_flushes_and_reschedules_only_while_needed(): void {
		$this->hold_deliveries();
		sf_test_classic_checkout( 'guest-simple' );
		$r = $this->end_request();
		$this->assertSame( array( 'queued', 'queued' ), array_column( $r, 'status' ) );
		$this->assertSame( array(), $this->sent() );
		\Secure_Forward_Plugin::clear_schedule();

		if ( self::fake() ) {
			\SF_Fake_Extension::$mode = 'delivered';
		}
		do_action( \Secure_Forward_Plugin::DRAIN_HOOK ); // What WP-Cron runs.
		$result = $this->drain();
		$this->assertIsArray( $result );
		foreach ( array( 'delivered', 'retried', 'dead', 'remaining', 'pending_forwarded', 'pending_left' ) as $k ) {
			$this->assertIsInt( $result[ $k ] ?? null, $k );
		}
		if ( self::fake() ) {
			$this->assertSame( array( 'order.created', 'order.processing' ), $this->sent_events() );
			$this->assertSame( 0, $result['remaining'] );
			$this->assertFalse( wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ), 'nothing left: no next drain' );
		} else {
			$this->assertGreaterThan( 0, $result['remaining'] ); // The `down` destination keeps them queued.
			$this->assertNotFalse( wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ), 'queued events: the next drain is scheduled' );
		}
	}

	public function test_action_scheduler_used_when_present(): void {
		$r = $this->probe( 'action-scheduler' );
		$this->assertSame( array(), $r['at_load'], 'nothing scheduled on a page load' );
		$this->assertCount( 1, $r['after_record'], 'one single action once something is recorded' );
		$a = $r['after_record'][0];
		$this->assertSame( \Secure_Forward_Plugin::DRAIN_HOOK, $a['hook'] );
		$this->assertSame( 'secure-forward', $a['group'] );
		$this->assertSame( 60, $a['delay'] );
		$this->assertFalse( $r['wp_cron'], 'no WP-Cron event when Action Scheduler drains' );
		$this->assertCount( 1, $r['after_second_record'], 'not twice' );
		$this->assertSame( array(), $r['after_deactivate'] );
	}

	public function test_shutdown_priority_is_after_output_flush(): void {
		$o = \WC_Order::from_fixture( 'guest-simple', false );
		$o->save();
		$this->assertSame( \Secure_Forward_Plugin::SHUTDOWN_PRIORITY, has_action( 'shutdown', array( \Secure_Forward_Plugin::instance(), 'on_shutdown' ) ) );
		$this->assertGreaterThan( has_action( 'shutdown', 'wp_ob_end_flush_all' ), \Secure_Forward_Plugin::SHUTDOWN_PRIORITY );
	}
}
