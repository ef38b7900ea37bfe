<?php
// make bench: one phase per run (each phase is its own PHP process with its own config, written by
// tools/bench.sh); every phase appends its figures to $SF_BENCH_WORK/results.json and `report`
// prints the table. Figures are wall-clock on a shared machine: read them as orders of magnitude.
// Never fails on a figure; fails (exit 1) only when something is wrong (a send not delivered, a
// drain that lost or duplicated events).
declare(strict_types=1);

$work = (string) getenv('SF_BENCH_WORK');
$port = (int) getenv('SF_BENCH_PORT');
$phase = $argv[1] ?? 'report';
// mysql-inline, mysql-deferred, mysql-drain: the same measurement with the outbox on MariaDB
// ([outbox] url, written by tools/bench.sh); figures are saved under the phase's own name.
$what = preg_replace('/^mysql-/', '', $phase);
$n = (int) (getenv('N') ?: 2000);
$resultsFile = "$work/results.json";

/** @return array<string, mixed> */
function results(string $file): array
{
    return is_file($file) ? json_decode((string) file_get_contents($file), true, 512, JSON_THROW_ON_ERROR) : [];
}

function save(string $file, string $key, array $value): void
{
    $all = results($file);
    $all[$key] = $value;
    file_put_contents($file, json_encode($all, JSON_PRETTY_PRINT | JSON_THROW_ON_ERROR));
}

/** Median and p99 of nanosecond samples, in µs. @param list<int|float> $ns */
function stats(array $ns): array
{
    sort($ns);
    $c = count($ns);
    return ['n' => $c, 'median_us' => $ns[intdiv($c, 2)] / 1e3, 'p99_us' => $ns[min($c - 1, (int) floor($c * 0.99))] / 1e3];
}

function fail(string $why): never
{
    fwrite(STDERR, "bench: $why\n");
    exit(1);
}

/** Real WooCommerce orders from the fixtures, made unique per call (new id and total). */
function orders(): array
{
    static $base = null;
    $base ??= array_map(fn ($f) => json_decode((string) file_get_contents($f), true), glob(getenv('SF_FIXTURES') . '/order-*.json'));
    return $base;
}

function order(int $i): array
{
    static $run = null;
    $run ??= random_int(1, 1 << 30);
    $base = orders();
    $o = $base[$i % count($base)];
    $o['id'] = 1_000_000 + $i;
    $o['total'] = sprintf('%d.%02d', 10 + intdiv($i, 100), $i % 100);
    $o['date_modified'] = sprintf('2026-12-03T12:00:00+00:00#%d-%d', $run, $i);
    return $o;
}

function rss_kib(): int
{
    preg_match('/^VmRSS:\s+(\d+) kB/m', (string) file_get_contents('/proc/self/status'), $m);
    return (int) ($m[1] ?? 0);
}

/** CPU time (user + system) of this process so far, in µs. */
function cpu_us(): float
{
    $u = getrusage();
    return $u['ru_utime.tv_sec'] * 1e6 + $u['ru_utime.tv_usec'] + $u['ru_stime.tv_sec'] * 1e6 + $u['ru_stime.tv_usec'];
}

/**
 * Times $count calls of $f($i) (after $warm untimed ones): wall-clock median and p99, and the
 * process's CPU time per call (the figure a busy machine disturbs least).
 */
function timed(int $count, int $warm, callable $f, int $offset = 0): array
{
    for ($i = 0; $i < $warm; $i++) {
        $f($offset + $i);
    }
    $t = [];
    $cpu = cpu_us();
    for ($i = $warm; $i < $warm + $count; $i++) {
        $s = hrtime(true);
        $f($offset + $i);
        $t[] = hrtime(true) - $s;
    }
    return stats($t) + ['cpu_us' => (cpu_us() - $cpu) / $count];
}

/** What a plain PHP integration sends: the same body and headers as the extension. */
function curl_opts(string $body, string $key, string $id): array
{
    global $port, $work;
    return [
        CURLOPT_URL => "https://localhost:$port/orders",
        CURLOPT_POST => true,
        CURLOPT_POSTFIELDS => $body,
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_CAINFO => "$work/ca/ca.pem",
        CURLOPT_SSL_VERIFYPEER => true,
        CURLOPT_SSL_VERIFYHOST => 2,
        CURLOPT_TIMEOUT_MS => 10000,
        CURLOPT_CONNECTTIMEOUT_MS => 3000,
        CURLOPT_HTTPHEADER => [
            'Content-Type: application/json',
            'Accept: application/json',
            'User-Agent: plain-php-curl',
            "X-API-KEY: $key",
            "Idempotency-Key: $id",
            'X-Event-Type: order.processing',
        ],
    ];
}

