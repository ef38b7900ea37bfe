<?php
/**
 * Mapper: every fixture round-trips through the WC_Order stand-in and the mapper unchanged (plus
 * line `price`); with a destination, only what its policy selects, bounded.
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
		$flags  = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION;
		// Product lines gain `price`: unit price after discounts, excluding tax, 2 decimals.
		foreach ( $raw['line_items'] as $i => $line ) {
			$raw['line_items'][ $i ]['price'] = 0 == $line['quantity'] ? '0' : sprintf( '%.2f', round( $line['total'] / $line['quantity'], 2 ) );
		}
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

	/** An order with extra meta nobody selects: a 2 MB value and a 40-level nested one. */
	private function heavy_order( string $fixture = 'registered-multi' ) {
		$o = \WC_Order::from_fixture( $fixture, false );
		$o->save();
		$o = wc_get_order( $o->get_id() );
		$deep = 'leaf';
		for ( $i = 0; $i < 40; $i++ ) {
			$deep = array( 'x' => $deep );
		}
		$o->update_meta_data( '_third_party_blob', str_repeat( 'A', 2 * 1024 * 1024 ) );
		$o->update_meta_data( '_third_party_tree', $deep );
		$o->save_meta_data();
		return wc_get_order( $o->get_id() );
	}

	public function test_only_what_the_policy_selects_is_exported(): void {
		$o      = $this->heavy_order();
		$policy = secure_forward_policy( 'default' );
		$m      = \Secure_Forward_Mapper::map( $o, 'default' );
		$top    = array_unique( array_map( static fn( $p ) => preg_replace( '/[.\[].*$/', '', $p ), $policy['fields'] ) );
		$this->assertSame( array(), array_diff( array_keys( $m ), array_merge( $top, array( 'id' ) ) ), 'no top-level key the policy does not name' );
		$this->assertArrayNotHasKey( 'meta_data', $m );
		$this->assertArrayNotHasKey( 'customer_note', $m );
		$json = json_encode( $m );
		$this->assertStringNotContainsString( 'AAAA', $json );
		$this->assertStringNotContainsString( '_third_party', $json );
		$this->assertLessThan( 4096, strlen( $json ) );
		foreach ( $m['line_items'] as $line ) {
			$this->assertArrayHasKey( 'id', $line, 'lines keep their id' );
			$this->assertArrayNotHasKey( 'meta_data', $line );
			$this->assertArrayNotHasKey( 'taxes', $line );
		}
	}

	public function test_unselected_large_meta_never_blocks_the_order(): void {
		$o = $this->heavy_order();
		sf_test_classic_checkout( 'guest-simple' ); // Something else in the same request.
		$o->payment_complete( 'txn' );
		$r = $this->end_request();
		$this->assertContains( 'delivered', array_column( $r, 'status' ) );
		$this->assertSame( array(), $this->pending_rows() );
		$this->assertNotEmpty( $this->sent_of( 'order.processing', $o->get_id() ) );
	}

	public function test_depth_is_bounded_when_everything_is_exported(): void {
		$m    = \Secure_Forward_Mapper::map( $this->heavy_order() );
		$tree = array_values( array_filter( $m['meta_data'], static fn( $x ) => '_third_party_tree' === $x['key'] ) )[0]['value'];
		$depth = 0;
		while ( is_array( $tree ) ) {
			$tree = $tree['x'];
			++$depth;
		}
		$this->assertNull( $tree, 'cut at MAX_DEPTH, never followed to the end' );
		$this->assertLessThan( \Secure_Forward_Mapper::MAX_DEPTH, $depth );
	}

	public function test_selection_tree_from_policy_paths_and_consent_sources(): void {
		$tree = \Secure_Forward_Mapper::tree(
			array(
				'fields'     => array( 'refund.amount', 'line_items[].sku', 'line_items[].meta_data[].key', 'billing', 'billing.email', 'customer_note' ),
				'transforms' => array( 'require_consent' => array( 'customer_note' => 'meta:_marketing_ok', 'billing.email' => 'billing.consent' ) ),
			)
		);
		$this->assertEquals( // Order aside.
			array(
				'id'            => true,
				'meta_data'     => array( '[key]' => array( '_marketing_ok' => true ) ),
				'billing'       => true,
				'refund'        => array( 'amount' => true ),
				'line_items'    => array( '[]' => array( 'sku' => true, 'meta_data' => array( '[]' => array( 'key' => true ) ) ) ),
				'customer_note' => true,
			),
			$tree,
			'a whole object stays whole; consent meta keys are selected by key'
		);
	}

	public function test_over_1000_lines_is_refused_with_a_note_naming_the_count(): void {
		$raw  = \SF_Test_Store::fixture( 'guest-simple' );
		$line = $raw['line_items'][0];
		$raw['line_items'] = array();
		for ( $i = 0; $i < 1001; $i++ ) {
			$line['id']          = 100000 + $i;
			$raw['line_items'][] = $line;
		}
		$raw['id']     = 0;
		$raw['status'] = 'pending';
		$o             = new \WC_Order( $raw );
		$o->save();
		$this->assertSame( array(), $this->end_request() );
		$this->assertSame( array(), $this->sent(), 'never truncated and sent' );
		$this->assertSame( array(), $this->pending_rows(), 'not retried every minute' );
		$notes = $this->notes( $o->get_id() );
		$this->assertCount( 1, $notes );
		$this->assertStringContainsString( '1001 line items', $notes[0] );
		$this->assertStringContainsString( 'order ' . $o->get_id(), end( \SF_Test_Store::$logs )[1] );
	}
}
