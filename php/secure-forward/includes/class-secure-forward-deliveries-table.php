<?php
/**
 * The dead letters (and the recent deliveries) as a WP_List_Table over
 * secure_forward_deliveries(): facts only, never a payload.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

if ( ! class_exists( 'WP_List_Table' ) ) {
	require_once ABSPATH . 'wp-admin/includes/class-wp-list-table.php';
}

/**
 * Dead letters (mode 'dead': checkboxes, row actions, bulk requeue, paginated, sortable by age)
 * or recent deliveries (mode 'recent': the last 50 events of any state).
 */
class Secure_Forward_Deliveries_Table extends WP_List_Table {

	/** Rows per page (dead letters). */
	public const PER_PAGE = 20;

	/** Recent deliveries shown. */
	public const RECENT = 50;

	/**
	 * 'dead' or 'recent'.
	 *
	 * @var string
	 */
	private $mode;

	/**
	 * Error from the extension, shown instead of rows.
	 *
	 * @var string|null
	 */
	private $error = null;

	/**
	 * Table.
	 *
	 * @param string $mode 'dead' or 'recent'.
	 */
	public function __construct( string $mode ) {
		$this->mode = 'recent' === $mode ? 'recent' : 'dead';
		parent::__construct(
			array(
				'singular' => 'secure-forward-' . $this->mode,
				'plural'   => 'secure-forward-' . $this->mode . '-events',
				'ajax'     => false,
				'screen'   => 'secure-forward-' . $this->mode,
			)
		);
	}

	/**
	 * Columns.
	 *
	 * @return array<string, string>
	 */
	public function get_columns() {
		$cols = array();
		if ( 'dead' === $this->mode ) {
			$cols['cb'] = '<input type="checkbox" />';
		}
		$cols['order_id']    = __( 'Order', 'secure-forward' );
		$cols['destination'] = __( 'Destination', 'secure-forward' );
		$cols['event']       = __( 'Event', 'secure-forward' );
		if ( 'recent' === $this->mode ) {
			$cols['state'] = __( 'State', 'secure-forward' );
		}
		$cols['attempts']    = __( 'Attempts', 'secure-forward' );
		$cols['http_status'] = __( 'Last HTTP status', 'secure-forward' );
		$cols['reason']      = __( 'Reason', 'secure-forward' );
		$cols['age']         = __( 'Age', 'secure-forward' );
		return $cols;
	}

	/**
	 * Sortable by age (creation time).
	 *
	 * @return array
	 */
	protected function get_sortable_columns() {
		return 'dead' === $this->mode ? array( 'age' => array( 'age', false ) ) : array();
	}

	/**
	 * Bulk actions (dead letters only).
	 *
	 * @return array<string, string>
	 */
	protected function get_bulk_actions() {
		return 'dead' === $this->mode ? array( 'requeue' => __( 'Requeue', 'secure-forward' ) ) : array();
	}

	/**
	 * The bulk-action selector, named sf_bulk / sf_bulk2: the form posts to admin-post.php, where
	 * "action" names the handler.
	 *
	 * @param string $which top|bottom.
	 */
	protected function bulk_actions( $which = '' ) {
		$actions = $this->get_bulk_actions();
		if ( ! $actions ) {
			return;
		}
		$name = 'top' === $which ? 'sf_bulk' : 'sf_bulk2';
		printf( '<label for="%1$s" class="screen-reader-text">%2$s</label><select name="%1$s" id="%1$s"><option value="-1">%3$s</option>', esc_attr( $name ), esc_html__( 'Select bulk action', 'secure-forward' ), esc_html__( 'Bulk actions', 'secure-forward' ) );
		foreach ( $actions as $value => $label ) {
			printf( '<option value="%s">%s</option>', esc_attr( $value ), esc_html( $label ) );
		}
		echo '</select>';
		submit_button( __( 'Apply', 'secure-forward' ), 'action', '', false, array( 'id' => 'doaction-' . $which ) );
	}

	/**
	 * No navigation above or below the recent deliveries (one fixed page, no actions).
	 *
	 * @param string $which top|bottom.
	 */
	protected function display_tablenav( $which ) {
		if ( 'dead' === $this->mode ) {
			parent::display_tablenav( $which );
		}
	}

	/**
	 * Loads the page of rows.
	 */
	public function prepare_items() {
		$this->_column_headers = array( $this->get_columns(), array(), $this->get_sortable_columns(), 'order_id' );
		if ( 'recent' === $this->mode ) {
			$r = Secure_Forward_Admin_Data::deliveries(
				array(
					'limit' => self::RECENT,
					'order' => 'desc',
				)
			);
			$this->items = $r['rows'];
			$this->error = $r['error'] ?? null;
			return;
		}
		// phpcs:disable WordPress.Security.NonceVerification.Recommended -- read-only paging and sorting.
		$page  = max( 1, isset( $_GET['paged'] ) ? absint( $_GET['paged'] ) : 1 );
		$order = isset( $_GET['order'] ) && 'asc' === strtolower( sanitize_key( wp_unslash( $_GET['order'] ) ) ) ? 'asc' : 'desc';
		$dest  = isset( $_GET['sf_destination'] ) ? sanitize_text_field( wp_unslash( $_GET['sf_destination'] ) ) : '';
		// phpcs:enable
		// Sorting "by age": newest first means descending creation time.
		$filter = array(
			'state'  => 'dead',
			'limit'  => self::PER_PAGE,
			'offset' => ( $page - 1 ) * self::PER_PAGE,
			'order'  => $order,
		);
		if ( '' !== $dest && in_array( $dest, Secure_Forward_Admin_Data::destination_names(), true ) ) {
			$filter['destination'] = $dest;
		}
		$r           = Secure_Forward_Admin_Data::deliveries( $filter );
		$this->items = $r['rows'];
		$this->error = $r['error'] ?? null;
		$this->set_pagination_args(
			array(
				'total_items' => $r['total'],
				'per_page'    => self::PER_PAGE,
				'total_pages' => (int) ceil( $r['total'] / self::PER_PAGE ),
			)
		);
	}

