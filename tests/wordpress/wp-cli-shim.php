<?php
/**
 * TEST-ONLY minimal WP-CLI stand-in (WP-CLI is not packaged in Debian 12): just enough of
 * WP_CLI's static API for the plugin's thin command class to register and run. Records output.
 *
 * @package SecureForward\Tests
 */

namespace {
	define( 'WP_CLI', true );

	/** Thrown by WP_CLI::error() (real WP-CLI exits the process). */
	class SF_Test_CLI_Exit extends RuntimeException {}

	/** Minimal WP_CLI. */
	class WP_CLI {
		public static $commands = array();
		public static $out      = array();
		public static function add_command( $name, $callable, $args = array() ) {
			self::$commands[ $name ] = $callable;
			return true;
		}
		public static function line( $message = '' ) {
			self::$out[] = array( 'line', $message );
		}
		public static function log( $message ) {
			self::$out[] = array( 'log', $message );
		}
		public static function success( $message ) {
			self::$out[] = array( 'success', $message );
		}
		public static function warning( $message ) {
			self::$out[] = array( 'warning', $message );
		}
		public static function error( $message, $exit = true ) {
			self::$out[] = array( 'error', $message );
			throw new SF_Test_CLI_Exit( (string) $message );
		}
		/** Runs `wp <name> <sub> args --k=v` against the registered class. */
		public static function sf_run( string $name, string $sub, array $args = array(), array $assoc = array() ) {
			self::$out = array();
			$class     = self::$commands[ $name ];
			$obj       = new $class();
			$obj->$sub( $args, $assoc );
			return self::$out;
		}
	}
}

namespace WP_CLI\Utils {
	/** Records ticks. */
	class SF_Test_Progress {
		public $message;
		public $count;
		public $ticks    = 0;
		public $finished = false;
		public static $last;
		public function __construct( $message, $count ) {
			$this->message = $message;
			$this->count   = $count;
			self::$last    = $this;
		}
		public function tick( $increment = 1 ) {
			$this->ticks += $increment;
		}
		public function finish() {
			$this->finished = true;
		}
	}
	function make_progress_bar( $message, $count, $interval = 100 ) {
		return new SF_Test_Progress( $message, $count );
	}
	function format_items( $format, $items, $fields ) {
		\WP_CLI::$out[] = array( 'items', $items, $fields );
	}
}
