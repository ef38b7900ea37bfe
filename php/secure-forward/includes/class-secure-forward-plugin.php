<?php
/**
 * Order hooks → durable pending forwards (the shop's own table) → secure_forward_order() at
 * shutdown, or by the scheduled drain when that did not happen; the drain also flushes the
 * extension's outbox.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * The plugin's runtime.
 */
final class Secure_Forward_Plugin {

	/** Events forwarded by default. */
	public const DEFAULT_EVENTS = array( 'order.created', 'order.processing', 'order.completed', 'order.cancelled', 'order.refunded', 'refund.created' );

	/** Action that drains the outbox (WP-Cron event or Action Scheduler action). */
	public const DRAIN_HOOK = 'secure_forward_drain_outbox';

	/** Action Scheduler group. */
	public const AS_GROUP = 'secure-forward';

	/** Custom WP-Cron schedule (kept for sites that scheduled it before). */
	public const CRON_SCHEDULE = 'secure_forward_every_minute';

	/** Seconds between drains while something is pending or queued. */
	public const DRAIN_INTERVAL = 60;

	/** Priority of the shutdown callback that forwards. */
	public const SHUTDOWN_PRIORITY = 1000;

	/** Pending rows forwarded per drain. */
	public const DRAIN_BATCH = 50;

	/** Options this plugin owns (removed on uninstall). */
	public const OPTIONS = array( 'secure_forward_activated_at', 'secure_forward_plugin_version' );

	/** Order meta: occurrences per status (`{status: n}`). */
	public const META_SEQ = '_secure_forward_seq';

	/** Order meta: the last status this plugin saw the order enter. */
	public const META_LAST = '_secure_forward_last_status';

	/** Order meta: order.created recorded. */
	public const META_CREATED = '_secure_forward_created';

	/** Statuses an order is not "created" in yet. */
	public const DRAFT_STATUSES = array( 'checkout-draft', 'auto-draft', 'draft', 'trash' );

	/**
	 * The instance.
	 *
	 * @var self|null
	 */
	private static $instance = null;

	/**
	 * Forwards recorded in this request, keyed "order_id|event|occurrence|resend".
	 *
	 * @var array<string, array{order_id: int, event: string, occurrence: string, resend: bool}>
	 */
	private $pending = array();

	/**
	 * Forwards of this request whose pending row could not be written (the shop's database
	 * refused it), keyed like $pending: forwarded at shutdown all the same, without the safety net.
	 *
	 * @var array<string, list<array<string, mixed>>>
	 */
	private $unrecorded = array();

	/**
	 * Whether the shutdown callback is registered.
	 *
	 * @var bool
	 */
	private $shutdown_registered = false;

	/**
	 * Whether this request made sure the drain is scheduled.
	 *
	 * @var bool
	 */
	private $drain_ensured = false;

	/**
	 * The instance.
	 */
	public static function instance(): self {
		if ( null === self::$instance ) {
			self::$instance = new self();
		}
		return self::$instance;
	}

	/**
	 * Whether the extension is loaded (its functions exist).
	 */
	public static function extension_loaded(): bool {
		return function_exists( 'secure_forward_order' );
	}

	/**
	 * The extension's version, or null.
	 */
	public static function extension_version(): ?string {
		$v = phpversion( 'secure_forward' );
		if ( false !== $v && '' !== $v ) {
			return $v;
		}
		if ( function_exists( 'secure_forward_version' ) ) {
			return (string) secure_forward_version();
		}
		return self::extension_loaded() ? 'unknown' : null;
	}

	/** Option holding this site's identity in the outbox (autoloaded; kept on uninstall with the outbox). */
	public const SITE_OPTION = 'secure_forward_site';

	/**
	 * This site as events carry it: "blog id:home URL", fixed the first time it is needed, so a
	 * later domain or https move does not hide the events stored before it from purge, the eraser
	 * and requeue (and re-fired hooks keep their event ids).
	 */
	public static function site(): string {
		$prefix = get_current_blog_id() . ':';
		$stored = get_option( self::SITE_OPTION );
		if ( is_string( $stored ) && 0 === strpos( $stored, $prefix ) ) {
			return $stored;
		}
		$site = $prefix . untrailingslashit( home_url() );
		update_option( self::SITE_OPTION, $site, true );
		return $site;
	}

