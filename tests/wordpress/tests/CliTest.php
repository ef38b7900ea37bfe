<?php
/**
 * `wp secure-forward …` through the WP_CLI shim, and the plain Secure_Forward_CLI class.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class CliTest extends TestCase {

	private function wp( string $sub, array $args = array(), array $assoc = array() ): array {
		return \WP_CLI::sf_run( 'secure-forward', $sub, $args, $assoc );
	}

	public function test_command_registered(): void {
		$this->assertSame( 'Secure_Forward_CLI_Command', \WP_CLI::$commands['secure-forward'] ?? null );
		foreach ( array( 'status', 'flush', 'requeue', 'purge', 'preview', 'resend', 'reconcile' ) as $m ) {
			$this->assertTrue( method_exists( 'Secure_Forward_CLI_Command', $m ), $m );
		}
	}

	public function test_status(): void {
		$out = $this->wp( 'status' );
		$this->assertSame( 'line', $out[0][0] );
		$this->assertStringContainsString( 'order.processing', $out[0][1] );
		$this->assertSame( 'items', $out[1][0] );
		$this->assertSame( '(total)', $out[1][1][0]['destination'] );
		$this->assertContains( 'default', array_column( $out[1][1], 'destination' ) );
		$json = json_decode( $this->wp( 'status', array(), array( 'format' => 'json' ) )[0][1], true );
		foreach ( array( 'queued', 'dead', 'delivered', 'oldest_queued_age_s', 'last_success_at', 'last_error', 'circuit', 'destinations' ) as $k ) {
			$this->assertArrayHasKey( $k, $json );
		}
	}

	public function test_flush_with_progress_bar(): void {
		if ( self::fake() ) {
			\SF_Fake_Extension::$mode = 'queued';
			for ( $i = 0; $i < 13; $i++ ) {
				$o = \WC_Order::from_fixture( 'guest-simple', false );
				$o->save(); // order.created only.
			}
			$this->assertCount( 13, $this->end_request() );
			$out = $this->wp( 'flush', array(), array( 'max' => '12', 'seconds' => '5' ) );
			$bar = \WP_CLI\Utils\SF_Test_Progress::$last;
			$this->assertSame( 12, $bar->count );
			$this->assertSame( 12, $bar->ticks );
			$this->assertTrue( $bar->finished );
			$this->assertSame( array( 'success', 'delivered 12, retried 0, dead 0, remaining 1' ), end( $out ) );
			$this->assertCount( 12, $this->sent() );
			$out = $this->wp( 'flush' );
			$this->assertSame( array( 'success', 'delivered 1, retried 0, dead 0, remaining 0' ), end( $out ) );
		} else {
			$out = $this->wp( 'flush', array(), array( 'max' => '5', 'seconds' => '2' ) );
			$this->assertSame( 'success', end( $out )[0] );
			$this->assertMatchesRegularExpression( '/^delivered \d+, retried \d+, dead \d+, remaining \d+$/', end( $out )[1] );
		}
	}

	public function test_flush_rejects_bad_options(): void {
		$this->expectException( \SF_Test_CLI_Exit::class );
		$this->wp( 'flush', array(), array( 'max' => '0' ) );
	}

	public function test_requeue(): void {
		try {
			$this->wp( 'requeue', array( 'evt_does_not_exist' ) );
			$this->fail( 'requeue of an unknown event must error' );
		} catch ( \SF_Test_CLI_Exit $e ) {
			$this->assertSame( 'error', end( \WP_CLI::$out )[0] );
		}
		if ( self::fake() ) {
			\SF_Fake_Extension::$mode = 'queued';
			sf_test_classic_checkout( 'guest-simple' );
			$id                                        = $this->end_request()[0]['event_id'];
			\SF_Fake_Extension::$outbox[ $id ]['state'] = 'dead';
			\SF_Fake_Extension::$outbox[ $id ]['site']  = '2:https://other-shop.example';
			try {
				$this->wp( 'requeue', array( $id ) );
				$this->fail( 'another site\'s dead event is not requeued from this site' );
			} catch ( \SF_Test_CLI_Exit $e ) {
				$this->assertSame( 'dead', \SF_Fake_Extension::$outbox[ $id ]['state'] );
			}
			\SF_Fake_Extension::$outbox[ $id ]['site'] = \Secure_Forward_Plugin::site();
			$this->assertSame( array( array( 'success', "requeued $id" ) ), $this->wp( 'requeue', array( $id ) ) );
			$this->assertSame( 'queued', \SF_Fake_Extension::$outbox[ $id ]['state'] );
		}
	}

	public function test_purge(): void {
		$this->hold_deliveries();
		$o = sf_test_classic_checkout( 'long-note' );
		$this->end_request();
		$this->assertSame( array( array( 'success', 'purged 2 queued event(s) of order ' . $o->get_id() ) ), $this->wp( 'purge', array( (string) $o->get_id() ) ) );
		$this->assertSame( array( array( 'success', 'purged 0 queued event(s) of order ' . $o->get_id() ) ), $this->wp( 'purge', array( (string) $o->get_id() ) ) );
		$this->expectException( \SF_Test_CLI_Exit::class );
		$this->wp( 'purge', array( 'abc' ) );
	}

	public function test_preview_prints_prepare_of_the_mapped_order(): void {
		$o   = \WC_Order::from_fixture( 'pan-in-note', false );
		$o->save();
		$out = $this->wp( 'preview', array( (string) $o->get_id() ) );
		$this->assertSame( 'line', $out[0][0] );
		// The real extension applies the policy: the policy-selected mapping gives the same body
		// as the full one. The shim applies none, so it sees the selected mapping only.
		$full = static fn( $d ) => \Secure_Forward_Mapper::map( wc_get_order( $o->get_id() ), self::fake() ? $d : null );
		$this->assertSame( secure_forward_prepare( $full( 'default' ), 'default' ), $out[0][1] );
		$out = $this->wp( 'preview', array( (string) $o->get_id() ), array( 'destination' => 'erp' ) );
		$this->assertSame( secure_forward_prepare( $full( 'erp' ), 'erp' ), $out[0][1] );
		$this->assertSame( array(), $this->sent(), 'preview sends nothing' );
		try {
			$this->wp( 'preview', array( '424242' ) );
			$this->fail( 'unknown order must error' );
		} catch ( \SF_Test_CLI_Exit $e ) {
			$this->assertStringContainsString( 'not found', $e->getMessage() );
		}
		$this->expectException( \SF_Test_CLI_Exit::class );
		$this->expectExceptionMessage( 'SecureForward\\ConfigException' );
		$this->wp( 'preview', array( (string) $o->get_id() ), array( 'destination' => 'nope' ) );
	}

	public function test_plain_class_without_wp_cli(): void {
		$s = \Secure_Forward_CLI::status();
		$this->assertArrayHasKey( 'destinations', $s );
		$this->assertSame( array( 'delivered', 'retried', 'dead', 'remaining' ), array_keys( \Secure_Forward_CLI::flush( 1, 1.0 ) ) );
		$this->assertFalse( \Secure_Forward_CLI::requeue( 'evt_nope' ) );
	}
}
