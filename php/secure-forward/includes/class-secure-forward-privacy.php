<?php
/**
 * Personal-data eraser: purges queued payloads of a customer's orders.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Privacy integration.
 */
final class Secure_Forward_Privacy {

	/** Orders per eraser page. */
	public const PAGE_SIZE = 20;

	/**
	 * Hooks the eraser.
	 */
	public static function register(): void {
		add_filter( 'wp_privacy_personal_data_erasers', array( __CLASS__, 'erasers' ) );
	}

	/**
	 * Registers the eraser.
	 *
	 * @param array $erasers Erasers.
	 */
	public static function erasers( $erasers ): array {
		$erasers                   = is_array( $erasers ) ? $erasers : array();
		$erasers['secure-forward'] = array(
			'eraser_friendly_name' => __( 'Secure Forward outbox', 'secure-forward' ),
			'callback'             => array( __CLASS__, 'erase' ),
		);
		return $erasers;
	}

	/**
	 * Purges queued (not yet delivered) payloads of the orders billed to this email.
	 *
	 * @param string $email Email address.
	 * @param int    $page  Page, from 1.
	 * @return array{items_removed: bool, items_retained: bool, messages: list<string>, done: bool}
	 */
	public static function erase( $email, $page = 1 ): array {
		$result = array(
			'items_removed'  => false,
			'items_retained' => false,
			'messages'       => array(),
			'done'           => true,
		);
		$email = trim( (string) $email );
		if ( '' === $email || ! function_exists( 'wc_get_orders' ) ) {
			return $result;
		}
		if ( ! function_exists( 'secure_forward_purge' ) ) {
			$result['messages'][] = __( 'The secure_forward extension is not loaded; its outbox could not be checked.', 'secure-forward' );
			return $result;
		}
		$ids            = wc_get_orders(
			array(
				'billing_email' => $email,
				'limit'         => self::PAGE_SIZE,
				'page'          => max( 1, (int) $page ),
				'return'        => 'ids',
				'type'          => 'shop_order',
			)
		);
		$ids            = is_array( $ids ) ? $ids : array();
		$removed        = 0;
		foreach ( $ids as $id ) {
			$id = is_object( $id ) ? (int) $id->get_id() : (int) $id;
			try {
				$removed += (int) secure_forward_purge( $id );
			} catch ( \Throwable $e ) {
				Secure_Forward_Logger::exception( 'privacy purge', $e );
				$result['items_retained'] = true;
			}
		}
		if ( $removed > 0 ) {
			$result['items_removed'] = true;
			/* translators: %d: number of queued events removed */
			$result['messages'][] = sprintf( __( 'Removed %d queued order event(s) from the forwarding outbox.', 'secure-forward' ), $removed );
		}
		$result['done'] = count( $ids ) < self::PAGE_SIZE;
		return $result;
	}
}
