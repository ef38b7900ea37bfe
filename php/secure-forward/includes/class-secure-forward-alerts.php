<?php
/**
 * Told, not just shown: after each scheduled drain, an email to the site's admin address (and
 * SECURE_FORWARD_ALERT_EMAIL) when a destination's circuit has been open for 15 minutes or new
 * dead letters appeared; at most one message per destination per hour. Facts only: host,
 * counts, times, event ids; never a payload or a key.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Alerts by email.
 */
final class Secure_Forward_Alerts {

	/** Option holding per destination: last message time and the dead event ids already told. */
	public const OPTION = 'secure_forward_alerts';

	/** A circuit open this long is worth a message. */
	public const CIRCUIT_OPEN_S = 15 * MINUTE_IN_SECONDS;

	/** At most one message per destination per this many seconds. */
	public const INTERVAL_S = HOUR_IN_SECONDS;

	/** Event ids listed in one message. */
	public const MAX_IDS = 20;

	/** A check of its own, when a message had to wait for the hour to pass. */
	public const CHECK_HOOK = 'secure_forward_alert_check';

	/**
	 * Hooks: after the drain (priority 10) of the scheduled hook.
	 */
	public static function register(): void {
		add_action( Secure_Forward_Plugin::DRAIN_HOOK, array( __CLASS__, 'check' ), 20 );
		add_action( self::CHECK_HOOK, array( __CLASS__, 'check' ) );
	}

	/**
	 * Deactivation: no pending check (what was told stays).
	 */
	public static function deactivate(): void {
		wp_clear_scheduled_hook( self::CHECK_HOOK );
	}

	/**
	 * Uninstall: what was told, and the pending check.
	 */
	public static function uninstall(): void {
		delete_option( self::OPTION );
		self::deactivate();
	}

	/**
	 * Recipients: admin_email plus SECURE_FORWARD_ALERT_EMAIL (comma list or array), valid and unique.
	 *
	 * @return list<string>
	 */
	public static function recipients(): array {
		$to = array( (string) get_option( 'admin_email' ) );
		if ( defined( 'SECURE_FORWARD_ALERT_EMAIL' ) ) {
			$c  = constant( 'SECURE_FORWARD_ALERT_EMAIL' );
			$to = array_merge( $to, is_array( $c ) ? $c : explode( ',', (string) $c ) );
		}
		$out = array();
		foreach ( $to as $addr ) {
			$addr = sanitize_email( trim( (string) $addr ) );
			if ( '' !== $addr && is_email( $addr ) ) {
				$out[ strtolower( $addr ) ] = $addr;
			}
		}
		return array_values( $out );
	}

	/**
	 * Looks at every destination; sends what is due. Never throws.
	 *
	 * @param int|null $now Unix time (tests).
	 * @return list<string> Destinations a message was sent for.
	 */
	public static function check( $now = null ): array {
		$now = is_int( $now ) ? $now : time();
		$s   = Secure_Forward_Admin_Data::status();
		if ( null === $s['status'] ) {
			return array();
		}
		$state = get_option( self::OPTION, array() );
		$state = is_array( $state ) ? $state : array();
		$sent  = array();
		$later = null;
		foreach ( (array) ( $s['status']['destinations'] ?? array() ) as $name => $d ) {
			try {
				$name = (string) $name;
				$mine = (array) ( $state[ $name ] ?? array() );
				$told = array_flip( array_map( 'strval', (array) ( $mine['told'] ?? array() ) ) );
				$dead = self::new_dead( $name, $told );
				$open = self::open_since( (array) $d, $now );
				if ( ! $dead && null === $open ) {
					continue;
				}
				$due = (int) ( $mine['last'] ?? 0 ) + self::INTERVAL_S;
				if ( $now < $due ) {
					// Told within the hour: a check when it has passed (the drain may be idle by then).
					$later = null === $later ? $due : min( $later, $due );
					continue;
				}
				if ( self::send( $name, (array) $d, $dead, $open ) ) {
					$sent[]         = $name;
					$mine['last']   = $now;
					$ids            = array_merge( array_keys( $told ), array_column( $dead, 'event_id' ) );
					$mine['told']   = array_slice( array_values( array_unique( $ids ) ), -500 );
					$state[ $name ] = $mine;
				}
			} catch ( \Throwable $e ) {
				Secure_Forward_Logger::exception( 'alert for ' . $name, $e );
			}
		}
		if ( $sent ) {
			update_option( self::OPTION, $state, false );
		}
		if ( null !== $later ) {
			$next = wp_next_scheduled( self::CHECK_HOOK );
			if ( false === $next || $next > $later ) {
				wp_clear_scheduled_hook( self::CHECK_HOOK );
				wp_schedule_single_event( $later, self::CHECK_HOOK );
			}
		}
		return $sent;
	}

