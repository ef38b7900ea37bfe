<?php
/**
 * !!! TEST-ONLY SHIM — NOT THE EXTENSION, NEVER SHIPPED, NEVER A FALLBACK !!!
 *
 * Loaded by tests/wordpress/bootstrap.php ONLY when SF_EXTENSION is unset (the Rust extension
 * isn't built yet). It records calls and mimics the contract of the secure_forward extension
 * (receipts, event ids stable per order state + event, enqueue once, status, flush, requeue,
 * purge) without any network, keys or policy. With SF_EXTENSION set the suite runs against the
 * real extension and a real HTTPS receiver instead.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward {
	if ( ! class_exists( Exception::class ) ) {
		class Exception extends \Exception {}
		class ConfigException extends Exception {}
		class ValidationException extends Exception {}
	}
}

namespace {
	if ( extension_loaded( 'secure_forward' ) ) {
		throw new RuntimeException( 'fake-extension.php must not be loaded with the real extension' );
	}

	define( 'SF_TEST_FAKE_EXTENSION', true );

	/** The shim's state. */
	final class SF_Fake_Extension {
		/** Configured destination names. */
		public static $destinations = array( 'default', 'erp', 'reject' );
		/** Every secure_forward_order() call: [order_id, destination, event, event_id]. */
		public static $calls = array();
		/** Outbox: event_id → [order_id, destination, event, state, body, queued_at]. */
		public static $outbox = array();
		/** What new events become: 'delivered' (inline success) or 'queued'. */
		public static $mode = 'delivered';
		/** If set, status() throws this ConfigException message. */
		public static $broken_config = null;
		/** Destinations whose key file "cannot be read": order() and auth_check() throw. */
		public static $broken_keys = array();
		/** The default policy's fields (like core/src/policy DEFAULT_FIELDS). */
		public static $fields = array( 'id', 'number', 'status', 'currency', 'total', 'date_created', 'date_paid', 'billing.country', 'line_items[].product_id', 'line_items[].sku', 'line_items[].quantity', 'line_items[].total', 'line_items[].price', 'refunds[].amount', 'refunds[].date_created', 'refund.id', 'refund.amount', 'refund.date_created', 'refund.refunded_payment', 'refund.line_items[].product_id', 'refund.line_items[].sku', 'refund.line_items[].quantity', 'refund.line_items[].total' );
		/** Every order array handed to secure_forward_order(), in order. */
		public static $bodies = array();
		/** Deliveries in order ("what the receiver saw"): list of [event, order_id, destination]. */
		public static $delivered = array();

		public static function reset(): void {
			self::$calls         = array();
			self::$outbox        = array();
			self::$mode          = 'delivered';
			self::$broken_config = null;
			self::$broken_keys   = array();
			self::$bodies        = array();
			self::$delivered     = array();
		}

		/** "Sent" events (what the receiver would have seen): list of [event, order_id, destination]. */
		public static function sent(): array {
			return self::$delivered;
		}

		public static function deliver( string $id ): void {
			$e                            = self::$outbox[ $id ];
			self::$outbox[ $id ]['state'] = 'delivered';
			self::$delivered[]            = array( $e['event'], $e['order_id'], $e['destination'], $id, $e['resend'], $e['body'] );
		}
	}

	function secure_forward_version(): string {
		return '0.0.0-test-shim';
	}

	function secure_forward_prepare( array $order, string $destination = 'default' ): string {
		if ( ! in_array( $destination, SF_Fake_Extension::$destinations, true ) ) {
			throw new SecureForward\ConfigException( "unknown destination \"$destination\"" );
		}
		if ( ! isset( $order['id'] ) ) {
			throw new SecureForward\ValidationException( 'order.id is required' );
		}
		return json_encode( $order, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR );
	}

	function secure_forward_order( array $order, string $destination = 'default', string $event = 'order.updated', array $options = array() ): array {
		foreach ( $options as $k => $v ) {
			$ok = ( 'key' === $k && is_string( $v ) && '' !== $v && strlen( $v ) <= 64 && ! preg_match( '/[\x00-\x1f\x7f]/', $v ) )
				|| ( 'resend' === $k && is_bool( $v ) )
				|| ( 'site' === $k && is_string( $v ) && strlen( $v ) <= 255 );
			if ( ! $ok ) {
				throw new SecureForward\ValidationException( "options.$k: unknown option or bad value" );
			}
		}
		if ( in_array( $destination, SF_Fake_Extension::$broken_keys, true ) ) {
			throw new SecureForward\ConfigException( "destination \"$destination\": key file cannot be read" );
		}
		$body = secure_forward_prepare( $order, $destination );
		$site = (string) ( $options['site'] ?? '' );
		$what = isset( $options['key'] ) ? 'key:' . $options['key'] : 'body:' . $body;
		$id   = 'evt_' . substr( hash( 'sha256', $destination . "\0" . $order['id'] . "\0" . $event . "\0" . $what . "\0" . $site ), 0, 32 );
		if ( ! empty( $options['resend'] ) ) {
			$id = 'evt_' . substr( hash( 'sha256', $id . "\0resend\0" . count( SF_Fake_Extension::$outbox ) . random_bytes( 8 ) ), 0, 32 );
		}
		SF_Fake_Extension::$calls[]  = array( (int) $order['id'], $destination, $event, $id );
		SF_Fake_Extension::$bodies[] = $order;
		if ( ! isset( SF_Fake_Extension::$outbox[ $id ] ) ) {
			SF_Fake_Extension::$outbox[ $id ] = array(
				'order_id'    => (int) $order['id'],
				'destination' => $destination,
				'event'       => $event,
				'site'        => $site,
				'resend'      => ! empty( $options['resend'] ),
				'body'        => json_decode( $body, true ),
				'state'       => 'queued',
				'queued_at'   => microtime( true ),
			);
			if ( 'reject' === $destination ) { // Like the real suite's `reject` (HTTP 422).
				SF_Fake_Extension::$outbox[ $id ]['state'] = 'dead';
			} elseif ( 'delivered' === SF_Fake_Extension::$mode ) {
				SF_Fake_Extension::deliver( $id );
			}
		}
		$state = SF_Fake_Extension::$outbox[ $id ]['state'];
		$http  = array(
			'delivered' => 200,
			'dead'      => 422,
		);
		return array(
			'event_id'    => $id,
			'status'      => $state,
			'http_status' => $http[ $state ] ?? null,
			'attempts'    => 'queued' === $state ? 0 : 1,
			'reason'      => array(
				'queued' => 'localhost unreachable, retry in 60 s',
				'dead'   => 'rejected by localhost: client error (422)',
			)[ $state ] ?? null,
		);
	}

	function secure_forward_policy( string $destination = 'default' ): array {
		if ( ! in_array( $destination, SF_Fake_Extension::$destinations, true ) ) {
			throw new SecureForward\ConfigException( "unknown destination \"$destination\"" );
		}
		return array(
			'default'    => true,
			'fields'     => SF_Fake_Extension::$fields,
			'transforms' => array( 'require_consent' => array() ),
		);
	}

	/** The contract w2-admin implements: ['total' => int, 'rows' => [...]], newest first. */
	function secure_forward_deliveries( array $filter = array() ): array {
		$rows = array();
		foreach ( array_reverse( SF_Fake_Extension::$outbox, true ) as $id => $e ) {
			if ( isset( $filter['state'] ) && $e['state'] !== $filter['state'] ) {
				continue;
			}
			$rows[] = array(
				'event_id'        => $id,
				'destination'     => $e['destination'],
				'event'           => $e['event'],
				'order_id'        => (string) $e['order_id'],
				'site'            => $e['site'],
				'state'           => $e['state'],
				'attempts'        => 1,
				'http_status'     => 'dead' === $e['state'] ? 422 : null,
				'reason'          => null,
				'created_at'      => (int) $e['queued_at'],
				'last_attempt_at' => (int) $e['queued_at'],
				'next_attempt_at' => null,
			);
		}
		return array(
			'total' => count( $rows ),
			'rows'  => array_slice( $rows, 0, (int) ( $filter['limit'] ?? 50 ) ),
		);
	}

	function secure_forward_auth_check( string $destination = 'default' ): array {
		if ( ! in_array( $destination, SF_Fake_Extension::$destinations, true ) ) {
			throw new SecureForward\ConfigException( "unknown destination \"$destination\"" );
		}
		if ( in_array( $destination, SF_Fake_Extension::$broken_keys, true ) ) {
			throw new SecureForward\ConfigException( "destination \"$destination\": key file cannot be read" );
		}
		return array(
			'auth'       => 'api_key',
			'credential' => true,
		);
	}

	function secure_forward_flush( int $max = 100, float $seconds = 10.0 ): array {
		$r = array(
			'delivered' => 0,
			'retried'   => 0,
			'dead'      => 0,
			'remaining' => 0,
		);
		foreach ( SF_Fake_Extension::$outbox as $id => $e ) {
			if ( 'queued' !== $e['state'] ) {
				continue;
			}
			if ( $r['delivered'] < $max ) {
				SF_Fake_Extension::deliver( $id );
				++$r['delivered'];
			} else {
				++$r['remaining'];
			}
		}
		return $r;
	}

	function secure_forward_status(): array {
		if ( null !== SF_Fake_Extension::$broken_config ) {
			throw new SecureForward\ConfigException( SF_Fake_Extension::$broken_config );
		}
		$blank = array(
			'queued'              => 0,
			'dead'                => 0,
			'delivered'           => 0,
			'oldest_queued_age_s' => 0,
			'last_success_at'     => null,
			'last_error'          => null,
			'circuit'             => 'closed',
		);
		$s                 = $blank;
		$s['destinations'] = array();
		foreach ( SF_Fake_Extension::$destinations as $d ) {
			$s['destinations'][ $d ] = $blank;
		}
		$now = microtime( true );
		foreach ( SF_Fake_Extension::$outbox as $e ) {
			foreach ( array( &$s, &$s['destinations'][ $e['destination'] ] ) as &$t ) {
				++$t[ $e['state'] ];
				if ( 'queued' === $e['state'] ) {
					$t['oldest_queued_age_s'] = max( $t['oldest_queued_age_s'], (int) ( $now - $e['queued_at'] ) );
				}
			}
			unset( $t );
		}
		return $s;
	}

	function secure_forward_requeue( string $event_id, ?string $site = null ): bool {
		if ( ( SF_Fake_Extension::$outbox[ $event_id ]['state'] ?? null ) !== 'dead' ) {
			return false;
		}
		if ( null !== $site && SF_Fake_Extension::$outbox[ $event_id ]['site'] !== $site ) {
			return false;
		}
		SF_Fake_Extension::$outbox[ $event_id ]['state']     = 'queued';
		SF_Fake_Extension::$outbox[ $event_id ]['queued_at'] = microtime( true );
		return true;
	}

	function secure_forward_purge( $order_id, ?string $site = null ): int {
		$n = 0;
		foreach ( SF_Fake_Extension::$outbox as $id => $e ) {
			if ( (string) $e['order_id'] === (string) $order_id && 'delivered' !== $e['state'] && ( null === $site || $e['site'] === $site ) ) {
				unset( SF_Fake_Extension::$outbox[ $id ] );
				++$n;
			}
		}
		return $n;
	}
}
