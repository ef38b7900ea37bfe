<?php
/**
 * Order hooks → queued forwards → secure_forward_order() at shutdown; scheduled outbox drain.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * The plugin's runtime.
 */
final class Secure_Forward_Plugin {

	/** Events forwarded by default. */
	public const DEFAULT_EVENTS = array( 'order.processing', 'order.completed', 'order.cancelled', 'order.refunded' );

	/** Action that drains the outbox (WP-Cron event or Action Scheduler action). */
	public const DRAIN_HOOK = 'secure_forward_drain_outbox';

	/** Action Scheduler group. */
	public const AS_GROUP = 'secure-forward';

	/** Custom WP-Cron schedule. */
	public const CRON_SCHEDULE = 'secure_forward_every_minute';

	/** Priority of the shutdown callback that forwards. */
	public const SHUTDOWN_PRIORITY = 1000;

	/** Options this plugin owns (removed on uninstall). */
	public const OPTIONS = array( 'secure_forward_activated_at', 'secure_forward_plugin_version' );

	/**
	 * The instance.
	 *
	 * @var self|null
	 */
	private static $instance = null;

	/**
	 * Forwards waiting for shutdown, keyed "order_id|event" (dedupe per order+event per request).
	 *
	 * @var array<string, array{order_id: int, event: string, order: object|null}>
	 */
	private $pending = array();

	/**
	 * Keys already forwarded in this request.
	 *
	 * @var array<string, true>
	 */
	private $done = array();

	/**
	 * Whether the shutdown callback is registered.
	 *
	 * @var bool
	 */
	private $shutdown_registered = false;

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

	/**
	 * Hooks everything.
	 */
	public function register_hooks(): void {
		add_action( 'woocommerce_order_status_changed', array( $this, 'on_status_changed' ), 10, 4 );
		add_action( 'init', array( $this, 'register_status_hooks' ), 20 );
		add_action( 'woocommerce_order_refunded', array( $this, 'on_refunded' ), 10, 2 );
		add_action( 'woocommerce_payment_complete', array( $this, 'on_current_status' ), 10, 1 );
		add_action( 'woocommerce_checkout_order_processed', array( $this, 'on_current_status' ), 10, 1 );
		add_action( 'woocommerce_store_api_checkout_order_processed', array( $this, 'on_current_status' ), 10, 1 );

		add_filter( 'cron_schedules', array( __CLASS__, 'cron_schedules' ) ); // phpcs:ignore WordPress.WP.CronInterval
		add_action( self::DRAIN_HOOK, array( __CLASS__, 'drain' ) );
		add_action( 'init', array( __CLASS__, 'ensure_schedule' ), 30 );
		add_action( 'action_scheduler_init', array( __CLASS__, 'ensure_schedule' ) );
		add_action( 'admin_notices', array( __CLASS__, 'admin_notice' ) );
	}

