<?php
/**
 * What the admin screens, the order box and the alerts read from the extension: facts only,
 * exactly what secure_forward_status() / secure_forward_deliveries() / secure_forward_preview()
 * return. Never throws.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Read side of the admin screens.
 */
final class Secure_Forward_Admin_Data {

	/** Capability for every screen and action. */
	public const CAPABILITY = 'manage_woocommerce';

	/**
	 * The extension's status, or a problem: array{status: ?array, problem: ?string, message: ?string}.
	 * problem: 'extension' (not loaded), 'config' (ConfigException; message names the file),
	 * 'error' (anything else), 'no_destination' (parses, no destination) or null.
	 *
	 * @return array{status: ?array, problem: ?string, message: ?string}
	 */
	public static function status(): array {
		if ( ! function_exists( 'secure_forward_status' ) ) {
			return array(
				'status'  => null,
				'problem' => 'extension',
				'message' => null,
			);
		}
		try {
			$s = secure_forward_status();
		} catch ( \Throwable $e ) {
			$config = is_a( $e, 'SecureForward\ConfigException' );
			return array(
				'status'  => null,
				'problem' => $config ? 'config' : 'error',
				// The extension's messages name the file, key or host, never a value.
				'message' => $e->getMessage(),
			);
		}
		$s = is_array( $s ) ? $s : array();
		return array(
			'status'  => $s,
			'problem' => empty( $s['destinations'] ) ? 'no_destination' : null,
			'message' => null,
		);
	}

	/**
	 * This site as the plugin records it with each event (blog id and home URL), or null when
	 * the plugin does not record sites. Lists and requeues are limited to it: order ids of two
	 * sites sharing one outbox are different orders.
	 */
	public static function site(): ?string {
		return method_exists( 'Secure_Forward_Plugin', 'site' ) ? (string) Secure_Forward_Plugin::site() : null;
	}

	/**
	 * secure_forward_requeue() of one of this site's dead letters. Never throws.
	 *
	 * @param string $event_id Event id.
	 */
	public static function requeue( string $event_id ): bool {
		if ( ! function_exists( 'secure_forward_requeue' ) ) {
			return false;
		}
		try {
			$site = self::site();
			$args = ( new \ReflectionFunction( 'secure_forward_requeue' ) )->getNumberOfParameters() >= 2 && null !== $site ? array( $event_id, $site ) : array( $event_id );
			return (bool) secure_forward_requeue( ...$args );
		} catch ( \Throwable $e ) {
			Secure_Forward_Logger::exception( 'requeue', $e );
			return false;
		}
	}

	/** Whether the extension has secure_forward_deliveries() (newer than 0.1). */
	public static function has_deliveries(): bool {
		return function_exists( 'secure_forward_deliveries' );
	}

	/**
	 * secure_forward_deliveries( $filter ) (of this site, see site()), or
	 * ['total' => 0, 'rows' => [], 'error' => message].
	 *
	 * @param array $filter Filter (see the stubs).
	 * @return array{total: int, rows: list<array>, error?: string}
	 */
	public static function deliveries( array $filter ): array {
		if ( ! self::has_deliveries() ) {
			return array(
				'total' => 0,
				'rows'  => array(),
				'error' => __( 'This version of the secure_forward extension cannot list deliveries; update it.', 'secure-forward' ),
			);
		}
		$site = self::site();
		if ( null !== $site && ! isset( $filter['site'] ) ) {
			$filter['site'] = $site;
		}
		try {
			$r = secure_forward_deliveries( $filter );
		} catch ( \Throwable $e ) {
			return array(
				'total' => 0,
				'rows'  => array(),
				'error' => $e->getMessage(),
			);
		}
		return array(
			'total' => (int) ( $r['total'] ?? 0 ),
			'rows'  => array_values( (array) ( $r['rows'] ?? array() ) ),
		);
	}

	/**
	 * The destinations an operator can act on: configured ones (status), sorted.
	 *
	 * @return list<string>
	 */
	public static function destination_names(): array {
		$s     = self::status();
		$names = array_keys( (array) ( $s['status']['destinations'] ?? array() ) );
		sort( $names );
		return array_map( 'strval', $names );
	}

