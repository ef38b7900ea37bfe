<?php
/**
 * Uninstall: removes this plugin's options, pending table and schedules only. The outbox (owned by the
 * extension and the operator) is left alone on purpose: queued orders may still need delivery.
 *
 * @package SecureForward
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

require_once __DIR__ . '/includes/class-secure-forward-pending.php';
require_once __DIR__ . '/includes/class-secure-forward-plugin.php';
Secure_Forward_Plugin::uninstall();

// What the email alerts told, and their pending check.
require_once __DIR__ . '/includes/class-secure-forward-alerts.php';
Secure_Forward_Alerts::uninstall();