	/**
	 * Hooks everything. Nothing here touches the database on an ordinary page load.
	 */
	public function register_hooks(): void {
		add_action( 'woocommerce_order_status_changed', array( $this, 'on_status_changed' ), 10, 4 );
		add_action( 'init', array( $this, 'register_status_hooks' ), 20 );
		add_action( 'woocommerce_new_order', array( $this, 'on_saved' ), 10, 2 );
		add_action( 'woocommerce_update_order', array( $this, 'on_saved' ), 10, 2 );
		add_action( 'woocommerce_order_refunded', array( $this, 'on_refunded' ), 10, 2 );
		add_action( 'woocommerce_payment_complete', array( $this, 'on_current_status' ), 10, 1 );
		add_action( 'woocommerce_checkout_order_processed', array( $this, 'on_current_status' ), 10, 1 );
		add_action( 'woocommerce_store_api_checkout_order_processed', array( $this, 'on_current_status' ), 10, 1 );

		add_filter( 'cron_schedules', array( __CLASS__, 'cron_schedules' ) ); // phpcs:ignore WordPress.WP.CronInterval
		add_action( self::DRAIN_HOOK, array( __CLASS__, 'drain' ) );
		add_action( 'admin_notices', array( __CLASS__, 'admin_notice' ) );
		add_action( 'admin_init', array( __CLASS__, 'maybe_upgrade' ) );
	}

	/**
	 * Hooks `woocommerce_order_status_{status}` for each enabled order.* event (WooCommerce fires
	 * it without woocommerce_order_status_changed when a transition has no "from").
	 */
	public function register_status_hooks(): void {
		foreach ( self::events() as $event ) {
			if ( 0 === strpos( $event, 'order.' ) && 'order.created' !== $event ) {
				$status = substr( $event, 6 );
				if ( ! has_action( 'woocommerce_order_status_' . $status, array( $this, 'on_status' ) ) ) {
					add_action( 'woocommerce_order_status_' . $status, array( $this, 'on_status' ), 10, 2 );
				}
			}
		}
	}

	/**
	 * The enabled events: SECURE_FORWARD_EVENTS (comma list or array) or the defaults,
	 * then the `secure_forward_events` filter. "processing" means "order.processing".
	 *
	 * @return list<string>
	 */
	public static function events(): array {
		$events = self::DEFAULT_EVENTS;
		if ( defined( 'SECURE_FORWARD_EVENTS' ) ) {
			$c      = constant( 'SECURE_FORWARD_EVENTS' );
			$events = is_array( $c ) ? $c : explode( ',', (string) $c );
		}
		$events = apply_filters( 'secure_forward_events', $events );
		$out    = array();
		foreach ( (array) $events as $e ) {
			$e = strtolower( trim( (string) $e ) );
			if ( '' === $e ) {
				continue;
			}
			if ( false === strpos( $e, '.' ) ) {
				$e = 'order.' . ( 0 === strpos( $e, 'wc-' ) ? substr( $e, 3 ) : $e );
			}
			$out[ $e ] = true;
		}
		return array_keys( $out );
	}

	/**
	 * Whether an event is enabled.
	 *
	 * @param string $event Event name.
	 */
	public static function event_enabled( string $event ): bool {
		if ( in_array( $event, self::events(), true ) ) {
			return true;
		}
		// A destination's own `events` (in the configuration) may list more.
		foreach ( self::configured() as $d ) {
			if ( is_array( $d['events'] ?? null ) && in_array( $event, $d['events'], true ) ) {
				return true;
			}
		}
		return false;
	}

	/**
	 * Whether order notes are written (SECURE_FORWARD_ORDER_NOTES, default true).
	 */
	public static function notes_enabled(): bool {
		return ! defined( 'SECURE_FORWARD_ORDER_NOTES' ) || (bool) constant( 'SECURE_FORWARD_ORDER_NOTES' );
	}

	/**
	 * Loads an order (or takes the object given).
	 *
	 * @param mixed $order_or_id WC_Order or id.
	 * @return object|null
	 */
	private static function load( $order_or_id ) {
		if ( is_object( $order_or_id ) && method_exists( $order_or_id, 'get_status' ) ) {
			return $order_or_id;
		}
		$o = function_exists( 'wc_get_order' ) ? wc_get_order( (int) $order_or_id ) : false;
		return is_object( $o ) && method_exists( $o, 'get_status' ) ? $o : null;
	}

