<?php
declare(strict_types=1);

/** Audit file, status() facts and phpinfo() of issue #6 (the leak test is LeakTest). */
final class AuditTest extends SecureForwardTestCase
{
    /** @return list<array<string, mixed>> */
    private static function auditLines(): array
    {
        $out = [];
        foreach (file(self::dir() . '/audit.jsonl', FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $l) {
            $out[] = json_decode($l, true, 512, JSON_THROW_ON_ERROR);
        }
        return $out;
    }

    public function testEachAttemptAndTerminalEventIsOneLine(): void
    {
        $order = self::freshOrder();
        $ok = secure_forward_order($order, 'default');
        $dead = secure_forward_order(self::freshOrder(), 's401');
        $lines = self::auditLines();
        $of = fn (string $id) => array_values(array_filter($lines, fn ($l) => $l['event_id'] === $id));
        self::assertSame(['queued', 'delivered'], array_column($of($ok['event_id']), 'outcome'));
        [$queued, $delivered] = $of($ok['event_id']);
        self::assertSame([0, 1], [$queued['attempt'], $delivered['attempt']]);
        self::assertSame((string) $order['id'], $delivered['order_id']);
        self::assertSame('default', $delivered['destination']);
        self::assertSame(200, $delivered['http_status']);
        self::assertIsInt($delivered['latency_ms']);
        self::assertNull($delivered['error']);
        self::assertSame(substr(hash('sha256', self::apiKey()), 0, 12), $delivered['key_fp']);
        $d = $of($dead['event_id']);
        self::assertSame(['queued', 'dead'], array_column($d, 'outcome'));
        self::assertSame('authentication rejected by localhost (401)', $d[1]['error']);
        self::assertSame('0600', substr(sprintf('%o', fileperms(self::dir() . '/audit.jsonl')), -4));
    }

    public function testRefusalIsAuditedWithoutAnEventId(): void
    {
        $order = self::freshOrder('pan-in-note');
        $order['total'] = 'not money';
        try {
            secure_forward_order($order, 'default');
            self::fail('refused');
        } catch (SecureForward\ValidationException $e) {
        }
        $last = array_values(array_filter(self::auditLines(), fn ($l) => $l['order_id'] === (string) $order['id']));
        self::assertCount(1, $last);
        self::assertSame('refused', $last[0]['outcome']);
        self::assertNull($last[0]['event_id']);
        self::assertSame('order refused: total: must be a decimal amount', $last[0]['error']);
    }

    public function testStatusHasFingerprintsKeySourceAndLastTenAttempts(): void
    {
        for ($i = 0; $i < 12; $i++) {
            secure_forward_order(self::freshOrder(), 'default');
        }
        $s = secure_forward_status();
        foreach (['queued', 'dead', 'delivered', 'last_error', 'circuit', 'destinations'] as $k) {
            self::assertArrayHasKey($k, $s, 'totals stay at the top level');
        }
        $d = $s['destinations']['default'];
        self::assertSame(substr(hash('sha256', self::apiKey()), 0, 12), $d['key_fp']);
        self::assertSame('file', $d['key_source']);
        self::assertSame(self::dir() . '/api.key', $d['key_path']);
        self::assertSame([], $d['signing_fp']);
        self::assertCount(10, $d['attempts']);
        foreach ($d['attempts'] as $a) {
            self::assertSame(['ts', 'outcome', 'http_status', 'latency_ms'], array_keys($a));
            self::assertMatchesRegularExpression('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/', $a['ts']);
            self::assertSame('delivered', $a['outcome']);
            self::assertSame(200, $a['http_status']);
        }
        self::assertGreaterThanOrEqual($d['attempts'][9]['ts'], $d['attempts'][0]['ts'], 'newest first');
        $secrets = array_filter(array_map('trim', file(self::dir() . '/signing.secrets')));
        self::assertCount(count($secrets), $s['destinations']['signed']['signing_fp']);
        foreach ($s['destinations']['signed']['signing_fp'] as $fp) {
            self::assertMatchesRegularExpression('/^[0-9a-f]{12}$/', $fp);
        }
        self::assertNull($s['destinations']['loosekey']['key_fp'], 'an unusable key has no fingerprint');
        $text = json_encode($s);
        self::assertStringNotContainsString(self::apiKey(), $text);
        foreach ($secrets as $secret) {
            self::assertStringNotContainsString(substr($secret, 6), $text);
        }
    }

    public function testPhpinfoShowsParsedConfigHostsAndOutboxCounts(): void
    {
        secure_forward_order(self::freshOrder(), 's503');
        ob_start();
        phpinfo(INFO_MODULES);
        $info = ob_get_clean();
        $s = secure_forward_status();
        self::assertMatchesRegularExpression('/config parsed => yes/', $info);
        self::assertStringContainsString('destination s503 => host localhost,', $info);
        self::assertStringNotContainsString('/status/503', $info, 'the host, not the URL');
        self::assertStringContainsString(self::dir() . "/outbox.sqlite (queued {$s['queued']}, dead {$s['dead']})", $info);
        self::assertStringContainsString('audit log => ' . self::dir() . '/audit.jsonl', $info);
        self::assertStringContainsString('fingerprint ' . substr(hash('sha256', self::apiKey()), 0, 12), $info);
        self::assertStringNotContainsString(self::apiKey(), $info);
    }
}
