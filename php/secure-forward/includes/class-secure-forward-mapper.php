<?php
/**
 * WC_Order → plain array, using only WooCommerce's public API.
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * Maps an order to the shape the extension takes (the shape of the shared fixtures):
 * `get_data()` with dates as ISO 8601 (DATE_ATOM), items as lists of each item's `get_data()`
 * (product items add `sku` when the product still exists and `price`, the unit price after
 * discounts excluding tax, as the REST API gives it), `meta_data` as lists of
 * `{id, key, value}`, refunds as `{id, amount, reason, date_created}`.
 *
 * What actually leaves the store is decided by the extension's allow-list policy, not here.
 */
final class Secure_Forward_Mapper {

	private const ITEM_KEYS = array( 'line_items', 'tax_lines', 'shipping_lines', 'fee_lines', 'coupon_lines' );

	/**
	 * Maps an order.
	 *
	 * @param \WC_Order $order The order (HPOS or posts; any WC_Order subclass).
	 * @return array<string, mixed>
	 */
	public static function map( $order ): array {
		$out = array();
		foreach ( $order->get_data() as $key => $value ) {
			if ( in_array( $key, self::ITEM_KEYS, true ) ) {
				$out[ $key ] = self::items( is_array( $value ) ? $value : array() );
			} elseif ( 'meta_data' === $key ) {
				$out[ $key ] = self::meta( is_array( $value ) ? $value : array() );
			} else {
				$out[ $key ] = self::value( $value );
			}
		}
		$out['refunds'] = array();
		foreach ( $order->get_refunds() as $refund ) {
			$date             = $refund->get_date_created();
			$out['refunds'][] = array(
				'id'           => $refund->get_id(),
				'amount'       => $refund->get_amount(),
				'reason'       => $refund->get_reason(),
				'date_created' => $date ? $date->format( DATE_ATOM ) : null,
			);
		}
		return $out;
	}

	/**
	 * Items as a list of their data.
	 *
	 * @param array $items Items keyed by item id.
	 * @return list<array<string, mixed>>
	 */
	private static function items( array $items ): array {
		$out = array();
		foreach ( $items as $item ) {
			if ( ! is_object( $item ) || ! method_exists( $item, 'get_data' ) ) {
				continue;
			}
			$row = array();
			foreach ( $item->get_data() as $key => $value ) {
				$row[ $key ] = 'meta_data' === $key ? self::meta( is_array( $value ) ? $value : array() ) : self::value( $value );
			}
			if ( $item instanceof \WC_Order_Item_Product ) {
				$product = $item->get_product();
				if ( $product ) {
					$row['sku'] = $product->get_sku();
				}
				// Unit price after discounts, excluding tax (what the REST API calls `price`).
				$qty          = (float) ( $row['quantity'] ?? 0 );
				$row['price'] = 0.0 === $qty ? '0' : wc_format_decimal( (float) ( $row['total'] ?? 0 ) / $qty, wc_get_price_decimals() );
			}
			$out[] = $row;
		}
		return $out;
	}

	/**
	 * Meta as a list of {id, key, value}.
	 *
	 * @param array $meta WC_Meta_Data objects (or arrays).
	 * @return list<array{id: mixed, key: mixed, value: mixed}>
	 */
	private static function meta( array $meta ): array {
		$out = array();
		foreach ( $meta as $m ) {
			if ( is_object( $m ) && method_exists( $m, 'get_data' ) ) {
				$d = $m->get_data();
			} elseif ( is_object( $m ) ) {
				$d = get_object_vars( $m );
			} else {
				$d = (array) $m;
			}
			$out[] = array(
				'id'    => $d['id'] ?? null,
				'key'   => $d['key'] ?? null,
				'value' => self::value( $d['value'] ?? null ),
			);
		}
		return $out;
	}

	/**
	 * Scalars as they are; dates as DATE_ATOM; arrays recursively; other objects by their data.
	 *
	 * @param mixed $value A value from get_data().
	 * @return mixed
	 */
	private static function value( $value ) {
		if ( $value instanceof \DateTimeInterface ) {
			return $value->format( DATE_ATOM );
		}
		if ( is_array( $value ) ) {
			return array_map( array( self::class, 'value' ), $value );
		}
		if ( is_object( $value ) ) {
			if ( method_exists( $value, 'get_data' ) ) {
				return self::value( $value->get_data() );
			}
			if ( $value instanceof \JsonSerializable ) {
				return self::value( $value->jsonSerialize() );
			}
			return self::value( get_object_vars( $value ) );
		}
		return $value;
	}
}
