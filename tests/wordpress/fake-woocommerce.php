<?php
/**
 * TEST-ONLY stand-ins for the parts of WooCommerce's PUBLIC API the plugin uses
 * (WooCommerce itself is not installable here). Orders live in memory, are fed from the
 * shared fixtures, come back from wc_get_order() as Automattic\WooCommerce\Admin\Overrides\Order
 * (like a real shop), and fire the hooks a real WooCommerce 10.0.2 fires on save, status
 * transitions, payment_complete(), refunds and the classic/block checkouts.
 *
 * Never shipped; the plugin must only use what exists here AND in real WooCommerce.
 *
 * @package SecureForward\Tests
 */

namespace {

	/** WooCommerce's marker class. */
	class WooCommerce {
		public $version = '10.0.2';
	}

	/** Like WC_DateTime: a DateTime that prints as DATE_ATOM. */
	class WC_DateTime extends DateTime {
		public function __toString() {
			return $this->format( DATE_ATOM );
		}
	}

	/** Like WC_Meta_Data. */
	class WC_Meta_Data implements JsonSerializable {
		protected $current_data;
		public function __construct( array $meta = array() ) {
			$this->current_data = array(
				'id'    => $meta['id'] ?? null,
				'key'   => $meta['key'] ?? null,
				'value' => $meta['value'] ?? null,
			);
		}
		public function get_data() {
			return $this->current_data;
		}
		public function __get( $k ) {
			return $this->current_data[ $k ] ?? null;
		}
		public function __isset( $k ) {
			return isset( $this->current_data[ $k ] );
		}
		#[\ReturnTypeWillChange]
		public function jsonSerialize() {
			return $this->current_data;
		}
	}

	/** Turns fixture meta rows into WC_Meta_Data objects. */
	function sf_test_meta_objects( array $rows ): array {
		return array_map( static fn( $m ) => new WC_Meta_Data( $m ), $rows );
	}

	/** Like WC_Product (only what the plugin reads). */
	class WC_Product {
		private $id;
		private $sku;
		public function __construct( int $id, string $sku ) {
			$this->id  = $id;
			$this->sku = $sku;
		}
		public function get_id() {
			return $this->id;
		}
		public function get_sku( $context = 'view' ) {
			return $this->sku;
		}
	}

	/** Like WC_Order_Item. */
	abstract class WC_Order_Item {
		protected $row;
		public function __construct( array $row ) {
			unset( $row['sku'] );
			$this->row = $row;
		}
		public function get_id() {
			return $this->row['id'];
		}
		public function get_order_id() {
			return $this->row['order_id'];
		}
		public function get_name( $context = 'view' ) {
			return $this->row['name'];
		}
		public function get_meta_data() {
			return sf_test_meta_objects( $this->row['meta_data'] ?? array() );
		}
		public function get_meta( $key = '', $single = true, $context = 'view' ) {
			foreach ( $this->row['meta_data'] ?? array() as $m ) {
				if ( $m['key'] === $key ) {
					return $m['value'];
				}
			}
			return '';
		}
		public function get_product_id( $context = 'view' ) {
			return (int) ( $this->row['product_id'] ?? 0 );
		}
		public function get_quantity( $context = 'view' ) {
			return $this->row['quantity'] ?? 0;
		}
		public function get_total( $context = 'view' ) {
			return $this->row['total'] ?? '0';
		}
		public function get_data() {
			$d              = $this->row;
			$d['meta_data'] = $this->get_meta_data();
			return $d;
		}
	}

	/** Like WC_Order_Item_Product; get_product() is false when the product was deleted. */
	class WC_Order_Item_Product extends WC_Order_Item {
		private $sku;
		public function __construct( array $row ) {
			$this->sku = array_key_exists( 'sku', $row ) ? (string) $row['sku'] : null;
			parent::__construct( $row );
		}
		public function get_product() {
			if ( null === $this->sku ) {
				return false;
			}
			return new WC_Product( (int) ( $this->row['variation_id'] ?: $this->row['product_id'] ), $this->sku );
		}
	}
	class WC_Order_Item_Shipping extends WC_Order_Item {}
	class WC_Order_Item_Fee extends WC_Order_Item {}
	class WC_Order_Item_Coupon extends WC_Order_Item {}
	class WC_Order_Item_Tax extends WC_Order_Item {}

