<?php
/**
 * WC_Order → plain array, using only WooCommerce's public API, holding only what a policy selects.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Thrown when an order cannot be forwarded as it is (e.g. over the extension's bounds); the
 * message names the count or the field, never a value.
 */
final class Secure_Forward_Refused extends \RuntimeException {}

/**
 * Maps an order to the shape the extension takes (the shape of the shared fixtures):
 * `get_data()` with dates as ISO 8601 (DATE_ATOM), items as lists of each item's `get_data()`
 * (product items add `sku` when the product still exists and `price`, the unit price after
 * discounts excluding tax), `meta_data` as lists of `{id, key, value}`, refunds as
 * `{id, amount, reason, date_created}`, and for refund.created the refund as `refund`.
 *
 * Only what some destination's policy selects (secure_forward_policy(): its fields and consent
 * sources) is exported, converted to at most MAX_DEPTH levels: a large or deep value nobody
 * selected can never make the extension refuse the order.
 */
final class Secure_Forward_Mapper {

	private const ITEM_KEYS = array( 'line_items', 'tax_lines', 'shipping_lines', 'fee_lines', 'coupon_lines' );

	/** Most line items the extension accepts; larger orders are refused here, never truncated. */
	public const MAX_LINES = 1000;

	/** Deepest nesting exported (deeper values become null). */
	public const MAX_DEPTH = 12;

	/** Most entries of one exported array (more are refused). */
	public const MAX_ENTRIES = 10000;

	/**
	 * Selection trees per destination, for this request.
	 *
	 * @var array<string, array>
	 */
	private static $selections = array();

	/**
	 * Maps an order for one destination (or, without one, everything the old mapper exported).
	 *
	 * @param \WC_Order         $order       The order (HPOS or posts; any WC_Order subclass).
	 * @param string|null       $destination The destination whose policy selects; null: no selection.
	 * @param object|array|null $refund      For refund.created: the WC_Order_Refund (or its id).
	 * @return array<string, mixed>
	 * @throws Secure_Forward_Refused Over the extension's bounds.
	 */
	public static function map( $order, ?string $destination = null, $refund = null ): array {
		$select = null === $destination ? null : self::selection( $destination );
		$out    = array();
		foreach ( $order->get_data() as $key => $value ) {
			if ( null !== $select && ! isset( $select[ $key ] ) && 'id' !== $key ) {
				continue;
			}
			if ( in_array( $key, self::ITEM_KEYS, true ) ) {
				$value = is_array( $value ) ? $value : array();
				if ( 'line_items' === $key && count( $value ) > self::MAX_LINES ) {
					throw new Secure_Forward_Refused( sprintf( 'the order has %d line items; at most %d can be forwarded', count( $value ), self::MAX_LINES ) );
				}
				$out[ $key ] = self::items( $value, null === $select ? null : $select[ $key ] );
			} elseif ( 'meta_data' === $key ) {
				$out[ $key ] = self::meta( is_array( $value ) ? $value : array(), null === $select ? null : $select[ $key ] );
			} else {
				$out[ $key ] = self::value( $value, 1 );
			}
		}
		if ( null === $select || isset( $select['refunds'] ) ) {
			$out['refunds'] = array();
			foreach ( $order->get_refunds() as $r ) {
				$date             = $r->get_date_created();
				$out['refunds'][] = array(
					'id'           => $r->get_id(),
					'amount'       => $r->get_amount(),
					'reason'       => $r->get_reason(),
					'date_created' => $date ? $date->format( DATE_ATOM ) : null,
				);
			}
		}
		if ( null !== $refund ) {
			$out['refund'] = self::refund( $order, $refund );
		}
		return null === $select ? $out : self::prune( $out, $select, 0 );
	}

	/**
	 * The refund as `{id, amount, reason, date_created, refunded_payment, line_items}`, amounts
	 * and quantities as positive decimal strings (WooCommerce stores them negative).
	 *
	 * @param \WC_Order  $order  The refunded order.
	 * @param object|int $refund The WC_Order_Refund or its id.
	 * @return array<string, mixed>
	 */
	public static function refund( $order, $refund ): array {
		if ( ! is_object( $refund ) ) {
			$id     = (int) $refund;
			$refund = null;
			foreach ( $order->get_refunds() as $r ) {
				if ( (int) $r->get_id() === $id ) {
					$refund = $r;
				}
			}
			if ( null === $refund ) {
				throw new Secure_Forward_Refused( sprintf( 'refund %d of the order no longer exists', $id ) );
			}
		}
		$date  = $refund->get_date_created();
		$lines = array();
		if ( method_exists( $refund, 'get_items' ) ) {
			foreach ( $refund->get_items( 'line_item' ) as $item ) {
				$product  = method_exists( $item, 'get_product' ) ? $item->get_product() : false;
				$original = method_exists( $item, 'get_meta' ) ? (int) $item->get_meta( '_refunded_item_id' ) : 0;
				$lines[]  = array(
					'id'         => $original > 0 ? $original : (int) $item->get_id(),
					'product_id' => (int) $item->get_product_id(),
					'sku'        => $product ? (string) $product->get_sku() : null,
					'quantity'   => self::positive( $item->get_quantity() ),
					'total'      => self::positive( $item->get_total() ),
				);
			}
		}
		return array(
			'id'               => (int) $refund->get_id(),
			'amount'           => self::positive( $refund->get_amount() ),
			'reason'           => (string) $refund->get_reason(),
			'date_created'     => $date ? $date->format( DATE_ATOM ) : null,
			'refunded_payment' => method_exists( $refund, 'get_refunded_payment' ) ? (bool) $refund->get_refunded_payment() : false,
			'line_items'       => $lines,
		);
	}

