<?php
/**
 * Loads the throw-away wp-config that run.sh wrote (SF_WP_CONFIG) and fakes a web request's
 * server variables. Does NOT use Debian's /usr/share/wordpress/wp-config.php (which looks up
 * /etc/wordpress/config-<host>.php): the test install never touches /etc/wordpress.
 *
 * @package SecureForward\Tests
 */

$sf_config = getenv( 'SF_WP_CONFIG' );
if ( ! $sf_config || ! is_file( $sf_config ) ) {
	fwrite( STDERR, "SF_WP_CONFIG is not set; run tests/wordpress/run.sh\n" );
	exit( 2 );
}
$_SERVER['HTTP_HOST']       = 'example.org';
$_SERVER['SERVER_NAME']     = 'example.org';
$_SERVER['SERVER_PORT']     = '80';
$_SERVER['REQUEST_METHOD']  = 'GET';
$_SERVER['REQUEST_URI']     = '/';
$_SERVER['PHP_SELF']        = '/index.php';
$_SERVER['SCRIPT_NAME']     = '/index.php';
$_SERVER['REMOTE_ADDR']     = '127.0.0.1';
require $sf_config;
