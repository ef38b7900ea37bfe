<?php
declare(strict_types=1);

/**
 * Rate limits shared by every worker of the machine: a token bucket per destination and
 * Retry-After pauses, measured at the real receiver. These pace by the wall clock by
 * nature; the bounds are generous.
 */
final class RateLimitTest extends SecureForwardTestCase
{
    /**
     * PHP code for one worker: submit its orders (inline), optionally sleeping between
     * them, then flush until its destination has nothing queued. Prints the receipts.
     */
    private static function worker(string $file, string $dest, int $pauseUs): string
    {
        return <<<PHP
            \$receipts = [];
            foreach (json_decode(file_get_contents('$file'), true) as \$o) {
                \$receipts[] = secure_forward_order(\$o, '$dest');
                if ($pauseUs > 0) { usleep($pauseUs); }
            }
            \$end = microtime(true) + 60;
            while (secure_forward_status()['destinations']['$dest']['queued'] > 0 && microtime(true) < \$end) {
                \$f = secure_forward_flush(1000, 5.0);
                if (\$f['delivered'] === 0) { usleep(20000); }
            }
            echo json_encode(\$receipts);
            PHP;
    }

    /** Starts $workers workers with $each fresh orders each; returns their receipts. */
    private static function push(string $dest, int $workers, int $each, int $pauseUs = 0): array
    {
        $codes = [];
        for ($w = 0; $w < $workers; $w++) {
            $orders = [];
            for ($i = 0; $i < $each; $i++) {
                $orders[] = self::freshOrder();
            }
            $file = self::dir() . "/$dest-worker-$w.json";
            file_put_contents($file, json_encode($orders));
            $codes[] = self::worker($file, $dest, $pauseUs);
        }
        $receipts = [];
        foreach (self::runPhpParallel($codes, self::mainConfig()) as [$exit, $out, $err]) {
            self::assertSame(0, $exit, $err);
            $decoded = json_decode($out, true);
            self::assertIsArray($decoded, $out . $err);
            array_push($receipts, ...$decoded);
        }
        return $receipts;
    }

    /** Most arrivals in any window [t, t + $w) of the sorted times. */
    private static function maxInWindow(array $times, float $w): int
    {
        $max = 0;
        $j = 0;
        $n = count($times);
        for ($i = 0; $i < $n; $i++) {
            while ($j < $n && $times[$j] < $times[$i] + $w) {
                $j++;
            }
            $max = max($max, $j - $i);
        }
        return $max;
    }

    public function testFourWorkersAreHeldTo50PerSecondWithNoneLost(): void
    {
        $before = count(self::received());
        $receipts = self::push('limited', 4, 50);
        self::assertCount(200, $receipts);
        $queued = array_filter($receipts, fn($r) => $r['status'] === 'queued');
        self::assertNotEmpty($queued, 'checkout enqueues when the bucket is empty');
        foreach ($queued as $r) {
            self::assertSame('rate limited', $r['reason']);
        }
        $sent = self::to('/ok/limited', $before);
        $ids = array_unique(array_map(fn($r) => $r['headers']['idempotency-key'], $sent));
        self::assertCount(200, $ids, 'none lost');
        self::assertCount(200, $sent, 'none sent twice');
        self::assertSame(0, secure_forward_status()['destinations']['limited']['queued']);
        $times = array_map(fn($r) => $r['t'], $sent);
        sort($times);
        // A bucket of 50 refilled at 50/s: at most 50 (burst) + 50·w in any window of w seconds.
        // +10 absorbs network jitter between taking a token and the request's arrival.
        foreach ([1.0, 2.0, 3.0] as $w) {
            $most = self::maxInWindow($times, $w);
            fwrite(STDERR, sprintf("\n[rate] most requests in a %.0f s window: %d (bound %d); span %.2f s\n", $w, $most, 50 + 50 * $w, end($times) - $times[0]));
            self::assertLessThanOrEqual(50 + 50 * $w + 10, $most, "window $w s");
        }
        self::assertGreaterThan(2.5, end($times) - $times[0], '200 requests at 50/s after a burst of 50 take 3 s');
    }

    public function testRetryAfterPausesTheWholeDestinationAcrossWorkers(): void
    {
        $before = count(self::received());
        // /seq/...: the 6th request is answered 429 with Retry-After: 2.
        $receipts = self::push('pausing', 4, 20, 150_000);
        $sent = self::to('/seq/', $before);
        $refused = array_values(array_filter($sent, fn($r) => $r['n'] === 5));
        self::assertCount(1, $refused);
        $t0 = $refused[0]['t'];
        $during = array_filter($sent, fn($r) => $r['t'] > $t0 + 0.25 && $r['t'] < $t0 + 1.9);
        self::assertCount(0, $during, 'no request to the paused destination for two seconds');
        self::assertNotEmpty(array_filter($sent, fn($r) => $r['t'] >= $t0 + 1.9), 'sending resumed after the pause');
        $paused = array_filter($receipts, fn($r) => $r['status'] === 'queued' && str_contains((string) $r['reason'], 'paused'));
        self::assertNotEmpty($paused, 'workers enqueued instead of sending while paused');
        $ids = array_unique(array_map(fn($r) => $r['headers']['idempotency-key'], $sent));
        self::assertCount(80, $ids, 'every event delivered (the refused one later, same Idempotency-Key)');
        self::assertCount(81, $sent);
        self::assertSame(0, secure_forward_status()['destinations']['pausing']['queued']);
    }
}
