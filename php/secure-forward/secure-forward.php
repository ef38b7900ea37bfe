<?php
/**
 * Plugin Name:       Secure Forward for WooCommerce
 * Description:       Forwards WooCommerce orders server to server through the secure_forward PHP extension (signed, allow-listed, queued, retried). The plugin never sees API keys.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.2
 * Requires Plugins:  woocommerce
 * Author:            secure_forward
 * License:           MIT
 * License URI:       https://opensource.org/licenses/MIT
 * Text Domain:       secure-forward
 * WC requires at least: 8.0
 * WC tested up to:   10.0
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

define( 'SECURE_FORWARD_PLUGIN_VERSION', '0.1.0' );
define( 'SECURE_FORWARD_PLUGIN_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-secure-forward-logger.php';
require_once __DIR__ . '/includes/class-secure-forward-pending.php';
require_once __DIR__ . '/includes/class-secure-forward-mapper.php';
require_once __DIR__ . '/includes/class-secure-forward-plugin.php';
require_once __DIR__ . '/includes/class-secure-forward-site-health.php';
require_once __DIR__ . '/includes/class-secure-forward-privacy.php';
require_once __DIR__ . '/includes/class-secure-forward-cli.php';
require_once __DIR__ . '/includes/class-secure-forward-admin-data.php';
require_once __DIR__ . '/includes/class-secure-forward-admin.php';
require_once __DIR__ . '/includes/class-secure-forward-alerts.php';

register_activation_hook( __FILE__, array( 'Secure_Forward_Plugin', 'activate' ) );
register_deactivation_hook( __FILE__, array( 'Secure_Forward_Plugin', 'deactivate' ) );
register_deactivation_hook( __FILE__, array( 'Secure_Forward_Alerts', 'deactivate' ) );

add_action(
	'before_woocommerce_init',
	static function () {
		if ( class_exists( '\Automattic\WooCommerce\Utilities\FeaturesUtil' ) ) {
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', __FILE__, true );
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'cart_checkout_blocks', __FILE__, true );
		}
	}
);

Secure_Forward_Plugin::instance()->register_hooks();
Secure_Forward_Site_Health::register();
Secure_Forward_Privacy::register();
Secure_Forward_Alerts::register();
if ( is_admin() ) {
	require_once __DIR__ . '/includes/class-secure-forward-admin-actions.php';
	require_once __DIR__ . '/includes/class-secure-forward-deliveries-table.php';
	require_once __DIR__ . '/includes/class-secure-forward-order-box.php';
	Secure_Forward_Admin::register();
	Secure_Forward_Order_Box::register();
}

// WP-CLI: the command class only exists when WP-CLI does; the logic lives in Secure_Forward_CLI.
if ( defined( 'WP_CLI' ) && WP_CLI && class_exists( 'WP_CLI' ) ) {
	require_once __DIR__ . '/includes/class-secure-forward-cli-command.php';
	WP_CLI::add_command( 'secure-forward', 'Secure_Forward_CLI_Command' );
}