	/**
	 * What would leave for this order to this destination now: array{method, url, headers, body}
	 * from secure_forward_preview() when the extension has it (the key already redacted there),
	 * else the body from secure_forward_prepare(); or array{error: message}.
	 *
	 * @param object $order       The order.
	 * @param string $destination Destination name.
	 * @param string $event       Event name.
	 * @return array
	 */
	public static function preview( $order, string $destination, string $event ): array {
		try {
			if ( function_exists( 'secure_forward_preview' ) ) {
				$p = (array) secure_forward_preview( Secure_Forward_Mapper::map( $order, $destination ), $destination, $event );
				$h = array();
				foreach ( (array) ( $p['headers'] ?? array() ) as $name => $value ) {
					$h[ (string) $name ] = self::redact_header( (string) $name, (string) $value );
				}
				return array(
					'method'  => (string) ( $p['method'] ?? 'POST' ),
					'url'     => (string) ( $p['url'] ?? '' ),
					'headers' => $h,
					'body'    => (string) ( $p['body'] ?? '' ),
				);
			}
			if ( function_exists( 'secure_forward_prepare' ) ) {
				return array( 'body' => (string) secure_forward_prepare( Secure_Forward_Mapper::map( $order, $destination ), $destination ) );
			}
			return array( 'error' => __( 'The secure_forward extension is not loaded.', 'secure-forward' ) );
		} catch ( \Throwable $e ) {
			return array( 'error' => $e->getMessage() );
		}
	}

	/**
	 * A second guard over the preview's headers: credentials are never shown, whatever the
	 * extension returned.
	 *
	 * @param string $name  Header name.
	 * @param string $value Header value.
	 */
	public static function redact_header( string $name, string $value ): string {
		$n = strtolower( $name );
		if ( in_array( $n, array( 'authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'api-key', 'apikey' ), true )
			|| false !== strpos( $n, 'token' ) || false !== strpos( $n, 'secret' ) || false !== strpos( $n, 'key' ) ) {
			return '' === $value || false !== strpos( $value, 'REDACTED' ) ? $value : '[REDACTED]';
		}
		return $value;
	}

	/**
	 * The host of a URL (never its path or query, which may carry a token).
	 *
	 * @param string $url URL.
	 */
	public static function host( string $url ): string {
		$h = wp_parse_url( $url, PHP_URL_HOST );
		$p = wp_parse_url( $url, PHP_URL_PORT );
		return is_string( $h ) ? $h . ( $p ? ':' . (int) $p : '' ) : '';
	}

	/**
	 * Seconds since an RFC 3339 time or Unix seconds; null when unknown.
	 *
	 * @param mixed $t Time.
	 */
	public static function age( $t ): ?int {
		$ts = self::timestamp( $t );
		return null === $ts ? null : max( 0, time() - $ts );
	}

	/**
	 * Unix seconds from RFC 3339 or a number.
	 *
	 * @param mixed $t Time.
	 */
	public static function timestamp( $t ): ?int {
		if ( is_int( $t ) || ( is_string( $t ) && ctype_digit( $t ) ) ) {
			return (int) $t;
		}
		if ( is_string( $t ) && '' !== $t ) {
			$ts = strtotime( $t );
			return false === $ts ? null : $ts;
		}
		return null;
	}

	/**
	 * "5 minutes" style age, or an em dash.
	 *
	 * @param mixed $t Time.
	 */
	public static function human_age( $t ): string {
		$ts = self::timestamp( $t );
		return null === $ts ? '—' : human_time_diff( $ts, time() );
	}

	/**
	 * A time as the site shows times (local), or an em dash.
	 *
	 * @param mixed $t Time.
	 */
	public static function local_time( $t ): string {
		$ts = self::timestamp( $t );
		if ( null === $ts ) {
			return '—';
		}
		return wp_date( get_option( 'date_format' ) . ' ' . get_option( 'time_format' ), $ts );
	}

	/**
	 * The admin URL of an order (HPOS screen when WooCommerce says so, else the post screen).
	 *
	 * @param int $order_id Order id.
	 */
	public static function order_url( int $order_id ): string {
		$url = '';
		if ( class_exists( '\Automattic\WooCommerce\Utilities\OrderUtil' ) && method_exists( '\Automattic\WooCommerce\Utilities\OrderUtil', 'get_order_admin_edit_url' ) ) {
			$url = (string) \Automattic\WooCommerce\Utilities\OrderUtil::get_order_admin_edit_url( $order_id );
		}
		if ( '' === $url ) {
			$url = admin_url( 'admin.php?page=wc-orders&action=edit&id=' . $order_id );
		}
		return (string) apply_filters( 'secure_forward_order_admin_url', $url, $order_id );
	}
}
