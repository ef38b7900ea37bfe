<?php
/**
 * The shop-side record of forwards the extension has not accepted yet: table
 * `{$wpdb->prefix}secure_forward_pending`. A row holds no order data, only what names the forward
 * (order id, event, occurrence, destination, site); it is written when the order hook fires and
 * removed once the extension returned a receipt (delivered, queued or dead).
 *
 * @package SecureForward
 */

defined( 'ABSPATH' ) || exit;

/**
 * SQL for the pending table (nothing else).
 */
final class Secure_Forward_Pending {

	/** Schema version (option secure_forward_db_version, autoloaded). */
	public const DB_VERSION = '1';

	/** Option holding the installed schema version. */
	public const DB_OPTION = 'secure_forward_db_version';

	/** Seconds a claimed row is left to the process that claimed it. */
	public const CLAIM_S = 120;

	/**
	 * The table name.
	 */
	public static function table(): string {
		global $wpdb;
		return $wpdb->prefix . 'secure_forward_pending';
	}

	/**
	 * Creates the table if missing and records the schema version. Plain SQL, not dbDelta():
	 * this may run in a front-end request, which must not load wp-admin/includes (upgrade.php
	 * pulls in all of wp-admin's filters). A later schema version adds its ALTERs here.
	 */
	public static function install(): void {
		global $wpdb;
		$table   = self::table();
		$collate = $wpdb->get_charset_collate();
		// phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared,WordPress.DB.DirectDatabaseQuery,WordPress.DB.DirectDatabaseQuery.SchemaChange
		$wpdb->query(
			"CREATE TABLE IF NOT EXISTS {$table} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  order_id bigint(20) unsigned NOT NULL,
  event varchar(64) NOT NULL,
  occurrence varchar(64) NOT NULL,
  destination varchar(100) NOT NULL,
  site varchar(191) NOT NULL DEFAULT '',
  resend tinyint(1) NOT NULL DEFAULT 0,
  attempts int(10) unsigned NOT NULL DEFAULT 0,
  last_error varchar(255) NULL,
  created_at datetime NOT NULL,
  claimed_until bigint(20) NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY forward (order_id,event,occurrence,destination,resend),
  KEY claimed_until (claimed_until)
) {$collate};"
		);
		update_option( self::DB_OPTION, self::DB_VERSION, true );
	}

	/**
	 * Installs the table when the autoloaded schema version differs (no query otherwise).
	 */
	public static function maybe_install(): void {
		if ( self::DB_VERSION !== get_option( self::DB_OPTION ) ) {
			self::install();
		}
	}

	/**
	 * Drops the table (uninstall).
	 */
	public static function drop(): void {
		global $wpdb;
		$wpdb->query( 'DROP TABLE IF EXISTS ' . self::table() ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared,WordPress.DB.DirectDatabaseQuery,WordPress.DB.DirectDatabaseQuery.SchemaChange
		delete_option( self::DB_OPTION );
	}

	/**
	 * Records one forward; a forward already recorded (same order, event, occurrence,
	 * destination, resend flag) is left as it is.
	 *
	 * @param int    $order_id    Order id.
	 * @param string $event       Event name.
	 * @param string $occurrence  Occurrence key.
	 * @param string $destination Destination name.
	 * @param string $site        Site ("blog id:home URL").
	 * @param bool   $resend      Whether this is a resend.
	 * @return bool Whether the row exists now.
	 */
	public static function add( int $order_id, string $event, string $occurrence, string $destination, string $site, bool $resend = false ): bool {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery
		$r = $wpdb->query(
			$wpdb->prepare(
				"INSERT IGNORE INTO {$table} (order_id, event, occurrence, destination, site, resend, created_at) VALUES (%d, %s, %s, %s, %s, %d, %s)", // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
				$order_id,
				$event,
				$occurrence,
				$destination,
				substr( $site, 0, 191 ),
				$resend ? 1 : 0,
				gmdate( 'Y-m-d H:i:s' )
			)
		);
		return false !== $r;
	}

	/**
	 * Rows of one order (optionally one event and occurrence), oldest first.
	 *
	 * @param int         $order_id   Order id.
	 * @param string|null $event      Event name.
	 * @param string|null $occurrence Occurrence key.
	 * @return list<array<string, mixed>>
	 */
	public static function for_order( int $order_id, ?string $event = null, ?string $occurrence = null ): array {
		global $wpdb;
		$table = self::table();
		$sql   = $wpdb->prepare( "SELECT * FROM {$table} WHERE order_id = %d", $order_id ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		if ( null !== $event ) {
			$sql .= $wpdb->prepare( ' AND event = %s', $event );
		}
		if ( null !== $occurrence ) {
			$sql .= $wpdb->prepare( ' AND occurrence = %s', $occurrence );
		}
		$rows = $wpdb->get_results( $sql . ' ORDER BY id', ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared,WordPress.DB.DirectDatabaseQuery
		return is_array( $rows ) ? $rows : array();
	}

	/**
	 * Unclaimed rows, oldest first.
	 *
	 * @param int $limit Most rows.
	 * @return list<array<string, mixed>>
	 */
	public static function due( int $limit ): array {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery
		$rows = $wpdb->get_results( $wpdb->prepare( "SELECT * FROM {$table} WHERE claimed_until < %d ORDER BY id LIMIT %d", time(), max( 1, $limit ) ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		return is_array( $rows ) ? $rows : array();
	}

	/**
	 * All rows (tests, Site Health, CLI), oldest first.
	 *
	 * @param int $limit Most rows.
	 * @return list<array<string, mixed>>
	 */
	public static function all( int $limit = 1000 ): array {
		global $wpdb;
		$table = self::table();
		$rows  = $wpdb->get_results( $wpdb->prepare( "SELECT * FROM {$table} ORDER BY id LIMIT %d", max( 1, $limit ) ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared,WordPress.DB.DirectDatabaseQuery
		return is_array( $rows ) ? $rows : array();
	}

	/**
	 * Number of rows.
	 */
	public static function count(): int {
		global $wpdb;
		$table = self::table();
		return (int) $wpdb->get_var( "SELECT COUNT(*) FROM {$table}" ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared,WordPress.DB.DirectDatabaseQuery
	}

	/**
	 * Claims a row for this process (so a concurrent drain leaves it alone).
	 *
	 * @param int $id Row id.
	 * @return bool Whether this process has it.
	 */
	public static function claim( int $id ): bool {
		global $wpdb;
		$table = self::table();
		$now   = time();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery
		$n = $wpdb->query( $wpdb->prepare( "UPDATE {$table} SET claimed_until = %d WHERE id = %d AND claimed_until < %d", $now + self::CLAIM_S, $id, $now ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		return 1 === $n;
	}

	/**
	 * Records a failed attempt and releases the claim.
	 *
	 * @param int    $id     Row id.
	 * @param string $reason Why (no order data).
	 */
	public static function failed( int $id, string $reason ): void {
		global $wpdb;
		$wpdb->update( // phpcs:ignore WordPress.DB.DirectDatabaseQuery
			self::table(),
			array(
				'attempts'      => self::attempts( $id ) + 1,
				'last_error'    => substr( $reason, 0, 255 ),
				'claimed_until' => 0,
			),
			array( 'id' => $id ),
			array( '%d', '%s', '%d' ),
			array( '%d' )
		);
	}

	/**
	 * Attempts so far of a row.
	 *
	 * @param int $id Row id.
	 */
	private static function attempts( int $id ): int {
		global $wpdb;
		$table = self::table();
		return (int) $wpdb->get_var( $wpdb->prepare( "SELECT attempts FROM {$table} WHERE id = %d", $id ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared,WordPress.DB.DirectDatabaseQuery
	}

	/**
	 * Removes a row (the extension has the forward, or it can never be sent).
	 *
	 * @param int $id Row id.
	 */
	public static function remove( int $id ): void {
		global $wpdb;
		$wpdb->delete( self::table(), array( 'id' => $id ), array( '%d' ) ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery
	}

	/**
	 * Removes every row of an order (erasure).
	 *
	 * @param int $order_id Order id.
	 * @return int Rows removed.
	 */
	public static function remove_order( int $order_id ): int {
		global $wpdb;
		return (int) $wpdb->delete( self::table(), array( 'order_id' => $order_id ), array( '%d' ) ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery
	}

	/**
	 * Removes every row (tests).
	 */
	public static function clear(): void {
		global $wpdb;
		$wpdb->query( 'DELETE FROM ' . self::table() ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared,WordPress.DB.DirectDatabaseQuery
	}
}