	/**
	 * `woocommerce_order_status_changed` (id, from, to, order): the real transition.
	 *
	 * @param int    $order_id Order id.
	 * @param string $from     Old status (no wc-).
	 * @param string $to       New status (no wc-).
	 * @param mixed  $order    The order.
	 */
	public function on_status_changed( $order_id, $from = '', $to = '', $order = null ): void {
		$order = self::load( is_object( $order ) ? $order : $order_id );
		if ( $order ) {
			$this->transition( $order, (string) $to );
		}
	}

	/**
	 * `woocommerce_order_status_{status}` (id, order): fires before status_changed (and alone when
	 * the transition has no "from"); counted once either way.
	 *
	 * @param int   $order_id Order id.
	 * @param mixed $order    The order.
	 */
	public function on_status( $order_id, $order = null ): void {
		$status = substr( current_filter(), strlen( 'woocommerce_order_status_' ) );
		$order  = self::load( is_object( $order ) ? $order : $order_id );
		if ( $order ) {
			$this->transition( $order, $status );
		}
	}

	/**
	 * The order entered $status: count the occurrence once (a hook firing again for the same
	 * transition, in this request or a later one, finds the status already counted) and record
	 * order.{status} when enabled.
	 *
	 * @param object $order  The order.
	 * @param string $status The status entered.
	 */
	public function transition( $order, string $status ): void {
		$status = 0 === strpos( $status, 'wc-' ) ? substr( $status, 3 ) : $status;
		if ( '' === $status || (int) $order->get_id() <= 0 ) {
			return;
		}
		$n = self::count_entry( $order, $status );
		$this->maybe_created( $order );
		$this->record( $order, 'order.' . $status, $status . '#' . $n );
	}

	/**
	 * Counts the order's entry into $status unless it is the last status counted (a hook
	 * firing again for the same transition); returns that status's occurrence number.
	 *
	 * @param object $order  The order.
	 * @param string $status The status entered (no wc-).
	 */
	public static function count_entry( $order, string $status ): int {
		$seq = self::seq( $order );
		if ( (string) $order->get_meta( self::META_LAST ) !== $status ) {
			$seq[ $status ] = ( $seq[ $status ] ?? 0 ) + 1;
			$order->update_meta_data( self::META_SEQ, $seq );
			$order->update_meta_data( self::META_LAST, $status );
			$order->save_meta_data();
		}
		return max( 1, $seq[ $status ] ?? 0 );
	}

	/**
	 * Occurrences per status kept in order meta.
	 *
	 * @param object $order The order.
	 * @return array<string, int>
	 */
	private static function seq( $order ): array {
		$seq = $order->get_meta( self::META_SEQ );
		return is_array( $seq ) ? array_map( 'intval', $seq ) : array();
	}

	/**
	 * The occurrence key of the order's current status ("processing#2").
	 *
	 * @param object $order The order.
	 */
	public static function current_occurrence( $order ): string {
		$status = (string) $order->get_status();
		return $status . '#' . max( 1, self::seq( $order )[ $status ] ?? 0 );
	}

	/**
	 * The occurrences an order has now, for an event (resend, reconcile): order.created →
	 * "created"; order.{status} → its latest occurrence; refund.created → one per refund.
	 *
	 * @param object $order The order.
	 * @param string $event Event name.
	 * @return list<string>
	 */
	public static function occurrences( $order, string $event ): array {
		if ( 'order.created' === $event ) {
			return in_array( (string) $order->get_status(), self::DRAFT_STATUSES, true ) ? array() : array( 'created' );
		}
		if ( 'refund.created' === $event ) {
			return array_map( static fn( $r ) => 'refund#' . (int) $r->get_id(), $order->get_refunds() );
		}
		if ( 0 === strpos( $event, 'order.' ) ) {
			$status = substr( $event, 6 );
			$n      = self::seq( $order )[ $status ] ?? 0;
			if ( $status === (string) $order->get_status() ) {
				return array( $status . '#' . max( 1, $n ) );
			}
			return $n > 0 ? array( $status . '#' . $n ) : array();
		}
		return array();
	}

	/**
	 * Hooks that say "this order is in its current status" (payment complete, classic and block
	 * checkout): the transition, unless it was counted already.
	 *
	 * @param int|object $order_or_id Order id (classic, payment_complete) or WC_Order (Store API).
	 */
	public function on_current_status( $order_or_id ): void {
		$order = self::load( $order_or_id );
		if ( $order ) {
			$this->transition( $order, (string) $order->get_status() );
		}
	}

