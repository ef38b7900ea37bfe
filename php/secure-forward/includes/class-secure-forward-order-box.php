<?php
/**
 * The "Secure Forward" box on each order (HPOS and legacy screens): this order's forwards,
 * Resend per destination, and "Preview what leaves".
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Order meta box.
 */
final class Secure_Forward_Order_Box {

	/**
	 * Whether the box was rendered in this request (its form goes into the footer).
	 *
	 * @var int
	 */
	private static $order_id = 0;

	/**
	 * Hooks.
	 */
	public static function register(): void {
		add_action( 'add_meta_boxes', array( __CLASS__, 'add' ), 30 );
		add_action( 'admin_footer', array( __CLASS__, 'footer_form' ) );
	}

	/**
	 * The order screens: HPOS (wc_get_page_screen_id('shop-order'), woocommerce_page_wc-orders)
	 * and the legacy post screen (shop_order).
	 *
	 * @return list<string>
	 */
	public static function screens(): array {
		$screens = array( 'woocommerce_page_wc-orders', 'shop_order' );
		if ( function_exists( 'wc_get_page_screen_id' ) ) {
			$screens[] = (string) wc_get_page_screen_id( 'shop-order' );
		}
		return array_values( array_unique( array_filter( $screens ) ) );
	}

	/**
	 * add_meta_boxes.
	 */
	public static function add(): void {
		if ( ! current_user_can( Secure_Forward_Admin_Data::CAPABILITY ) ) {
			return;
		}
		foreach ( self::screens() as $screen ) {
			add_meta_box( 'secure-forward', __( 'Secure Forward', 'secure-forward' ), array( __CLASS__, 'render' ), $screen, 'normal', 'default' );
		}
	}

	/**
	 * The order of the box: WC_Order (HPOS) or WP_Post (legacy).
	 *
	 * @param mixed $post_or_order The screen's object.
	 * @return object|null
	 */
	private static function order( $post_or_order ) {
		if ( is_object( $post_or_order ) && method_exists( $post_or_order, 'get_status' ) ) {
			return $post_or_order;
		}
		$id = $post_or_order instanceof WP_Post ? (int) $post_or_order->ID : 0;
		$o  = $id > 0 && function_exists( 'wc_get_order' ) ? wc_get_order( $id ) : false;
		return $o ? $o : null;
	}

	/**
	 * The box.
	 *
	 * @param mixed $post_or_order WC_Order (HPOS) or WP_Post (legacy).
	 */
	public static function render( $post_or_order ): void {
		$order = self::order( $post_or_order );
		if ( null === $order || ! current_user_can( Secure_Forward_Admin_Data::CAPABILITY ) ) {
			return;
		}
		$order_id       = (int) $order->get_id();
		self::$order_id = $order_id;
		echo '<div class="secure-forward sf-order-box">';
		Secure_Forward_Admin::styles();
		$s = Secure_Forward_Admin_Data::status();
		if ( null !== $s['problem'] && 'no_destination' !== $s['problem'] ) {
			echo '<p>' . esc_html__( 'Secure Forward is not working on this site: see WooCommerce → Secure Forward.', 'secure-forward' ) . '</p></div>';
			return;
		}
		$r = Secure_Forward_Admin_Data::deliveries(
			array(
				'order_id' => $order_id,
				'limit'    => 100,
				'order'    => 'desc',
			)
		);
		if ( isset( $r['error'] ) ) {
			echo '<p>' . esc_html( $r['error'] ) . '</p>';
		} elseif ( ! $r['rows'] ) {
			echo '<p>' . esc_html__( 'This order has not been forwarded.', 'secure-forward' ) . '</p>';
		} else {
			$heads = array(
				'destination' => __( 'Destination', 'secure-forward' ),
				'event'       => __( 'Event', 'secure-forward' ),
				'state'       => __( 'State', 'secure-forward' ),
				'attempts'    => __( 'Attempts', 'secure-forward' ),
				'http_status' => __( 'HTTP status', 'secure-forward' ),
				'time'        => __( 'Time', 'secure-forward' ),
				'reason'      => __( 'Reason', 'secure-forward' ),
			);
			echo '<table class="widefat striped sf-order-forwards sf-cards"><thead><tr>';
			foreach ( $heads as $h ) {
				echo '<th scope="col">' . esc_html( $h ) . '</th>';
			}
			echo '</tr></thead><tbody>';
			foreach ( $r['rows'] as $row ) {
				$cells = array(
					'destination' => esc_html( (string) $row['destination'] ),
					'event'       => esc_html( (string) $row['event'] ),
					'state'       => Secure_Forward_Deliveries_Table::state_label( (string) $row['state'] ),
					'attempts'    => esc_html( (string) (int) $row['attempts'] ),
					'http_status' => null === $row['http_status'] ? '—' : esc_html( (string) (int) $row['http_status'] ),
					'time'        => esc_html( Secure_Forward_Admin_Data::local_time( $row['last_attempt_at'] ?? $row['created_at'] ) ),
					'reason'      => null === $row['reason'] ? '—' : esc_html( (string) $row['reason'] ),
				);
				echo '<tr>';
				foreach ( $cells as $k => $html ) {
					echo '<td data-colname="' . esc_attr( $heads[ $k ] ) . '">' . $html . '</td>'; // phpcs:ignore WordPress.Security.EscapeOutput -- escaped above.
				}
				echo '</tr>';
			}
			echo '</tbody></table>';
		}
		$event = 'order.' . $order->get_status();
		$dests = Secure_Forward_Admin_Data::destination_names();
		foreach ( $dests as $dest ) {
			echo '<div class="sf-order-destination" data-destination="' . esc_attr( $dest ) . '"><h4>' . esc_html( $dest ) . '</h4>';
			// Inside the order's own form: the button submits the footer form (no nested forms).
			printf(
				'<p><button type="submit" form="sf-order-form" name="destination" value="%s" class="button">%s</button></p>',
				esc_attr( $dest ),
				/* translators: %s: event name */
				esc_html( sprintf( __( 'Resend %s', 'secure-forward' ), $event ) )
			);
			self::preview( $order, $dest, $event );
			echo '</div>';
		}
		echo '</div>';
	}