	/** Like WC_Order_Refund (only what the plugin reads): amount positive, items negative. */
	class WC_Order_Refund {
		private $r;
		public function __construct( array $r ) {
			$this->r = $r;
		}
		public function get_id() {
			return $this->r['id'];
		}
		public function get_type() {
			return 'shop_order_refund';
		}
		public function get_amount( $context = 'view' ) {
			return $this->r['amount'];
		}
		public function get_reason( $context = 'view' ) {
			return $this->r['reason'];
		}
		public function get_refunded_payment( $context = 'view' ) {
			return (bool) ( $this->r['refunded_payment'] ?? false );
		}
		public function get_date_created( $context = 'view' ) {
			return null === $this->r['date_created'] ? null : new WC_DateTime( $this->r['date_created'] );
		}
		/** Refund line items: quantities and totals negative, meta _refunded_item_id. */
		public function get_items( $types = 'line_item' ) {
			$out = array();
			foreach ( $this->r['line_items'] ?? array() as $row ) {
				$out[ $row['id'] ] = new WC_Order_Item_Product( $row );
			}
			return $out;
		}
	}

	/** The in-memory order store ("the database" of the fake WooCommerce). */
	final class SF_Test_Store {
		/** @var array<int, array> */
		public static $orders = array();
		public static $next_id = 5000;
		public static $hooks = array();
		public static $logs = array();
		/** Order notes: order id → list of [note, is_customer_note]. */
		public static $notes = array();
		/** HPOS on: orders load as Overrides\Order (like WC 10 with HPOS); off: as WC_Order. */
		public static $hpos = true;

		public static function reset(): void {
			self::$orders = array();
			self::$hooks  = array();
			self::$logs   = array();
			self::$notes  = array();
			self::$hpos   = true;
		}

		/** Loads a fixture as a fresh, unsaved order. */
		public static function fixture( string $name ): array {
			$dir  = getenv( 'SF_FIXTURES' ) ?: dirname( __DIR__, 2 ) . '/tests/fixtures/woocommerce-10.0.2';
			$file = rtrim( $dir, '/' ) . '/order-' . $name . '.json';
			$json = file_get_contents( $file );
			if ( false === $json ) {
				throw new RuntimeException( "fixture $file missing" );
			}
			return json_decode( $json, true, 512, JSON_THROW_ON_ERROR );
		}
	}

	/** Like WC_Order (the public API the plugin and the tests use). */
	class WC_Order {
		/** Fixture-shaped state. @var array */
		protected $raw;
		protected $status_transition = null;

		public const ITEM_TYPES = array(
			'line_item' => array( 'line_items', 'WC_Order_Item_Product' ),
			'tax'       => array( 'tax_lines', 'WC_Order_Item_Tax' ),
			'shipping'  => array( 'shipping_lines', 'WC_Order_Item_Shipping' ),
			'fee'       => array( 'fee_lines', 'WC_Order_Item_Fee' ),
			'coupon'    => array( 'coupon_lines', 'WC_Order_Item_Coupon' ),
		);

		public function __construct( $raw = array() ) {
			$this->raw = is_array( $raw ) ? $raw : array( 'id' => (int) $raw );
		}

		public static function from_fixture( string $name, bool $keep_id = true ): self {
			$raw = SF_Test_Store::fixture( $name );
			if ( ! $keep_id ) { // A new order, as checkout creates it.
				$raw['id']             = 0;
				$raw['number']         = '';
				$raw['status']         = 'pending';
				$raw['date_paid']      = null;
				$raw['date_completed'] = null;
				$raw['refunds']        = array();
			}
			return new static( $raw );
		}

