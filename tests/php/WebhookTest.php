<?php
declare(strict_types=1);

/** Standard Webhooks both ways: outbound signing and inbound verification. */
final class WebhookTest extends SecureForwardTestCase
{
    /** @return list<string> raw HMAC keys of the test secrets */
    private static function keys(): array
    {
        $keys = [];
        foreach (file(self::dir() . '/signing.secrets', FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
            $keys[] = base64_decode(substr($line, strlen('whsec_')), true);
        }
        return $keys;
    }

    /** @return array{0: string, 1: array<string, string>} body and headers of one signed delivery */
    private static function signedDelivery(): array
    {
        $before = count(self::received());
        $receipt = secure_forward_order(self::freshOrder(), 'signed');
        self::assertSame('delivered', $receipt['status']);
        $req = self::receivedSince($before)[0];
        return [$req['body'], $req['headers']];
    }

    public function testOutboundSignatureIsStandardWebhooksV1PerSecret(): void
    {
        [$body, $h] = self::signedDelivery();
        self::assertSame($h['idempotency-key'], $h['webhook-id'], 'webhook-id is the event id');
        self::assertEqualsWithDelta(time(), (int) $h['webhook-timestamp'], 5);
        $expected = [];
        foreach (self::keys() as $key) {
            $expected[] = 'v1,' . base64_encode(hash_hmac('sha256', "{$h['webhook-id']}.{$h['webhook-timestamp']}.$body", $key, true));
        }
        self::assertSame(implode(' ', $expected), $h['webhook-signature'], 'one v1 signature per secret, over the exact body sent');
    }

    public function testRoundTripThenReplayIsRefused(): void
    {
        [$body, $h] = self::signedDelivery();
        $decoded = secure_forward_verify_webhook($body, $h);
        self::assertSame(json_decode($body, true), $decoded);
        try {
            secure_forward_verify_webhook($body, $h);
            self::fail('a replayed webhook-id must be refused');
        } catch (SecureForward\SignatureException $e) {
            self::assertStringContainsString('replay', $e->getMessage());
        }
    }

    /** A sender retrying a failed delivery re-signs the same id with a new timestamp: accepted once; an exact replay is not. */
    public function testRetryWithSameIdAndNewTimestampIsAcceptedExactReplayIsNot(): void
    {
        [$body, $h] = self::signedDelivery();
        self::assertSame(json_decode($body, true), secure_forward_verify_webhook($body, $h));
        $ts = (string) ((int) $h['webhook-timestamp'] + 7);
        $retry = ['webhook-timestamp' => $ts, 'webhook-signature' => 'v1,' . base64_encode(hash_hmac('sha256', "{$h['webhook-id']}.$ts.$body", self::keys()[0], true))] + $h;
        self::assertSame(json_decode($body, true), secure_forward_verify_webhook($body, $retry), 'a retry with the same id and a new timestamp is accepted');
        foreach (['first delivery' => $h, 'retry' => $retry] as $name => $headers) {
            try {
                secure_forward_verify_webhook($body, $headers);
                self::fail("an exact replay of the $name must be refused");
            } catch (SecureForward\SignatureException $e) {
                self::assertStringContainsString('replay', $e->getMessage());
            }
        }
    }

    public function testTamperedBodyMissingHeaderAndStaleTimestampAreRefused(): void
    {
        [$body, $h] = self::signedDelivery();
        $cases = [
            'tampered' => [str_replace('"total"', '"totaL"', $body), $h],
            'missing' => [$body, array_diff_key($h, ['webhook-signature' => 1])],
            'garbage' => [$body, ['webhook-signature' => 'garbage'] + $h],
        ];
        $stale = time() - 3600;
        $cases['stale'] = [$body, ['webhook-timestamp' => (string) $stale, 'webhook-signature' => 'v1,' . base64_encode(hash_hmac('sha256', "{$h['webhook-id']}.$stale.$body", self::keys()[0], true))] + $h];
        $messages = [];
        foreach ($cases as $name => [$b, $headers]) {
            try {
                secure_forward_verify_webhook($b, $headers);
                self::fail("$name must be refused");
            } catch (SecureForward\SignatureException $e) {
                $messages[$name] = $e->getMessage();
                foreach (self::keys() as $key) {
                    self::assertStringNotContainsString(base64_encode($key), (string) $e);
                }
                self::assertStringNotContainsString($h['webhook-signature'], (string) $e);
            }
        }
        self::assertCount(4, array_unique($messages), 'each refusal says which check failed: ' . json_encode($messages));
    }

    public function testSvixAndServerStyleHeaderNames(): void
    {
        [$body, $h] = self::signedDelivery();
        $server = [
            'HTTP_SVIX_ID' => $h['webhook-id'],
            'HTTP_SVIX_TIMESTAMP' => $h['webhook-timestamp'],
            'HTTP_SVIX_SIGNATURE' => $h['webhook-signature'],
        ];
        self::assertSame(json_decode($body, true), secure_forward_verify_webhook($body, $server));
    }

    public function testUnknownSourceIsConfigException(): void
    {
        $this->expectException(SecureForward\ConfigException::class);
        $this->expectExceptionMessage('webhooks.elsewhere');
        secure_forward_verify_webhook('{}', [], 'elsewhere');
    }
}