	/**
	 * `woocommerce_new_order` / `woocommerce_update_order` (id, order): order.created once.
	 *
	 * @param int   $order_id Order id.
	 * @param mixed $order    The order.
	 */
	public function on_saved( $order_id, $order = null ): void {
		$order = self::load( is_object( $order ) ? $order : $order_id );
		if ( $order ) {
			$this->maybe_created( $order );
		}
	}

	/**
	 * Records order.created on the first save outside the draft statuses.
	 *
	 * @param object $order The order.
	 */
	private function maybe_created( $order ): void {
		if ( (int) $order->get_id() <= 0 || in_array( (string) $order->get_status(), self::DRAFT_STATUSES, true ) ) {
			return;
		}
		if ( method_exists( $order, 'get_type' ) && 'shop_order' !== $order->get_type() ) {
			return;
		}
		if ( '' !== (string) $order->get_meta( self::META_CREATED ) ) {
			return;
		}
		$order->update_meta_data( self::META_CREATED, '1' );
		$order->save_meta_data();
		$this->record( $order, 'order.created', 'created' );
	}

	/**
	 * `woocommerce_order_refunded` (order id, refund id): refund.created once per refund.
	 *
	 * @param int $order_id  Order id.
	 * @param int $refund_id Refund id.
	 */
	public function on_refunded( $order_id, $refund_id = 0 ): void {
		$order = self::load( $order_id );
		if ( $order && (int) $refund_id > 0 ) {
			$this->record( $order, 'refund.created', 'refund#' . (int) $refund_id );
		}
	}

	/**
	 * Records a forward durably (one pending row per destination) and queues it for shutdown.
	 *
	 * @param object $order      The order.
	 * @param string $event      Event name.
	 * @param string $occurrence Occurrence key (≤ 64 characters).
	 * @param bool   $resend     A resend (new event id even for a state delivered before).
	 * @param array  $only       Destinations to use instead of the filtered ones.
	 * @param bool   $any_event  Record even when the event is not enabled (an operator asked).
	 * @return bool Whether it was newly recorded in this request.
	 */
	public function record( $order, string $event, string $occurrence, bool $resend = false, array $only = array(), bool $any_event = false ): bool {
		$order_id = (int) $order->get_id();
		if ( $order_id <= 0 || ( ! $any_event && ! self::event_enabled( $event ) ) ) {
			return false;
		}
		$key = $order_id . '|' . $event . '|' . $occurrence . '|' . ( $resend ? 1 : 0 );
		if ( isset( $this->pending[ $key ] ) ) {
			return false;
		}
		self::maybe_upgrade();
		$site = self::site();
		foreach ( $only ? $only : self::destinations( $order, $event ) as $destination ) {
			if ( ! Secure_Forward_Pending::add( $order_id, $event, $occurrence, $destination, $site, $resend ) ) {
				// Never drop it: forward it at shutdown as before, only without the durable record.
				Secure_Forward_Logger::error( sprintf( 'order %d: %s (%s) to %s could not be recorded as pending; it is forwarded at the end of this request without that record', $order_id, $event, $occurrence, $destination ) );
				$this->unrecorded[ $key ][] = array(
					'id'          => 0,
					'order_id'    => $order_id,
					'event'       => $event,
					'occurrence'  => $occurrence,
					'destination' => $destination,
					'site'        => $site,
					'resend'      => $resend ? 1 : 0,
					'last_error'  => null,
				);
			}
		}
		$this->pending[ $key ] = array(
			'order_id'   => $order_id,
			'event'      => $event,
			'occurrence' => $occurrence,
			'resend'     => $resend,
		);
		$this->ensure_drain_once();
		if ( ! $this->shutdown_registered ) {
			// Late, after WordPress flushed its output buffers (wp_ob_end_flush_all at priority 1).
			add_action( 'shutdown', array( $this, 'on_shutdown' ), self::SHUTDOWN_PRIORITY );
			$this->shutdown_registered = true;
		}
		return true;
	}

	/**
	 * Backwards-compatible: records order.{status} / an event for an order id.
	 *
	 * @param int         $order_id Order id.
	 * @param string      $event    Event name.
	 * @param object|null $order    The order object, if any.
	 * @return bool Whether it was newly recorded.
	 */
	public function queue( int $order_id, string $event, $order = null ): bool {
		$order = self::load( $order ? $order : $order_id );
		if ( ! $order ) {
			return false;
		}
		$occurrence = 'order.created' === $event ? 'created' : ( 'order.' . $order->get_status() === $event ? self::current_occurrence( $order ) : substr( $event, 6 ) . '#1' );
		return $this->record( $order, $event, $occurrence );
	}