		public function get_id() {
			return (int) ( $this->raw['id'] ?? 0 );
		}
		public function get_status( $context = 'view' ) {
			return $this->raw['status'];
		}
		public function get_billing_email( $context = 'view' ) {
			return $this->raw['billing']['email'] ?? '';
		}
		public function set_billing_email( $email ) {
			$this->raw['billing']['email'] = $email;
		}
		public function get_order_number() {
			return (string) ( $this->raw['number'] ?? $this->get_id() );
		}
		public function get_meta_data() {
			return sf_test_meta_objects( $this->raw['meta_data'] ?? array() );
		}
		public function get_type() {
			return 'shop_order';
		}
		public function get_customer_id( $context = 'view' ) {
			return (int) ( $this->raw['customer_id'] ?? 0 );
		}
		public function set_customer_id( $id ) {
			$this->raw['customer_id'] = (int) $id;
		}
		public function get_date_modified( $context = 'view' ) {
			return empty( $this->raw['date_modified'] ) ? null : new WC_DateTime( $this->raw['date_modified'] );
		}
		public function set_date_modified( $date ) {
			$this->raw['date_modified'] = is_numeric( $date ) ? gmdate( DATE_ATOM, (int) $date ) : (string) $date;
		}

		/** Meta changed on this object and not saved yet: key → value (null: deleted). */
		protected $meta_changes = array();

		public function get_meta( $key = '', $single = true, $context = 'view' ) {
			foreach ( $this->raw['meta_data'] ?? array() as $m ) {
				if ( $m['key'] === $key ) {
					return $m['value'];
				}
			}
			return '';
		}
		public function update_meta_data( $key, $value, $meta_id = 0 ) {
			$this->delete_meta_data( $key );
			$this->raw['meta_data'][]    = array( 'id' => ++SF_Test_Store::$next_id, 'key' => $key, 'value' => $value );
			$this->meta_changes[ $key ] = $value;
		}
		public function delete_meta_data( $key ) {
			$this->raw['meta_data']      = array_values( array_filter( $this->raw['meta_data'] ?? array(), static fn( $m ) => $m['key'] !== $key ) );
			$this->meta_changes[ $key ] = null;
		}
		/** Like save_meta_data(): writes only the meta this object changed (no hooks). */
		public function save_meta_data() {
			$id = $this->get_id();
			if ( $id <= 0 || ! isset( SF_Test_Store::$orders[ $id ] ) ) {
				return;
			}
			$stored = SF_Test_Store::$orders[ $id ]['meta_data'] ?? array();
			foreach ( $this->meta_changes as $key => $value ) {
				$stored = array_values( array_filter( $stored, static fn( $m ) => $m['key'] !== $key ) );
				if ( null !== $value ) {
					$stored[] = array( 'id' => ++SF_Test_Store::$next_id, 'key' => $key, 'value' => $value );
				}
			}
			$this->meta_changes                         = array();
			SF_Test_Store::$orders[ $id ]['meta_data'] = $stored;
			$this->raw['meta_data']                     = $stored;
		}
		/** Like add_order_note(): a comment, no order save. */
		public function add_order_note( $note, $is_customer_note = 0, $added_by_user = false ) {
			SF_Test_Store::$notes[ $this->get_id() ][] = array( (string) $note, (int) $is_customer_note );
			return count( SF_Test_Store::$notes[ $this->get_id() ] );
		}

		/** Like WC_Order::get_data(): id, data, number, meta_data, items (objects keyed by id). */
		public function get_data() {
			$out = array();
			foreach ( $this->raw as $k => $v ) {
				if ( 'refunds' === $k ) {
					continue;
				}
				if ( 'meta_data' === $k ) {
					$out[ $k ] = $this->get_meta_data();
				} elseif ( in_array( $k, array( 'line_items', 'tax_lines', 'shipping_lines', 'fee_lines', 'coupon_lines' ), true ) ) {
					$type      = array_search( $k, array_map( static fn( $t ) => $t[0], self::ITEM_TYPES ), true );
					$out[ $k ] = $this->get_items( $type );
				} elseif ( 0 === strpos( $k, 'date_' ) && is_string( $v ) ) {
					$out[ $k ] = new WC_DateTime( $v );
				} else {
					$out[ $k ] = $v;
				}
			}
			return $out;
		}