	/**
	 * Empty table text.
	 */
	public function no_items() {
		if ( null !== $this->error ) {
			echo esc_html( $this->error );
		} elseif ( 'dead' === $this->mode ) {
			esc_html_e( 'No dead letters. Every event was delivered or is still being retried.', 'secure-forward' );
		} else {
			esc_html_e( 'Nothing forwarded yet.', 'secure-forward' );
		}
	}

	/**
	 * Checkbox.
	 *
	 * @param array $item Row.
	 */
	protected function column_cb( $item ) {
		return sprintf(
			'<label class="screen-reader-text" for="sf-cb-%1$s">%2$s</label><input type="checkbox" id="sf-cb-%1$s" name="event_ids[]" value="%1$s" />',
			esc_attr( (string) $item['event_id'] ),
			esc_html__( 'Select this event', 'secure-forward' )
		);
	}

	/**
	 * Order, linked to the order screen, with the row actions.
	 *
	 * @param array $item Row.
	 */
	protected function column_order_id( $item ) {
		$id  = (string) ( $item['order_id'] ?? '' );
		$out = ctype_digit( $id ) && '' !== $id
			? sprintf( '<a href="%s">#%s</a>', esc_url( Secure_Forward_Admin_Data::order_url( (int) $id ) ), esc_html( $id ) )
			: esc_html( $id );
		$out .= sprintf( '<br /><code class="sf-event-id">%s</code>', esc_html( (string) $item['event_id'] ) );
		return $out;
	}

	/**
	 * Row actions: Requeue and Purge, as buttons of the row-action form (POST + nonce).
	 *
	 * @param array  $item        Row.
	 * @param string $column_name Column.
	 * @param string $primary     Primary column.
	 */
	protected function handle_row_actions( $item, $column_name, $primary ) {
		if ( $column_name !== $primary ) {
			return '';
		}
		if ( 'dead' !== $this->mode ) { // No actions; the toggle shows the other columns on a phone.
			return '<button type="button" class="toggle-row"><span class="screen-reader-text">' . esc_html__( 'Show more details', 'secure-forward' ) . '</span></button>';
		}
		$id = (string) $item['event_id'];
		return $this->row_actions(
			array(
				'requeue' => sprintf(
					'<button type="submit" form="sf-row-form" name="sf_op" value="%s" class="button-link">%s</button>',
					esc_attr( 'requeue:' . $id ),
					esc_html__( 'Requeue', 'secure-forward' )
				),
				'delete'  => sprintf(
					'<button type="submit" form="sf-row-form" name="sf_op" value="%s" class="button-link button-link-delete">%s</button>',
					esc_attr( 'purge:' . $id ),
					esc_html__( 'Purge this event', 'secure-forward' )
				),
			)
		);
	}

	/**
	 * Other columns.
	 *
	 * @param array  $item        Row.
	 * @param string $column_name Column.
	 */
	protected function column_default( $item, $column_name ) {
		switch ( $column_name ) {
			case 'destination':
			case 'event':
				return esc_html( (string) ( $item[ $column_name ] ?? '' ) );
			case 'state':
				return self::state_label( (string) ( $item['state'] ?? '' ) );
			case 'attempts':
				return esc_html( (string) (int) ( $item['attempts'] ?? 0 ) );
			case 'http_status':
				return null === ( $item['http_status'] ?? null ) ? '—' : esc_html( (string) (int) $item['http_status'] );
			case 'reason':
				return null === ( $item['reason'] ?? null ) ? '—' : esc_html( (string) $item['reason'] );
			case 'age':
				return sprintf(
					'<span title="%s">%s</span>',
					esc_attr( Secure_Forward_Admin_Data::local_time( $item['created_at'] ?? null ) ),
					esc_html( Secure_Forward_Admin_Data::human_age( $item['created_at'] ?? null ) )
				);
		}
		return '';
	}

	/**
	 * A state as a coloured label (the colours of WooCommerce's status screens).
	 *
	 * @param string $state queued|dead|delivered.
	 */
	public static function state_label( string $state ): string {
		$labels = array(
			'delivered' => array( 'sf-ok', __( 'Delivered', 'secure-forward' ) ),
			'queued'    => array( 'sf-warn', __( 'Queued', 'secure-forward' ) ),
			'dead'      => array( 'sf-bad', __( 'Dead', 'secure-forward' ) ),
		);
		$l = $labels[ $state ] ?? array( '', $state );
		return sprintf( '<mark class="sf-state %s">%s</mark>', esc_attr( $l[0] ), esc_html( $l[1] ) );
	}
}