	/**
	 * Schedules the drain once per request in which something was recorded.
	 */
	private function ensure_drain_once(): void {
		if ( ! $this->drain_ensured ) {
			$this->drain_ensured = true;
			self::schedule_drain();
		}
	}

	/**
	 * Forwards recorded in this request (tests and diagnostics).
	 *
	 * @return list<array{order_id: int, event: string}>
	 */
	public function pending(): array {
		return array_values(
			array_map(
				static fn( $p ) => array(
					'order_id' => $p['order_id'],
					'event'    => $p['event'],
				),
				$this->pending
			)
		);
	}

	/**
	 * Forgets per-request state (tests; long-running workers between jobs).
	 */
	public function reset_request_state(): void {
		$this->pending       = array();
		$this->unrecorded    = array();
		$this->drain_ensured = false;
		Secure_Forward_Mapper::reset();
	}

	/**
	 * At shutdown: finish the HTTP response first, then forward.
	 */
	public function on_shutdown(): void {
		if ( ! $this->pending ) {
			return;
		}
		// The customer already has the response: finish it (PHP-FPM / LiteSpeed), keep running.
		ignore_user_abort( true );
		if ( function_exists( 'fastcgi_finish_request' ) ) {
			fastcgi_finish_request();
		} elseif ( function_exists( 'litespeed_finish_request' ) ) {
			litespeed_finish_request();
		}
		$this->dispatch();
	}

	/**
	 * Forwards what this request recorded. Never throws.
	 *
	 * @return list<array> Receipts.
	 */
	public function dispatch(): array {
		$receipts = array();
		while ( $this->pending ) {
			$key = array_key_first( $this->pending );
			$p   = $this->pending[ $key ];
			unset( $this->pending[ $key ] );
			$unrecorded = $this->unrecorded[ $key ] ?? array();
			unset( $this->unrecorded[ $key ] );
			foreach ( array_merge( Secure_Forward_Pending::for_order( $p['order_id'], $p['event'], $p['occurrence'] ), $unrecorded ) as $row ) {
				if ( (bool) $row['resend'] !== $p['resend'] ) {
					continue;
				}
				$r = self::forward_row( $row );
				if ( null !== $r ) {
					$receipts[] = $r;
				}
			}
		}
		return $receipts;
	}

	/**
	 * Forwards one pending row: removes it once the extension gave a receipt (or when the order
	 * can never be forwarded), else keeps it with the reason for the next drain. Never throws.
	 *
	 * @param array $row A pending row.
	 * @return array|null The receipt.
	 */
	public static function forward_row( array $row ): ?array {
		$id          = (int) $row['id'];
		$order_id    = (int) $row['order_id'];
		$event       = (string) $row['event'];
		$occurrence  = (string) $row['occurrence'];
		$destination = (string) $row['destination'];
		$resend      = (bool) $row['resend'];
		if ( $id > 0 && ! Secure_Forward_Pending::claim( $id ) ) {
			return null; // Another process has it. (Id 0: not recorded, this request's alone.)
		}
		$order = self::load( $order_id );
		if ( ! $order ) {
			Secure_Forward_Logger::error( sprintf( 'order %d: %s (%s) to %s dropped: the order no longer exists', $order_id, $event, $occurrence, $destination ) );
			Secure_Forward_Pending::remove( $id );
			return null;
		}
		if ( ! self::extension_loaded() ) {
			self::pending_failed( $row, $order, 'the secure_forward extension is not loaded' );
			return null;
		}
		try {
			$refund = 0 === strpos( $occurrence, 'refund#' ) ? (int) substr( $occurrence, 7 ) : null;
			$data   = Secure_Forward_Mapper::map( $order, $destination, $refund );
			if ( 0 === strpos( $event, 'order.' ) && 'order.created' !== $event ) {
				$data['status'] = substr( $event, 6 ); // The body says which transition this is.
			}
		} catch ( Secure_Forward_Refused $e ) {
			self::refused( $row, $order, $e->getMessage() );
			return null;
		} catch ( \Throwable $e ) {
			self::pending_failed( $row, $order, get_class( $e ) . ': ' . $e->getMessage() );
			return null;
		}
		$options = array(
			'key'  => $occurrence,
			'site' => (string) $row['site'],
		);
		if ( $resend ) {
			$options['resend'] = true;
		}
		try {
			$receipt = secure_forward_order( $data, $destination, $event, $options );
		} catch ( \SecureForward\ValidationException $e ) {
			self::refused( $row, $order, get_class( $e ) . ': ' . $e->getMessage() );
			return null;
		} catch ( \Throwable $e ) {
			self::pending_failed( $row, $order, get_class( $e ) . ': ' . $e->getMessage() );
			return null;
		}
		Secure_Forward_Pending::remove( $id );
		if ( 'queued' === ( $receipt['status'] ?? '' ) ) {
			self::schedule_drain();
		}
		self::note_receipt( $order, $event, $destination, $resend, $receipt );
		return $receipt;
	}

