<?php
/**
 * The admin actions: every one a POST to admin-post.php, checked for the capability and a
 * nonce, then a redirect back with a notice code (never free text from the request).
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Requeue, purge one event, bulk requeue, requeue all dead of a destination, check
 * authentication, resend an order.
 */
final class Secure_Forward_Admin_Actions {

	/** Nonce action of the Secure Forward screen's forms. */
	public const NONCE = 'secure_forward_admin';

	/** Nonce action of the order box's form. */
	public const ORDER_NONCE = 'secure_forward_order';

	/** Most dead letters one "Requeue all" requeues (the rest: press again). */
	public const REQUEUE_ALL_MAX = 500;

	/**
	 * Hooks the admin-post handlers (logged-in users only).
	 */
	public static function register(): void {
		add_action( 'admin_post_secure_forward_row', array( __CLASS__, 'row' ) );
		add_action( 'admin_post_secure_forward_bulk', array( __CLASS__, 'bulk' ) );
		add_action( 'admin_post_secure_forward_requeue_all', array( __CLASS__, 'requeue_all' ) );
		add_action( 'admin_post_secure_forward_auth_check', array( __CLASS__, 'auth_check' ) );
		add_action( 'admin_post_secure_forward_resend', array( __CLASS__, 'resend' ) );
	}

