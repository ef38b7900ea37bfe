<?php
/**
 * WooCommerce → Secure Forward (Tools → Secure Forward without WooCommerce's menu): each
 * destination's health, the dead letters, the recent deliveries, and what to do when nothing
 * works yet.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * The Secure Forward screen.
 */
final class Secure_Forward_Admin {

	/** Page slug. */
	public const SLUG = 'secure-forward';

	/**
	 * Hooks.
	 */
	public static function register(): void {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ), 99 );
		add_action( 'admin_notices', array( __CLASS__, 'notices' ) );
		add_filter( 'removable_query_args', array( __CLASS__, 'removable_query_args' ) );
		Secure_Forward_Admin_Actions::register();
	}

	/**
	 * The notice's arguments are dropped from the address bar and from the list table's paging
	 * and sorting links, as WordPress does with its own (a notice is shown once, not on every page).
	 *
	 * @param array $args Removable query args.
	 * @return array
	 */
	public static function removable_query_args( $args ): array {
		return array_merge( (array) $args, array( 'sf_notice', 'sf_count' ) );
	}

	/**
	 * Under WooCommerce when its menu exists, else under Tools.
	 */
	public static function menu(): void {
		$title = __( 'Secure Forward', 'secure-forward' );
		if ( self::has_woocommerce_menu() ) {
			add_submenu_page( 'woocommerce', $title, $title, Secure_Forward_Admin_Data::CAPABILITY, self::SLUG, array( __CLASS__, 'render' ) );
		} else {
			add_management_page( $title, $title, Secure_Forward_Admin_Data::CAPABILITY, self::SLUG, array( __CLASS__, 'render' ) );
		}
	}

	/** Whether WooCommerce's top-level menu is registered. */
	public static function has_woocommerce_menu(): bool {
		global $admin_page_hooks;
		return is_array( $admin_page_hooks ) && isset( $admin_page_hooks['woocommerce'] );
	}

	/** The screen's URL. */
	public static function page_url(): string {
		global $admin_page_hooks;
		$wc = is_array( $admin_page_hooks ) ? self::has_woocommerce_menu() : class_exists( 'WooCommerce' );
		return admin_url( ( $wc ? 'admin.php' : 'tools.php' ) . '?page=' . self::SLUG );
	}

	/**
	 * The text of a notice code (codes only come from the request: never its text).
	 *
	 * @param string $code  Code.
	 * @param int    $count Count.
	 * @return array{0: string, 1: string}|null [type, text]
	 */
	public static function notice_text( string $code, int $count ): ?array {
		switch ( $code ) {
			case 'requeued':
				/* translators: %d: number of events */
				return array( $count > 0 ? 'success' : 'warning', sprintf( _n( '%d dead letter requeued: it is sent with the next flush.', '%d dead letters requeued: they are sent with the next flush.', $count, 'secure-forward' ), $count ) );
			case 'purged':
				return array( 'success', __( 'The event was erased from the outbox.', 'secure-forward' ) );
			case 'not_found':
				return array( 'warning', __( 'That event is no longer there (already requeued, delivered or erased).', 'secure-forward' ) );
			case 'nothing_selected':
				return array( 'warning', __( 'Select one or more dead letters and a bulk action.', 'secure-forward' ) );
			case 'auth_ok':
				return array( 'success', __( 'Authentication check passed.', 'secure-forward' ) );
			case 'auth_failed':
				return array( 'error', __( 'Authentication check failed: see the destination below.', 'secure-forward' ) );
			case 'resent':
				return array( 'success', __( 'Resent: the destination accepted it.', 'secure-forward' ) );
			case 'resend_queued':
				return array( 'warning', __( 'Resend queued: it will be retried by the scheduled flush.', 'secure-forward' ) );
			case 'resend_dead':
				return array( 'error', __( 'Resend refused by the destination: see the Secure Forward box.', 'secure-forward' ) );
			case 'resend_unsupported':
				return array( 'error', __( 'This version of the secure_forward extension cannot resend; update it.', 'secure-forward' ) );
			case 'bad_request':
				return array( 'error', __( 'That request was not understood; nothing was changed.', 'secure-forward' ) );
			case 'failed':
				return array( 'error', __( 'The action failed; the WooCommerce log (source secure-forward) says why.', 'secure-forward' ) );
		}
		return null;
	}

	/**
	 * The notice after an action's redirect.
	 */
	public static function notices(): void {
		// phpcs:disable WordPress.Security.NonceVerification.Recommended -- display only, a fixed text per code.
		if ( ! isset( $_GET['sf_notice'] ) || ! current_user_can( Secure_Forward_Admin_Data::CAPABILITY ) ) {
			return;
		}
		$n = self::notice_text( sanitize_key( wp_unslash( $_GET['sf_notice'] ) ), isset( $_GET['sf_count'] ) ? absint( $_GET['sf_count'] ) : 0 );
		// phpcs:enable
		if ( null !== $n ) {
			printf( '<div class="notice notice-%s is-dismissible sf-notice"><p>%s</p></div>', esc_attr( $n[0] ), esc_html( $n[1] ) );
		}
	}

	/**
	 * The screen.
	 */
	public static function render(): void {
		if ( ! current_user_can( Secure_Forward_Admin_Data::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to access this page.', 'secure-forward' ), '', array( 'response' => 403 ) );
		}
		$s = Secure_Forward_Admin_Data::status();
		echo '<div class="wrap secure-forward">';
		echo '<h1 class="wp-heading-inline">' . esc_html__( 'Secure Forward', 'secure-forward' ) . '</h1>';
		echo '<hr class="wp-header-end" />';
		self::styles();
		if ( null !== $s['problem'] ) {
			self::empty_state( $s['problem'], (string) $s['message'] );
		}
		if ( null !== $s['status'] && ! empty( $s['status']['destinations'] ) ) {
			self::destinations( (array) $s['status']['destinations'] );
			self::dead_letters();
			self::recent();
		}
		echo '</div>';
	}

	/**
	 * What to do when nothing works yet.
	 *
	 * @param string $problem extension|config|error|no_destination.
	 * @param string $message The extension's message (names a file, key or host, never a value).
	 */
	private static function empty_state( string $problem, string $message ): void {
		echo '<div class="sf-empty card">';
		switch ( $problem ) {
			case 'extension':
				echo '<h2>' . esc_html__( 'The secure_forward PHP extension is not loaded', 'secure-forward' ) . '</h2>';
				echo '<p>' . esc_html__( 'No order is forwarded until it is. The plugin has no PHP fallback by design: API keys stay with the extension.', 'secure-forward' ) . '</p>';
				echo '<ol><li>' . esc_html__( 'Install the extension (make install, or your package) on this server.', 'secure-forward' ) . '</li>';
				echo '<li>' . esc_html__( 'Add extension=secure_forward.so and secure_forward.config=/etc/secure-forward/config.toml to php.ini.', 'secure-forward' ) . '</li>';
				echo '<li>' . esc_html__( 'Restart PHP-FPM and reload this page.', 'secure-forward' ) . '</li></ol>';
				break;
			case 'config':
			case 'error':
				echo '<h2>' . esc_html__( 'The Secure Forward configuration has a problem', 'secure-forward' ) . '</h2>';
				echo '<p>' . esc_html__( 'The extension says (naming the file and setting, never a value):', 'secure-forward' ) . ' <code class="sf-problem">' . esc_html( $message ) . '</code></p>';
				echo '<p>' . esc_html__( 'Fix the file (or the key file it names) as the PHP user can read it, then reload this page. Orders placed meanwhile are not forwarded.', 'secure-forward' ) . '</p>';
				break;
			default:
				echo '<h2>' . esc_html__( 'No destination is configured yet', 'secure-forward' ) . '</h2>';
				echo '<p>' . esc_html__( 'Add a [destinations.default] section (its URL and the file holding its API key) to the TOML file that secure_forward.config names in php.ini, then reload this page.', 'secure-forward' ) . '</p>';
		}
		echo '</div>';
	}

	/**
	 * One row per destination: health, and the "Check authentication" / "Requeue all dead" forms.
	 *
	 * @param array $dests secure_forward_status()['destinations'].
	 */
	private static function destinations( array $dests ): void {
		ksort( $dests );
		$auth = get_transient( Secure_Forward_Admin_Actions::auth_transient() );
		echo '<h2>' . esc_html__( 'Destinations', 'secure-forward' ) . '</h2>';
		echo '<table class="widefat striped sf-destinations sf-cards"><thead><tr>';
		foreach ( array( __( 'Destination', 'secure-forward' ), __( 'Health', 'secure-forward' ), __( 'Queued', 'secure-forward' ), __( 'Dead', 'secure-forward' ), __( 'Last delivery', 'secure-forward' ), __( 'Actions', 'secure-forward' ) ) as $h ) {
			echo '<th scope="col">' . esc_html( $h ) . '</th>';
		}
		echo '</tr></thead><tbody>';
		foreach ( $dests as $name => $d ) {
			$name = (string) $name;
			$d    = (array) $d;
			echo '<tr class="sf-destination" data-destination="' . esc_attr( $name ) . '">';
			// Name, host, auth mode, key fingerprint.
			echo '<td data-colname="' . esc_attr__( 'Destination', 'secure-forward' ) . '"><strong>' . esc_html( $name ) . '</strong>';
			$facts = array(
				__( 'Host', 'secure-forward' )            => $d['host'] ?? null,
				__( 'Auth', 'secure-forward' )            => $d['auth'] ?? null,
				__( 'Key fingerprint', 'secure-forward' ) => $d['key_fp'] ?? null,
			);
			echo '<dl class="sf-facts">';
			foreach ( $facts as $label => $value ) {
				echo '<dt>' . esc_html( $label ) . '</dt><dd>' . ( null === $value || '' === $value ? '—' : '<code>' . esc_html( (string) $value ) . '</code>' ) . '</dd>';
			}
			echo '</dl></td>';
			// Circuit.
			echo '<td data-colname="' . esc_attr__( 'Health', 'secure-forward' ) . '">' . self::circuit_label( $d ) . '</td>';
			// Queued + oldest.
			$queued = (int) ( $d['queued'] ?? 0 );
			$oldest = $d['oldest_queued_age_s'] ?? null;
			echo '<td data-colname="' . esc_attr__( 'Queued', 'secure-forward' ) . '" class="sf-queued">' . esc_html( number_format_i18n( $queued ) );
			if ( $queued > 0 && null !== $oldest ) {
				/* translators: %s: age like "5 mins" */
				echo '<br /><span class="description">' . esc_html( sprintf( __( 'oldest %s', 'secure-forward' ), human_time_diff( time() - (int) $oldest, time() ) ) ) . '</span>';
			}
			echo '</td>';
			$dead = (int) ( $d['dead'] ?? 0 );
			echo '<td data-colname="' . esc_attr__( 'Dead', 'secure-forward' ) . '" class="sf-dead">' . ( $dead > 0 ? '<mark class="sf-state sf-bad">' . esc_html( number_format_i18n( $dead ) ) . '</mark>' : '0' ) . '</td>';
			// Last delivery: time and HTTP status of the newest delivered attempt.
			$last = null;
			foreach ( (array) ( $d['attempts'] ?? array() ) as $a ) {
				if ( 'delivered' === ( $a['outcome'] ?? '' ) ) {
					$last = $a;
					break;
				}
			}
			echo '<td data-colname="' . esc_attr__( 'Last delivery', 'secure-forward' ) . '">';
			if ( null !== $last ) {
				echo esc_html( Secure_Forward_Admin_Data::local_time( $last['ts'] ?? null ) ) . '<br /><span class="description">HTTP ' . esc_html( (string) ( $last['http_status'] ?? '—' ) ) . '</span>';
			} elseif ( ! empty( $d['last_success_at'] ) ) {
				echo esc_html( Secure_Forward_Admin_Data::local_time( $d['last_success_at'] ) );
			} else {
				echo '—';
			}
			if ( ! empty( $d['last_error'] ) ) {
				echo '<br /><span class="sf-last-error">' . esc_html__( 'Last error:', 'secure-forward' ) . ' ' . esc_html( (string) $d['last_error'] ) . '</span>';
			}
			echo '</td>';
			// Actions.
			echo '<td data-colname="' . esc_attr__( 'Actions', 'secure-forward' ) . '">';
			self::action_form( 'secure_forward_auth_check', $name, __( 'Check authentication', 'secure-forward' ), 'button' );
			if ( $dead > 0 ) {
				self::action_form( 'secure_forward_requeue_all', $name, __( 'Requeue all dead', 'secure-forward' ), 'button sf-requeue-all' );
			}
			if ( is_array( $auth ) && ( $auth['destination'] ?? '' ) === $name ) {
				self::auth_result( $auth );
			}
			echo '</td></tr>';
		}
		echo '</tbody></table>';
	}

	/**
	 * A one-button POST form with a nonce.
	 *
	 * @param string $action      admin-post action.
	 * @param string $destination Destination.
	 * @param string $label       Button label.
	 * @param string $class       Button classes.
	 */
	private static function action_form( string $action, string $destination, string $label, string $class ): void {
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" class="sf-inline-form">';
		echo '<input type="hidden" name="action" value="' . esc_attr( $action ) . '" />';
		echo '<input type="hidden" name="destination" value="' . esc_attr( $destination ) . '" />';
		wp_nonce_field( Secure_Forward_Admin_Actions::NONCE, '_sf_nonce' );
		echo '<button type="submit" class="' . esc_attr( $class ) . '">' . esc_html( $label ) . '</button>';
		echo '</form>';
	}

	/**
	 * The facts of the last "Check authentication" of this user.
	 *
	 * @param array $auth Stored result.
	 */
	private static function auth_result( array $auth ): void {
		echo '<div class="sf-auth-result ' . ( $auth['ok'] ? 'sf-ok' : 'sf-bad' ) . '">';
		if ( isset( $auth['error'] ) ) {
			echo '<p>' . esc_html__( 'Authentication failed:', 'secure-forward' ) . ' <code>' . esc_html( (string) $auth['error'] ) . '</code></p>';
		} else {
			$labels = array(
				'auth'               => __( 'Mode', 'secure-forward' ),
				'credential'         => __( 'Credential usable', 'secure-forward' ),
				'token_host'         => __( 'Token endpoint', 'secure-forward' ),
				'client_id'          => __( 'Client id', 'secure-forward' ),
				'token_fingerprint'  => __( 'Token fingerprint', 'secure-forward' ),
				'token_expires_in_s' => __( 'Token expires in (s)', 'secure-forward' ),
			);
			echo '<dl class="sf-facts">';
			foreach ( $labels as $k => $label ) {
				if ( array_key_exists( $k, (array) $auth['facts'] ) ) {
					$v = $auth['facts'][ $k ];
					$v = is_bool( $v ) ? ( $v ? __( 'yes', 'secure-forward' ) : __( 'no', 'secure-forward' ) ) : (string) $v;
					echo '<dt>' . esc_html( $label ) . '</dt><dd>' . esc_html( $v ) . '</dd>';
				}
			}
			echo '</dl>';
		}
		/* translators: %s: time */
		echo '<p class="description">' . esc_html( sprintf( __( 'Checked %s ago.', 'secure-forward' ), human_time_diff( (int) $auth['at'], time() ) ) ) . '</p></div>';
	}

	/**
	 * The circuit as a coloured label; "open since" when open.
	 *
	 * @param array $d A destination's status.
	 */
	public static function circuit_label( array $d ): string {
		$c = (string) ( $d['circuit'] ?? 'closed' );
		if ( 'closed' === $c ) {
			$out = '<mark class="sf-state sf-ok">' . esc_html__( 'Healthy', 'secure-forward' ) . '</mark>';
		} elseif ( 'half_open' === $c || 'half-open' === $c ) {
			$out = '<mark class="sf-state sf-warn">' . esc_html__( 'Probing', 'secure-forward' ) . '</mark>';
		} else {
			$out = '<mark class="sf-state sf-bad">' . esc_html__( 'Circuit open', 'secure-forward' ) . '</mark>';
			if ( ! empty( $d['circuit_opened_at'] ) ) {
				/* translators: %s: age */
				$out .= '<br /><span class="description">' . esc_html( sprintf( __( 'since %s', 'secure-forward' ), Secure_Forward_Admin_Data::human_age( $d['circuit_opened_at'] ) ) ) . '</span>';
			}
		}
		if ( ! empty( $d['paused_until'] ) && (int) $d['paused_until'] > time() ) {
			/* translators: %s: time */
			$out .= '<br /><span class="description">' . esc_html( sprintf( __( 'paused until %s', 'secure-forward' ), Secure_Forward_Admin_Data::local_time( (int) $d['paused_until'] ) ) ) . '</span>';
		}
		return $out;
	}

	/**
	 * The dead letters table with its bulk form and the row-action form.
	 */
	private static function dead_letters(): void {
		echo '<h2 id="sf-dead-letters">' . esc_html__( 'Dead letters', 'secure-forward' ) . '</h2>';
		echo '<p class="description">' . esc_html__( 'Events the destination refused (4xx, redirect) or that ran out of retries. Fix the cause, then requeue: they are sent with the next scheduled flush.', 'secure-forward' ) . '</p>';
		$table = new Secure_Forward_Deliveries_Table( 'dead' );
		$table->prepare_items();
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" id="sf-bulk-form">';
		echo '<input type="hidden" name="action" value="secure_forward_bulk" />';
		wp_nonce_field( Secure_Forward_Admin_Actions::NONCE, '_sf_nonce' );
		$table->display();
		echo '</form>';
		// Row actions submit this form (button form="sf-row-form"): no nested forms.
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" id="sf-row-form">';
		echo '<input type="hidden" name="action" value="secure_forward_row" />';
		wp_nonce_field( Secure_Forward_Admin_Actions::NONCE, '_sf_nonce', true, true );
		echo '</form>';
	}

	/**
	 * The last 50 events, any state.
	 */
	private static function recent(): void {
		echo '<h2 id="sf-recent">' . esc_html__( 'Recent deliveries', 'secure-forward' ) . '</h2>';
		$table = new Secure_Forward_Deliveries_Table( 'recent' );
		$table->prepare_items();
		$table->display();
	}

	/**
	 * The few styles the screen needs (inline: no external assets). Colours as WooCommerce's
	 * status screens use them.
	 */
	public static function styles(): void {
		echo '<style>
.secure-forward .sf-state{display:inline-block;padding:0 8px;border-radius:4px;line-height:2;background:#e5e5e5;color:#454545;white-space:nowrap}
.secure-forward .sf-state.sf-ok{background:#c6e1c6;color:#2c4700}
.secure-forward .sf-state.sf-warn{background:#f8dda7;color:#573b00}
.secure-forward .sf-state.sf-bad{background:#eba3a3;color:#761919}
.secure-forward .sf-facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 8px;margin:4px 0}
.secure-forward .sf-facts dt{color:#646970}.secure-forward .sf-facts dd{margin:0;word-break:break-all}
.secure-forward .sf-inline-form{display:inline-block;margin:0 4px 4px 0}
.secure-forward .sf-auth-result{margin-top:6px;padding:4px 8px;border-left:4px solid #72aee6;background:#fff}
.secure-forward .sf-auth-result.sf-ok{border-left-color:#00a32a}.secure-forward .sf-auth-result.sf-bad{border-left-color:#d63638}
.secure-forward .sf-last-error{color:#b32d2e}
.secure-forward .sf-empty{max-width:none}
.secure-forward code.sf-event-id{font-size:11px;word-break:break-all}
.secure-forward #sf-row-form{display:none}
.secure-forward .row-actions{position:static;left:auto}
.secure-forward .sf-preview pre{max-height:400px;overflow:auto;white-space:pre-wrap;word-break:break-all;background:#f6f7f7;padding:8px}
@media screen and (max-width:782px){
.secure-forward table.sf-cards thead{display:none}
.secure-forward table.sf-cards td{display:block;width:auto}
.secure-forward table.sf-cards td:before{content:attr(data-colname);display:block;font-weight:600;color:#1d2327}
.secure-forward table.sf-cards td:first-child:before{display:none}
}
</style>';
	}
}