		/** Items keyed by item id, like WooCommerce. */
		public function get_items( $types = 'line_item' ) {
			$out = array();
			foreach ( (array) $types as $type ) {
				list( $key, $class ) = self::ITEM_TYPES[ $type ];
				foreach ( $this->raw[ $key ] ?? array() as $row ) {
					$out[ $row['id'] ] = new $class( $row );
				}
			}
			return $out;
		}

		public function get_refunds() {
			return array_map( static fn( $r ) => new WC_Order_Refund( $r ), $this->raw['refunds'] ?? array() );
		}

		public function get_total_refunded() {
			return array_sum( array_map( static fn( $r ) => (float) $r['amount'], $this->raw['refunds'] ?? array() ) );
		}

		public function get_total( $context = 'view' ) {
			return $this->raw['total'];
		}

		public function set_status( $new_status, $note = '', $manual = false ) {
			$new_status = 0 === strpos( $new_status, 'wc-' ) ? substr( $new_status, 3 ) : $new_status;
			$old        = $this->raw['status'];
			if ( $new_status !== $old ) {
				$this->status_transition = array(
					'from'   => $this->status_transition['from'] ?? $old,
					'to'     => $new_status,
					'note'   => $note,
					'manual' => (bool) $manual,
				);
			}
			$this->raw['status'] = $new_status;
			return array(
				'from' => $old,
				'to'   => $new_status,
			);
		}

		public function update_status( $new_status, $note = '', $manual = false ) {
			$this->set_status( $new_status, $note, $manual );
			$this->save();
			return true;
		}

		/** Like payment_complete(): status processing, date_paid, save, then the hook. */
		public function payment_complete( $transaction_id = '' ) {
			$this->raw['transaction_id'] = $transaction_id;
			$this->raw['date_paid']      = gmdate( DATE_ATOM );
			$this->set_status( 'processing' );
			$this->save();
			do_action( 'woocommerce_payment_complete', $this->get_id(), $transaction_id );
			return true;
		}

		/** Like save(): new/update hooks, then the status transition hooks. */
		public function save() {
			$new                            = 0 === $this->get_id();
			$this->raw['date_modified']     = gmdate( DATE_ATOM );
			if ( $new ) {
				$id                  = ++SF_Test_Store::$next_id;
				$this->raw['id']     = $id;
				$this->raw['number'] = (string) $id;
				foreach ( self::ITEM_TYPES as list( $key ) ) {
					foreach ( $this->raw[ $key ] ?? array() as $i => $row ) {
						$this->raw[ $key ][ $i ]['order_id'] = $id;
					}
				}
			}
			if ( ! $new && isset( SF_Test_Store::$orders[ $this->get_id() ] ) ) {
				$this->raw['meta_data'] = SF_Test_Store::$orders[ $this->get_id() ]['meta_data'] ?? array();
				foreach ( $this->meta_changes as $key => $value ) {
					$this->raw['meta_data'] = array_values( array_filter( $this->raw['meta_data'], static fn( $m ) => $m['key'] !== $key ) );
					if ( null !== $value ) {
						$this->raw['meta_data'][] = array( 'id' => ++SF_Test_Store::$next_id, 'key' => $key, 'value' => $value );
					}
				}
			}
			$this->meta_changes                       = array();
			$this->raw['refunds']                     = SF_Test_Store::$orders[ $this->get_id() ]['refunds'] ?? ( $this->raw['refunds'] ?? array() );
			SF_Test_Store::$orders[ $this->get_id() ] = $this->raw;
			do_action( $new ? 'woocommerce_new_order' : 'woocommerce_update_order', $this->get_id(), $this );
			if ( $this->status_transition ) {
				$t                       = $this->status_transition;
				$this->status_transition = null;
				do_action( 'woocommerce_order_status_' . $t['to'], $this->get_id(), $this, $t );
				do_action( 'woocommerce_order_status_' . $t['from'] . '_to_' . $t['to'], $this->get_id(), $this, $t );
				do_action( 'woocommerce_order_status_changed', $this->get_id(), $t['from'], $t['to'], $this, $t );
			}
			return $this->get_id();
		}

