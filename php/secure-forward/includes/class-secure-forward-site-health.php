<?php
/**
 * Site Health tests.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Extension loaded + version, config parses, backlog age, dead letters.
 */
final class Secure_Forward_Site_Health {

	/** Backlog older than this (seconds) is a warning ("recommended"). */
	public const BACKLOG_WARNING_S = 15 * 60;

	/** Backlog older than this (seconds) is critical. */
	public const BACKLOG_CRITICAL_S = 2 * 3600;

	/**
	 * Hooks the tests.
	 */
	public static function register(): void {
		add_filter( 'site_status_tests', array( __CLASS__, 'tests' ) );
	}

	/**
	 * Adds the direct tests.
	 *
	 * @param array $tests Site Health tests.
	 */
	public static function tests( $tests ): array {
		$tests = is_array( $tests ) ? $tests : array();
		$list  = array( 'secure_forward_extension' => array( __( 'Secure Forward extension', 'secure-forward' ), 'test_extension' ) );
		if ( Secure_Forward_Plugin::extension_loaded() ) {
			$list['secure_forward_config']       = array( __( 'Secure Forward configuration', 'secure-forward' ), 'test_config' );
			$list['secure_forward_backlog']      = array( __( 'Secure Forward backlog', 'secure-forward' ), 'test_backlog' );
			$list['secure_forward_dead_letters'] = array( __( 'Secure Forward dead letters', 'secure-forward' ), 'test_dead_letters' );
		}
		foreach ( $list as $id => list( $label, $method ) ) {
			$tests['direct'][ $id ] = array(
				'label' => $label,
				'test'  => array( __CLASS__, $method ),
			);
		}
		return $tests;
	}

	/**
	 * One result in Site Health's format.
	 *
	 * @param string $test        Test id.
	 * @param string $status      good|recommended|critical.
	 * @param string $label       Headline.
	 * @param string $description Plain text description.
	 */
	private static function result( string $test, string $status, string $label, string $description ): array {
		return array(
			'label'       => $label,
			'status'      => $status,
			'badge'       => array(
				'label' => __( 'Order forwarding', 'secure-forward' ),
				'color' => 'critical' === $status ? 'red' : ( 'good' === $status ? 'blue' : 'orange' ),
			),
			'description' => '<p>' . esc_html( $description ) . '</p>',
			'actions'     => '',
			'test'        => $test,
		);
	}

	/**
	 * The extension is loaded; its version.
	 */
	public static function test_extension(): array {
		if ( ! Secure_Forward_Plugin::extension_loaded() ) {
			return self::result(
				'secure_forward_extension',
				'critical',
				__( 'The secure_forward PHP extension is not loaded', 'secure-forward' ),
				__( 'Orders are not forwarded. This plugin has no PHP fallback by design: API keys stay with the extension. Install the extension and set secure_forward.config in php.ini.', 'secure-forward' )
			);
		}
		return self::result(
			'secure_forward_extension',
			'good',
			/* translators: %s: extension version */
			sprintf( __( 'The secure_forward PHP extension %s is loaded', 'secure-forward' ), Secure_Forward_Plugin::extension_version() ),
			__( 'Orders are forwarded by the extension; the plugin never handles API keys.', 'secure-forward' )
		);
	}

	/**
	 * The status, or the exception it threw.
	 *
	 * @return array|\Throwable
	 */
	private static function status() {
		try {
			return secure_forward_status();
		} catch ( \Throwable $e ) {
			return $e;
		}
	}

	/**
	 * The configuration parses (status() doesn't throw).
	 */
	public static function test_config(): array {
		$s = self::status();
		if ( $s instanceof \Throwable ) {
			return self::result(
				'secure_forward_config',
				'critical',
				__( 'The Secure Forward configuration has a problem', 'secure-forward' ),
				get_class( $s ) . ': ' . $s->getMessage()
			);
		}
		return self::result(
			'secure_forward_config',
			'good',
			__( 'The Secure Forward configuration is valid', 'secure-forward' ),
			/* translators: %d: number of destinations */
			sprintf( __( 'Destinations configured: %d.', 'secure-forward' ), count( (array) ( $s['destinations'] ?? array() ) ) )
		);
	}

	/**
	 * Age of the oldest queued event.
	 */
	public static function test_backlog(): array {
		$s = self::status();
		if ( $s instanceof \Throwable ) {
			return self::result( 'secure_forward_backlog', 'critical', __( 'The Secure Forward backlog cannot be read', 'secure-forward' ), get_class( $s ) . ': ' . $s->getMessage() );
		}
		$age    = (float) ( $s['oldest_queued_age_s'] ?? 0 );
		$queued = (int) ( $s['queued'] ?? 0 );
		/* translators: 1: queued events, 2: minutes */
		$desc = sprintf( __( '%1$d event(s) queued; the oldest has waited %2$d minute(s).', 'secure-forward' ), $queued, (int) floor( $age / 60 ) );
		if ( ! empty( $s['last_error'] ) ) {
			$desc .= ' ' . __( 'Last error:', 'secure-forward' ) . ' ' . (string) $s['last_error'];
		}
		if ( $queued > 0 && $age > self::BACKLOG_CRITICAL_S ) {
			return self::result( 'secure_forward_backlog', 'critical', __( 'Orders have waited over 2 hours to be forwarded', 'secure-forward' ), $desc );
		}
		if ( $queued > 0 && $age > self::BACKLOG_WARNING_S ) {
			return self::result( 'secure_forward_backlog', 'recommended', __( 'Orders have waited over 15 minutes to be forwarded', 'secure-forward' ), $desc );
		}
		return self::result( 'secure_forward_backlog', 'good', __( 'Orders are forwarded without delay', 'secure-forward' ), $desc );
	}

	/**
	 * Dead letters present.
	 */
	public static function test_dead_letters(): array {
		$s = self::status();
		if ( $s instanceof \Throwable ) {
			return self::result( 'secure_forward_dead_letters', 'critical', __( 'Secure Forward dead letters cannot be read', 'secure-forward' ), get_class( $s ) . ': ' . $s->getMessage() );
		}
		$dead = (int) ( $s['dead'] ?? 0 );
		if ( $dead > 0 ) {
			return self::result(
				'secure_forward_dead_letters',
				'recommended',
				/* translators: %d: number of dead events */
				sprintf( __( '%d order event(s) could not be delivered', 'secure-forward' ), $dead ),
				__( 'They gave up after all retries. Check `wp secure-forward status`, fix the cause, then `wp secure-forward requeue <event_id>`.', 'secure-forward' )
			);
		}
		return self::result( 'secure_forward_dead_letters', 'good', __( 'No undeliverable order events', 'secure-forward' ), __( 'Every forwarded event was delivered or is still being retried.', 'secure-forward' ) );
	}

	/**
	 * Runs all registered tests (for CLI/tests): id → result.
	 *
	 * @return array<string, array>
	 */
	public static function run_all(): array {
		$out = array();
		foreach ( self::tests( array() )['direct'] as $id => $t ) {
			$out[ $id ] = call_user_func( $t['test'] );
		}
		return $out;
	}
}
