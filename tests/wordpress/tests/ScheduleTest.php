<?php
/**
 * The outbox drain: WP-Cron every minute here (no Action Scheduler), calling secure_forward_flush().
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class ScheduleTest extends TestCase {

	public function test_no_action_scheduler_so_wp_cron_every_minute(): void {
		$this->assertFalse( \Secure_Forward_Plugin::has_action_scheduler() );
		$schedules = wp_get_schedules();
		$this->assertSame( 60, $schedules[ \Secure_Forward_Plugin::CRON_SCHEDULE ]['interval'] );
		$event = wp_get_scheduled_event( \Secure_Forward_Plugin::DRAIN_HOOK );
		$this->assertIsObject( $event, 'drain scheduled in WP-Cron (stored in the real DB)' );
		$this->assertSame( \Secure_Forward_Plugin::CRON_SCHEDULE, $event->schedule );
		$this->assertSame( 60, $event->interval );
		$this->assertNotFalse( has_action( \Secure_Forward_Plugin::DRAIN_HOOK, array( \Secure_Forward_Plugin::class, 'drain' ) ) );
		// The cron array really is in the database.
		$cron = $GLOBALS['wpdb']->get_var( $GLOBALS['wpdb']->prepare( "SELECT option_value FROM {$GLOBALS['wpdb']->options} WHERE option_name = %s", 'cron' ) );
		$this->assertStringContainsString( \Secure_Forward_Plugin::DRAIN_HOOK, $cron );
	}

	public function test_ensure_schedule_is_idempotent_and_repairs(): void {
		$first = wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK );
		\Secure_Forward_Plugin::ensure_schedule();
		$this->assertSame( $first, wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ) );
		wp_clear_scheduled_hook( \Secure_Forward_Plugin::DRAIN_HOOK );
		\Secure_Forward_Plugin::ensure_schedule();
		$this->assertNotFalse( wp_next_scheduled( \Secure_Forward_Plugin::DRAIN_HOOK ) );
	}

	public function test_drain_flushes_the_outbox(): void {
		$this->hold_deliveries();
		sf_test_classic_checkout( 'guest-simple' );
		$r = $this->end_request();
		$this->assertSame( 'queued', $r[0]['status'] );
		$this->assertSame( array(), $this->sent() );

		do_action( \Secure_Forward_Plugin::DRAIN_HOOK ); // What WP-Cron runs.
		$result = \Secure_Forward_Plugin::drain();
		$this->assertIsArray( $result );
		foreach ( array( 'delivered', 'retried', 'dead', 'remaining' ) as $k ) { // The contract's keys (more may follow).
			$this->assertIsInt( $result[ $k ] ?? null, $k );
		}
		if ( self::fake() ) {
			$this->assertSame( array( 'order.processing' ), $this->sent_events() );
		}
	}

	public function test_action_scheduler_used_when_present(): void {
		$r = $this->probe( 'action-scheduler' );
		$this->assertSame( array(), $r['before_as_init'], 'waits for action_scheduler_init' );
		$this->assertSame(
			array(
				array(
					'interval' => 60,
					'hook'     => \Secure_Forward_Plugin::DRAIN_HOOK,
					'args'     => array(),
					'group'    => 'secure-forward',
					'unique'   => true,
				),
			),
			$r['scheduled'],
			'one recurring action, group secure-forward, every minute'
		);
		$this->assertFalse( $r['wp_cron'], 'WP-Cron event removed when Action Scheduler drains' );
		$this->assertSame( array(), $r['after_deactivate'] );
	}

	public function test_shutdown_priority_is_after_output_flush(): void {
		\Secure_Forward_Plugin::instance()->queue( 1, 'order.processing' );
		$this->assertSame( \Secure_Forward_Plugin::SHUTDOWN_PRIORITY, has_action( 'shutdown', array( \Secure_Forward_Plugin::instance(), 'on_shutdown' ) ) );
		$this->assertGreaterThan( has_action( 'shutdown', 'wp_ob_end_flush_all' ), \Secure_Forward_Plugin::SHUTDOWN_PRIORITY );
	}
}
