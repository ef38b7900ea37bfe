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
	 * One page of the ids of the orders billed to this email or placed by the registered
	 * customer with this email (whatever billing email those orders carry).
	 *
	 * @param string $email Email address.
	 * @param int    $page  Page, from 1.
	 * @return list<int>
	 */
	public static function order_ids( string $email, int $page ): array {
		$args = array(
			'limit'  => self::PAGE_SIZE,
			'page'   => $page,
			'return' => 'ids',
			'type'   => 'shop_order',
		);
		$user = get_user_by( 'email', $email );
		if ( $user ) {
			// Both lists (wc_get_orders can't OR these arguments), merged, then paged together.
			$all = array_merge(
				(array) wc_get_orders( array_merge( $args, array( 'billing_email' => $email, 'limit' => -1, 'page' => 1 ) ) ),
				(array) wc_get_orders( array_merge( $args, array( 'customer_id' => $user->ID, 'limit' => -1, 'page' => 1 ) ) )
			);
			$all = array_values( array_unique( array_map( static fn( $i ) => is_object( $i ) ? (int) $i->get_id() : (int) $i, $all ) ) );
			sort( $all );
			return array_slice( $all, ( $page - 1 ) * self::PAGE_SIZE, self::PAGE_SIZE );
		}
		$ids = wc_get_orders( array_merge( $args, array( 'billing_email' => $email ) ) );
		return array_map( static fn( $i ) => is_object( $i ) ? (int) $i->get_id() : (int) $i, is_array( $ids ) ? $ids : array() );
	}

	/**
	 * Purges this site's queued (not yet delivered) payloads and pending forwards of the
	 * customer's orders (see order_ids()).
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
		$ids     = self::order_ids( $email, max( 1, (int) $page ) );
		$removed = 0;
		$site    = Secure_Forward_Plugin::site();
		foreach ( $ids as $id ) {
			Secure_Forward_Pending::remove_order( $id );
			try {
				$removed += (int) secure_forward_purge( $id, $site );
			} catch ( \Throwable $e ) {
				Secure_Forward_Logger::exception( sprintf( 'order %d: privacy purge', $id ), $e );
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
