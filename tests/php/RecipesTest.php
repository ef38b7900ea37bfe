<?php
declare(strict_types=1);

/**
 * Issue #18 end to end: the three recipes of docs/recipes.md forward every fixture order
 * through the real extension to the local HTTPS receiver; method, path, headers, the
 * authentication's form and the body are checked, the body against the vendor's request
 * schema (tests/schemas/, python3-jsonschema). Also PUT/PATCH, URL placeholders,
 * url_file, preview, destinations and the API's error message in the dead letter.
 */
final class RecipesTest extends SecureForwardTestCase
{
    /** A fixture order as the plugin's mapper gives it: line items carry `price` (and `id`), and the customer's marketing consent. */
    private static function mapped(string $name): array
    {
        $o = self::fixture($name);
        foreach ($o['line_items'] as &$item) {
            $qty = (float) $item['quantity'];
            // wc_format_decimal(total / quantity, wc_get_price_decimals()), as the mapper does.
            $item['price'] = 0.0 === $qty ? '0' : number_format((float) $item['total'] / $qty, 2, '.', '');
        }
        unset($item);
        $o['meta_data'][] = ['id' => 1, 'key' => '_marketing_consent', 'value' => 'yes'];
        return $o;
    }

    /** Validates $bodies (schema name => JSON) with tests/schemas/validate.py; returns its output. */
    private static function validate(array $bodies): string
    {
        $dir = self::dir() . '/bodies-' . bin2hex(random_bytes(4));
        mkdir($dir);
        foreach ($bodies as $name => $json) {
            file_put_contents("$dir/$name.json", $json);
        }
        exec('/usr/bin/python3 ' . escapeshellarg(getenv('SF_ROOT') . '/tests/schemas/validate.py') . ' ' . escapeshellarg($dir) . ' 2>&1', $out, $rc);
        self::assertSame(0, $rc, implode("\n", $out));
        return implode("\n", $out);
    }

    public function testEveryFixtureReachesEachApiInItsOwnShape(): void
    {
        $hubspotKey = file_get_contents(self::dir() . '/hubspot.key');
        $klaviyoKey = file_get_contents(self::dir() . '/klaviyo.key');
        $shipKey = file_get_contents(self::dir() . '/shipstation.key');
        $names = self::fixtureNames();
        self::assertGreaterThanOrEqual(8, count($names));
        foreach ($names as $name) {
            $o = self::mapped($name);
            $before = count(self::received());
            $bodies = [];
            foreach (['hubspot' => 'hubspot-deal', 'klaviyo' => 'klaviyo-event', 'shipstation' => 'shipstation-order'] as $dest => $schema) {
                $r = secure_forward_order($o, $dest, 'order.processing');
                self::assertSame('delivered', $r['status'], "$name → $dest: " . json_encode($r));
                $got = self::receivedSince($before);
                $req = end($got);
                $before = count(self::received());
                $h = $req['headers'];
                self::assertSame('POST', $req['method'], "$name → $dest");
                self::assertSame($r['event_id'], $h['idempotency-key']);
                self::assertSame('order.processing', $h['x-event-type']);
                $body = json_decode($req['body'], true, 512, JSON_THROW_ON_ERROR);
                self::assertSame(secure_forward_prepare($o, $dest), $req['body'], "$name → $dest: the body is prepare()'s");
                $bodies[$schema] = $req['body'];
                switch ($dest) {
                    case 'hubspot':
                        self::assertSame('/crm/v3/objects/deals', $req['path']);
                        self::assertSame("Bearer $hubspotKey", $h['authorization']);
                        self::assertSame('application/json', $h['content-type']);
                        self::assertSame('WooCommerce order #' . $o['number'], $body['properties']['dealname']);
                        self::assertSame($o['total'], $body['properties']['amount']);
                        self::assertSame(substr($o['date_created'], 0, 10), $body['properties']['closedate']);
                        break;
                    case 'klaviyo':
                        self::assertSame('/api/events', $req['path']);
                        self::assertSame("Klaviyo-API-Key $klaviyoKey", $h['authorization']);
                        self::assertArrayNotHasKey('x-api-key', $h);
                        self::assertSame('2025-01-15', $h['revision']);
                        self::assertSame('application/vnd.api+json', $h['content-type']);
                        self::assertSame('application/vnd.api+json', $h['accept']);
                        $a = $body['data']['attributes'];
                        self::assertSame((string) $o['number'], $a['properties']['OrderId']);
                        self::assertEqualsWithDelta((float) $o['total'], $a['value'], 1e-9);
                        self::assertSame($o['billing']['email'], $a['profile']['data']['attributes']['email']);
                        self::assertCount(count($o['line_items']), $a['properties']['Items']);
                        foreach ($o['line_items'] as $i => $item) {
                            self::assertSame($item['name'], $a['properties']['ItemNames'][$i]);
                            self::assertSame((int) $item['quantity'], $a['properties']['Items'][$i]['Quantity']);
                            self::assertEqualsWithDelta((float) $item['price'], $a['properties']['Items'][$i]['ItemPrice'], 1e-9);
                        }
                        break;
                    default:
                        self::assertSame('/orders/createorder', $req['path']);
                        self::assertSame('Basic ' . base64_encode($shipKey), $h['authorization']);
                        self::assertSame((string) $o['number'], $body['orderNumber']);
                        self::assertSame('woo-' . $o['id'], $body['orderKey']);
                        self::assertEqualsWithDelta((float) $o['total'], $body['amountPaid'], 1e-9);
                        self::assertEqualsWithDelta((float) $o['total_tax'], $body['taxAmount'], 1e-9);
                        $map = ['pending' => 'awaiting_payment', 'processing' => 'awaiting_shipment', 'on-hold' => 'on_hold', 'completed' => 'shipped', 'cancelled' => 'cancelled'];
                        self::assertSame($map[$o['status']] ?? 'on_hold', $body['orderStatus']);
                        self::assertCount(count($o['line_items']), $body['items']);
                        foreach ($o['line_items'] as $i => $item) {
                            self::assertSame((string) $item['id'], $body['items'][$i]['lineItemKey']);
                            self::assertSame((int) $item['quantity'], $body['items'][$i]['quantity']);
                            self::assertTrue(is_int($body['items'][$i]['unitPrice']) || is_float($body['items'][$i]['unitPrice']), 'unitPrice is a number');
                            self::assertEqualsWithDelta((float) $item['price'], $body['items'][$i]['unitPrice'], 1e-9);
                        }
                        break;
                }
            }
            $out = self::validate($bodies);
            self::assertSame(6, substr_count($out, 'ok   '), $out);
        }
    }

