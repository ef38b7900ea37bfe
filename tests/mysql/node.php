<?php
/**
 * One "node" of the shared-outbox tests (tests/mysql/run.sh): a PHP process with the extension
 * and a node's configuration (-d secure_forward.config=...), doing one thing and printing plain
 * lines. An exception is printed as "EXC Class: message" (exit 3), never thrown at the driver.
 *
 *   orders DEST START COUNT FIXTURE   submit orders START..START+COUNT-1; "event_id status" each
 *   flush MAX SECONDS                 one secure_forward_flush(); its counts as JSON
 *   flushloop STOPFILE                flush until STOPFILE exists and nothing remains
 *   status                            secure_forward_status() as JSON
 *   auth DEST                         secure_forward_auth_check(DEST) as JSON
 *   info                              phpinfo() of the module
 *   webhook BODYFILE HEADERSFILE      secure_forward_verify_webhook(): "accepted"
 *   requeue EVENT_ID [SITE]           secure_forward_requeue(): "true" / "false"
 *   purge ORDER_ID [SITE]             secure_forward_purge(): events removed
 *   siteorder DEST ORDER_ID SITE FIXTURE  one order with the `site` option: "event_id status"
 *   deliveries FILTER_JSON            secure_forward_deliveries() as JSON
 *   purge_event EVENT_ID              secure_forward_purge_event(): "true" / "false"
 */

$args = array_slice( $argv, 1 );
$cmd  = array_shift( $args );

/**
 * Prints an exception as one line and exits 3.
 *
 * @param Throwable $e The exception.
 */
function sf_fail( Throwable $e ) {
	echo 'EXC ', get_class( $e ), ': ', str_replace( "\n", ' ', $e->getMessage() ), "\n";
	exit( 3 );
}

try {
	switch ( $cmd ) {
		case 'orders':
			list( $dest, $start, $count, $fixture ) = $args;
			$order = json_decode( file_get_contents( $fixture ), true );
			for ( $i = (int) $start; $i < (int) $start + (int) $count; $i++ ) {
				$order['id']    = $i;
				$order['total'] = sprintf( '%d.%02d', 10 + intdiv( $i, 100 ), $i % 100 );
				$r              = secure_forward_order( $order, $dest, 'order.processing' );
				echo $r['event_id'], ' ', $r['status'], ' ', str_replace( ' ', '_', (string) ( $r['reason'] ?? '' ) ), "\n";
				fflush( STDOUT );
			}
			break;
		case 'flush':
			echo json_encode( secure_forward_flush( (int) $args[0], (float) $args[1] ) ), "\n";
			break;
		case 'flushloop':
			$total = array( 'delivered' => 0, 'retried' => 0, 'dead' => 0, 'skipped' => 0 );
			$until = microtime( true ) + 300;
			while ( microtime( true ) < $until ) {
				$stop = file_exists( $args[0] );
				$c    = secure_forward_flush( 20, 1.0 );
				foreach ( $total as $k => $v ) {
					$total[ $k ] = $v + $c[ $k ];
				}
				if ( $stop && 0 === $c['remaining'] ) {
					break;
				}
				if ( 0 === $c['delivered'] ) {
					usleep( 50000 );
				}
			}
			echo json_encode( $total ), "\n";
			break;
		case 'status':
			echo json_encode( secure_forward_status() ), "\n";
			break;
		case 'auth':
			echo json_encode( secure_forward_auth_check( $args[0] ) ), "\n";
			break;
		case 'info':
			ob_start();
			phpinfo( INFO_MODULES );
			$out = ob_get_clean();
			$at  = strpos( $out, 'secure_forward' );
			echo false === $at ? $out : substr( $out, $at ), "\n";
			break;
		case 'webhook':
			$headers = json_decode( file_get_contents( $args[1] ), true );
			secure_forward_verify_webhook( file_get_contents( $args[0] ), $headers );
			echo "accepted\n";
			break;
		case 'requeue':
			echo var_export( secure_forward_requeue( $args[0], $args[1] ?? null ), true ), "\n";
			break;
		case 'purge':
			echo secure_forward_purge( $args[0], $args[1] ?? null ), "\n";
			break;
		case 'siteorder':
			list( $dest, $oid, $site, $fixture ) = $args;
			$order       = json_decode( file_get_contents( $fixture ), true );
			$order['id'] = (int) $oid;
			$r           = secure_forward_order( $order, $dest, 'order.processing', array( 'site' => $site ) );
			echo $r['event_id'], ' ', $r['status'], "\n";
			break;
		case 'deliveries':
			echo json_encode( secure_forward_deliveries( json_decode( $args[0], true ) ) ), "\n";
			break;
		case 'purge_event':
			echo var_export( secure_forward_purge_event( $args[0] ), true ), "\n";
			break;
		default:
			fwrite( STDERR, "unknown command\n" );
			exit( 2 );
	}
} catch ( Throwable $e ) {
	sf_fail( $e );
}
