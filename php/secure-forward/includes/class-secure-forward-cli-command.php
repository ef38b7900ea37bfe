<?php
/**
 * `wp secure-forward` — thin WP-CLI wrapper around Secure_Forward_CLI. Loaded only under WP-CLI.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Operate the order-forwarding outbox (the secure_forward extension).
 */
class Secure_Forward_CLI_Command {

	/**
	 * Runs $fn, turning exceptions into WP_CLI::error (class + message; never order data).
	 *
	 * @param callable $fn What to run.
	 * @return mixed
	 */
	private function run( callable $fn ) {
		try {
			return $fn();
		} catch ( \Throwable $e ) {
			WP_CLI::error( get_class( $e ) . ': ' . $e->getMessage() );
		}
		return null;
	}

	/**
	 * Shows queue totals and per-destination health.
	 *
	 * ## OPTIONS
	 *
	 * [--format=<format>]
	 * : table or json.
	 * ---
	 * default: table
	 * ---
	 *
	 * @param array $args       Positional.
	 * @param array $assoc_args Options.
	 */
	public function status( $args, $assoc_args ) {
		$s = $this->run( array( 'Secure_Forward_CLI', 'status' ) );
		if ( null === $s ) {
			return;
		}
		if ( 'json' === ( $assoc_args['format'] ?? 'table' ) ) {
			WP_CLI::line( (string) wp_json_encode( $s ) );
			return;
		}
		WP_CLI::line( sprintf( 'extension %s; events: %s', $s['extension_version'], implode( ', ', $s['events'] ) ) );
		$rows = Secure_Forward_CLI::status_rows( $s );
		WP_CLI\Utils\format_items( 'table', $rows, array_keys( $rows[0] ) );
	}

	/**
	 * Sends queued events now.
	 *
	 * ## OPTIONS
	 *
	 * [--max=<n>]
	 * : Most events to attempt.
	 * ---
	 * default: 100
	 * ---
	 *
	 * [--seconds=<s>]
	 * : Time budget.
	 * ---
	 * default: 10
	 * ---
	 *
	 * @param array $args       Positional.
	 * @param array $assoc_args Options.
	 */
	public function flush( $args, $assoc_args ) {
		$max     = (int) ( $assoc_args['max'] ?? 100 );
		$seconds = (float) ( $assoc_args['seconds'] ?? 10 );
		$bar     = null;
		$r       = $this->run(
			function () use ( $max, $seconds, &$bar ) {
				$bar = WP_CLI\Utils\make_progress_bar( 'Flushing outbox', Secure_Forward_CLI::flush_estimate( $max ) );
				return Secure_Forward_CLI::flush(
					$max,
					$seconds,
					static function ( int $attempted ) use ( $bar ) {
						if ( $attempted > 0 ) {
							$bar->tick( $attempted );
						}
					}
				);
			}
		);
		if ( $bar ) {
			$bar->finish();
		}
		if ( null === $r ) {
			return;
		}
		WP_CLI::success( sprintf( 'delivered %d, retried %d, dead %d, remaining %d', $r['delivered'], $r['retried'], $r['dead'], $r['remaining'] ) );
	}

	/**
	 * Puts a dead event of this site back in the queue.
	 *
	 * ## OPTIONS
	 *
	 * <event_id>
	 * : The event id (from `status` or the logs).
	 *
	 * @param array $args       Positional.
	 * @param array $assoc_args Options.
	 */
	public function requeue( $args, $assoc_args ) {
		$id = (string) ( $args[0] ?? '' );
		$ok = $this->run( static fn() => Secure_Forward_CLI::requeue( $id ) );
		if ( $ok ) {
			WP_CLI::success( sprintf( 'requeued %s', $id ) );
		} elseif ( false === $ok ) {
			WP_CLI::error( sprintf( 'no dead event %s', $id ) );
		}
	}

	/**
	 * Removes this site's queued payloads of an order from the outbox.
	 *
	 * ## OPTIONS
	 *
	 * <order_id>
	 * : The order id.
	 *
	 * @param array $args       Positional.
	 * @param array $assoc_args Options.
	 */
	public function purge( $args, $assoc_args ) {
		$id = (string) ( $args[0] ?? '' );
		$n  = $this->run( static fn() => Secure_Forward_CLI::purge( $id ) );
		if ( null !== $n ) {
			WP_CLI::success( sprintf( 'purged %d queued event(s) of order %s', $n, $id ) );
		}
	}

	/**
	 * Forwards orders again, even states delivered before: new event ids, marked as resends.
	 *
	 * ## OPTIONS
	 *
	 * <order_id>...
	 * : One or more order ids.
	 *
	 * [--destination=<name>]
	 * : Only this destination (default: the order's destinations).
	 *
	 * [--event=<event>]
	 * : The event to send (default: order.<current status>); refund.created resends every refund.
	 *
	 * @param array $args       Positional.
	 * @param array $assoc_args Options.
	 */
	public function resend( $args, $assoc_args ) {
		$ids  = array_values( (array) $args );
		$dest = isset( $assoc_args['destination'] ) ? (string) $assoc_args['destination'] : null;
		$evt  = isset( $assoc_args['event'] ) ? (string) $assoc_args['event'] : null;
		$bar  = null;
		$t    = $this->run(
			function () use ( $ids, $dest, $evt, &$bar ) {
				$bar = WP_CLI\Utils\make_progress_bar( 'Resending orders', count( $ids ) );
				return Secure_Forward_CLI::resend( $ids, $dest, $evt, static fn() => $bar->tick() );
			}
		);
		if ( $bar ) {
			$bar->finish();
		}
		if ( null !== $t ) {
			WP_CLI::success( 'resent ' . Secure_Forward_CLI::summary( $t ) );
		}
	}

	/**
	 * Forwards what the shop has and the outbox lacks, for the orders changed in a window.
	 * Never sends what the outbox has already (stable occurrence keys).
	 *
	 * ## OPTIONS
	 *
	 * --since=<when>
	 * : <N>m, <N>h, <N>d (ago) or an ISO 8601 date.
	 *
	 * @param array $args       Positional.
	 * @param array $assoc_args Options.
	 */
	public function reconcile( $args, $assoc_args ) {
		$since = (string) ( $assoc_args['since'] ?? '' );
		$bar   = null;
		$t     = $this->run(
			static function () use ( $since, &$bar ) {
				return Secure_Forward_CLI::reconcile(
					$since,
					static function () use ( &$bar ) {
						$bar->tick();
					},
					static function ( int $count ) use ( &$bar ) {
						$bar = WP_CLI\Utils\make_progress_bar( 'Reconciling orders', $count );
					}
				);
			}
		);
		if ( $bar ) {
			$bar->finish();
		}
		if ( null !== $t ) {
			WP_CLI::success( 'reconciled ' . Secure_Forward_CLI::summary( $t ) );
		}
	}

	/**
	 * Prints the exact JSON body that would be sent for an order.
	 *
	 * ## OPTIONS
	 *
	 * <order_id>
	 * : The order id.
	 *
	 * [--destination=<name>]
	 * : Destination name.
	 * ---
	 * default: default
	 * ---
	 *
	 * @param array $args       Positional.
	 * @param array $assoc_args Options.
	 */
	public function preview( $args, $assoc_args ) {
		$id   = (int) ( $args[0] ?? 0 );
		$dest = (string) ( $assoc_args['destination'] ?? 'default' );
		$json = $this->run( static fn() => Secure_Forward_CLI::preview( $id, $dest ) );
		if ( null !== $json ) {
			WP_CLI::line( $json );
		}
	}
}
