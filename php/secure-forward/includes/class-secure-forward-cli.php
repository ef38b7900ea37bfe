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
	 * Puts a dead event of this site back in the queue.
	 *
	 * @param string $event_id Event id.
	 */
	public static function requeue( string $event_id ): bool {
		self::need_extension();
		$event_id = trim( $event_id );
		if ( '' === $event_id ) {
			throw new \RuntimeException( 'an event id is required' );
		}
		return (bool) secure_forward_requeue( $event_id, Secure_Forward_Plugin::site() );
	}

	/**
	 * Removes this site's queued payloads of an order (and its pending forwards).
	 *
	 * @param int|string $order_id Order id.
	 */
	public static function purge( $order_id ): int {
		self::need_extension();
		if ( ! is_int( $order_id ) && ! preg_match( '/^\d+$/', (string) $order_id ) ) {
			throw new \RuntimeException( 'the order id must be a number' );
		}
		Secure_Forward_Pending::remove_order( (int) $order_id );
		return (int) secure_forward_purge( (int) $order_id, Secure_Forward_Plugin::site() );
	}

	/**
	 * Blank totals of resend / reconcile.
	 *
	 * @return array<string, int>
	 */
	private static function totals(): array {
		return array(
			'orders'    => 0,
			'events'    => 0,
			'delivered' => 0,
			'queued'    => 0,
			'dead'      => 0,
			'pending'   => 0,
			'missing'   => 0,
		);
	}

	/**
	 * Records the given occurrences of one order, forwards them now, adds the receipts to $t.
	 *
	 * @param object       $order      The order.
	 * @param list<string> $events     Events.
	 * @param bool         $resend     Resend (new event ids).
	 * @param list<string> $only       Destinations (empty: the filtered ones).
	 * @param array        $t          Totals.
	 */
	private static function forward_order( $order, array $events, bool $resend, array $only, array &$t ): void {
		$plugin = Secure_Forward_Plugin::instance();
		$n      = 0;
		foreach ( $events as $event ) {
			foreach ( Secure_Forward_Plugin::occurrences( $order, $event ) as $occurrence ) {
				$dests = $only ? $only : Secure_Forward_Plugin::destinations( $order, $event );
				$plugin->record( $order, $event, $occurrence, $resend, $dests, $resend );
				$n += count( $dests );
			}
		}
		$receipts = $plugin->dispatch();
		foreach ( $receipts as $r ) {
			$status = (string) ( $r['status'] ?? '' );
			if ( isset( $t[ $status ] ) ) {
				++$t[ $status ];
			}
		}
		$t['events']  += $n;
		$t['pending'] += max( 0, $n - count( $receipts ) );
		++$t['orders'];
	}

	/**
	 * Forwards orders again, even states delivered before (new event ids, marked as resends).
	 *
	 * @param list<int|string> $order_ids   Order ids.
	 * @param string|null      $destination One destination (default: the filtered ones).
	 * @param string|null      $event       One event (default: the order's current status).
	 * @param callable|null    $progress    Called after each order.
	 * @return array<string, int> Totals.
	 */
	public static function resend( array $order_ids, ?string $destination = null, ?string $event = null, ?callable $progress = null ): array {
		self::need_extension();
		if ( ! $order_ids ) {
			throw new \RuntimeException( 'at least one order id is required' );
		}
		$t = self::totals();
		foreach ( $order_ids as $id ) {
			if ( ! preg_match( '/^\d+$/', (string) $id ) ) {
				throw new \RuntimeException( sprintf( 'order id "%s" is not a number', (string) $id ) );
			}
			$order = function_exists( 'wc_get_order' ) ? wc_get_order( (int) $id ) : false;
			if ( ! $order ) {
				++$t['missing'];
			} else {
				$events = null !== $event && '' !== $event ? array( $event ) : array( 'order.' . $order->get_status() );
				self::forward_order( $order, $events, true, null !== $destination && '' !== $destination ? array( $destination ) : array(), $t );
			}
			if ( $progress ) {
				$progress( $t );
			}
		}
		return $t;
	}

	/**
	 * The start of a reconcile window: "<N>m", "<N>h", "<N>d" (ago) or an ISO 8601 date.
	 *
	 * @param string $since The option.
	 * @param int    $now   Now (Unix seconds).
	 * @return int Unix seconds.
	 */
	public static function since( string $since, int $now ): int {
		$since = trim( $since );
		if ( preg_match( '/^(\d+)([mhd])$/', $since, $m ) ) {
			$unit = array(
				'm' => MINUTE_IN_SECONDS,
				'h' => HOUR_IN_SECONDS,
				'd' => DAY_IN_SECONDS,
			);
			return $now - (int) $m[1] * $unit[ $m[2] ];
		}
		if ( preg_match( '/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/', $since ) ) {
			$ts = strtotime( $since );
			if ( false !== $ts && $ts <= $now ) {
				return $ts;
			}
		}
		throw new \RuntimeException( '--since must be <N>m, <N>h, <N>d or an ISO 8601 date in the past' );
	}

	/**
	 * Order ids changed since $ts (oldest id first).
	 *
	 * @param int $ts Unix seconds.
	 * @return list<int>
	 */
	public static function changed_since( int $ts ): array {
		$ids = wc_get_orders(
			array(
				'date_modified' => '>=' . $ts,
				'limit'         => -1,
				'return'        => 'ids',
				'type'          => 'shop_order',
				'orderby'       => 'ID',
				'order'         => 'ASC',
			)
		);
		return array_map( static fn( $i ) => is_object( $i ) ? (int) $i->get_id() : (int) $i, is_array( $ids ) ? $ids : array() );
	}

	/**
	 * Forwards what the shop has and the outbox lacks for the orders changed in a window: each
	 * enabled event's current occurrences (order.created, the current status, the refunds), with
	 * their stable occurrence keys, so what the outbox has already is never sent again.
	 *
	 * @param string        $since    See since().
	 * @param callable|null $progress Called with (totals, order count) after each order.
	 * @param callable|null $start    Called with the order count before the first.
	 * @return array<string, int> Totals.
	 */
	public static function reconcile( string $since, ?callable $progress = null, ?callable $start = null ): array {
		self::need_extension();
		if ( ! function_exists( 'wc_get_orders' ) ) {
			throw new \RuntimeException( 'WooCommerce is not active' );
		}
		$ids = self::changed_since( self::since( $since, time() ) );
		if ( $start ) {
			$start( count( $ids ) );
		}
		$t = self::totals();
		foreach ( $ids as $id ) {
			$order = wc_get_order( $id );
			if ( $order ) {
				self::forward_order( $order, Secure_Forward_Plugin::events(), false, array(), $t );
			}
			if ( $progress ) {
				$progress( $t );
			}
		}
		return $t;
	}

	/**
	 * A one-line summary of resend / reconcile totals.
	 *
	 * @param array $t Totals.
	 */
	public static function summary( array $t ): string {
		return sprintf(
			'%d order(s), %d forward(s): %d delivered, %d queued, %d dead, %d pending%s',
			$t['orders'],
			$t['events'],
			$t['delivered'],
			$t['queued'],
			$t['dead'],
			$t['pending'],
			$t['missing'] ? sprintf( ', %d order(s) not found', $t['missing'] ) : ''
		);
	}

	/**
	 * The exact JSON body that would be sent for this order to this destination.
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
		return secure_forward_prepare( Secure_Forward_Mapper::map( $order, $destination ), $destination );
	}
}
