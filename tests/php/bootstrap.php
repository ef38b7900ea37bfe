<?php
declare(strict_types=1);

/** Shared helpers for the integration suite (run through tests/php/run.sh). */
abstract class SecureForwardTestCase extends PHPUnit\Framework\TestCase
{
    protected static function dir(): string { return (string) getenv('SF_TEST_DIR'); }
    protected static function port(): int { return (int) getenv('SF_TEST_PORT'); }

    protected static function apiKey(): string
    {
        return file_get_contents(self::dir() . '/api.key');
    }

    /** @return array<string, mixed> */
    protected static function fixture(string $name): array
    {
        return json_decode(file_get_contents(getenv('SF_FIXTURES') . "/order-$name.json"), true, 512, JSON_THROW_ON_ERROR);
    }

    /** @return list<string> */
    protected static function fixtureNames(): array
    {
        $names = [];
        foreach (glob(getenv('SF_FIXTURES') . '/order-*.json') as $f) {
            $names[] = substr(basename($f, '.json'), strlen('order-'));
        }
        sort($names);
        return $names;
    }

    /** Every request the main receiver logged so far. @return list<array<string, mixed>> */
    protected static function received(string $receiver = 'main'): array
    {
        $file = self::dir() . "/$receiver.jsonl";
        if (!is_file($file)) {
            return [];
        }
        $out = [];
        foreach (file($file, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
            $out[] = json_decode($line, true, 512, JSON_THROW_ON_ERROR);
        }
        return $out;
    }

    /** Requests logged after $before. */
    protected static function receivedSince(int $before, string $receiver = 'main'): array
    {
        return array_slice(self::received($receiver), $before);
    }

    /** A fresh order state (unique total) so event ids never collide across tests. */
    protected static function freshOrder(string $name = 'guest-simple'): array
    {
        static $n = 0;
        $o = self::fixture($name);
        $o['total'] = sprintf('%d.%02d', 100 + intdiv(++$n, 100), $n % 100);
        $o['date_modified'] = date(DATE_ATOM);
        $o['id'] = 1000 + $n + (getmypid() % 1000) * 1000;
        return $o;
    }

    /**
     * Runs PHP code in a child process with the extension and the given config.
     * @return array{0:int,1:string,2:string} exit code, stdout, stderr
     */
    protected static function runPhp(string $code, string $config, array $ini = []): array
    {
        $cmd = [PHP_BINARY, '-n', '-d', 'extension=' . getenv('SF_EXTENSION'), '-d', 'secure_forward.config=' . $config, '-d', 'display_errors=stderr'];
        foreach ($ini as $k => $v) {
            array_push($cmd, '-d', "$k=$v");
        }
        array_push($cmd, '-r', $code);
        return self::collect([self::spawn($cmd)])[0];
    }

    /**
     * Starts a child whose stdout and stderr go to files: a child writing much to
     * one stream can never block on a full pipe while the other is being read.
     * @param list<string> $cmd
     * @return array{0: resource, 1: string}
     */
    private static function spawn(array $cmd): array
    {
        $base = tempnam(sys_get_temp_dir(), 'sf-child-');
        $p = proc_open($cmd, [1 => ['file', "$base.out", 'w'], 2 => ['file', "$base.err", 'w']], $pipes);
        return [$p, $base];
    }

    /**
     * Waits for children started by spawn().
     * @param list<array{0: resource, 1: string}> $children
     * @return list<array{0:int,1:string,2:string}> exit code, stdout, stderr
     */
    private static function collect(array $children): array
    {
        $out = [];
        foreach ($children as [$p, $base]) {
            $rc = proc_close($p);
            $out[] = [$rc, (string) file_get_contents("$base.out"), (string) file_get_contents("$base.err")];
            @unlink("$base.out");
            @unlink("$base.err");
            @unlink($base);
        }
        return $out;
    }

    /**
     * Runs several PHP children at once (same options as runPhp) and waits for all.
     * @param list<string> $codes
     * @return list<array{0:int,1:string,2:string}>
     */
    protected static function runPhpParallel(array $codes, string $config): array
    {
        $children = [];
        foreach ($codes as $code) {
            $cmd = [PHP_BINARY, '-n', '-d', 'extension=' . getenv('SF_EXTENSION'), '-d', 'secure_forward.config=' . $config, '-d', 'display_errors=stderr', '-r', $code];
            $children[] = self::spawn($cmd);
        }
        return self::collect($children);
    }

    /** The main config file written by run.sh. */
    protected static function mainConfig(): string
    {
        return self::dir() . '/config.toml';
    }

    /** Requests since $before whose path starts with $prefix. @return list<array<string, mixed>> */
    protected static function to(string $prefix, int $before = 0): array
    {
        return array_values(array_filter(self::receivedSince($before), fn($r) => str_starts_with($r['path'], $prefix)));
    }

    protected static function writeConfig(string $name, string $toml): string
    {
        $path = self::dir() . "/$name.toml";
        file_put_contents($path, $toml);
        return $path;
    }

    /** Values of the order that are personal data: they must never leave. @return list<string> */
    protected static function piiValues(array $order): array
    {
        $pii = [];
        foreach (['billing', 'shipping'] as $who) {
            foreach ($order[$who] ?? [] as $k => $v) {
                if (in_array($k, ['country', 'state'], true)) {
                    continue;
                }
                if (is_string($v) && strlen($v) >= 4) {
                    $pii[] = $v;
                }
            }
        }
        foreach (['customer_ip_address', 'customer_user_agent', 'customer_note', 'order_key', 'transaction_id', 'cart_hash'] as $k) {
            if (is_string($order[$k] ?? null) && strlen($order[$k]) >= 4) {
                $pii[] = $order[$k];
            }
        }
        foreach ($order['meta_data'] ?? [] as $m) {
            if (is_string($m['value']) && strlen($m['value']) >= 6 && !is_numeric($m['value'])) {
                $pii[] = $m['value'];
            }
        }
        return array_values(array_unique($pii));
    }
}