	/**
	 * Hooks `woocommerce_order_status_{status}` for each enabled order.* event.
	 */
	public function register_status_hooks(): void {
		foreach ( self::events() as $event ) {
			if ( 0 === strpos( $event, 'order.' ) ) {
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
	 * `woocommerce_order_status_changed` (id, from, to, order).
	 *
	 * @param int    $order_id Order id.
	 * @param string $from     Old status (no wc-).
	 * @param string $to       New status (no wc-).
	 * @param mixed  $order    The order.
	 */
	public function on_status_changed( $order_id, $from = '', $to = '', $order = null ): void {
		$this->queue( (int) $order_id, 'order.' . $to, is_object( $order ) ? $order : null );
	}

	/**
	 * `woocommerce_order_status_{status}` (id, order, transition).
	 *
	 * @param int   $order_id Order id.
	 * @param mixed $order    The order.
	 */
	public function on_status( $order_id, $order = null ): void {
		$hook   = current_filter();
		$status = substr( $hook, strlen( 'woocommerce_order_status_' ) );
		$this->queue( (int) $order_id, 'order.' . $status, is_object( $order ) ? $order : null );
	}

	/**
	 * `woocommerce_order_refunded` (order id, refund id): partial or full refunds.
	 *
	 * @param int $order_id  Order id.
	 * @param int $refund_id Refund id.
	 */
	public function on_refunded( $order_id, $refund_id = 0 ): void {
		$this->queue( (int) $order_id, 'order.refunded', null );
	}

	/**
	 * Hooks that say "this order reached its current status" (payment complete, classic and
	 * block checkout): forward `order.{status}` when enabled; duplicates collapse.
	 *
	 * @param int|object $order_or_id Order id (classic, payment_complete) or WC_Order (Store API).
	 */
	public function on_current_status( $order_or_id ): void {
		$order = is_object( $order_or_id ) ? $order_or_id : ( function_exists( 'wc_get_order' ) ? wc_get_order( (int) $order_or_id ) : null );
		if ( ! is_object( $order ) || ! method_exists( $order, 'get_status' ) ) {
			return;
		}
		$this->queue( (int) $order->get_id(), 'order.' . $order->get_status(), $order );
	}

	/**
	 * Queues one forward for shutdown, once per order+event per request.
	 *
	 * @param int         $order_id Order id.
	 * @param string      $event    Event name.
	 * @param object|null $order    The order object the hook passed, if any.
	 * @return bool Whether it was newly queued.
	 */
	public function queue( int $order_id, string $event, $order = null ): bool {
		if ( $order_id <= 0 || ! self::event_enabled( $event ) ) {
			return false;
		}
		$key = $order_id . '|' . $event;
		if ( isset( $this->pending[ $key ] ) || isset( $this->done[ $key ] ) ) {
			return false;
		}
		$this->pending[ $key ] = array(
			'order_id' => $order_id,
			'event'    => $event,
			'order'    => $order,
		);
		if ( ! $this->shutdown_registered ) {
			// Late, after WordPress flushed its output buffers (wp_ob_end_flush_all at priority 1).
			add_action( 'shutdown', array( $this, 'on_shutdown' ), self::SHUTDOWN_PRIORITY );
			$this->shutdown_registered = true;
		}
		return true;
	}

	/**
	 * Queued forwards (for tests and diagnostics).
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
		$this->pending = array();
		$this->done    = array();
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
	 * Forwards everything queued. Never throws.
	 *
	 * @return list<array> Receipts.
	 */
	public function dispatch(): array {
		$receipts = array();
		while ( $this->pending ) {
			$key = array_key_first( $this->pending );
			$p   = $this->pending[ $key ];
			unset( $this->pending[ $key ] );
			$this->done[ $key ] = true;
			foreach ( $this->forward( $p['order_id'], $p['event'], $p['order'] ) as $r ) {
				$receipts[] = $r;
			}
		}
		return $receipts;
	}

	/**
	 * Forwards one order event to its destinations now. Never throws.
	 *
	 * @param int         $order_id Order id.
	 * @param string      $event    Event name.
	 * @param object|null $fallback The order object from the hook, used if it can't be reloaded.
	 * @return list<array> Receipts.
	 */
	public function forward( int $order_id, string $event, $fallback = null ): array {
		if ( ! self::extension_loaded() ) {
			Secure_Forward_Logger::error( sprintf( 'forward %s skipped: the secure_forward extension is not loaded', $event ) );
			return array();
		}
		try {
			$order = function_exists( 'wc_get_order' ) ? wc_get_order( $order_id ) : false;
			if ( ! $order ) {
				$order = $fallback;
			}
			if ( ! is_object( $order ) ) {
				return array();
			}
			$data = Secure_Forward_Mapper::map( $order );
		} catch ( \Throwable $e ) {
			Secure_Forward_Logger::exception( 'mapping for ' . $event, $e );
			return array();
		}
		$receipts = array();
		foreach ( self::destinations( $order, $event ) as $destination ) {
			try {
				$receipts[] = secure_forward_order( $data, $destination, $event );
			} catch ( \Throwable $e ) {
				Secure_Forward_Logger::exception( sprintf( 'forward %s to %s', $event, $destination ), $e );
			}
		}
		return $receipts;
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
	 * Adds the every-minute WP-Cron schedule.
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
	 * Whether Action Scheduler is available.
	 */
	public static function has_action_scheduler(): bool {
		return function_exists( 'as_schedule_recurring_action' ) && function_exists( 'as_has_scheduled_action' );
	}

	/**
	 * Makes sure the drain runs every minute: Action Scheduler when present, else WP-Cron.
	 */
	public static function ensure_schedule(): void {
		if ( self::has_action_scheduler() ) {
			if ( 'action_scheduler_init' !== current_action() && ! did_action( 'action_scheduler_init' ) ) {
				return; // Action Scheduler isn't ready yet; action_scheduler_init will call again.
			}
			if ( ! as_has_scheduled_action( self::DRAIN_HOOK, array(), self::AS_GROUP ) ) {
				as_schedule_recurring_action( time(), MINUTE_IN_SECONDS, self::DRAIN_HOOK, array(), self::AS_GROUP, true );
			}
			wp_clear_scheduled_hook( self::DRAIN_HOOK );
			return;
		}
		if ( ! wp_next_scheduled( self::DRAIN_HOOK ) ) {
			wp_schedule_event( time(), self::CRON_SCHEDULE, self::DRAIN_HOOK );
		}
	}

	/**
	 * Removes the schedules this plugin made (the outbox itself stays).
	 */
	public static function clear_schedule(): void {
		wp_clear_scheduled_hook( self::DRAIN_HOOK );
		if ( function_exists( 'as_unschedule_all_actions' ) ) {
			as_unschedule_all_actions( self::DRAIN_HOOK, array(), self::AS_GROUP );
		}
	}

	/**
	 * The scheduled drain: secure_forward_flush(). Never throws.
	 *
	 * @return array|null The flush result.
	 */
	public static function drain(): ?array {
		if ( ! function_exists( 'secure_forward_flush' ) ) {
			return null;
		}
		try {
			$max     = (int) apply_filters( 'secure_forward_flush_max', 100 );
			$seconds = (float) apply_filters( 'secure_forward_flush_seconds', 10.0 );
			return secure_forward_flush( $max, $seconds );
		} catch ( \Throwable $e ) {
			Secure_Forward_Logger::exception( 'scheduled flush', $e );
			return null;
		}
	}

	/**
	 * Activation: record, schedule.
	 */
	public static function activate(): void {
		update_option( 'secure_forward_activated_at', time(), false );
		update_option( 'secure_forward_plugin_version', SECURE_FORWARD_PLUGIN_VERSION, false );
		self::ensure_schedule();
	}

	/**
	 * Uninstall: this plugin's options and schedules only; the outbox is the operator's.
	 */
	public static function uninstall(): void {
		foreach ( self::OPTIONS as $option ) {
			delete_option( $option );
		}
		self::clear_schedule();
	}

	/**
	 * Deactivation: stop the schedule (queued events stay in the outbox).
	 */
	public static function deactivate(): void {
		self::clear_schedule();
	}

	/**
	 * Admin notice when the extension is missing.
	 */
	public static function admin_notice(): void {
		if ( self::extension_loaded() || ! current_user_can( 'manage_options' ) ) {
			return;
		}
		echo '<div class="notice notice-error"><p>' . esc_html__( 'Secure Forward: the secure_forward PHP extension is not loaded, so no orders are forwarded. Install the extension and set secure_forward.config in php.ini (see Tools → Site Health).', 'secure-forward' ) . '</p></div>';
	}
}