	/**
	 * A forward that failed for now: keep the row, say why once per distinct reason.
	 *
	 * @param array  $row    The pending row.
	 * @param object $order  The order.
	 * @param string $reason Why (redacted by the extension; no order data).
	 */
	private static function pending_failed( array $row, $order, string $reason ): void {
		if ( 0 === (int) $row['id'] ) { // Not recorded: nothing will retry it.
			$what = sprintf( '%s (%s) to %s', $row['event'], $row['occurrence'], $row['destination'] );
			Secure_Forward_Logger::error( sprintf( 'order %d: %s failed: %s; it could not be recorded as pending either: run `wp secure-forward reconcile`', (int) $row['order_id'], $what, $reason ) );
			/* translators: 1: event, destination; 2: reason */
			self::note( $order, sprintf( __( 'Secure Forward: %1$s failed (%2$s) and could not be kept for a retry; run `wp secure-forward reconcile`.', 'secure-forward' ), $what, $reason ) );
			return;
		}
		Secure_Forward_Pending::failed( (int) $row['id'], $reason );
		self::schedule_drain();
		if ( (string) $row['last_error'] === substr( $reason, 0, 255 ) ) {
			return; // Said already.
		}
		$what = sprintf( '%s (%s) to %s', $row['event'], $row['occurrence'], $row['destination'] );
		Secure_Forward_Logger::error( sprintf( 'order %d: %s is pending: %s; the scheduled drain retries it every minute', (int) $row['order_id'], $what, $reason ) );
		/* translators: 1: event, destination; 2: reason */
		self::note( $order, sprintf( __( 'Secure Forward: %1$s is pending (%2$s); it is retried automatically every minute.', 'secure-forward' ), $what, $reason ) );
	}

	/**
	 * A forward that can never be sent as the order is: drop the row, say so.
	 *
	 * @param array  $row    The pending row.
	 * @param object $order  The order.
	 * @param string $reason Why.
	 */
	private static function refused( array $row, $order, string $reason ): void {
		Secure_Forward_Pending::remove( (int) $row['id'] );
		$what = sprintf( '%s (%s) to %s', $row['event'], $row['occurrence'], $row['destination'] );
		Secure_Forward_Logger::error( sprintf( 'order %d: %s refused: %s', (int) $row['order_id'], $what, $reason ) );
		/* translators: 1: event, destination; 2: reason; 3: order id */
		self::note( $order, sprintf( __( 'Secure Forward: %1$s was refused: %2$s. Fix the order, then run `wp secure-forward resend %3$d`.', 'secure-forward' ), $what, $reason, (int) $row['order_id'] ) );
	}

	/**
	 * The note for a receipt: "Forwarded order.processing to crm: delivered (HTTP 200)".
	 *
	 * @param object $order       The order.
	 * @param string $event       Event name.
	 * @param string $destination Destination.
	 * @param bool   $resend      A resend.
	 * @param array  $receipt     The receipt.
	 */
	private static function note_receipt( $order, string $event, string $destination, bool $resend, array $receipt ): void {
		$status = (string) ( $receipt['status'] ?? '' );
		$text   = sprintf( 'Forwarded %s%s to %s: %s', $event, $resend ? ' (resend)' : '', $destination, $status );
		if ( ! empty( $receipt['http_status'] ) ) {
			$text .= sprintf( ' (HTTP %d)', (int) $receipt['http_status'] );
		}
		if ( ! empty( $receipt['reason'] ) ) {
			$text .= ': ' . (string) $receipt['reason'];
		}
		if ( 'dead' === $status ) {
			$text .= sprintf( ' [event %s]', (string) ( $receipt['event_id'] ?? '' ) );
			Secure_Forward_Logger::error( sprintf( 'order %d: %s', (int) $order->get_id(), $text ) );
		}
		self::note( $order, $text );
	}

