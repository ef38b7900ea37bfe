<?php
/**
 * Logging without order data.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Logs failures by class and message only. Never pass order data here: the extension's
 * messages are already redacted, and this plugin adds nothing but the context label.
 */
final class Secure_Forward_Logger {

	/**
	 * Logs a throwable from the extension (class + message only).
	 *
	 * @param string     $context Where it happened, e.g. "forward order.processing".
	 * @param \Throwable $e       The error.
	 */
	public static function exception( string $context, \Throwable $e ): void {
		self::error( sprintf( '%s failed: %s: %s', $context, get_class( $e ), $e->getMessage() ) );
	}

	/**
	 * Logs one line at error level.
	 *
	 * @param string $message The message (no order data).
	 */
	public static function error( string $message ): void {
		if ( function_exists( 'wc_get_logger' ) ) {
			wc_get_logger()->error( $message, array( 'source' => 'secure-forward' ) );
			return;
		}
		error_log( '[secure-forward] ' . $message ); // phpcs:ignore Generic.PHP.ForbiddenFunctions.Found -- the one fallback when WooCommerce's logger is absent.
	}
}