	/**
	 * A positive decimal string.
	 *
	 * @param mixed $n A number or numeric string.
	 */
	private static function positive( $n ): string {
		$s = function_exists( 'wc_format_decimal' ) ? (string) wc_format_decimal( abs( (float) $n ) ) : (string) abs( (float) $n );
		return '' === $s ? '0' : $s;
	}

	/**
	 * The selection tree of a destination: its policy's fields and consent sources.
	 * Path "a.b[].c" → ['a' => ['b' => ['[]' => ['c' => true]]]]; `meta:KEY` consent sources →
	 * ['meta_data' => ['[key]' => ['KEY' => true]]]. Always `id` (the extension requires it).
	 *
	 * @param string $destination Destination name.
	 * @return array<string, mixed>
	 */
	public static function selection( string $destination ): array {
		if ( isset( self::$selections[ $destination ] ) ) {
			return self::$selections[ $destination ];
		}
		$tree = self::tree( secure_forward_policy( $destination ) );
		self::$selections[ $destination ] = $tree;
		return $tree;
	}

	/**
	 * The selection tree of a policy as secure_forward_policy() describes it.
	 *
	 * @param array $policy `fields` and `transforms.require_consent`.
	 * @return array<string, mixed>
	 */
	public static function tree( array $policy ): array {
		$paths = array_map( 'strval', (array) ( $policy['fields'] ?? array() ) );
		$tree  = array( 'id' => true );
		foreach ( (array) ( $policy['transforms']['require_consent'] ?? array() ) as $src ) {
			$src = (string) $src;
			if ( 0 === strpos( $src, 'meta:' ) ) {
				if ( true !== ( $tree['meta_data'] ?? null ) ) {
					$tree['meta_data']['[key]'][ substr( $src, 5 ) ] = true;
				}
			} else {
				$paths[] = $src;
			}
		}
		foreach ( $paths as $path ) {
			self::add_path( $tree, explode( '.', $path ) );
		}
		return $tree;
	}

	/**
	 * Forgets cached selections (tests; configuration reloads).
	 */
	public static function reset(): void {
		self::$selections = array();
	}

	/**
	 * Adds one path's segments to a selection tree.
	 *
	 * @param array        $tree The tree.
	 * @param list<string> $segs Segments ("name" or "name[]").
	 */
	private static function add_path( array &$tree, array $segs ): void {
		$node = &$tree;
		$last = count( $segs ) - 1;
		foreach ( $segs as $i => $seg ) {
			$each = '[]' === substr( $seg, -2 );
			$name = $each ? substr( $seg, 0, -2 ) : $seg;
			if ( true === ( $node[ $name ] ?? null ) ) {
				return; // An ancestor is selected whole.
			}
			if ( $i === $last && ! $each ) {
				$node[ $name ] = true;
				return;
			}
			if ( ! isset( $node[ $name ] ) ) {
				$node[ $name ] = array();
			}
			$node = &$node[ $name ];
			if ( $each ) {
				if ( $i === $last ) {
					$node['[]'] = true;
					return;
				}
				if ( true === ( $node['[]'] ?? null ) ) {
					return;
				}
				if ( ! isset( $node['[]'] ) ) {
					$node['[]'] = array();
				}
				$node = &$node['[]'];
			}
		}
	}

