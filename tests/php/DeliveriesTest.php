<?php
declare(strict_types=1);

/**
 * secure_forward_deliveries(): events as facts (filters, paging, bounds, refusals), never a
 * payload, key, token or secret URL; secure_forward_purge_event(); circuit_opened_at in status.
 */
final class DeliveriesTest extends SecureForwardTestCase
{
    private const KEYS = ['event_id', 'destination', 'event', 'order_id', 'site', 'state', 'attempts', 'http_status',
        'reason', 'created_at', 'last_attempt_at', 'next_attempt_at'];

    /** @var array{order: array, ids: array<string, string>}|null */
    private static ?array $spread = null;

    /**
     * One order in each state, made once for the class: delivered (default), dead (s422), and
     * queued (a second s422 dead letter, requeued: no retryable failure, so no circuit of a
     * destination later suites use is moved). Keys of `ids`: the states.
     * @return array{order: array, ids: array<string, string>}
     */
    private static function spread(): array
    {
        if (null === self::$spread) {
            $order = self::freshOrder('registered-multi');
            $ok = secure_forward_order($order, 'default', 'order.processing');
            $dead = secure_forward_order($order, 's422', 'order.processing');
            $requeued = secure_forward_order($order, 's422', 'order.on-hold');
            self::assertSame(['delivered', 'dead', 'dead'], [$ok['status'], $dead['status'], $requeued['status']]);
            self::assertTrue(secure_forward_requeue($requeued['event_id']));
            self::$spread = ['order' => $order, 'ids' => ['delivered' => $ok['event_id'], 'dead' => $dead['event_id'], 'queued' => $requeued['event_id']]];
        }
        return self::$spread;
    }

    public static function tearDownAfterClass(): void
    {
        // No flush of a later suite sends the requeued event again.
        if (null !== self::$spread) {
            secure_forward_purge_event(self::$spread['ids']['queued']);
        }
    }

    public function testRowsAreFactsWithExactlyTheDocumentedKeys(): void
    {
        ['order' => $order, 'ids' => $ids] = self::spread();
        $r = secure_forward_deliveries(['order_id' => $order['id']]);
        self::assertSame(['total', 'rows'], array_keys($r));
        self::assertSame(3, $r['total']);
        self::assertCount(3, $r['rows']);
        $by = [];
        foreach ($r['rows'] as $row) {
            self::assertSame(self::KEYS, array_keys($row));
            $by[$row['state']] = $row;
        }
        self::assertSame(['dead', 'delivered', 'queued'], array_keys(array_sort_keys($by)));
        foreach ($ids as $state => $id) {
            self::assertSame($id, $by[$state]['event_id'], $state);
        }
        self::assertSame(['default', 200, null, 1], [$by['delivered']['destination'], $by['delivered']['http_status'], $by['delivered']['reason'], $by['delivered']['attempts']]);
        self::assertSame(['s422', 422, 1], [$by['dead']['destination'], $by['dead']['http_status'], $by['dead']['attempts']]);
        self::assertStringContainsString('422', (string) $by['dead']['reason']);
        self::assertNull($by['dead']['next_attempt_at'], 'a dead letter is not due');
        self::assertSame(['s422', 'order.on-hold', 0], [$by['queued']['destination'], $by['queued']['event'], $by['queued']['attempts']]);
        self::assertNull($by['queued']['last_attempt_at'], 'requeued: no attempt since');
        self::assertNotNull($by['queued']['next_attempt_at'], 'due');
        self::assertLessThanOrEqual(time() + 1, strtotime($by['queued']['next_attempt_at']));
        foreach ($by as $state => $row) {
            self::assertSame((string) $order['id'], $row['order_id'], $state);
            self::assertNull($row['site'], 'no site recorded for this event');
            self::assertMatchesRegularExpression('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/', $row['created_at'], $state);
            self::assertLessThanOrEqual(time() + 1, strtotime($row['created_at']));
            self::assertGreaterThanOrEqual(time() - 300, strtotime($row['created_at']));
        }
        foreach (['delivered', 'dead'] as $state) {
            self::assertMatchesRegularExpression('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/', $by[$state]['last_attempt_at'], $state);
        }
    }

