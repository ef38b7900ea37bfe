<?php
/**
 * The wp-admin screen, its actions and the order box, in this process (the browser suite drives
 * the same code through HTTP): capability, nonce and POST before any change; facts only.
 *
 * @package SecureForward\Tests
 */

namespace SecureForward\Tests;

class AdminTest extends TestCase {

	/** Where the action redirected to. @var string|null */
	private $redirect = null;

	public static function setUpBeforeClass(): void {
		parent::setUpBeforeClass();
		// add_meta_box(), screens and list tables only: wp-admin/includes/admin.php would also add
		// the admin filters (privacy tools...) to every later test of this process.
		foreach ( array( 'template', 'screen', 'class-wp-screen', 'class-wp-list-table' ) as $f ) {
			require_once ABSPATH . 'wp-admin/includes/' . $f . '.php';
		}
		foreach ( array( 'admin-actions', 'deliveries-table', 'order-box' ) as $f ) {
			require_once WP_PLUGIN_DIR . '/secure-forward/includes/class-secure-forward-' . $f . '.php';
		}
	}

	protected function setUp(): void {
		parent::setUp();
		if ( self::fake() || ! function_exists( 'secure_forward_deliveries' ) ) {
			$this->markTestSkipped( 'the screens read the real extension (secure_forward_deliveries)' );
		}
		$this->redirect = null;
		add_filter( 'secure_forward_admin_exit', '__return_false' );
		add_filter( 'wp_redirect', array( $this, 'catch_redirect' ) );
		add_filter( 'wp_die_handler', array( $this, 'die_handler' ) );
		$_SERVER['REQUEST_METHOD'] = 'POST';
		$_POST                     = array();
		$_REQUEST                  = array();
	}

	protected function tearDown(): void {
		remove_filter( 'secure_forward_admin_exit', '__return_false' );
		remove_filter( 'wp_redirect', array( $this, 'catch_redirect' ) );
		remove_filter( 'wp_die_handler', array( $this, 'die_handler' ) );
		$_SERVER['REQUEST_METHOD'] = 'GET';
		$_POST                     = array();
		$_REQUEST                  = array();
		wp_set_current_user( 0 );
		parent::tearDown();
	}

	/** @internal */
	public function catch_redirect( $location ) {
		$this->redirect = (string) $location;
		return false; // No header.
	}

	/** @internal wp_die() throws instead of exiting. */
	public function die_handler() {
		return static function ( $message, $title = '', $args = array() ) {
			$code = is_array( $args ) && isset( $args['response'] ) ? (int) $args['response'] : 500;
			throw new \RuntimeException( 'wp_die ' . $code . ': ' . ( is_string( $message ) ? $message : '' ), $code );
		};
	}

	/** A user with the role, and manage_woocommerce when $manager (as WooCommerce grants it). */
	private function user( bool $manager ): int {
		$id = wp_insert_user(
			array(
				'user_login' => 'sf_admin_test_' . wp_generate_password( 8, false ),
				'user_pass'  => wp_generate_password( 20 ),
				'role'       => $manager ? 'editor' : 'subscriber',
			)
		);
		$this->assertIsInt( $id );
		if ( $manager ) {
			( new \WP_User( $id ) )->add_cap( 'manage_woocommerce' );
		}
		wp_set_current_user( $id );
		return $id;
	}

	/** A new dead letter of `reject` (the test is skipped without that destination). */
	private function dead_letter(): array {
		if ( ! isset( secure_forward_status()['destinations']['reject'] ) ) {
			$this->markTestSkipped( 'needs the refusing (422) destination `reject` of run.sh' );
		}
		$o       = \WC_Order::from_fixture( 'guest-simple' );
		$d       = \Secure_Forward_Mapper::map( $o );
		$d['id'] = 800000 + ( getmypid() % 1000 ) * 100 + wp_rand( 0, 99 );
		$r       = secure_forward_order( $d, 'reject', 'order.processing', array( 'site' => \Secure_Forward_Plugin::site() ) );
		$this->assertSame( 'dead', $r['status'] );
		return $r;
	}

	/** The request's form fields ($_POST and $_REQUEST, as PHP fills them). */
	private function post( array $fields ): void {
		$_POST    = $fields;
		$_REQUEST = $fields;
	}

	private function dead_ids(): array {
		return array_column( secure_forward_deliveries( array( 'state' => 'dead', 'limit' => 500 ) )['rows'], 'event_id' );
	}

	private function die_code( callable $f ): int {
		try {
			$f();
		} catch ( \RuntimeException $e ) {
			return $e->getCode();
		}
		return 0;
	}

	public function test_requeue_needs_the_capability_the_nonce_and_a_post(): void {
		$dead = $this->dead_letter();
		$op   = array( 'sf_op' => 'requeue:' . $dead['event_id'] );

		$this->user( false );
		$this->post( $op + array( '_sf_nonce' => wp_create_nonce( \Secure_Forward_Admin_Actions::NONCE ) ) );
		$this->assertSame( 403, $this->die_code( array( 'Secure_Forward_Admin_Actions', 'row' ) ), 'a subscriber' );
		$this->assertContains( $dead['event_id'], $this->dead_ids() );

		$this->user( true );
		$this->post( $op + array( '_sf_nonce' => 'not-a-nonce' ) );
		$this->assertSame( 403, $this->die_code( array( 'Secure_Forward_Admin_Actions', 'row' ) ), 'a bad nonce' );
		$this->post( $op );
		$this->assertSame( 403, $this->die_code( array( 'Secure_Forward_Admin_Actions', 'row' ) ), 'no nonce' );
		$this->post( $op + array( '_sf_nonce' => wp_create_nonce( \Secure_Forward_Admin_Actions::NONCE ) ) );
		$_SERVER['REQUEST_METHOD'] = 'GET';
		$this->assertSame( 405, $this->die_code( array( 'Secure_Forward_Admin_Actions', 'row' ) ), 'a GET' );
		$this->assertContains( $dead['event_id'], $this->dead_ids(), 'nothing changed' );

		$_SERVER['REQUEST_METHOD'] = 'POST';
		$this->assertSame( 0, $this->die_code( array( 'Secure_Forward_Admin_Actions', 'row' ) ) );
		$this->assertNotContains( $dead['event_id'], $this->dead_ids(), 'requeued' );
		$this->assertStringContainsString( 'sf_notice=requeued', (string) $this->redirect );
		$this->assertStringContainsString( 'sf_count=1', (string) $this->redirect );
		secure_forward_purge_event( $dead['event_id'] );
	}