	/**
	 * Keeps what a selection tree names.
	 *
	 * @param mixed $value The value.
	 * @param mixed $sel   true (all of it) or a tree.
	 * @param int   $depth Depth of $value.
	 * @return mixed
	 */
	private static function prune( $value, $sel, int $depth ) {
		if ( true === $sel ) {
			return $value;
		}
		if ( ! is_array( $value ) || ! is_array( $sel ) ) {
			return null;
		}
		$out = array();
		if ( isset( $sel['[key]'] ) ) { // Meta entries by key (consent sources).
			foreach ( $value as $entry ) {
				if ( is_array( $entry ) && isset( $entry['key'] ) && isset( $sel['[key]'][ (string) $entry['key'] ] ) ) {
					$out[] = array(
						'key'   => $entry['key'],
						'value' => $entry['value'] ?? null,
					);
				}
			}
		}
		if ( isset( $sel['[]'] ) ) {
			foreach ( $value as $entry ) {
				$out[] = self::prune( $entry, $sel['[]'], $depth + 1 );
			}
			return $out;
		}
		if ( isset( $value['id'] ) && is_scalar( $value['id'] ) ) {
			$out['id'] = $value['id']; // Objects keep their id (orders, items, refunds).
		}
		foreach ( $sel as $k => $child ) {
			if ( '[key]' !== $k && array_key_exists( $k, $value ) ) {
				$out[ $k ] = self::prune( $value[ $k ], $child, $depth + 1 );
			}
		}
		return $out;
	}

	/**
	 * Items as a list of their data.
	 *
	 * @param array      $items  Items keyed by item id.
	 * @param mixed|null $select Selection for this list (null: all).
	 * @return list<array<string, mixed>>
	 */
	private static function items( array $items, $select ): array {
		$row_select = is_array( $select ) ? ( $select['[]'] ?? array() ) : null;
		$out        = array();
		foreach ( $items as $item ) {
			if ( ! is_object( $item ) || ! method_exists( $item, 'get_data' ) ) {
				continue;
			}
			$row = array();
			foreach ( $item->get_data() as $key => $value ) {
				if ( is_array( $row_select ) && ! isset( $row_select[ $key ] ) && 'id' !== $key ) {
					continue;
				}
				if ( 'meta_data' === $key ) {
					$row[ $key ] = self::meta( is_array( $value ) ? $value : array(), is_array( $row_select ) ? $row_select[ $key ] : null );
				} else {
					$row[ $key ] = self::value( $value, 3 );
				}
			}
			if ( $item instanceof \WC_Order_Item_Product ) {
				$product = $item->get_product();
				if ( $product ) {
					$row['sku'] = $product->get_sku();
				}
				$qty          = (float) $item->get_quantity();
				$decimals     = function_exists( 'wc_get_price_decimals' ) ? wc_get_price_decimals() : 2;
				$row['price'] = 0.0 === $qty ? '0' : (string) wc_format_decimal( (float) $item->get_total() / $qty, $decimals );
			}
			$out[] = $row;
		}
		return $out;
	}

	/**
	 * Meta as a list of {id, key, value}; with a selection by key, only those keys.
	 *
	 * @param array      $meta   WC_Meta_Data objects (or arrays).
	 * @param mixed|null $select Selection for meta_data (null or true: all).
	 * @return list<array{id: mixed, key: mixed, value: mixed}>
	 */
	private static function meta( array $meta, $select ): array {
		$keys = is_array( $select ) && ! isset( $select['[]'] ) ? ( $select['[key]'] ?? array() ) : null;
		$out  = array();
		foreach ( $meta as $m ) {
			if ( is_object( $m ) && method_exists( $m, 'get_data' ) ) {
				$d = $m->get_data();
			} elseif ( is_object( $m ) ) {
				$d = get_object_vars( $m );
			} else {
				$d = (array) $m;
			}
			if ( null !== $keys && ! isset( $keys[ (string) ( $d['key'] ?? '' ) ] ) ) {
				continue;
			}
			$out[] = array(
				'id'    => $d['id'] ?? null,
				'key'   => $d['key'] ?? null,
				'value' => self::value( $d['value'] ?? null, 3 ),
			);
		}
		return $out;
	}

	/**
	 * Scalars as they are; dates as DATE_ATOM; arrays and objects by their data, at most
	 * MAX_DEPTH deep (deeper: null) and MAX_ENTRIES wide (wider: refused).
	 *
	 * @param mixed $value A value from get_data().
	 * @param int   $depth Its depth.
	 * @return mixed
	 * @throws Secure_Forward_Refused An array too wide.
	 */
	private static function value( $value, int $depth ) {
		if ( $value instanceof \DateTimeInterface ) {
			return $value->format( DATE_ATOM );
		}
		if ( is_object( $value ) ) {
			if ( method_exists( $value, 'get_data' ) ) {
				$value = $value->get_data();
			} elseif ( $value instanceof \JsonSerializable ) {
				$value = $value->jsonSerialize();
			} else {
				$value = get_object_vars( $value );
			}
		}
		if ( is_array( $value ) ) {
			if ( $depth >= self::MAX_DEPTH ) {
				return null;
			}
			if ( count( $value ) > self::MAX_ENTRIES ) {
				throw new Secure_Forward_Refused( sprintf( 'a value has %d entries; at most %d can be forwarded', count( $value ), self::MAX_ENTRIES ) );
			}
			$out = array();
			foreach ( $value as $k => $v ) {
				$out[ $k ] = self::value( $v, $depth + 1 );
			}
			return $out;
		}
		return $value;
	}
}