    public function testNoPayloadKeyOrSecretInAnyRow(): void
    {
        ['order' => $order] = self::spread();
        secure_forward_order(self::freshOrder(), 'bearer');
        $all = json_encode(secure_forward_deliveries(['limit' => 500]), JSON_THROW_ON_ERROR);
        self::assertStringNotContainsString(self::apiKey(), $all);
        self::assertStringNotContainsString(':' . self::port(), $all, 'no destination URL');
        self::assertStringNotContainsString('/status/', $all, 'no destination path');
        foreach (self::piiValues($order) as $v) {
            self::assertStringNotContainsString(json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), $all);
        }
        self::assertStringNotContainsString('HOODIE-NAVY-M', $all, 'no line item');
        self::assertStringNotContainsString($order['total'], $all, 'no amount');
    }

    public function testFiltersByDestinationStateEventAndOrder(): void
    {
        ['order' => $order, 'ids' => $ids] = self::spread();
        $dead = secure_forward_deliveries(['order_id' => $order['id'], 'state' => 'dead']);
        self::assertSame(1, $dead['total']);
        self::assertSame($ids['dead'], $dead['rows'][0]['event_id']);
        $q = secure_forward_deliveries(['order_id' => $order['id'], 'state' => 'queued']);
        self::assertSame([$ids['queued']], array_column($q['rows'], 'event_id'));
        $s = secure_forward_deliveries(['order_id' => $order['id'], 'destination' => 's422', 'order' => 'asc']);
        self::assertSame([$ids['dead'], $ids['queued']], array_column($s['rows'], 'event_id'));
        $d = secure_forward_deliveries(['order_id' => $order['id'], 'state' => 'delivered', 'destination' => 'default']);
        self::assertSame([$ids['delivered']], array_column($d['rows'], 'event_id'));
        self::assertSame(0, secure_forward_deliveries(['order_id' => $order['id'], 'event' => 'order.completed'])['total']);
        self::assertSame(2, secure_forward_deliveries(['order_id' => $order['id'], 'event' => 'order.processing'])['total']);
        self::assertSame(0, secure_forward_deliveries(['order_id' => $order['id'], 'state' => 'dead', 'destination' => 'default'])['total']);
        // Every dead row of the whole outbox is dead.
        foreach (secure_forward_deliveries(['state' => 'dead', 'limit' => 500])['rows'] as $row) {
            self::assertSame('dead', $row['state']);
        }
        // "007" is order 7: ids are normalised like secure_forward_purge().
        $o = self::freshOrder();
        $o['id'] = '000' . $o['id'];
        $r = secure_forward_order($o, 'default', 'order.completed');
        $found = secure_forward_deliveries(['order_id' => (int) ltrim($o['id'], '0')]);
        self::assertSame([$r['event_id']], array_column($found['rows'], 'event_id'));
        self::assertSame($o['id'], $found['rows'][0]['order_id'], 'the id as the shop sent it');
        self::assertSame(1, secure_forward_deliveries(['order_id' => $o['id']])['total']);
        // An event that records its site (secure_forward_order()'s `site` option) is found by it;
        // another site does not see it. Events stored without a site are every site's (as purge
        // and requeue treat them), so both lists may hold those too.
        $site = '9:https://shop-' . getmypid() . '.example';
        $sited = secure_forward_order(self::freshOrder(), 'default', 'order.completed', ['site' => $site]);
        $found = secure_forward_deliveries(['site' => $site, 'limit' => 500]);
        $mine = array_values(array_filter($found['rows'], fn($r) => $r['event_id'] === $sited['event_id']));
        self::assertCount(1, $mine);
        self::assertSame($site, $mine[0]['site']);
        foreach ($found['rows'] as $row) {
            self::assertContains($row['site'], [$site, null]);
        }
        $other = secure_forward_deliveries(['site' => 'https://no-such-site.example', 'limit' => 500]);
        self::assertNotContains($sited['event_id'], array_column($other['rows'], 'event_id'));
        foreach ($other['rows'] as $row) {
            self::assertNull($row['site'], 'another site sees only site-less events');
        }
    }

    public function testPagingOrderAndBounds(): void
    {
        $order = self::freshOrder();
        $ids = [];
        foreach (['order.a', 'order.b', 'order.c', 'order.d', 'order.e'] as $event) {
            $ids[] = secure_forward_order($order, 'default', $event)['event_id'];
            usleep(2000); // distinct creation times
        }
        $f = ['order_id' => $order['id']];
        $desc = secure_forward_deliveries($f);
        self::assertSame(5, $desc['total']);
        self::assertSame(array_reverse($ids), array_column($desc['rows'], 'event_id'), 'newest first by default');
        $asc = secure_forward_deliveries($f + ['order' => 'asc']);
        self::assertSame($ids, array_column($asc['rows'], 'event_id'));
        $p1 = secure_forward_deliveries($f + ['order' => 'asc', 'limit' => 2]);
        $p2 = secure_forward_deliveries($f + ['order' => 'asc', 'limit' => 2, 'offset' => 2]);
        $p3 = secure_forward_deliveries($f + ['order' => 'asc', 'limit' => 2, 'offset' => 4]);
        self::assertSame(5, $p2['total'], 'total counts every match, not the page');
        self::assertSame($ids, array_merge(array_column($p1['rows'], 'event_id'), array_column($p2['rows'], 'event_id'), array_column($p3['rows'], 'event_id')));
        self::assertSame([], secure_forward_deliveries($f + ['offset' => 5])['rows']);
        self::assertCount(5, secure_forward_deliveries($f + ['limit' => 500])['rows']);
        self::assertCount(1, secure_forward_deliveries($f + ['limit' => 1])['rows']);
        // The default limit is 50.
        self::assertLessThanOrEqual(50, count(secure_forward_deliveries()['rows']));
    }

    /** @return iterable<string, array{0: array, 1: string}> */
    public static function badFilters(): iterable
    {
        yield 'unknown key' => [['payload' => 1], 'payload'];
        yield 'limit 0' => [['limit' => 0], 'limit'];
        yield 'limit 501' => [['limit' => 501], 'limit'];
        yield 'limit string' => [['limit' => 'ten'], 'limit'];
        yield 'negative offset' => [['offset' => -1], 'offset'];
        yield 'bad state' => [['state' => 'sent'], 'state'];
        yield 'bad order' => [['order' => 'random'], 'order'];
        yield 'order id not an id' => [['order_id' => '1; DROP TABLE events'], 'order_id'];
        yield 'order id array' => [['order_id' => [1]], 'order_id'];
        yield 'destination array' => [['destination' => ['default']], 'destination'];
        yield 'numeric key' => [[0 => 'dead'], '0'];
    }

    /** @dataProvider badFilters */
    public function testBadFiltersAreRefusedNamingTheKey(array $filter, string $key): void
    {
        try {
            secure_forward_deliveries($filter);
            self::fail('accepted ' . json_encode($filter));
        } catch (SecureForward\ValidationException $e) {
            self::assertStringContainsString($key, $e->getMessage());
            self::assertStringNotContainsString('DROP TABLE', $e->getMessage(), 'names the key, not the value');
        }
    }

    public function testPurgeEventErasesOneEventOnly(): void
    {
        $order = self::freshOrder();
        $dead = secure_forward_order($order, 's422', 'order.processing')['event_id'];
        $ok = secure_forward_order($order, 'default', 'order.processing')['event_id'];
        self::assertTrue(secure_forward_purge_event($dead));
        self::assertFalse(secure_forward_purge_event($dead), 'already gone');
        self::assertFalse(secure_forward_purge_event('evt_00000000000000000000000000000000'));
        self::assertFalse(secure_forward_requeue($dead));
        $left = array_column(secure_forward_deliveries(['order_id' => $order['id']])['rows'], 'event_id');
        self::assertSame([$ok], $left, 'the other event of the order stays');
    }

    public function testStatusHasCircuitOpenedAt(): void
    {
        $s = secure_forward_status();
        foreach ($s['destinations'] as $name => $d) {
            self::assertArrayHasKey('circuit_opened_at', $d, $name);
            if ('closed' === $d['circuit']) {
                self::assertNull($d['circuit_opened_at'], $name);
            }
        }
        self::assertNull($s['destinations']['default']['circuit_opened_at']);
        self::assertSame('localhost', $s['destinations']['default']['host']);
        self::assertSame('header', $s['destinations']['default']['auth']);
        self::assertSame('bearer', $s['destinations']['bearer']['auth']);
        self::assertSame('oauth2', $s['destinations']['oauth']['auth']);
    }
}

/** ksort that returns the array. */
function array_sort_keys(array $a): array
{
    ksort($a);
    return $a;
}