	/**
	 * Adds a private order note (unless SECURE_FORWARD_ORDER_NOTES is false). Never throws.
	 *
	 * @param object $order The order.
	 * @param string $text  The note (no customer data).
	 */
	public static function note( $order, string $text ): void {
		if ( ! self::notes_enabled() || ! method_exists( $order, 'add_order_note' ) ) {
			return;
		}
		try {
			// Escaped: the reason may be an API's own error message, and WooCommerce shows notes
			// through wp_kses_post() (which keeps links and images).
			$order->add_order_note( esc_html( $text ), 0, false );
		} catch ( \Throwable $e ) {
			Secure_Forward_Logger::exception( sprintf( 'order %d: order note', (int) $order->get_id() ), $e );
		}
	}

	/**
	 * Backwards-compatible: forwards the order's current state for an event now (no occurrence
	 * counting), through a pending row. Never throws.
	 *
	 * @param int         $order_id Order id.
	 * @param string      $event    Event name.
	 * @param object|null $fallback Unused (the order is always reloaded).
	 * @return list<array> Receipts.
	 */
	public function forward( int $order_id, string $event, $fallback = null ): array {
		$this->queue( $order_id, $event, $fallback );
		return $this->dispatch();
	}

	/**
	 * The configured destinations (`secure_forward_destinations()`; none when the
	 * extension is older or the configuration is unusable).
	 *
	 * @return list<array{name: string, events: ?list<string>}>
	 */
	public static function configured(): array {
		if ( ! function_exists( 'secure_forward_destinations' ) ) {
			return array();
		}
		try {
			return secure_forward_destinations();
		} catch ( \Throwable $e ) {
			return array();
		}
	}

	/**
	 * Destination names for an order and event: every configured destination whose
	 * `events` include it (a destination without `events` takes the plugin's events,
	 * see events()), then the `secure_forward_destinations` filter. Without a usable
	 * configuration: ['default'] (its error shows when forwarding).
	 *
	 * @param object $order The order.
	 * @param string $event Event name.
	 * @return list<string>
	 */
	public static function destinations( $order, string $event ): array {
		$names      = array();
		$configured = self::configured();
		foreach ( $configured as $c ) {
			$events = is_array( $c['events'] ?? null ) ? $c['events'] : self::events();
			if ( in_array( $event, $events, true ) ) {
				$names[] = (string) $c['name'];
			}
		}
		if ( ! $configured ) {
			$names = array( 'default' );
		}
		$d   = apply_filters( 'secure_forward_destinations', $names, $order, $event );
		$out = array();
		foreach ( (array) $d as $name ) {
			$name = trim( (string) $name );
			if ( '' !== $name ) {
				$out[ $name ] = true;
			}
		}
		return array_keys( $out );
	}

	/**
	 * Adds the every-minute WP-Cron schedule (older versions scheduled a recurring drain).
	 *
	 * @param array $schedules Schedules.
	 */
	public static function cron_schedules( $schedules ): array {
		$schedules                        = is_array( $schedules ) ? $schedules : array();
		$schedules[ self::CRON_SCHEDULE ] = array(
			'interval' => MINUTE_IN_SECONDS,
			'display'  => __( 'Every minute (Secure Forward)', 'secure-forward' ),
		);
		return $schedules;
	}

	/**
	 * Whether Action Scheduler is available (and ready).
	 */
	public static function has_action_scheduler(): bool {
		return function_exists( 'as_schedule_single_action' ) && function_exists( 'as_next_scheduled_action' ) && did_action( 'action_scheduler_init' );
	}

	/**
	 * Schedules one drain DRAIN_INTERVAL seconds from now unless one is already waiting:
	 * Action Scheduler when ready, else WP-Cron. Called only when something was recorded,
	 * failed or is queued, never on an ordinary page load.
	 */
	public static function schedule_drain(): void {
		if ( self::has_action_scheduler() ) {
			$next = as_next_scheduled_action( self::DRAIN_HOOK, array(), self::AS_GROUP );
			if ( ! is_int( $next ) ) { // false: none; true: one is running now (it may be this one).
				as_schedule_single_action( time() + self::DRAIN_INTERVAL, self::DRAIN_HOOK, array(), self::AS_GROUP );
			}
			return;
		}
		if ( ! wp_next_scheduled( self::DRAIN_HOOK ) ) {
			wp_schedule_single_event( time() + self::DRAIN_INTERVAL, self::DRAIN_HOOK );
		}
	}

