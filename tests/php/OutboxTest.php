<?php
declare(strict_types=1);

/** The durable outbox seen from PHP: flush, status, requeue, purge, no plaintext at rest. */
final class OutboxTest extends SecureForwardTestCase
{
    public function testStatusHasTotalsAndPerDestinationFigures(): void
    {
        secure_forward_order(self::freshOrder(), 's503');
        $s = secure_forward_status();
        foreach (['queued', 'dead', 'delivered', 'oldest_queued_age_s', 'last_success_at', 'last_error', 'circuit'] as $k) {
            self::assertArrayHasKey($k, $s);
            self::assertArrayHasKey($k, $s['destinations']['s503']);
        }
        self::assertGreaterThanOrEqual(1, $s['destinations']['s503']['queued']);
        self::assertStringContainsString('server error (503)', $s['destinations']['s503']['last_error']);
    }

    public function testDeadLetterRequeueAndPurge(): void
    {
        $order = self::freshOrder();
        $r = secure_forward_order($order, 's401');
        self::assertSame('dead', $r['status']);
        self::assertTrue(secure_forward_requeue($r['event_id']));
        self::assertFalse(secure_forward_requeue('evt_00000000000000000000000000000000'));
        self::assertSame(1, secure_forward_purge($order['id']));
        self::assertSame(0, secure_forward_purge((string) $order['id']));
        $this->expectException(SecureForward\ValidationException::class);
        secure_forward_purge('1; DROP TABLE events');
    }

    /**
     * Issue #17.8: "007", "7" and 7 are one order for purge; the body keeps the
     * id as the shop sent it.
     */
    public function testLeadingZeroIdIsPurgedByItsIntegerId(): void
    {
        $order = self::freshOrder();
        $n = $order['id'];
        $order['id'] = "00$n";
        $before = count(self::received());
        // s422: a dead letter (purgeable like a queued event) without a retryable failure, so
        // the attempt is not skipped by s503's circuit, which earlier tests may have opened.
        $r = secure_forward_order($order, 's422');
        self::assertSame('dead', $r['status']);
        $sent = self::to('/status/422', $before);
        self::assertCount(1, $sent);
        self::assertSame("00$n", json_decode($sent[0]['body'], true)['id'], 'the body keeps the id as sent');
        self::assertSame(1, secure_forward_purge($n), 'purge(int) erases the event of "00N"');
        self::assertSame(0, secure_forward_purge("00$n"));
        self::assertSame(0, secure_forward_purge((string) $n));
    }

    public function testFlushReturnsCounts(): void
    {
        $f = secure_forward_flush(10, 2.0);
        foreach (['delivered', 'retried', 'dead', 'remaining'] as $k) {
            self::assertArrayHasKey($k, $f);
        }
        foreach ($f as $v) {
            self::assertIsInt($v);
        }
    }

    public function testNoPlaintextPersonalDataAtRest(): void
    {
        // A destination that never succeeds keeps the payload queued in the database.
        $order = self::freshOrder('registered-multi');
        secure_forward_order($order, 's503');
        $raw = '';
        foreach (glob(self::dir() . '/outbox.sqlite*') as $f) {
            if (is_file($f)) {
                $raw .= file_get_contents($f);
                self::assertSame('0600', substr(sprintf('%o', fileperms($f)), -4), basename($f));
            }
        }
        self::assertNotSame('', $raw);
        self::assertStringNotContainsString('HOODIE-NAVY-M', $raw, 'payloads are encrypted at rest');
        self::assertStringNotContainsString($order['total'], $raw);
    }

    public function testPolicyDescribesTheDefault(): void
    {
        $p = secure_forward_policy();
        self::assertContains('billing.country', $p['fields']);
        self::assertNotContains('billing.email', $p['fields']);
    }
}
