<?php
/**
 * The logic behind `wp secure-forward` (plain class; testable without WP-CLI).
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Operator commands. Errors are thrown as RuntimeException (or the extension's exceptions).
 */
final class Secure_Forward_CLI {

	/** Events flushed per extension call while a progress bar is shown. */
	public const FLUSH_CHUNK = 10;

	/**
	 * Throws unless the extension is loaded.
	 */
	private static function need_extension(): void {
		if ( ! Secure_Forward_Plugin::extension_loaded() ) {
			throw new \RuntimeException( 'the secure_forward PHP extension is not loaded' );
		}
	}

	/**
	 * The extension's status.
	 */
	public static function status(): array {
		self::need_extension();
		$s                      = secure_forward_status();
		$s['extension_version'] = Secure_Forward_Plugin::extension_version();
		$s['events']            = Secure_Forward_Plugin::events();
		return $s;
	}

	/**
	 * Status as table rows: one "total" row and one per destination.
	 *
	 * @param array $s A status().
	 * @return list<array<string, mixed>>
	 */
	public static function status_rows( array $s ): array {
		$cols = array( 'queued', 'dead', 'delivered', 'oldest_queued_age_s', 'last_success_at', 'last_error', 'circuit' );
		$row  = static function ( string $name, array $d ) use ( $cols ): array {
			$r = array( 'destination' => $name );
			foreach ( $cols as $c ) {
				$v       = $d[ $c ] ?? '';
				$r[ $c ] = is_scalar( $v ) || null === $v ? $v : wp_json_encode( $v );
			}
			return $r;
		};
		$rows = array( $row( '(total)', $s ) );
		foreach ( (array) ( $s['destinations'] ?? array() ) as $name => $d ) {
			$rows[] = $row( (string) $name, (array) $d );
		}
		return $rows;
	}

	/**
	 * Drains up to $max events within $seconds, in chunks so progress can be shown.
	 *
	 * @param int           $max      Most events to attempt.
	 * @param float         $seconds  Time budget.
	 * @param callable|null $progress Called with (attempted in this chunk, totals so far).
	 * @return array{delivered: int, retried: int, dead: int, remaining: int}
	 */
	public static function flush( int $max = 100, float $seconds = 10.0, ?callable $progress = null ): array {
		self::need_extension();
		if ( $max < 1 ) {
			throw new \RuntimeException( '--max must be at least 1' );
		}
		if ( $seconds <= 0 ) {
			throw new \RuntimeException( '--seconds must be positive' );
		}
		$totals   = array(
			'delivered' => 0,
			'retried'   => 0,
			'dead'      => 0,
			'remaining' => 0,
		);
		$deadline = microtime( true ) + $seconds;
		$done     = 0;
		while ( $done < $max ) {
			$left = $deadline - microtime( true );
			if ( $left <= 0 ) {
				break;
			}
			$r        = secure_forward_flush( min( self::FLUSH_CHUNK, $max - $done ), $left );
			$attempts = (int) ( $r['delivered'] ?? 0 ) + (int) ( $r['retried'] ?? 0 ) + (int) ( $r['dead'] ?? 0 );
			foreach ( array( 'delivered', 'retried', 'dead' ) as $k ) {
				$totals[ $k ] += (int) ( $r[ $k ] ?? 0 );
			}
			$totals['remaining'] = (int) ( $r['remaining'] ?? 0 );
			$done               += $attempts;
			if ( $progress ) {
				$progress( $attempts, $totals );
			}
			if ( 0 === $attempts || 0 === $totals['remaining'] ) {
				break;
			}
		}
		return $totals;
	}

	/**
	 * Expected number of events a flush will touch (for the progress bar).
	 *
	 * @param int $max Most events.
	 */
	public static function flush_estimate( int $max ): int {
		try {
			$s = secure_forward_status();
			return max( 0, min( $max, (int) ( $s['queued'] ?? 0 ) ) );
		} catch ( \Throwable $e ) {
			return $max;
		}
	}

	/**
	 * Puts a dead event back in the queue.
	 *
	 * @param string $event_id Event id.
	 */
	public static function requeue( string $event_id ): bool {
		self::need_extension();
		$event_id = trim( $event_id );
		if ( '' === $event_id ) {
			throw new \RuntimeException( 'an event id is required' );
		}
		return (bool) secure_forward_requeue( $event_id );
	}

	/**
	 * Removes an order's queued payloads.
	 *
	 * @param int|string $order_id Order id.
	 */
	public static function purge( $order_id ): int {
		self::need_extension();
		if ( ! is_int( $order_id ) && ! preg_match( '/^\d+$/', (string) $order_id ) ) {
			throw new \RuntimeException( 'the order id must be a number' );
		}
		return (int) secure_forward_purge( (int) $order_id );
	}

	/**
	 * The request that would be sent for this order to this destination: the method and
	 * URL, the headers (secrets as [REDACTED]), a blank line, the exact JSON body.
	 *
	 * @param int    $order_id    Order id.
	 * @param string $destination Destination name.
	 */
	public static function preview( int $order_id, string $destination = 'default' ): string {
		self::need_extension();
		if ( ! function_exists( 'wc_get_order' ) ) {
			throw new \RuntimeException( 'WooCommerce is not active' );
		}
		$order = wc_get_order( $order_id );
		if ( ! $order ) {
			throw new \RuntimeException( sprintf( 'order %d not found', $order_id ) );
		}
		$p     = secure_forward_preview( Secure_Forward_Mapper::map( $order ), $destination );
		$lines = array( $p['method'] . ' ' . $p['url'] );
		foreach ( $p['headers'] as $name => $value ) {
			$lines[] = $name . ': ' . $value;
		}
		$lines[] = '';
		$lines[] = $p['body'];
		return implode( "\n", $lines );
	}
}