    public function testPutPatchAndPercentEncodedPlaceholders(): void
    {
        $o = self::freshOrder();
        $o['billing']['city'] = 'São Paulo/../admin?x=1&y#z';
        $before = count(self::received());
        self::assertSame('delivered', secure_forward_order($o, 'put')['status']);
        self::assertSame('delivered', secure_forward_order($o, 'patch')['status']);
        [$put, $patch] = self::receivedSince($before);
        self::assertSame('PUT', $put['method']);
        self::assertSame('/ok/orders/' . $o['number'] . '?city=S%C3%A3o%20Paulo%2F..%2Fadmin%3Fx%3D1%26y%23z', $put['path']);
        self::assertSame('PATCH', $patch['method']);
        self::assertSame('/ok/orders/' . $o['number'], $patch['path']);
        self::assertSame('test', $patch['headers']['x-shop']);
        self::assertSame('application/vnd.test+json', $patch['headers']['accept']);
        self::assertSame('application/json', $patch['headers']['content-type']);
        // The rendered URL is sealed with the payload: a flush sends to the same URL.
        $o2 = self::freshOrder();
        $o2['billing']['city'] = 'Zürich';
        $cfg = file_get_contents(self::dir() . '/config.toml');
        $deferred = self::dir() . '/deferred-put.toml';
        file_put_contents($deferred, str_replace('retry_schedule = [0, 0]', "retry_schedule = [0, 0]\ndelivery = \"deferred\"", $cfg));
        $before = count(self::received());
        $code = '$o = json_decode(' . var_export(json_encode($o2), true) . ', true);'
            . 'echo secure_forward_order($o, "put")["status"], " ", json_encode(secure_forward_flush(10, 5));';
        [$rc, $out, $err] = self::runPhp($code, $deferred);
        self::assertSame(0, $rc, $err);
        self::assertStringStartsWith('queued ', $out);
        // (The flush may also retry other tests' queued events: only this destination's path counts.)
        $got = array_values(array_filter(self::receivedSince($before), static fn($g) => str_starts_with($g['path'], '/ok/orders/')));
        self::assertCount(1, $got, $out);
        self::assertSame('/ok/orders/' . $o2['number'] . '?city=Z%C3%BCrich', $got[0]['path']);
        self::assertSame('PUT', $got[0]['method']);
        // The outbox never holds the URL in plain text.
        $db = file_get_contents(self::dir() . '/outbox.sqlite') . (is_file(self::dir() . '/outbox.sqlite-wal') ? file_get_contents(self::dir() . '/outbox.sqlite-wal') : '');
        self::assertStringNotContainsString('Z%C3%BCrich', $db);
        self::assertStringNotContainsString('São Paulo', $db);
    }