	/**
	 * "Preview what leaves": exactly what secure_forward_preview() (or _prepare()) returns.
	 *
	 * @param object $order The order.
	 * @param string $dest  Destination.
	 * @param string $event Event.
	 */
	private static function preview( $order, string $dest, string $event ): void {
		$p = Secure_Forward_Admin_Data::preview( $order, $dest, $event );
		echo '<details class="sf-preview"><summary>' . esc_html__( 'Preview what leaves', 'secure-forward' ) . '</summary>';
		if ( isset( $p['error'] ) ) {
			echo '<p><code>' . esc_html( $p['error'] ) . '</code></p></details>';
			return;
		}
		if ( isset( $p['method'] ) ) {
			echo '<p><code>' . esc_html( $p['method'] . ' https://' . Secure_Forward_Admin_Data::host( $p['url'] ) . '/…' ) . '</code></p>';
			$lines = array();
			foreach ( $p['headers'] as $name => $value ) {
				$lines[] = $name . ': ' . $value;
			}
			echo '<pre class="sf-preview-headers">' . esc_html( implode( "\n", $lines ) ) . '</pre>';
		}
		echo '<pre class="sf-preview-body">' . esc_html( self::pretty_body( (string) $p['body'] ) ) . '</pre></details>';
	}

	/**
	 * The body indented for reading, only when that changes nothing but whitespace: PHP's
	 * decode/encode round trip must give back the exact bytes (an empty object, 39.0, a number
	 * beyond 64 bits or an escape PHP writes differently would otherwise be shown changed).
	 * Else the body as it is.
	 *
	 * @param string $body The exact body.
	 */
	public static function pretty_body( string $body ): string {
		$flags   = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_LINE_TERMINATORS | JSON_PRESERVE_ZERO_FRACTION;
		$decoded = json_decode( $body, false );
		if ( ( null === $decoded && 'null' !== trim( $body ) ) || wp_json_encode( $decoded, $flags ) !== $body ) {
			return $body;
		}
		return (string) wp_json_encode( $decoded, $flags | JSON_PRETTY_PRINT );
	}

	/**
	 * The Resend form, outside the order screen's form (its buttons point at it with form=).
	 */
	public static function footer_form(): void {
		if ( self::$order_id <= 0 ) {
			return;
		}
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" id="sf-order-form" style="display:none">';
		echo '<input type="hidden" name="action" value="secure_forward_resend" />';
		echo '<input type="hidden" name="order_id" value="' . esc_attr( (string) self::$order_id ) . '" />';
		wp_nonce_field( Secure_Forward_Admin_Actions::ORDER_NONCE, '_sf_nonce', true );
		echo '</form>';
	}
}
