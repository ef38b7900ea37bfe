<?php
/**
 * A forward survives whatever stops it before the extension has it — the extension absent for
 * one request, a fatal in a shutdown callback that runs before this plugin's, a key file that
 * can't be read — and is forwarded by the next drain once the cause is gone, exactly once.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class DurabilityTest extends TestCase {

	/** Runs probe-order.php; returns [exit code, state JSON, stderr]. */
	private function order_request( string $what, array $php_args ): array {
		$cmd  = array_merge( array( PHP_BINARY ), $php_args, array( dirname( __DIR__ ) . '/probe-order.php', $what ) );
		$env  = array_merge( getenv(), self::fake() ? array( 'SF_PROBE_FAKE_EXT' => '1' ) : array() );
		$proc = proc_open( $cmd, array( 1 => array( 'pipe', 'w' ), 2 => array( 'pipe', 'w' ) ), $pipes, null, $env );
		$out  = stream_get_contents( $pipes[1] );
		$err  = stream_get_contents( $pipes[2] );
		$rc   = proc_close( $proc );
		$line = '';
		foreach ( explode( "\n", $out ) as $l ) {
			if ( '{' === substr( $l, 0, 1 ) ) {
				$line = $l;
			}
		}
		$state = json_decode( $line, true );
		$this->assertIsArray( $state, "probe-order $what printed: $out $err" );
		return array( $rc, $state, $out . $err );
	}

	/** The other request's orders become this process's (the stand-in keeps orders in memory). */
	private function adopt( array $state ): int {
		foreach ( $state['orders'] as $id => $raw ) {
			\SF_Test_Store::$orders[ (int) $id ] = $raw;
		}
		\SF_Test_Store::$next_id = max( \SF_Test_Store::$next_id, (int) $state['next_id'] );
		return (int) array_key_first( $state['orders'] );
	}

	/** Two drains: the first forwards both events once, the second nothing. */
	private function assert_drained_exactly_once( int $order_id ): void {
		$this->drain();
		$this->assertSame( array( 'order.created', 'order.processing' ), $this->sent_events() );
		$this->assertSame( array( $order_id, $order_id ), array_column( $this->sent(), 'order_id' ) );
		$this->assertSame( array(), $this->pending_rows() );
		$this->drain();
		$this->assertCount( 2, $this->sent(), 'exactly once' );
		$notes = $this->notes( $order_id );
		$this->assertStringContainsString( 'Forwarded order.created to default: delivered', $notes[ count( $notes ) - 2 ] );
		$this->assertStringContainsString( 'Forwarded order.processing to default: delivered', end( $notes ) );
	}

	public function test_survives_the_extension_being_absent_for_one_request(): void {
		list( $rc, $state ) = $this->order_request( 'absent', array() ); // No extension loaded.
		$this->assertSame( 0, $rc );
		$this->assertFalse( $state['extension'] );
		$id = $this->adopt( $state );
		$this->assertCount( 2, $state['pending'], 'order.created and order.processing recorded in the shop DB' );
		foreach ( $state['pending'] as $row ) {
			$this->assertSame( $id, (int) $row['order_id'] );
			$this->assertSame( 'the secure_forward extension is not loaded', $row['last_error'] );
			$this->assertSame( \Secure_Forward_Plugin::site(), $row['site'] );
		}
		$this->assertSame( array( 'created', 'processing#1' ), array_column( $state['pending'], 'occurrence' ) );
		list( $note, $customer_note ) = $state['notes'][ $id ][0];
		$this->assertStringContainsString( 'is pending (the secure_forward extension is not loaded)', $note );
		$this->assertSame( 0, $customer_note, 'a private note' );
		$this->assertStringContainsString( "order $id:", $state['logs'][0] );
		$this->assertCount( 2, $this->pending_rows(), 'what the next drain finds' );
		$this->assertSame( array(), $this->sent() );
		$this->assert_drained_exactly_once( $id );
	}

	public function test_survives_a_fatal_in_a_shutdown_callback_before_the_forward(): void {
		$args = self::fake() ? array() : explode( ' ', (string) getenv( 'SF_PHP_ARGS' ) );
		list( $rc, $state, $output ) = $this->order_request( 'fatal', $args );
		$this->assertSame( 255, $rc, 'the request died' );
		$this->assertStringContainsString( 'sf_probe_no_such_function', $output );
		$this->assertTrue( $state['extension'] );
		$this->assertCount( 2, $state['pending'] );
		$this->assertNull( $state['pending'][0]['last_error'], 'never tried: the forward never ran' );
		$id = $this->adopt( $state );
		$this->assertSame( array(), $this->sent(), 'nothing reached the destination' );
		$this->assert_drained_exactly_once( $id );
	}

	public function test_survives_a_key_file_that_cannot_be_read(): void {
		$dest = self::fake() ? 'default' : 'late';
		$f    = static fn() => array( $dest );
		add_filter( 'secure_forward_destinations', $f );
		$this->break_key( $dest );
		try {
			$o = sf_test_classic_checkout( 'guest-simple' );
			$this->assertSame( array(), $this->end_request(), 'the extension refused it: no receipt' );
			$rows = $this->pending_rows();
			$this->assertCount( 2, $rows );
			$this->assertStringContainsString( 'ConfigException', $rows[0]['last_error'] );
			$this->assertStringContainsString( 'is pending', $this->notes( $o->get_id() )[0] );
			$this->assertStringContainsString( 'order ' . $o->get_id() . ':', \SF_Test_Store::$logs[0][1] );
			$health = \Secure_Forward_Site_Health::test_config();
			$this->assertSame( 'critical', $health['status'], 'Site Health is red while a key cannot be read' );
			$this->assertStringContainsString( $dest . ':', $health['description'] );

			$this->drain();
			$this->assertSame( array(), $this->sent(), 'still broken: still pending' );
			$this->assertCount( 2, $this->pending_rows() );
			$this->assertCount( 2, $this->notes( $o->get_id() ), 'the same reason is noted once' );
		} finally {
			$this->fix_key( $dest );
		}
		try {
			$this->drain();
			$this->assertSame( array( 'order.created', 'order.processing' ), $this->sent_events() );
			$this->assertSame( array(), $this->pending_rows() );
			$this->drain();
			$this->assertCount( 2, $this->sent(), 'exactly once' );
			$this->assertSame( 'good', \Secure_Forward_Site_Health::test_config()['status'] );
		} finally {
			remove_filter( 'secure_forward_destinations', $f );
		}
	}

	private function break_key( string $dest ): void {
		if ( self::fake() ) {
			\SF_Fake_Extension::$broken_keys = array( $dest );
			return;
		}
		chmod( (string) getenv( 'SF_LATE_KEY' ), 0644 ); // The extension refuses group/world-readable keys.
		usleep( 1100000 ); // Past the extension's 1 s key re-check.
		clearstatcache();
	}

	private function fix_key( string $dest ): void {
		if ( self::fake() ) {
			\SF_Fake_Extension::$broken_keys = array();
			return;
		}
		chmod( (string) getenv( 'SF_LATE_KEY' ), 0600 );
		clearstatcache();
	}
}
