<?php
/**
 * Site Health with the extension (this process) and without it (a separate PHP process).
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class SiteHealthTest extends TestCase {

	private function results(): array {
		$tests = apply_filters( 'site_status_tests', array( 'direct' => array(), 'async' => array() ) );
		$out   = array();
		foreach ( $tests['direct'] as $id => $t ) {
			if ( 0 === strpos( $id, 'secure_forward_' ) ) {
				$out[ $id ] = call_user_func( $t['test'] );
			}
		}
		return $out;
	}

	public function test_registered_and_good_with_extension(): void {
		$r = $this->results();
		$this->assertSame( array( 'secure_forward_extension', 'secure_forward_config', 'secure_forward_backlog', 'secure_forward_dead_letters' ), array_keys( $r ) );
		foreach ( $r as $id => $res ) {
			$this->assertSame( $id, $res['test'] );
			foreach ( array( 'label', 'status', 'badge', 'description', 'actions', 'test' ) as $k ) {
				$this->assertArrayHasKey( $k, $res );
			}
		}
		$this->assertSame( 'good', $r['secure_forward_extension']['status'] );
		$this->assertStringContainsString( (string) \Secure_Forward_Plugin::extension_version(), $r['secure_forward_extension']['label'] );
		$this->assertSame( 'good', $r['secure_forward_config']['status'] );
		if ( self::fake() ) {
			$this->assertSame( '0.0.0-test-shim', \Secure_Forward_Plugin::extension_version() );
			$this->assertSame( 'good', $r['secure_forward_backlog']['status'] );
			$this->assertSame( 'good', $r['secure_forward_dead_letters']['status'] );
		} else {
			$this->assertSame( phpversion( 'secure_forward' ), \Secure_Forward_Plugin::extension_version() );
			$this->assertContains( $r['secure_forward_backlog']['status'], array( 'good', 'recommended', 'critical' ) );
		}
	}

	public function test_backlog_thresholds_and_dead_letters(): void {
		if ( ! self::fake() ) {
			$this->markTestSkipped( 'ages are simulated with the shim only' );
		}
		\SF_Fake_Extension::$mode = 'queued';
		$o = sf_test_classic_checkout( 'guest-simple' );
		$r = $this->end_request();
		$id = $r[0]['event_id'];
		$this->assertSame( 'good', $this->results()['secure_forward_backlog']['status'] );
		\SF_Fake_Extension::$outbox[ $id ]['queued_at'] = microtime( true ) - 16 * 60;
		$this->assertSame( 'recommended', $this->results()['secure_forward_backlog']['status'] );
		\SF_Fake_Extension::$outbox[ $id ]['queued_at'] = microtime( true ) - 2 * 3600 - 60;
		$this->assertSame( 'critical', $this->results()['secure_forward_backlog']['status'] );
		\SF_Fake_Extension::$outbox[ $id ]['state'] = 'dead';
		$res = $this->results();
		$this->assertSame( 'good', $res['secure_forward_backlog']['status'] );
		$this->assertSame( 'recommended', $res['secure_forward_dead_letters']['status'] );
		$this->assertStringContainsString( '1 order event', $res['secure_forward_dead_letters']['label'] );
	}

	public function test_broken_config_is_critical(): void {
		if ( ! self::fake() ) {
			// secure_forward.config is PHP_INI_SYSTEM: a separate process with a missing config file.
			$r = $this->probe( 'site-health', array(), array( '-d', 'extension=' . getenv( 'SF_EXTENSION' ), '-d', 'secure_forward.config=/nonexistent/secure-forward.toml' ) );
			$this->assertTrue( $r['extension_loaded'] );
			$this->assertSame( 'good', $r['results']['secure_forward_extension']['status'] );
			$this->assertSame( 'critical', $r['results']['secure_forward_config']['status'] );
			$this->assertStringContainsString( 'ConfigException', $r['results']['secure_forward_config']['description'] );
			$this->assertSame( '', $r['admin_notices'] );
			return;
		}
		\SF_Fake_Extension::$broken_config = 'config /etc/x.toml: destinations.default.url: only https:// URLs are allowed';
		$r = $this->results();
		$this->assertSame( 'critical', $r['secure_forward_config']['status'] );
		$this->assertStringContainsString( 'ConfigException', $r['secure_forward_config']['description'] );
		$this->assertSame( 'critical', $r['secure_forward_backlog']['status'] );
	}

	public function test_without_extension_critical_and_admin_notice(): void {
		$r = $this->probe( 'site-health' );
		$this->assertFalse( $r['extension_loaded'] );
		$this->assertFalse( $r['functions'], 'no PHP fallback defines the extension functions' );
		$this->assertTrue( $r['plugin_loaded'] );
		$this->assertSame( array( 'secure_forward_extension' ), array_keys( $r['results'] ) );
		$this->assertSame( 'critical', $r['results']['secure_forward_extension']['status'] );
		$this->assertStringContainsString( 'notice-error', $r['admin_notices'] );
		$this->assertStringContainsString( 'secure_forward PHP extension is not loaded', $r['admin_notices'] );
		$this->assertSame( $r['admin_notices'], $r['admin_notices_shop_manager'], 'shop managers (manage_woocommerce) see it too' );
		$this->assertSame( array(), $r['dispatch'], 'nothing is sent without the extension' );
		$this->assertSame( 'the secure_forward PHP extension is not loaded', $r['cli'] );
	}

	public function test_no_notice_with_extension(): void {
		wp_set_current_user( 1 );
		ob_start();
		\Secure_Forward_Plugin::admin_notice();
		$this->assertSame( '', ob_get_clean() );
		wp_set_current_user( 0 );
	}

	public function test_plugin_never_reads_key_material(): void {
		$src = '';
		$it  = new \RecursiveIteratorIterator( new \RecursiveDirectoryIterator( WP_PLUGIN_DIR . '/secure-forward', \FilesystemIterator::SKIP_DOTS ) );
		foreach ( $it as $f ) {
			if ( str_ends_with( (string) $f, '.php' ) ) {
				$src .= file_get_contents( (string) $f );
			}
		}
		foreach ( array( 'key_file', 'wp_remote_post', 'curl_', 'fsockopen', 'stream_socket_client', 'ini_get', 'getenv' ) as $needle ) {
			$this->assertStringNotContainsString( $needle, $src, "plugin must not handle keys or send by itself ($needle)" );
		}
	}

	public function test_dead_letters_are_listed_with_their_event_ids(): void {
		$f = static fn() => array( 'reject' );
		add_filter( 'secure_forward_destinations', $f );
		try {
			$o = sf_test_classic_checkout( 'guest-simple' );
			$r = $this->end_request();
		} finally {
			remove_filter( 'secure_forward_destinations', $f );
		}
		$this->assertSame( array( 'dead', 'dead' ), array_column( $r, 'status' ) );
		$res = \Secure_Forward_Site_Health::test_dead_letters();
		$this->assertSame( 'recommended', $res['status'] );
		if ( function_exists( 'secure_forward_deliveries' ) ) {
			foreach ( $r as $receipt ) {
				$this->assertStringContainsString( $receipt['event_id'], $res['description'], 'the ids `requeue` needs' );
			}
			$this->assertStringContainsString( 'order ' . $o->get_id(), $res['description'] );
		} else {
			$this->assertStringContainsString( 'order notes', $res['description'], 'without secure_forward_deliveries(): counts, and where the ids are' );
		}
		// A first-attempt 4xx is said at once: a note and a log line, with the event id.
		$notes = $this->notes( $o->get_id() );
		$this->assertStringContainsString( 'Forwarded order.created to reject: dead (HTTP 422)', $notes[0] );
		$this->assertStringContainsString( '422', $notes[0] );
		$this->assertStringContainsString( $r[0]['event_id'], $notes[0] );
		$this->assertStringContainsString( 'order ' . $o->get_id() . ':', \SF_Test_Store::$logs[0][1] );
		$this->assertStringContainsString( $r[0]['event_id'], \SF_Test_Store::$logs[0][1] );
	}

	public function test_backlog_names_pending_forwards(): void {
		\Secure_Forward_Pending::add( 4242, 'order.processing', 'processing#1', 'default', \Secure_Forward_Plugin::site() );
		\Secure_Forward_Pending::failed( (int) \Secure_Forward_Pending::all()[0]['id'], 'the secure_forward extension is not loaded' );
		$res = \Secure_Forward_Site_Health::test_backlog();
		$this->assertStringContainsString( '1 forward(s) pending in the shop', $res['description'] );
		$this->assertStringContainsString( 'order 4242 order.processing (the secure_forward extension is not loaded)', $res['description'] );
	}
}
