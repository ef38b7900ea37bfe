<?php
/**
 * Mapper: every fixture round-trips through the WC_Order stand-in and the mapper unchanged.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class MapperTest extends TestCase {

	public function fixtures(): array {
		$dir = getenv( 'SF_FIXTURES' );
		$out = array();
		foreach ( glob( $dir . '/order-*.json' ) as $f ) {
			$name         = substr( basename( $f, '.json' ), 6 );
			$out[ $name ] = array( $name );
		}
		return $out;
	}

	public function test_all_eight_fixtures_present(): void {
		$this->assertCount( 8, $this->fixtures() );
	}

	/**
	 * @dataProvider fixtures
	 */
	public function test_fixture_round_trips_exactly( string $name ): void {
		$raw   = \SF_Test_Store::fixture( $name );
		$order = new \Automattic\WooCommerce\Admin\Overrides\Order( $raw );
		$this->assertInstanceOf( \WC_Order::class, $order );
		$mapped = \Secure_Forward_Mapper::map( $order );
		// The mapper adds each product line item's unit price (total / quantity, as the REST API's `price`).
		foreach ( $raw['line_items'] as $i => $item ) {
			$qty                              = (float) $item['quantity'];
			$raw['line_items'][ $i ]['price'] = 0.0 === $qty ? '0' : number_format( (float) $item['total'] / $qty, 2, '.', '' );
		}
		$flags = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION;
		// Same keys in the same order, same types, same values.
		$this->assertSame( json_encode( $raw, $flags ), json_encode( $mapped, $flags ) );
		$this->assertSame( $raw, $mapped );
	}

	/**
	 * @dataProvider fixtures
	 */
	public function test_get_data_alone_would_lose_items_and_dates( string $name ): void {
		$order = new \Automattic\WooCommerce\Admin\Overrides\Order( \SF_Test_Store::fixture( $name ) );
		$naive = json_decode( json_encode( $order->get_data() ), true );
		$this->assertIsArray( $naive['date_created'], 'json_encode mangles WC_DateTime' );
		$mapped = \Secure_Forward_Mapper::map( $order );
		$this->assertMatchesRegularExpression( '/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/', $mapped['date_created'] );
		$this->assertNotEmpty( $mapped['line_items'] );
		$this->assertSame( array_keys( $mapped['line_items'] ), range( 0, count( $mapped['line_items'] ) - 1 ), 'items are a list' );
	}

	public function test_details(): void {
		$m = \Secure_Forward_Mapper::map( new \WC_Order( \SF_Test_Store::fixture( 'registered-multi' ) ) );
		$skus = array_map( static fn( $i ) => $i['sku'] ?? '<none>', $m['line_items'] );
		$this->assertSame( array( 'HOODIE-NAVY-M', 'BEANS-ETH-250', '' ), $skus, 'product without SKU → ""' );
		$prices = array_map( static fn( $i ) => $i['price'], $m['line_items'] );
		$this->assertSame( array( '48.60', '13.05', '3.60' ), $prices, 'unit price after discounts, excl. tax' );
		$this->assertSame( array( 49, 50, 51 ), array_map( static fn( $i ) => $i['id'], $m['line_items'] ), 'items keep their id' );
		foreach ( $m['meta_data'] as $meta ) {
			$this->assertSame( array( 'id', 'key', 'value' ), array_keys( $meta ) );
		}
		$this->assertNotEmpty( array_filter( $m['meta_data'], static fn( $x ) => is_array( $x['value'] ) ), 'array-valued meta kept' );
		$this->assertCount( 1, $m['coupon_lines'] );
		$this->assertCount( 2, $m['tax_lines'] );

		$m = \Secure_Forward_Mapper::map( new \WC_Order( \SF_Test_Store::fixture( 'email-in-note' ) ) );
		$this->assertArrayNotHasKey( 'sku', end( $m['line_items'] ), 'deleted product → no sku key' );

		$m = \Secure_Forward_Mapper::map( new \WC_Order( \SF_Test_Store::fixture( 'partial-refund' ) ) );
		$this->assertSame( array( 'id', 'amount', 'reason', 'date_created' ), array_keys( $m['refunds'][0] ) );
		$this->assertSame( '15.75', $m['refunds'][0]['amount'] );
		$this->assertSame( '2026-11-22T03:17:21+00:00', $m['refunds'][1]['date_created'] );

		$m = \Secure_Forward_Mapper::map( new \WC_Order( \SF_Test_Store::fixture( 'guest-simple' ) ) );
		$this->assertNull( $m['date_completed'] );
		$this->assertSame( array(), $m['refunds'] );
	}

	public function test_loaded_orders_are_the_admin_override_class(): void {
		$o = \WC_Order::from_fixture( 'guest-simple', false );
		$o->save();
		$loaded = wc_get_order( $o->get_id() );
		$this->assertInstanceOf( \Automattic\WooCommerce\Admin\Overrides\Order::class, $loaded );
		$m = \Secure_Forward_Mapper::map( $loaded );
		$this->assertSame( $o->get_id(), $m['id'] );
		$this->assertSame( $o->get_id(), $m['line_items'][0]['order_id'] );
	}

	/**
	 * @dataProvider fixtures
	 */
	public function test_prepare_accepts_every_mapped_fixture( string $name ): void {
		$body = secure_forward_prepare( \Secure_Forward_Mapper::map( new \WC_Order( \SF_Test_Store::fixture( $name ) ) ) );
		$this->assertIsArray( json_decode( $body, true ) );
		if ( ! self::fake() ) {
			// The real extension's allow-list: the test PAN never leaves the store.
			foreach ( array( '4111 1111 1111 1111', '4111-1111-1111-1111', '4111111111111111' ) as $pan ) {
				$this->assertStringNotContainsString( $pan, $body );
			}
		}
	}
}