	/**
	 * Backwards-compatible name of schedule_drain().
	 */
	public static function ensure_schedule(): void {
		self::schedule_drain();
	}

	/**
	 * Removes the schedules this plugin made (pending rows and the outbox stay).
	 */
	public static function clear_schedule(): void {
		wp_clear_scheduled_hook( self::DRAIN_HOOK );
		if ( function_exists( 'as_unschedule_all_actions' ) ) {
			as_unschedule_all_actions( self::DRAIN_HOOK, array(), self::AS_GROUP );
		}
	}

	/**
	 * The scheduled drain: forwards pending rows, then secure_forward_flush(); schedules the next
	 * drain while anything is pending or queued. Never throws.
	 *
	 * @return array|null The flush result (with `pending_forwarded` and `pending_left`).
	 */
	public static function drain(): ?array {
		self::maybe_upgrade();
		$forwarded = 0;
		foreach ( Secure_Forward_Pending::due( (int) apply_filters( 'secure_forward_drain_batch', self::DRAIN_BATCH ) ) as $row ) {
			if ( null !== self::forward_row( $row ) ) {
				++$forwarded;
			}
		}
		$left   = Secure_Forward_Pending::count();
		$result = null;
		if ( function_exists( 'secure_forward_flush' ) ) {
			try {
				$max     = (int) apply_filters( 'secure_forward_flush_max', 100 );
				$seconds = (float) apply_filters( 'secure_forward_flush_seconds', 10.0 );
				$result  = secure_forward_flush( $max, $seconds );
			} catch ( \Throwable $e ) {
				Secure_Forward_Logger::exception( 'scheduled flush', $e );
			}
		}
		if ( $left > 0 || ( is_array( $result ) && (int) ( $result['remaining'] ?? 0 ) > 0 ) ) {
			self::schedule_drain(); // Idle shops get no further drains (no Action Scheduler rows).
		}
		if ( is_array( $result ) ) {
			$result['pending_forwarded'] = $forwarded;
			$result['pending_left']      = $left;
		}
		return $result;
	}

	/**
	 * After an update without reactivation (the autoloaded schema version differs; no query
	 * otherwise): the pending table, and the recurring drain of older versions replaced by
	 * the on-demand one.
	 */
	public static function maybe_upgrade(): void {
		if ( Secure_Forward_Pending::DB_VERSION === get_option( Secure_Forward_Pending::DB_OPTION ) ) {
			return;
		}
		Secure_Forward_Pending::install();
		self::clear_schedule();
		self::schedule_drain();
	}

	/**
	 * Activation: the pending table, options, one drain for anything left from before.
	 */
	public static function activate(): void {
		Secure_Forward_Pending::install();
		update_option( 'secure_forward_activated_at', time(), false );
		update_option( 'secure_forward_plugin_version', SECURE_FORWARD_PLUGIN_VERSION, false );
		self::clear_schedule(); // Older versions scheduled a recurring drain.
		self::schedule_drain();
	}

	/**
	 * Uninstall: this plugin's options, table and schedules; the outbox is the operator's.
	 */
	public static function uninstall(): void {
		foreach ( self::OPTIONS as $option ) {
			delete_option( $option );
		}
		Secure_Forward_Pending::drop();
		self::clear_schedule();
	}

	/**
	 * Deactivation: stop the schedule (pending rows and queued events stay).
	 */
	public static function deactivate(): void {
		self::clear_schedule();
	}

	/**
	 * Admin notice when the extension is missing (administrators and shop managers).
	 */
	public static function admin_notice(): void {
		if ( self::extension_loaded() || ! ( current_user_can( 'manage_woocommerce' ) || current_user_can( 'manage_options' ) ) ) {
			return;
		}
		echo '<div class="notice notice-error"><p>' . esc_html__( 'Secure Forward: the secure_forward PHP extension is not loaded. Orders are kept as pending and forwarded once it is. Install the extension and set secure_forward.config in php.ini (see Tools → Site Health).', 'secure-forward' ) . '</p></div>';
	}
}