switch ($what) {
    case 'inline':
        $t = timed($n, 200, function (int $i) {
            $r = secure_forward_order(order($i), 'up', 'order.processing');
            $r['status'] === 'delivered' || fail("inline send not delivered: " . json_encode($r));
        });
        save($resultsFile, $phase, $t);
        break;

    case 'compare':
        // The three ways to send an order, interleaved in blocks, so that a busy machine
        // disturbs them alike: secure_forward_order() inline, cURL with one reused handle, cURL
        // with a new handle per order (what PHP-FPM does per request).
        $key = (string) file_get_contents("$work/api.key");
        $reused = curl_init();
        $t = ['inline' => [], 'curl-reused' => [], 'curl-new' => []];
        $cpu = ['inline' => 0.0, 'curl-reused' => 0.0, 'curl-new' => 0.0];
        $curl = function ($h, string $body, int $i) use ($key) {
            curl_setopt_array($h, curl_opts($body, $key, 'evt_plain_' . $i));
            $out = curl_exec($h);
            ($out !== false && curl_getinfo($h, CURLINFO_RESPONSE_CODE) === 200) || fail('curl: ' . curl_error($h));
        };
        $ways = [
            'inline' => function (int $i, array $order) {
                $r = secure_forward_order($order, 'up', 'order.processing');
                $r['status'] === 'delivered' || fail('inline send not delivered: ' . json_encode($r));
            },
            'curl-reused' => fn (int $i, array $order, string $body) => $curl($reused, $body, $i),
            'curl-new' => function (int $i, array $order, string $body) use ($curl) {
                $h = curl_init();
                $curl($h, $body, $i);
                curl_close($h);
            },
        ];
        $offset = ['inline' => 0, 'curl-reused' => 10_000_000, 'curl-new' => 20_000_000];
        // Blocks of 100 calls per way, rotated: close enough in time that load drift hits all
        // three alike, long enough that each runs with its own code and data warm in the caches.
        $block = 100;
        $next = ['inline' => 0, 'curl-reused' => 0, 'curl-new' => 0];
        for ($round = 0; $round * $block < $n + $block; $round++) {
            foreach ($ways as $name => $f) {
                for ($k = 0; $k < $block; $k++) {
                    $i = $next[$name]++;
                    // The order array is built and (for cURL) minimised to the same bytes before
                    // the clock starts: a plain integration would json_encode its own array.
                    $order = order($offset[$name] + $i);
                    $body = $name === 'inline' ? '' : secure_forward_prepare($order, 'up');
                    $c = cpu_us();
                    $s = hrtime(true);
                    $f($i, $order, $body);
                    $ns = hrtime(true) - $s;
                    if ($round > 0) { // the first block of each is warm-up
                        $t[$name][] = $ns;
                        $cpu[$name] += cpu_us() - $c;
                    }
                }
            }
        }
        foreach ($t as $name => $ns) {
            save($resultsFile, $name, stats($ns) + ['cpu_us' => $cpu[$name] / count($ns), 'interleaved' => true]);
        }
        break;

    case 'down':
        // Five connection failures open the circuit; from then on a call only enqueues.
        for ($i = 0; $i < 5; $i++) {
            secure_forward_order(order(500_000 + $i), 'down', 'order.processing');
        }
        secure_forward_status()['destinations']['down']['circuit'] === 'open' || fail('circuit did not open');
        $t = timed($n, 20, function (int $i) {
            $r = secure_forward_order(order($i), 'down', 'order.processing');
            ($r['status'] === 'queued' && $r['reason'] === 'circuit open') || fail('down: ' . json_encode($r));
        }, 600_000);
        save($resultsFile, 'down', $t);
        break;

    case 'deferred':
    case 'deferred-full':
        $count = $what === 'deferred' ? $n : min($n, 300);
        $t = timed($count, 20, function (int $i) {
            $r = secure_forward_order(order($i), 'up', 'order.processing');
            $r['status'] === 'queued' || fail('deferred: ' . json_encode($r));
        });
        save($resultsFile, $phase, $t);
        break;

    case 'curl-new':
    case 'curl-reused':
        $key = (string) file_get_contents("$work/api.key");
        $count = $phase === 'curl-new' ? min($n, 1000) : $n;
        $bodies = [];
        for ($i = 0; $i < $count + 20; $i++) {
            $bodies[$i] = secure_forward_prepare(order($i), 'up');
        }
        $h = curl_init();
        $send = function (int $i) use (&$h, $bodies, $key, $phase) {
            if ($phase === 'curl-new') {
                $h = curl_init();
            }
            curl_setopt_array($h, curl_opts($bodies[$i], $key, 'evt_plain_' . $i));
            $out = curl_exec($h);
            ($out !== false && curl_getinfo($h, CURLINFO_RESPONSE_CODE) === 200) || fail('curl: ' . curl_error($h));
            if ($phase === 'curl-new') {
                curl_close($h);
            }
        };
        save($resultsFile, $phase, timed($count, 20, $send));
        break;

    case 'drain':
        $backlog = (int) (getenv('DRAIN') ?: 10000);
        $log = "$work/nginx/access.log";
        $ids = [];
        $s = hrtime(true);
        for ($i = 0; $i < $backlog; $i++) {
            $ids[] = secure_forward_order(order(2_000_000 + $i), 'up', 'order.processing')['event_id'];
        }
        $enqueue = (hrtime(true) - $s) / 1e9;
        secure_forward_status()['queued'] === $backlog || fail('backlog not queued');
        clearstatcache();
        $logBefore = filesize($log);
        $c = cpu_us();
        $s = hrtime(true);
        $f = secure_forward_flush($backlog, 120.0);
        $secs = (hrtime(true) - $s) / 1e9;
        $flushCpu = (cpu_us() - $c) / $backlog;
        ($f['delivered'] === $backlog && $f['remaining'] === 0) || fail('drain: ' . json_encode($f));
        // nginx flushes its access log every second: wait for every line, then count keys.
        $seen = [];
        for ($try = 0; $try < 50; $try++) {
            usleep(200_000);
            clearstatcache();
            $fh = fopen($log, 'r');
            fseek($fh, $logBefore);
            $seen = array_count_values(array_filter(array_map('trim', explode("\n", (string) stream_get_contents($fh))), fn ($k) => str_starts_with($k, 'evt_')));
            fclose($fh);
            if (array_sum($seen) >= $backlog) {
                break;
            }
        }
        $once = 0;
        foreach ($ids as $id) {
            $once += (int) (($seen[$id] ?? 0) === 1);
        }
        save($resultsFile, $phase, [
            'events' => $backlog, 'seconds' => $secs, 'per_s' => $backlog / $secs, 'cpu_us' => $flushCpu,
            'enqueue_per_s' => $backlog / $enqueue, 'received_once' => $once, 'received_total' => array_sum($seen),
        ]);
        $once === $backlog || fail("drain: only $once of $backlog events received exactly once");
        break;

    case 'rss':
        $sends = (int) (getenv('RSS_SENDS') ?: 100000);
        $at = [];
        $s = hrtime(true);
        for ($i = 1; $i <= $sends; $i++) {
            $r = secure_forward_order(order(3_000_000 + $i), 'up', 'order.processing');
            $r['status'] === 'delivered' || fail('rss: ' . json_encode($r));
            if ($i === 1000 || $i === intdiv($sends, 10) || $i === $sends) {
                $at[$i] = ['rss_kib' => rss_kib(), 'php_heap' => memory_get_usage()];
            }
        }
        save($resultsFile, 'rss', ['sends' => $sends, 'at' => $at, 'seconds' => (hrtime(true) - $s) / 1e9]);
        break;

    case 'report':
        $r = results($resultsFile);
        $prep = (string) @file_get_contents("$work/prepare.txt");
        $us = fn ($v) => $v >= 1000 ? sprintf('%.2f ms', $v / 1000) : sprintf('%.0f µs', $v);
        // Pads by characters, not bytes (µ, × and ≥ are two or three bytes).
        $pad = fn (string $s, int $w) => $s . str_repeat(' ', max(0, $w - preg_match_all('/./us', $s)));
        $row = fn ($what, $fig, $goal = '', $verdict = '') => print('| ' . $pad($what, 52) . ' | ' . $pad($fig, 34) . ' | '
            . $pad($goal, 26) . ' | ' . $pad($verdict, 13) . " |\n");
        $met = fn (bool $ok) => $ok ? 'met' : 'NOT met';
        echo "\n";
        $row('measure', 'figure', 'goal / ratio', 'verdict');
        echo '|' . str_repeat('-', 54) . '|' . str_repeat('-', 36) . '|' . str_repeat('-', 28) . '|' . str_repeat('-', 15) . "|\n";
        $lat = fn (array $x) => $us($x['median_us']) . ' / ' . $us($x['p99_us']) . ' (cpu ' . $us($x['cpu_us']) . ')';
        $in = $r['inline'];
        $new = $r['curl-new'];
        $reu = $r['curl-reused'];
        $row('secure_forward_order() inline, delivered (median/p99)', $lat($in));
        $row('plain PHP cURL, new handle per order (median/p99)', $lat($new),
            sprintf('%.1f× inline, goal ≥ 10×', $new['median_us'] / $in['median_us']), $met($new['median_us'] / $in['median_us'] >= 10));
        $row('plain PHP cURL, one reused handle (median/p99)', $lat($reu),
            sprintf('%.2f× inline, goal ≥ 1×', $reu['median_us'] / $in['median_us']), $met($reu['median_us'] / $in['median_us'] >= 1));
        $d = $r['deferred'];
        $row('enqueue only, delivery = "deferred" (median/p99)', $lat($d));
        $f = $r['deferred-full'];
        $row('  same, synchronous = "full" (median/p99)', $lat($f), 'fsync per order');
        $dn = $r['down'];
        $row('endpoint down, circuit open (median/p99)', $lat($dn),
            'goal < 1 ms', $met($dn['median_us'] < 1000) . ($dn['p99_us'] >= 1000 ? ' (p99 not)' : ''));
        $dr = $r['drain'];
        $row(sprintf('drain of a %d-event backlog (flush)', $dr['events']), sprintf('%.0f events/s (cpu %s/event)', $dr['per_s'], $us($dr['cpu_us'])),
            'goal ≥ 10,000/s', $met($dr['per_s'] >= 10000));
        $row('  each event received exactly once (nginx log)', sprintf('%d of %d', $dr['received_once'], $dr['events']));
        $row('  enqueue rate while building the backlog', sprintf('%.0f orders/s', $dr['enqueue_per_s']));
        if (isset($r['mysql-inline'], $r['mysql-deferred'], $r['mysql-drain'])) {
            $db = 'MariaDB ' . (string) getenv('SF_BENCH_MARIADB');
            $row("outbox on $db, local socket:", '');
            $row('  secure_forward_order() inline, delivered', $lat($r['mysql-inline']), sprintf('%.1f× SQLite', $r['mysql-inline']['median_us'] / $in['median_us']));
            $row('  enqueue only, delivery = "deferred"', $lat($r['mysql-deferred']), sprintf('%.1f× SQLite', $r['mysql-deferred']['median_us'] / $d['median_us']));
            $md = $r['mysql-drain'];
            $row(sprintf('  drain of a %d-event backlog (flush)', $md['events']), sprintf('%.0f events/s (cpu %s/event)', $md['per_s'], $us($md['cpu_us'])),
                sprintf('%.2f× SQLite', $md['per_s'] / $dr['per_s']));
            $row('  each event received exactly once (nginx log)', sprintf('%d of %d', $md['received_once'], $md['events']));
            $row('  enqueue rate while building the backlog', sprintf('%.0f orders/s', $md['enqueue_per_s']));
        }
        foreach (['default' => 'php (same bytes)', 'crm' => 'php (same bytes, hash_hmac)'] as $policy => $twin) {
            if (preg_match('/^' . $policy . '\s+rust\s+([\d.]+)/m', $prep, $a) && preg_match('/^' . $policy . '\s+' . preg_quote($twin, '/') . '\s+([\d.]+)/m', $prep, $b)) {
                $ratio = (float) $b[1] / (float) $a[1];
                $row("secure_forward_prepare(), $policy policy vs PHP", sprintf('%.2f µs vs %.2f µs', $a[1], $b[1]),
                    sprintf('%.2f×, goal ≥ 2×', $ratio), $met($ratio >= 2));
            } else {
                $row("secure_forward_prepare(), $policy policy vs PHP", 'not measured (see below)', 'goal ≥ 2×', 'NOT met');
            }
        }
        $rs = $r['rss'];
        $keys = array_keys($rs['at']);
        $tenth = $rs['at'][$keys[1]]['rss_kib'];
        $last = $rs['at'][$keys[2]]['rss_kib'];
        $growth = $last - $tenth;
        $row(sprintf('RSS (VmRSS) after %d / %d sends', $keys[1], $keys[2]), sprintf('%d / %d KiB', $tenth, $last),
            sprintf('growth %+d KiB, goal ≈ 0', $growth), $met($growth <= 1024));
        $row(sprintf('  %d inline sends took', $rs['sends']), sprintf('%.1f s (%.0f/s)', $rs['seconds'], $rs['sends'] / $rs['seconds']));
        echo "\ncpu = CPU time (user + system) of the PHP process per call. Inline and both cURL loops are measured\n";
        echo "interleaved in blocks of 100 calls in one process. The cURL loops send the bytes secure_forward_prepare()\n";
        echo "makes (prepared before the clock starts) with the same headers; the inline figure includes the policy,\n";
        echo "the encrypted outbox write, the send, the attempt bookkeeping and two audit lines.\n";
        echo "'≈ 0' RSS growth is taken as at most 1 MiB between the 10% mark and the end.\n";
        if (isset($r['mysql-inline'])) {
            echo 'MariaDB figures: a private mariadbd on a Unix socket of this machine, innodb_flush_log_at_trx_commit = '
                . (string) getenv('SF_BENCH_FLUSH_AT_COMMIT') . " (every commit is\nwritten and fsynced to the redo log before it returns), one connection per PHP process, tls = \"off\" (socket).\n";
        }
        break;

    default:
        fail("unknown phase $phase");
}
