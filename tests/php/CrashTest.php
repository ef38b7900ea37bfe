<?php
declare(strict_types=1);

/**
 * kill -9 of a PHP process in the middle of a stream of secure_forward_order() calls: every order
 * whose receipt the process printed is delivered exactly once after a flush (the receiver counts
 * Idempotency-Keys), none is lost, none is sent twice.
 */
final class CrashTest extends SecureForwardTestCase
{
    /** Receipts printed before the kill. */
    private const AT_LEAST = 40;

    public function testKillDuringADeferredStreamLosesNoPrintedOrder(): void
    {
        [$printed, $config, $path] = $this->streamAndKill('deferred');
        $flush = $this->flush($config);
        self::assertSame(0, $flush['remaining'], json_encode($flush));
        $keys = $this->keysSentTo($path);
        foreach ($printed as $id => $status) {
            self::assertSame('queued', $status);
            self::assertSame(1, $keys[$id] ?? 0, "printed receipt $id delivered exactly once");
        }
        // Orders enqueued after the last printed receipt (committed, then killed before the print)
        // are delivered too, once; nothing is ever sent twice.
        self::assertGreaterThanOrEqual(count($printed), count($keys));
        self::assertSame([1], array_values(array_unique($keys)), 'no key sent twice');
    }

    public function testKillDuringAnInlineStreamLosesNoPrintedOrder(): void
    {
        [$printed, $config, $path] = $this->streamAndKill('inline');
        $before = $this->keysSentTo($path);
        $this->flush($config);
        $keys = $this->keysSentTo($path);
        foreach ($printed as $id => $status) {
            self::assertContains($status, ['delivered', 'queued']);
            self::assertSame(1, $keys[$id] ?? 0, "printed receipt $id delivered exactly once");
            if ($status === 'delivered') {
                self::assertSame(1, $before[$id] ?? 0, 'a delivered receipt means it had arrived');
            }
        }
        // The attempt in flight at the kill stays leased until its lease expires (then it is sent
        // again with the same key); within this test nothing is sent twice.
        self::assertSame([1], array_values(array_unique($keys)), 'no key sent twice');
    }

    /**
     * Starts a child that sends fresh orders in a loop and prints "event_id status" after each
     * call returns; kills it with SIGKILL once it has printed AT_LEAST receipts.
     * @return array{0: array<string, string>, 1: string, 2: string} printed receipts, config, path
     */
    private function streamAndKill(string $delivery): array
    {
        $tag = $delivery . '-' . getmypid() . '-' . bin2hex(random_bytes(3));
        $path = "/ok/crash-$tag";
        $dir = self::dir();
        $config = self::writeConfig("crash-$tag", sprintf(
            "[destinations.crash]\nurl = \"https://localhost:%d%s\"\nkey_file = \"%s\"\nca_file = \"%s\"\n\n"
            . "[outbox]\npath = \"%s\"\ndelivery = \"%s\"\nretry_schedule = [0, 0]\n",
            self::port(), $path, "$dir/api.key", "$dir/ca/ca.pem", "$dir/crash-$tag.sqlite", $delivery,
        ));
        $fixture = getenv('SF_FIXTURES') . '/order-guest-simple.json';
        $code = '$o = json_decode(file_get_contents(' . var_export($fixture, true) . '), true);'
            . 'for ($i = 1; ; $i++) { $o["id"] = 7000000 + $i; $o["total"] = sprintf("%d.%02d", 10 + intdiv($i, 100), $i % 100);'
            . '$r = secure_forward_order($o, "crash", "order.processing"); echo $r["event_id"], " ", $r["status"], "\n"; fflush(STDOUT); }';
        $cmd = [PHP_BINARY, '-n', '-d', 'extension=' . getenv('SF_EXTENSION'), '-d', "secure_forward.config=$config",
            '-d', 'display_errors=stderr', '-r', $code];
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes);
        self::assertIsResource($p);
        $out = '';
        $deadline = microtime(true) + 60;
        while (substr_count($out, "\n") < self::AT_LEAST && microtime(true) < $deadline) {
            $chunk = fread($pipes[1], 8192);
            if ($chunk === false || ($chunk === '' && feof($pipes[1]))) {
                break;
            }
            $out .= $chunk;
        }
        // SIGKILL, mid-stream: no shutdown handler, no destructor, no flush of anything.
        proc_terminate($p, 9);
        $out .= stream_get_contents($pipes[1]);
        fclose($pipes[1]);
        $status = proc_close($p);
        self::assertNotSame(0, $status, 'the child was killed');
        $printed = [];
        // Only whole lines count: a receipt cut by the kill was not printed.
        $lines = explode("\n", $out);
        array_pop($lines);
        foreach ($lines as $line) {
            [$id, $st] = explode(' ', $line, 2);
            $printed[$id] = $st;
        }
        self::assertGreaterThanOrEqual(self::AT_LEAST, count($printed), 'receipts printed before the kill');
        return [$printed, $config, $path];
    }

    /** @return array<string, int> */
    private function flush(string $config): array
    {
        [$rc, $out, $err] = self::runPhp('echo json_encode(secure_forward_flush(100000, 60.0));', $config);
        self::assertSame(0, $rc, $err);
        return json_decode($out, true, 512, JSON_THROW_ON_ERROR);
    }

    /** Idempotency-Key => how many requests carried it, among requests to $path. @return array<string, int> */
    private function keysSentTo(string $path): array
    {
        $keys = [];
        foreach (self::received() as $r) {
            if ($r['path'] === $path) {
                $k = $r['headers']['idempotency-key'];
                $keys[$k] = ($keys[$k] ?? 0) + 1;
            }
        }
        return $keys;
    }
}