	/**
	 * Dead letters of a destination not told yet (newest first, up to 100).
	 *
	 * @param string             $name Destination.
	 * @param array<string, int> $told Event ids already told.
	 * @return list<array>
	 */
	private static function new_dead( string $name, array $told ): array {
		$r = Secure_Forward_Admin_Data::deliveries(
			array(
				'destination' => $name,
				'state'       => 'dead',
				'limit'       => 100,
				'order'       => 'desc',
			)
		);
		return array_values( array_filter( $r['rows'], static fn( $row ) => ! isset( $told[ (string) $row['event_id'] ] ) ) );
	}

	/**
	 * When the circuit opened, if it has been open for CIRCUIT_OPEN_S.
	 *
	 * @param array $d   Destination status.
	 * @param int   $now Now.
	 */
	private static function open_since( array $d, int $now ): ?int {
		// Open, or half-open (cool-down over, probes still failing): not delivering either way.
		if ( 'closed' === ( $d['circuit'] ?? 'closed' ) ) {
			return null;
		}
		$at = Secure_Forward_Admin_Data::timestamp( $d['circuit_opened_at'] ?? null );
		return null !== $at && $now - $at >= self::CIRCUIT_OPEN_S ? $at : null;
	}

	/**
	 * One message for one destination.
	 *
	 * @param string   $name Destination.
	 * @param array    $d    Its status.
	 * @param array    $dead New dead letters.
	 * @param int|null $open Circuit open since.
	 */
	private static function send( string $name, array $d, array $dead, ?int $open ): bool {
		$to = self::recipients();
		if ( ! $to ) {
			return false;
		}
		$site = wp_specialchars_decode( (string) get_option( 'blogname' ), ENT_QUOTES );
		/* translators: 1: site name, 2: destination */
		$subject = sprintf( __( '[%1$s] Secure Forward: destination "%2$s" needs attention', 'secure-forward' ), $site, $name );
		$lines   = array();
		if ( null !== $open ) {
			/* translators: 1: destination, 2: UTC time */
			$lines[] = sprintf( __( 'The circuit of destination "%1$s" has been open since %2$s: nothing is delivered to it until it answers again.', 'secure-forward' ), $name, gmdate( 'Y-m-d H:i', $open ) . ' UTC' );
		}
		if ( $dead ) {
			/* translators: 1: count, 2: destination */
			$lines[] = sprintf( _n( '%1$d new dead letter for destination "%2$s": it will not be retried until requeued.', '%1$d new dead letters for destination "%2$s": they will not be retried until requeued.', count( $dead ), 'secure-forward' ), count( $dead ), $name );
		}
		$lines[] = '';
		if ( ! empty( $d['host'] ) ) {
			/* translators: %s: host */
			$lines[] = sprintf( __( 'Host: %s', 'secure-forward' ), (string) $d['host'] );
		}
		/* translators: 1: queued count, 2: dead count */
		$lines[] = sprintf( __( 'Queued: %1$d, dead: %2$d.', 'secure-forward' ), (int) ( $d['queued'] ?? 0 ), (int) ( $d['dead'] ?? 0 ) );
		if ( ! empty( $d['last_error'] ) ) {
			/* translators: %s: redacted error */
			$lines[] = sprintf( __( 'Last error: %s', 'secure-forward' ), (string) $d['last_error'] );
		}
		if ( $dead ) {
			$lines[] = __( 'Dead letters (event id, order, HTTP status, reason):', 'secure-forward' );
			foreach ( array_slice( $dead, 0, self::MAX_IDS ) as $row ) {
				$lines[] = sprintf( '  %s  order %s  %s  %s', $row['event_id'], $row['order_id'], null === $row['http_status'] ? '-' : (int) $row['http_status'], (string) ( $row['reason'] ?? '' ) );
			}
			if ( count( $dead ) > self::MAX_IDS ) {
				/* translators: %d: count */
				$lines[] = sprintf( __( '  … and %d more.', 'secure-forward' ), count( $dead ) - self::MAX_IDS );
			}
		}
		$lines[] = '';
		/* translators: %s: admin URL */
		$lines[] = sprintf( __( 'Where to look: %s (or `wp secure-forward status`).', 'secure-forward' ), Secure_Forward_Admin::page_url() );
		$lines[] = __( 'You get at most one such message per destination per hour.', 'secure-forward' );
		return (bool) wp_mail( $to, $subject, implode( "\n", $lines ) );
	}
}