		/** Test helper: append a refund record. */
		public function sf_add_refund( array $refund ): void {
			$this->raw['refunds'][] = $refund;
			SF_Test_Store::$orders[ $this->get_id() ] = $this->raw;
		}
	}
}

namespace Automattic\WooCommerce\Admin\Overrides {
	/** What wc_get_order() returns in a real WooCommerce 10 shop. */
	class Order extends \WC_Order {}
}

namespace Automattic\WooCommerce\Utilities {
	/** Records compatibility declarations. */
	class FeaturesUtil {
		public static $declared = array();
		public static function declare_compatibility( $feature_id, $plugin_file, $positive_compatibility = true ) {
			self::$declared[] = array( $feature_id, $plugin_file, $positive_compatibility );
			return true;
		}
	}
}

namespace {

	/** Like wc_get_order(): a freshly loaded Overrides\Order, or false. */
	function wc_get_order( $the_order = false ) {
		$id = is_object( $the_order ) ? $the_order->get_id() : (int) $the_order;
		if ( ! isset( SF_Test_Store::$orders[ $id ] ) ) {
			return false;
		}
		return SF_Test_Store::$hpos
			? new Automattic\WooCommerce\Admin\Overrides\Order( SF_Test_Store::$orders[ $id ] )
			: new WC_Order( SF_Test_Store::$orders[ $id ] );
	}

	/** Like wc_get_orders() for the arguments the plugin uses. */
	function wc_get_orders( $args ) {
		$ids = array();
		foreach ( SF_Test_Store::$orders as $id => $raw ) {
			if ( isset( $args['billing_email'] ) && strcasecmp( $raw['billing']['email'] ?? '', $args['billing_email'] ) !== 0 ) {
				continue;
			}
			if ( isset( $args['customer_id'] ) && (int) ( $raw['customer_id'] ?? 0 ) !== (int) $args['customer_id'] ) {
				continue;
			}
			if ( isset( $args['date_modified'] ) && preg_match( '/^>=(\d+)$/', (string) $args['date_modified'], $m ) && strtotime( $raw['date_modified'] ?? '1970-01-01' ) < (int) $m[1] ) {
				continue;
			}
			$ids[] = $id;
		}
		sort( $ids );
		$limit = (int) ( $args['limit'] ?? get_option( 'posts_per_page' ) );
		if ( $limit > 0 ) {
			$page = max( 1, (int) ( $args['page'] ?? 1 ) );
			$ids  = array_slice( $ids, ( $page - 1 ) * $limit, $limit );
		}
		if ( ( $args['return'] ?? 'objects' ) === 'ids' ) {
			return $ids;
		}
		return array_map( 'wc_get_order', $ids );
	}