	/**
	 * POST, capability and nonce, or wp_die (403/405). Nothing is changed before this.
	 *
	 * @param string $nonce_action Nonce action.
	 */
	private static function guard( string $nonce_action ): void {
		$method = isset( $_SERVER['REQUEST_METHOD'] ) ? strtoupper( sanitize_key( wp_unslash( $_SERVER['REQUEST_METHOD'] ) ) ) : '';
		if ( 'POST' !== $method ) {
			wp_die( esc_html__( 'This action needs a form submission.', 'secure-forward' ), '', array( 'response' => 405 ) );
		}
		if ( ! current_user_can( Secure_Forward_Admin_Data::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to do that.', 'secure-forward' ), '', array( 'response' => 403 ) );
		}
		check_admin_referer( $nonce_action, '_sf_nonce' );
	}

	/**
	 * Back to the screen (or the order) with a notice code and a count.
	 *
	 * @param string $notice Notice code (see Secure_Forward_Admin::notice_text()).
	 * @param int    $count  Count.
	 * @param string $back   URL to return to (admin URL); default the Secure Forward screen.
	 */
	private static function back( string $notice, int $count = 0, string $back = '' ): void {
		$url = '' !== $back ? $back : Secure_Forward_Admin::page_url();
		$url = remove_query_arg( array( 'sf_notice', 'sf_count' ), $url );
		wp_safe_redirect( add_query_arg( array( 'sf_notice' => $notice, 'sf_count' => $count ), $url ) );
		if ( apply_filters( 'secure_forward_admin_exit', true ) ) {
			exit;
		}
	}

	/**
	 * An event id from the request: the extension's ids are hex/dashes/dots; anything else is refused.
	 *
	 * @param mixed $raw Raw value.
	 */
	private static function event_id( $raw ): string {
		$id = is_string( $raw ) ? trim( $raw ) : '';
		return 1 === preg_match( '/^[A-Za-z0-9._:-]{1,200}$/', $id ) ? $id : '';
	}

	/**
	 * Row action: "requeue:ID" or "purge:ID".
	 */
	public static function row(): void {
		self::guard( self::NONCE );
		$op = isset( $_POST['sf_op'] ) ? sanitize_text_field( wp_unslash( $_POST['sf_op'] ) ) : '';
		list( $verb, $raw ) = array_pad( explode( ':', $op, 2 ), 2, '' );
		$id                 = self::event_id( $raw );
		if ( '' === $id || ! in_array( $verb, array( 'requeue', 'purge' ), true ) ) {
			self::back( 'bad_request' );
			return;
		}
		try {
			if ( 'requeue' === $verb ) {
				$ok = Secure_Forward_Admin_Data::requeue( $id );
				self::back( $ok ? 'requeued' : 'not_found', $ok ? 1 : 0 );
			} else {
				$ok = function_exists( 'secure_forward_purge_event' ) && secure_forward_purge_event( $id );
				self::back( $ok ? 'purged' : 'not_found', $ok ? 1 : 0 );
			}
		} catch ( \Throwable $e ) {
			Secure_Forward_Logger::exception( 'admin ' . $verb, $e );
			self::back( 'failed' );
		}
	}

	/**
	 * Bulk action of the dead letters table: requeue the checked events.
	 */
	public static function bulk(): void {
		self::guard( self::NONCE );
		$action = '';
		foreach ( array( 'sf_bulk', 'sf_bulk2' ) as $field ) {
			$v = isset( $_POST[ $field ] ) ? sanitize_key( wp_unslash( $_POST[ $field ] ) ) : '';
			if ( '' !== $v && '-1' !== $v ) {
				$action = $v;
			}
		}
		$ids = isset( $_POST['event_ids'] ) && is_array( $_POST['event_ids'] ) ? array_map( 'sanitize_text_field', wp_unslash( $_POST['event_ids'] ) ) : array();
		if ( 'requeue' !== $action || ! $ids ) {
			self::back( 'nothing_selected' );
			return;
		}
		$n = 0;
		foreach ( $ids as $raw ) {
			$id = self::event_id( $raw );
			try {
				if ( '' !== $id && Secure_Forward_Admin_Data::requeue( $id ) ) {
					++$n;
				}
			} catch ( \Throwable $e ) {
				Secure_Forward_Logger::exception( 'admin bulk requeue', $e );
			}
		}
		self::back( 'requeued', $n );
	}

	/**
	 * Requeue every dead letter of one destination (up to REQUEUE_ALL_MAX per press).
	 */
	public static function requeue_all(): void {
		self::guard( self::NONCE );
		$dest = isset( $_POST['destination'] ) ? sanitize_text_field( wp_unslash( $_POST['destination'] ) ) : '';
		if ( ! in_array( $dest, Secure_Forward_Admin_Data::destination_names(), true ) ) {
			self::back( 'bad_request' );
			return;
		}
		$r = Secure_Forward_Admin_Data::deliveries(
			array(
				'destination' => $dest,
				'state'       => 'dead',
				'limit'       => self::REQUEUE_ALL_MAX,
				'order'       => 'asc',
			)
		);
		$n = 0;
		foreach ( $r['rows'] as $row ) {
			try {
				if ( Secure_Forward_Admin_Data::requeue( (string) $row['event_id'] ) ) {
					++$n;
				}
			} catch ( \Throwable $e ) {
				Secure_Forward_Logger::exception( 'admin requeue all', $e );
			}
		}
		self::back( 'requeued', $n );
	}

	/**
	 * "Check authentication": runs secure_forward_auth_check() and keeps its facts for this user
	 * for a minute (facts only: auth mode, credential usable, token host, fingerprint, expiry).
	 */
	public static function auth_check(): void {
		self::guard( self::NONCE );
		$dest = isset( $_POST['destination'] ) ? sanitize_text_field( wp_unslash( $_POST['destination'] ) ) : '';
		if ( ! in_array( $dest, Secure_Forward_Admin_Data::destination_names(), true ) ) {
			self::back( 'bad_request' );
			return;
		}
		$keep = array( 'auth', 'credential', 'token_host', 'client_id', 'token_fingerprint', 'token_expires_in_s' );
		try {
			$facts  = array_intersect_key( (array) secure_forward_auth_check( $dest ), array_flip( $keep ) );
			$result = array(
				'ok'    => ! empty( $facts['credential'] ),
				'facts' => $facts,
			);
		} catch ( \Throwable $e ) {
			$result = array(
				'ok'    => false,
				'error' => $e->getMessage(), // Names the file or host and the OAuth error code only.
			);
		}
		$result['destination'] = $dest;
		$result['at']          = time();
		set_transient( self::auth_transient(), $result, MINUTE_IN_SECONDS );
		self::back( $result['ok'] ? 'auth_ok' : 'auth_failed' );
	}

	/** This user's auth-check result transient. */
	public static function auth_transient(): string {
		return 'secure_forward_auth_' . get_current_user_id();
	}

	/**
	 * Resend one order to one destination: a new event id, marked as a resend.
	 */
	public static function resend(): void {
		self::guard( self::ORDER_NONCE );
		$order_id = isset( $_POST['order_id'] ) ? absint( $_POST['order_id'] ) : 0;
		$dest     = isset( $_POST['destination'] ) ? sanitize_text_field( wp_unslash( $_POST['destination'] ) ) : '';
		$back     = Secure_Forward_Admin_Data::order_url( $order_id );
		$order    = $order_id > 0 && function_exists( 'wc_get_order' ) ? wc_get_order( $order_id ) : false;
		if ( ! $order || ! in_array( $dest, Secure_Forward_Admin_Data::destination_names(), true ) ) {
			self::back( 'bad_request', 0, $back );
			return;
		}
		if ( ! self::can_resend() ) {
			self::back( 'resend_unsupported', 0, $back );
			return;
		}
		try {
			if ( method_exists( 'Secure_Forward_CLI', 'resend' ) ) {
				// The plugin's own resend: its occurrence keys, site and pending table.
				$t      = Secure_Forward_CLI::resend( array( $order_id ), $dest );
				$status = ! empty( $t['delivered'] ) ? 'delivered' : ( ! empty( $t['dead'] ) ? 'dead' : 'queued' );
			} else {
				$event   = 'order.' . $order->get_status();
				$receipt = secure_forward_order( Secure_Forward_Mapper::map( $order, $dest ), $dest, $event, array( 'resend' => true ) );
				$status  = is_array( $receipt ) ? (string) ( $receipt['status'] ?? '' ) : '';
			}
			self::back( 'delivered' === $status ? 'resent' : ( 'dead' === $status ? 'resend_dead' : 'resend_queued' ), 1, $back );
		} catch ( \Throwable $e ) {
			Secure_Forward_Logger::exception( 'admin resend to ' . $dest, $e );
			self::back( 'failed', 0, $back );
		}
	}

	/** Whether the extension's secure_forward_order() takes the options array (resend). */
	public static function can_resend(): bool {
		if ( ! function_exists( 'secure_forward_order' ) ) {
			return false;
		}
		try {
			return ( new \ReflectionFunction( 'secure_forward_order' ) )->getNumberOfParameters() >= 4;
		} catch ( \ReflectionException $e ) {
			return false;
		}
	}
}
