<?php
declare(strict_types=1);

/** secure_forward_order()'s $options (key, resend, site) and site-scoped purge / requeue. */
final class OptionsTest extends SecureForwardTestCase
{
    /** The audit lines of one event id. @return list<array<string, mixed>> */
    private static function auditOf(string $eventId): array
    {
        $out = [];
        foreach (file(self::dir() . '/audit.jsonl', FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
            $a = json_decode($line, true, 512, JSON_THROW_ON_ERROR);
            if (($a['event_id'] ?? null) === $eventId) {
                $out[] = $a;
            }
        }
        return $out;
    }

    public function testWithoutOptionsTheEventIdIsThePayloads(): void
    {
        $order = self::freshOrder();
        $a = secure_forward_order($order, 's503', 'order.processing');
        self::assertSame($a['event_id'], secure_forward_order($order, 's503', 'order.processing', [])['event_id']);
        self::assertSame($a['event_id'], secure_forward_order($order, 's503', 'order.processing', null)['event_id']);
        $order['total'] = '999.99';
        self::assertNotSame($a['event_id'], secure_forward_order($order, 's503', 'order.processing')['event_id'], 'another payload, another event');
        self::assertSame(2, secure_forward_purge($order['id']));
    }

    public function testKeyNamesTheOccurrence(): void
    {
        $before = count(self::received());
        $order = self::freshOrder();
        $first = secure_forward_order($order, 'default', 'order.processing', ['key' => 'processing#1']);
        self::assertSame('delivered', $first['status']);
        $order['total'] = '1.23'; // The order changed meanwhile: still the same occurrence.
        $again = secure_forward_order($order, 'default', 'order.processing', ['key' => 'processing#1']);
        self::assertSame($first['event_id'], $again['event_id']);
        self::assertSame('delivered', $again['status']);
        $next = secure_forward_order($order, 'default', 'order.processing', ['key' => 'processing#2']);
        self::assertNotSame($first['event_id'], $next['event_id'], 'processing → … → processing again is a new event');
        $got = self::receivedSince($before);
        self::assertCount(2, $got, 'one delivery per occurrence');
        self::assertSame([$first['event_id'], $next['event_id']], array_map(static fn($r) => $r['headers']['idempotency-key'], $got));
    }

    public function testResendIsANewEventMarkedInTheAudit(): void
    {
        $before = count(self::received());
        $order = self::freshOrder();
        $first = secure_forward_order($order, 'default', 'order.completed', ['key' => 'completed#1']);
        $resent = secure_forward_order($order, 'default', 'order.completed', ['key' => 'completed#1', 'resend' => true]);
        self::assertNotSame($first['event_id'], $resent['event_id']);
        self::assertSame('delivered', $resent['status']);
        self::assertCount(2, self::receivedSince($before), 'a resend is delivered although the state was delivered before');
        $lines = self::auditOf($resent['event_id']);
        self::assertNotEmpty($lines);
        self::assertTrue($lines[0]['resend'] ?? null, 'the queued line says resend');
        foreach (self::auditOf($first['event_id']) as $line) {
            self::assertArrayNotHasKey('resend', $line);
        }
        self::assertSame($first['event_id'], secure_forward_order($order, 'default', 'order.completed', ['key' => 'completed#1', 'resend' => false])['event_id']);
    }

    public function testSiteScopesPurgeAndRequeue(): void
    {
        $order = self::freshOrder();
        $a = secure_forward_order($order, 's401', 'order.processing', ['key' => 'processing#1', 'site' => '1:https://a.example']);
        $b = secure_forward_order($order, 's401', 'order.processing', ['key' => 'processing#1', 'site' => '2:https://b.example']);
        self::assertSame('dead', $a['status']);
        self::assertNotSame($a['event_id'], $b['event_id'], 'two shops sharing the outbox: two events');
        self::assertFalse(secure_forward_requeue($a['event_id'], '2:https://b.example'), 'not the other site\'s');
        self::assertTrue(secure_forward_requeue($a['event_id'], '1:https://a.example'));
        self::assertSame(1, secure_forward_purge($order['id'], '1:https://a.example'));
        self::assertSame(0, secure_forward_purge((string) $order['id'], '1:https://a.example'));
        self::assertSame(1, secure_forward_purge($order['id'], '2:https://b.example'), 'order 42 of site 2 survived site 1\'s purge');
    }

    public function testPurgeWithoutSiteStillPurgesEverySite(): void
    {
        $order = self::freshOrder();
        secure_forward_order($order, 's503', 'order.processing', ['site' => '1:https://a.example']);
        secure_forward_order($order, 's503', 'order.processing', ['site' => '2:https://b.example']);
        self::assertSame(2, secure_forward_purge($order['id']));
    }

    /** @return array<string, array{0: array<mixed>, 1: string}> */
    public static function badOptions(): array
    {
        return [
            'unknown option' => [['keys' => 'x'], 'options.keys'],
            'key not a string' => [['key' => 3], 'options.key'],
            'key too long' => [['key' => str_repeat('k', 65)], 'options.key'],
            'key empty' => [['key' => ''], 'options.key'],
            'key with a newline' => [['key' => "a\nb"], 'options.key'],
            'resend not a bool' => [['resend' => 'yes'], 'options.resend'],
            'site not a string' => [['site' => ['x']], 'options.site'],
            'site too long' => [['site' => str_repeat('s', 256)], 'options.site'],
            'list' => [['processing#1'], 'options'],
        ];
    }

    /** @dataProvider badOptions */
    public function testBadOptionsAreRefusedNamingTheOption(array $options, string $named): void
    {
        $order = self::freshOrder();
        try {
            secure_forward_order($order, 'default', 'order.processing', $options);
            self::fail('accepted ' . json_encode($options));
        } catch (SecureForward\ValidationException $e) {
            self::assertStringContainsString($named, $e->getMessage());
            self::assertStringNotContainsString('kkkkkkkk', $e->getMessage(), 'never the value');
        }
        self::assertSame(0, secure_forward_purge($order['id']), 'nothing was stored');
    }

    public function testSixtyFourCharactersAreAccepted(): void
    {
        $order = self::freshOrder();
        $r = secure_forward_order($order, 's503', 'order.processing', ['key' => str_repeat('é', 64)]);
        self::assertSame('queued', $r['status']);
        self::assertSame(1, secure_forward_purge($order['id']));
    }
}