    public function testEmptyPlaceholderIsRefusedBeforeAnythingIsStored(): void
    {
        $o = self::freshOrder();
        $o['billing']['city'] = '';
        $before = count(self::received());
        try {
            secure_forward_order($o, 'put');
            self::fail('an empty placeholder value must be refused');
        } catch (SecureForward\ValidationException $e) {
            self::assertStringContainsString('billing.city', $e->getMessage());
        }
        self::assertSame([], self::receivedSince($before));
    }

    public function testSecretUrlFileShowsItsHostOnly(): void
    {
        $url = trim(file_get_contents(self::dir() . '/hook.url'));
        $path = parse_url($url, PHP_URL_PATH);
        $o = self::freshOrder();
        $before = count(self::received());
        self::assertSame('delivered', secure_forward_order($o, 'hook')['status']);
        $got = self::receivedSince($before);
        self::assertSame($path, $got[0]['path']);
        $p = secure_forward_preview($o, 'hook');
        self::assertSame('https://localhost', $p['url']);
        $shown = json_encode([$p, secure_forward_destinations(), secure_forward_status()]);
        self::assertStringNotContainsString(basename($path), $shown);
        self::assertStringNotContainsString('/services/', $shown);
        ob_start();
        phpinfo(INFO_MODULES);
        self::assertStringNotContainsString(basename($path), (string) ob_get_clean());
    }

    public function testPreviewShowsTheWholeRequestWithoutSecrets(): void
    {
        $o = self::mapped('registered-multi');
        $p = secure_forward_preview($o, 'klaviyo', 'order.completed');
        self::assertSame(['method', 'url', 'headers', 'body'], array_keys($p));
        self::assertSame('POST', $p['method']);
        self::assertSame('https://localhost:' . self::port() . '/api/events', $p['url']);
        self::assertSame(secure_forward_prepare($o, 'klaviyo'), $p['body']);
        self::assertSame('[REDACTED]', $p['headers']['Authorization']);
        self::assertSame('order.completed', $p['headers']['X-Event-Type']);
        self::assertMatchesRegularExpression('/^evt_[0-9a-f]{32}$/', $p['headers']['Idempotency-Key']);
        self::assertSame('2025-01-15', $p['headers']['revision']);
        self::assertSame('application/vnd.api+json', $p['headers']['Content-Type']);
        $all = json_encode($p);
        foreach (['hubspot', 'klaviyo', 'shipstation'] as $k) {
            self::assertStringNotContainsString(file_get_contents(self::dir() . "/$k.key"), $all);
        }
        $b = secure_forward_preview($o, 'shipstation');
        self::assertSame('[REDACTED]', $b['headers']['Authorization']);
        self::assertStringNotContainsString(base64_encode(file_get_contents(self::dir() . '/shipstation.key')), json_encode($b));
        $before = count(self::received());
        secure_forward_preview($o, 'hubspot');
        self::assertSame([], self::receivedSince($before), 'preview sends nothing');
        $this->expectException(SecureForward\ConfigException::class);
        secure_forward_preview($o, 'nope');
    }

    public function testDestinationsListNamesHostsAndEvents(): void
    {
        $list = [];
        foreach (secure_forward_destinations() as $d) {
            $list[$d['name']] = $d;
        }
        self::assertSame('localhost', $list['hubspot']['host']);
        self::assertSame('bearer', $list['hubspot']['auth']);
        self::assertSame('basic', $list['shipstation']['auth']);
        self::assertSame('PUT', $list['put']['method']);
        self::assertSame(['order.refunded'], $list['apierr']['events']);
        self::assertNull($list['default']['events']);
        self::assertTrue($list['klaviyo']['shaped']);
        self::assertFalse($list['default']['shaped']);
        $all = json_encode($list);
        self::assertStringNotContainsString('.key', $all);
        self::assertStringNotContainsString('/services/', $all);
    }

    public function testApiErrorMessageGoesToTheDeadLetterOnly(): void
    {
        $o = self::freshOrder();
        $r = secure_forward_order($o, 'apierr', 'order.refunded');
        self::assertSame('dead', $r['status']);
        self::assertSame(422, $r['http_status']);
        self::assertStringNotContainsString('Property values', (string) $r['reason']);
        // The dead letter's reason (what status, the CLI and wp-admin read) carries it, cleaned.
        $again = secure_forward_order($o, 'apierr', 'order.refunded');
        self::assertSame($r['event_id'], $again['event_id']);
        self::assertSame('422 localhost: Property values were not valid: dealstage (customer [email], account ********)', $again['reason']);
        $audit = file_get_contents(self::dir() . '/audit.jsonl');
        self::assertStringNotContainsString('Property values', $audit);
        self::assertStringNotContainsString('ann@example.com', $audit);
    }
}