	public function test_purge_and_bulk_requeue(): void {
		$this->user( true );
		$a = $this->dead_letter();
		$b = $this->dead_letter();
		$this->post(
			array(
				'_sf_nonce' => wp_create_nonce( \Secure_Forward_Admin_Actions::NONCE ),
				'sf_op'     => 'purge:' . $a['event_id'],
			)
		);
		\Secure_Forward_Admin_Actions::row();
		$this->assertNotContains( $a['event_id'], array_column( secure_forward_deliveries( array( 'limit' => 500 ) )['rows'], 'event_id' ), 'purged, not just requeued' );
		$this->assertStringContainsString( 'sf_notice=purged', (string) $this->redirect );

		$this->post(
			array(
				'_sf_nonce' => wp_create_nonce( \Secure_Forward_Admin_Actions::NONCE ),
				'sf_bulk2'  => 'requeue',
				'event_ids' => array( $b['event_id'], 'evt_00000000000000000000000000000000', '"><script>' ),
			)
		);
		\Secure_Forward_Admin_Actions::bulk();
		$this->assertNotContains( $b['event_id'], $this->dead_ids() );
		$this->assertStringContainsString( 'sf_count=1', (string) $this->redirect, 'only the real dead letter counts' );
		secure_forward_purge_event( $b['event_id'] );
	}

	public function test_the_screen_shows_facts_only_and_escapes(): void {
		$this->user( true );
		ob_start();
		\Secure_Forward_Admin::render();
		$html = (string) ob_get_clean();
		$this->assertStringContainsString( 'class="widefat striped sf-destinations sf-cards"', $html );
		foreach ( array_keys( secure_forward_status()['destinations'] ) as $name ) {
			$this->assertStringContainsString( 'data-destination="' . esc_attr( $name ) . '"', $html );
		}
		$this->assertStringContainsString( 'id="sf-bulk-form"', $html );
		$this->assertStringContainsString( 'name="_sf_nonce"', $html );
		$this->assertStringNotContainsString( 'sf-wordpress-test-api-key', $html, 'no key' );
		$this->assertStringNotContainsString( '/status/', $html, 'no destination path' );
		$this->assertStringNotContainsString( '<script', $html, 'no script' );

		$this->user( false );
		$this->assertSame( 403, $this->die_code( array( 'Secure_Forward_Admin', 'render' ) ) );
	}

	public function test_notice_text_comes_from_a_fixed_list(): void {
		$this->user( true );
		$_GET = array(
			'sf_notice' => '<script>alert(1)</script>',
			'sf_count'  => '3',
		);
		ob_start();
		\Secure_Forward_Admin::notices();
		$this->assertSame( '', ob_get_clean(), 'an unknown code shows nothing' );
		$_GET['sf_notice'] = 'requeued';
		ob_start();
		\Secure_Forward_Admin::notices();
		$this->assertStringContainsString( '3 dead letters requeued', (string) ob_get_clean() );
		$_GET = array();
	}

	public function test_order_box_on_the_hpos_and_legacy_screens(): void {
		global $wp_meta_boxes;
		$this->user( true );
		\Secure_Forward_Order_Box::add();
		foreach ( array( 'woocommerce_page_wc-orders', 'shop_order' ) as $screen ) {
			$this->assertArrayHasKey( 'secure-forward', $wp_meta_boxes[ $screen ]['normal']['default'] ?? array(), $screen );
		}
		$o = \WC_Order::from_fixture( 'guest-simple' );
		$o->save();
		ob_start();
		\Secure_Forward_Order_Box::render( wc_get_order( $o->get_id() ) );
		$html = (string) ob_get_clean();
		$this->assertStringContainsString( 'Preview what leaves', $html );
		$this->assertStringContainsString( 'form="sf-order-form"', $html );
		$body = secure_forward_prepare( \Secure_Forward_Mapper::map( wc_get_order( $o->get_id() ), 'default' ), 'default' );
		$this->assertSame( 1, preg_match( '~data-destination="default">.*?<pre class="sf-preview-body">(.*?)</pre>~s', $html, $m ), 'the preview of default' );
		$shown = html_entity_decode( $m[1], ENT_QUOTES, 'UTF-8' );
		// Indentation and the space after each key's colon are all the pretty print may add.
		$this->assertSame( $body, preg_replace( '~(?<!\\\\)": ~', '":', preg_replace( '~\n\s*~', '', $shown ) ), 'the exact body' );
		$this->assertStringNotContainsString( 'sf-wordpress-test-api-key', $html );
		ob_start();
		\Secure_Forward_Order_Box::footer_form();
		$this->assertStringContainsString( 'value="' . $o->get_id() . '"', (string) ob_get_clean() );
	}
}
