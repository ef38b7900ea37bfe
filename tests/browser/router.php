<?php
/**
 * Router for `php -S` over the browser suite's document root (symlinks into Debian's
 * /usr/share/wordpress plus our own wp-config.php). ABSPATH is the document root, so
 * wp-load.php finds our wp-config.php, never Debian's (which reads /etc/wordpress).
 * Static files: served by the built-in server. PHP files: run here, like a CGI would.
 *
 * @package SecureForward\Tests
 */

$sf_root = rtrim( (string) $_SERVER['DOCUMENT_ROOT'], '/' );
$sf_path = rawurldecode( (string) parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH ) );
if ( false !== strpos( $sf_path, '..' ) || false !== strpos( $sf_path, "\0" ) ) {
	http_response_code( 400 );
	return true;
}
$sf_file = $sf_root . $sf_path;
if ( is_dir( $sf_file ) ) {
	$sf_path = rtrim( $sf_path, '/' ) . '/index.php';
	$sf_file = $sf_root . $sf_path;
}
if ( ! is_file( $sf_file ) ) {
	$sf_path = '/index.php'; // Pretty permalinks: WordPress routes it.
	$sf_file = $sf_root . $sf_path;
}
if ( '.php' !== substr( $sf_file, -4 ) ) {
	return false; // Static: the built-in server sends it.
}
define( 'ABSPATH', $sf_root . '/' );
$_SERVER['SCRIPT_FILENAME'] = $sf_file;
$_SERVER['SCRIPT_NAME']     = $sf_path;
$_SERVER['PHP_SELF']        = $sf_path;
chdir( dirname( $sf_file ) );
unset( $sf_root, $sf_path );
require $sf_file;
return true;
