<?php
/**
 * Shared test helpers: resets per-request state, and reports what was sent — from the real
 * HTTPS receiver's log with the real extension, from the shim's records otherwise.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

abstract class TestCase extends \PHPUnit\Framework\TestCase {

	/** Byte offset into the receiver log (or count of shim deliveries) at mark(). @var int */
	private $log_offset = 0;

	protected function setUp(): void {
		parent::setUp();
		\SF_Test_Store::reset();
		\Secure_Forward_Plugin::instance()->reset_request_state();
		\Secure_Forward_Pending::maybe_install();
		\Secure_Forward_Pending::clear();
		if ( self::fake() ) {
			\SF_Fake_Extension::reset();
		}
		$this->mark();
	}

	/** Starts counting what is sent from now on. */
	protected function mark(): void {
		clearstatcache();
		$log              = getenv( 'SF_RECEIVER_LOG' );
		$this->log_offset = self::fake() ? count( \SF_Fake_Extension::$delivered ) : ( $log && is_file( $log ) ? filesize( $log ) : 0 );
	}

	protected function tearDown(): void {
		\Secure_Forward_Plugin::instance()->reset_request_state();
		remove_filter( 'secure_forward_destinations', array( $this, 'down_destination' ) );
		parent::tearDown();
	}

	/**
	 * From now on forwards are queued, not delivered: the shim's queue mode, or with the real
	 * extension the `down` destination (receiver answers 503; retry_schedule = [0, 3600]).
	 */
	protected function hold_deliveries(): void {
		if ( self::fake() ) {
			\SF_Fake_Extension::$mode = 'queued';
		} else {
			add_filter( 'secure_forward_destinations', array( $this, 'down_destination' ) );
		}
	}

	/** @internal filter callback for hold_deliveries(). */
	public function down_destination(): array {
		return array( 'down' );
	}

	/** Whether the TEST-ONLY shim is in use. */
	protected static function fake(): bool {
		return defined( 'SF_TEST_FAKE_EXTENSION' );
	}

	/** Simulates the end of the request (the plugin's shutdown callback). */
	protected function end_request(): array {
		$this->assertNotFalse( has_action( 'shutdown', array( \Secure_Forward_Plugin::instance(), 'on_shutdown' ) ), 'forward must be queued for shutdown' );
		return \Secure_Forward_Plugin::instance()->dispatch();
	}

	/**
	 * What reached the destination since setUp: list of ['event' => ..., 'destination' => ..., 'order_id' => ?int].
	 */
	protected function sent(): array {
		if ( self::fake() ) {
			return array_map(
				static fn( $s ) => array(
					'event'       => $s[0],
					'destination' => $s[2],
					'order_id'    => $s[1],
					'key'         => $s[3],
					'resend'      => $s[4],
					'data'        => $s[5],
				),
				array_slice( \SF_Fake_Extension::sent(), $this->log_offset )
			);
		}
		clearstatcache();
		$log = getenv( 'SF_RECEIVER_LOG' );
		if ( ! is_file( $log ) ) {
			return array(); // The receiver writes its log on the first request.
		}
		$text = (string) file_get_contents( $log, false, null, $this->log_offset );
		$out  = array();
		foreach ( array_filter( explode( "\n", $text ) ) as $line ) {
			$e = json_decode( $line, true );
			if ( ! is_array( $e ) || '/ok' !== $e['path'] ) {
				continue;
			}
			$body  = json_decode( $e['body'], true );
			$out[] = array(
				'event'       => $e['headers']['x-event-type'] ?? null,
				'destination' => null,
				'order_id'    => is_array( $body ) && isset( $body['id'] ) ? (int) $body['id'] : null,
				'key'         => $e['headers']['idempotency-key'] ?? null,
				'headers'     => $e['headers'],
				'body'        => $e['body'],
				'data'        => $body,
			);
		}
		return $out;
	}

	/** What was sent for one event since setUp. */
	protected function sent_of( string $event, ?int $order_id = null ): array {
		return array_values( array_filter( $this->sent(), static fn( $s ) => $s['event'] === $event && ( null === $order_id || null === $s['order_id'] || $s['order_id'] === $order_id ) ) );
	}

	/** The private notes this plugin added to an order. */
	protected function notes( int $order_id ): array {
		return array_column( \SF_Test_Store::$notes[ $order_id ] ?? array(), 0 );
	}

	/** Pending rows (the shop's own table). */
	protected function pending_rows(): array {
		return \Secure_Forward_Pending::all();
	}

	/** Runs the scheduled drain as WP-Cron / Action Scheduler would. */
	protected function drain(): ?array {
		\Secure_Forward_Plugin::instance()->reset_request_state();
		return \Secure_Forward_Plugin::drain();
	}

	/** Events sent since setUp (names only). */
	protected function sent_events(): array {
		return array_column( $this->sent(), 'event' );
	}

	/**
	 * Runs tests/wordpress/probe.php in a separate PHP process: WITHOUT the extension unless
	 * $php_args loads it.
	 */
	protected function probe( string $what, array $env = array(), array $php_args = array() ): array {
		$cmd  = array_merge( array( PHP_BINARY ), $php_args, array( __DIR__ . '/probe.php', $what ) );
		$proc = proc_open( $cmd, array( 1 => array( 'pipe', 'w' ), 2 => array( 'pipe', 'w' ) ), $pipes, null, array_merge( getenv(), $env ) );
		$out  = stream_get_contents( $pipes[1] );
		$err  = stream_get_contents( $pipes[2] );
		$rc   = proc_close( $proc );
		$this->assertSame( 0, $rc, "probe $what failed: $err $out" );
		$lines = array_filter( explode( "\n", trim( $out ) ) );
		$json  = json_decode( (string) end( $lines ), true );
		$this->assertIsArray( $json, "probe $what printed: $out $err" );
		return $json;
	}
}