	/**
	 * Like wc_create_refund() in WooCommerce 10: the refund (amount positive; line items with
	 * negative quantity and total and _refunded_item_id), the gateway refund when
	 * refund_payment, partially/fully refunded hooks (fully: status refunded), the order saved,
	 * then woocommerce_refund_created and woocommerce_order_refunded.
	 */
	function wc_create_refund( $args = array() ) {
		$order = wc_get_order( $args['order_id'] );
		$id    = ++SF_Test_Store::$next_id;
		$lines = array();
		$items = $order->get_items( 'line_item' );
		foreach ( $args['line_items'] ?? array() as $item_id => $l ) {
			$orig    = $items[ $item_id ]->get_data();
			$lines[] = array(
				'id'           => ++SF_Test_Store::$next_id,
				'order_id'     => $id,
				'name'         => $orig['name'],
				'product_id'   => $orig['product_id'],
				'variation_id' => $orig['variation_id'] ?? 0,
				'quantity'     => -1 * abs( (float) ( $l['qty'] ?? 0 ) ),
				'total'        => (string) ( -1 * abs( (float) ( $l['refund_total'] ?? 0 ) ) ),
				'sku'          => SF_Test_Store::$orders[ $order->get_id() ]['line_items'][0]['sku'] ?? null,
				'meta_data'    => array( array( 'id' => ++SF_Test_Store::$next_id, 'key' => '_refunded_item_id', 'value' => (string) $item_id ) ),
			);
			foreach ( SF_Test_Store::$orders[ $order->get_id() ]['line_items'] as $row ) {
				if ( (int) $row['id'] === (int) $item_id ) {
					$lines[ count( $lines ) - 1 ]['sku'] = $row['sku'] ?? null;
				}
			}
		}
		$refund = array(
			'id'               => $id,
			'amount'           => (string) $args['amount'],
			'reason'           => (string) ( $args['reason'] ?? '' ),
			'date_created'     => gmdate( DATE_ATOM ),
			'refunded_payment' => ! empty( $args['refund_payment'] ),
			'line_items'       => $lines,
		);
		$order->sf_add_refund( $refund );
		$order = wc_get_order( $args['order_id'] );
		if ( $order->get_total_refunded() >= (float) $order->get_total() - 0.001 ) {
			do_action( 'woocommerce_order_fully_refunded', $order->get_id(), $id );
			$order->update_status( 'refunded' ); // wc_create_refund() does this.
		} else {
			do_action( 'woocommerce_order_partially_refunded', $order->get_id(), $id );
		}
		$order = wc_get_order( $args['order_id'] );
		$order->set_date_modified( time() );
		$order->save();
		do_action( 'woocommerce_refund_created', $id, $args );
		do_action( 'woocommerce_order_refunded', $order->get_id(), $id );
		return new WC_Order_Refund( $refund );
	}

	/** Like wc_get_price_decimals(). */
	function wc_get_price_decimals() {
		return 2;
	}

	/** Like wc_format_decimal(): rounds to $dp when given, else prints the number as it is. */
	function wc_format_decimal( $number, $dp = false, $trim_zeros = false ) {
		$number = (float) $number;
		if ( false !== $dp ) {
			return number_format( $number, (int) $dp, '.', '' );
		}
		$s = rtrim( rtrim( sprintf( '%.8F', $number ), '0' ), '.' );
		return '' === $s || '-0' === $s ? '0' : $s;
	}

	/** Records log lines (the plugin must not put order data here). */
	class SF_Test_Logger {
		public function log( $level, $message, $context = array() ) {
			SF_Test_Store::$logs[] = array( $level, $message, $context );
		}
		public function error( $message, $context = array() ) {
			$this->log( 'error', $message, $context );
		}
	}

	function wc_get_logger() {
		static $l = null;
		return $l ?? ( $l = new SF_Test_Logger() );
	}

	/**
	 * Classic checkout, like WC_Checkout::process_checkout(): create + save the order,
	 * checkout_order_processed, then the gateway's payment_complete().
	 */
	function sf_test_classic_checkout( string $fixture, bool $paid = true ) {
		$order = WC_Order::from_fixture( $fixture, false );
		$order->save();
		$order = wc_get_order( $order->get_id() );
		$order->save();
		do_action( 'woocommerce_checkout_order_processed', $order->get_id(), array(), $order );
		if ( $paid ) {
			$order->payment_complete( 'txn_' . $order->get_id() );
		}
		return wc_get_order( $order->get_id() );
	}

	/**
	 * Block checkout, like the Store API in WooCommerce 10 (Checkout::process_request()): the
	 * draft order (checkout-draft) exists from the cart on; placing the order sets it pending and
	 * saves it, fires woocommerce_store_api_checkout_order_processed with the order still
	 * pending (BEFORE payment), then the gateway's process_payment() → payment_complete().
	 */
	function sf_test_block_checkout( string $fixture, bool $paid = true ) {
		$order = WC_Order::from_fixture( $fixture, false );
		$order->set_status( 'checkout-draft' );
		$order->save();
		$order = wc_get_order( $order->get_id() );
		$order->set_status( 'pending' );
		$order->save();
		do_action( 'woocommerce_store_api_checkout_order_processed', $order );
		if ( $paid ) {
			$order->payment_complete( 'txn_' . $order->get_id() );
		}
		return wc_get_order( $order->get_id() );
	}
}
