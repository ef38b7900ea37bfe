<?php
declare(strict_types=1);

/** The send path against a real local HTTPS receiver. */
final class ForwardTest extends SecureForwardTestCase
{
    public function testDeliversMinimalJsonWithKeyHeader(): void
    {
        $before = count(self::received());
        $order = self::freshOrder('registered-multi');
        $receipt = secure_forward_order($order);

        self::assertSame('delivered', $receipt['status']);
        self::assertSame(200, $receipt['http_status']);
        self::assertSame(1, $receipt['attempts']);
        self::assertMatchesRegularExpression('/^evt_[0-9a-f]{32}$/', $receipt['event_id']);
        self::assertNotContains(self::apiKey(), array_map('strval', $receipt), 'the receipt never carries the key');

        $got = self::receivedSince($before);
        self::assertCount(1, $got);
        $req = $got[0];
        self::assertSame('/ok', $req['path']);
        self::assertSame(self::apiKey(), $req['headers']['x-api-key']);
        self::assertSame('application/json', $req['headers']['content-type']);
        self::assertStringStartsWith('secure_forward/', $req['headers']['user-agent']);
        self::assertSame($receipt['event_id'], $req['headers']['idempotency-key']);
        self::assertSame('order.updated', $req['headers']['x-event-type']);
        self::assertSame(secure_forward_prepare($order), $req['body'], 'prepare() returns exactly what is sent');
        $body = json_decode($req['body'], true);
        self::assertSame($order['id'], $body['id']);
        self::assertSame('HOODIE-NAVY-M', $body['line_items'][0]['sku']);
    }

    public function testEventNameIsSentAndPartOfTheEventId(): void
    {
        $order = self::freshOrder();
        $a = secure_forward_prepare($order);
        $before = count(self::received());
        $r1 = secure_forward_order($order, 'default', 'order.completed');
        $r2 = secure_forward_order($order, 'default', 'order.cancelled');
        self::assertNotSame($r1['event_id'], $r2['event_id']);
        $got = self::receivedSince($before);
        self::assertSame(['order.completed', 'order.cancelled'], array_column(array_column($got, 'headers'), 'x-event-type'));
        self::assertSame($a, $got[0]['body']);
    }

    public function testTwoCallsInOneProcessReuseOneConnection(): void
    {
        $before = count(self::received());
        secure_forward_order(self::freshOrder());
        secure_forward_order(self::freshOrder());
        $got = self::receivedSince($before);
        self::assertCount(2, $got);
        self::assertSame($got[0]['conn'], $got[1]['conn'], 'keep-alive: the second send reuses the TLS connection');
    }

    public function testRedirectIsNeverFollowedAndDeadLettered(): void
    {
        $before = count(self::received());
        $r = secure_forward_order(self::freshOrder(), 'redirect');
        self::assertSame('dead', $r['status']);
        self::assertSame(302, $r['http_status']);
        self::assertStringContainsString('redirect', $r['reason']);
        self::assertStringContainsString('localhost', $r['reason']);
        self::assertCount(1, self::receivedSince($before), 'exactly one request: the redirect was not followed');
    }

    public function testClientErrorsAreDeadLettersWithTheirReason(): void
    {
        $r = secure_forward_order(self::freshOrder(), 's401');
        self::assertSame(['dead', 401, 1, 'authentication rejected by localhost (401)'], [$r['status'], $r['http_status'], $r['attempts'], $r['reason']]);
        $r = secure_forward_order(self::freshOrder(), 's422');
        self::assertSame(['dead', 422, 'request rejected by localhost (422)'], [$r['status'], $r['http_status'], $r['reason']]);
    }

    public function testServerErrorIsQueuedForRetry(): void
    {
        $r = secure_forward_order(self::freshOrder(), 's503');
        self::assertSame(['queued', 503, 1, 'localhost: server error (503)'], [$r['status'], $r['http_status'], $r['attempts'], $r['reason']]);
    }

    public function testUntrustedCertificateIsRefusedBeforeAnythingIsSent(): void
    {
        $before = count(self::received('rogue'));
        $r = secure_forward_order(self::freshOrder(), 'untrusted');
        self::assertSame('queued', $r['status']);
        self::assertNull($r['http_status']);
        self::assertStringContainsString('tls: certificate issued by an untrusted CA', $r['reason']);
        self::assertCount(0, self::receivedSince($before, 'rogue'), 'nothing reached the impostor');
    }

    public function testWebpkiRootsDoNotTrustTheTestCa(): void
    {
        $r = secure_forward_order(self::freshOrder(), 'webpki');
        self::assertStringContainsString('tls: certificate issued by an untrusted CA', $r['reason']);
    }

    public function testSameOrderStateIsEnqueuedOnce(): void
    {
        $order = self::freshOrder();
        $before = count(self::received());
        $a = secure_forward_order($order);
        $b = secure_forward_order($order);
        self::assertSame($a['event_id'], $b['event_id']);
        self::assertSame('delivered', $b['status']);
        self::assertCount(1, self::receivedSince($before));
    }

    public function testUnknownDestinationIsConfigException(): void
    {
        $this->expectException(SecureForward\ConfigException::class);
        $this->expectExceptionMessage('destinations.nowhere: no such destination is configured');
        secure_forward_order(self::freshOrder(), 'nowhere');
    }

    public function testOrderWithoutIdIsValidationException(): void
    {
        $order = self::freshOrder();
        unset($order['id']);
        $this->expectException(SecureForward\ValidationException::class);
        $this->expectExceptionMessage('id');
        secure_forward_order($order);
    }

    public function testBadEventNameIsValidationException(): void
    {
        $this->expectException(SecureForward\ValidationException::class);
        secure_forward_order(self::freshOrder(), 'default', "order\r\nX-Injected: 1");
    }
}
