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
	 * The configuration parses and every destination's credentials can be read now
	 * (secure_forward_auth_check() per destination): critical when one cannot.
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
		$names = array_map( 'strval', array_keys( (array) ( $s['destinations'] ?? array() ) ) );
		$bad   = array();
		foreach ( $names as $name ) {
			if ( ! function_exists( 'secure_forward_auth_check' ) ) {
				break;
			}
			try {
				secure_forward_auth_check( $name );
			} catch ( \Throwable $e ) {
				$bad[] = $name . ': ' . get_class( $e ) . ': ' . $e->getMessage();
			}
		}
		if ( $bad ) {
			return self::result(
				'secure_forward_config',
				'critical',
				__( 'A Secure Forward destination cannot use its credentials', 'secure-forward' ),
				__( 'Orders to it stay queued or pending until this is fixed.', 'secure-forward' ) . ' ' . implode( '; ', $bad )
			);
		}
		return self::result(
			'secure_forward_config',
			'good',
			__( 'The Secure Forward configuration is valid', 'secure-forward' ),
			/* translators: 1: number of destinations, 2: their names */
			sprintf( __( 'Destinations configured: %1$d (%2$s); each one\'s credentials can be read.', 'secure-forward' ), count( $names ), implode( ', ', $names ) )
		);
	}

	/**
	 * Age of the oldest queued event, forwards still pending in the shop, circuits, undecryptable rows.
	 */
	public static function test_backlog(): array {
		$s = self::status();
		if ( $s instanceof \Throwable ) {
			return self::result( 'secure_forward_backlog', 'critical', __( 'The Secure Forward backlog cannot be read', 'secure-forward' ), get_class( $s ) . ': ' . $s->getMessage() );
		}
		$age     = (float) ( $s['oldest_queued_age_s'] ?? 0 );
		$queued  = (int) ( $s['queued'] ?? 0 );
		$pending = self::pending();
		/* translators: 1: queued events, 2: minutes, 3: pending forwards */
		$desc = sprintf( __( '%1$d event(s) queued; the oldest has waited %2$d minute(s). %3$d forward(s) pending in the shop (not yet accepted by the extension).', 'secure-forward' ), $queued, (int) floor( $age / 60 ), count( $pending ) );
		$open = array();
		foreach ( (array) ( $s['destinations'] ?? array() ) as $name => $d ) {
			$circuit = (string) ( $d['circuit'] ?? 'closed' );
			if ( 'closed' !== $circuit ) {
				$open[] = $name . ': ' . $circuit;
			}
		}
		if ( $open ) {
			$desc .= ' ' . __( 'Circuits:', 'secure-forward' ) . ' ' . implode( ', ', $open ) . '.';
		}
		$undecryptable = (int) ( $s['undecryptable'] ?? 0 );
		if ( $undecryptable > 0 ) {
			/* translators: %d: rows */
			$desc .= ' ' . sprintf( __( '%d outbox row(s) cannot be decrypted (outbox key changed?).', 'secure-forward' ), $undecryptable );
		}
		$oldest_pending = 0;
		if ( $pending ) {
			$row            = $pending[0]; // Oldest first.
			$oldest_pending = time() - (int) strtotime( $row['created_at'] . ' UTC' );
			/* translators: 1: order id, 2: event, 3: reason */
			$desc .= ' ' . sprintf( __( 'Oldest pending: order %1$d %2$s (%3$s).', 'secure-forward' ), (int) $row['order_id'], (string) $row['event'], (string) ( $row['last_error'] ?? __( 'not tried yet', 'secure-forward' ) ) );
		}
		if ( ! empty( $s['last_error'] ) ) {
			$desc .= ' ' . __( 'Last error:', 'secure-forward' ) . ' ' . (string) $s['last_error'];
		}
		$worst = max( $queued > 0 ? $age : 0, $oldest_pending );
		if ( $undecryptable > 0 || $worst > self::BACKLOG_CRITICAL_S ) {
			return self::result( 'secure_forward_backlog', 'critical', __( 'Orders have waited over 2 hours to be forwarded, or outbox rows cannot be read', 'secure-forward' ), $desc );
		}
		if ( $worst > self::BACKLOG_WARNING_S || $open ) {
			return self::result( 'secure_forward_backlog', 'recommended', __( 'Order forwarding is delayed', 'secure-forward' ), $desc );
		}
		return self::result( 'secure_forward_backlog', 'good', __( 'Orders are forwarded without delay', 'secure-forward' ), $desc );
	}

	/**
	 * Pending rows (never throws).
	 *
	 * @return list<array<string, mixed>>
	 */
	private static function pending(): array {
		try {
			return Secure_Forward_Pending::all( 100 );
		} catch ( \Throwable $e ) {
			return array();
		}
	}

	/**
	 * Dead letters present, with their event ids when secure_forward_deliveries() exists.
	 */
	public static function test_dead_letters(): array {
		$s = self::status();
		if ( $s instanceof \Throwable ) {
			return self::result( 'secure_forward_dead_letters', 'critical', __( 'Secure Forward dead letters cannot be read', 'secure-forward' ), get_class( $s ) . ': ' . $s->getMessage() );
		}
		$dead = (int) ( $s['dead'] ?? 0 );
		if ( $dead > 0 ) {
			$list = '';
			if ( function_exists( 'secure_forward_deliveries' ) ) {
				try {
					$d    = secure_forward_deliveries(
						array(
							'state' => 'dead',
							'limit' => 20,
						)
					);
					$rows = array();
					foreach ( (array) ( $d['rows'] ?? array() ) as $r ) {
						$rows[] = sprintf( '%s (order %s, %s to %s%s)', (string) ( $r['event_id'] ?? '' ), (string) ( $r['order_id'] ?? '' ), (string) ( $r['event'] ?? '' ), (string) ( $r['destination'] ?? '' ), empty( $r['http_status'] ) ? '' : ', HTTP ' . (int) $r['http_status'] );
					}
					$list = ' ' . __( 'Dead events:', 'secure-forward' ) . ' ' . implode( '; ', $rows ) . '.';
				} catch ( \Throwable $e ) {
					$list = '';
				}
			}
			return self::result(
				'secure_forward_dead_letters',
				'recommended',
				/* translators: %d: number of dead events */
				sprintf( __( '%d order event(s) could not be delivered', 'secure-forward' ), $dead ),
				__( 'They gave up after all retries or were refused (4xx). Fix the cause, then `wp secure-forward requeue <event_id>`.', 'secure-forward' ) . ( '' === $list ? ' ' . __( 'Their event ids are in the order notes and the log.', 'secure-forward' ) : $list )
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
