<?php
declare(strict_types=1);

use SecureForward\ValidationException;

/**
 * The binding reads PHP's hash tables in place (packed and hash layouts, references,
 * deleted slots) and checks the whole input's bounds with its own fast walk; these
 * cases pin both to what the PHP-free core decides.
 */
final class WalkTest extends SecureForwardTestCase
{
    private static function body(array $order): array
    {
        return json_decode(secure_forward_prepare($order), true, 512, JSON_THROW_ON_ERROR);
    }

    private static function refused(array $order): string
    {
        try {
            secure_forward_prepare($order);
        } catch (ValidationException $e) {
            return $e->getMessage();
        }
        self::fail('expected a ValidationException');
    }

    public function testReferencesAreFollowed(): void
    {
        $order = self::fixture('guest-simple');
        $total = '99.99';
        $order['total'] = &$total;
        $sku = 'REF-SKU';
        $order['line_items'][0]['sku'] = &$sku;
        $body = self::body($order);
        self::assertSame('99.99', $body['total']);
        self::assertSame('REF-SKU', $body['line_items'][0]['sku']);
        $total = '1.00'; // the reference is read at call time, not captured
        self::assertSame('1.00', self::body($order)['total']);
    }

    public function testDeletedSlotsAreSkippedInListsAndMaps(): void
    {
        $order = self::fixture('registered-multi');
        self::assertGreaterThanOrEqual(2, count($order['line_items']));
        $skus = array_map(fn ($i) => $i['sku'] ?? null, $order['line_items']);
        unset($order['line_items'][0]);       // a hole in a packed list
        unset($order['currency']);            // a deleted bucket in a hash
        $body = self::body($order);
        self::assertArrayNotHasKey('currency', $body);
        self::assertSame(array_values(array_slice($skus, 1)), array_map(fn ($i) => $i['sku'] ?? null, $body['line_items']));
    }

    public function testIntegerAndStringKeysAreBothSeen(): void
    {
        $order = self::fixture('guest-simple');
        $order['line_items'] = ['a' => $order['line_items'][0], 7 => $order['line_items'][0]];
        self::assertCount(2, self::body($order)['line_items']);
    }

    /**
     * The binding finds the policy's keys itself (hash computed once per policy, bucket
     * chains read in place): keys sharing a bucket chain and the very same engine hash
     * ("jC" and "id", "totbK" and "total" collide in PHP's DJBX33A), a table grown and
     * rehashed by many other keys, deleted and re-added keys, and an integer-like
     * key all give what a fresh array gives.
     */
    public function testHashedLookupsFindEveryFieldWhateverTheTableHolds(): void
    {
        foreach (self::fixtureNames() as $name) {
            $order = self::fixture($name);
            try {
                $expected = secure_forward_prepare($order);
            } catch (ValidationException) {
                continue;
            }
            $noisy = [];
            for ($i = 0; $i < 300; $i++) {
                $noisy["noise_$i"] = $i;
            }
            foreach ($order as $k => $v) {
                $noisy[$k] = $v;
            }
            for ($i = 0; $i < 300; $i += 2) {
                unset($noisy["noise_$i"]);
            }
            $total = $noisy['total'] ?? null;
            unset($noisy['total']);
            if ($total !== null) {
                $noisy['total'] = $total;
            }
            // Added last, the colliding keys head their bucket chains.
            $noisy['jC'] = 'collides with id';
            $noisy['totbK'] = 'collides with total';
            $noisy['line_items'] = array_map(fn ($item) => $item + ['0' => 'int key', 'jC' => 1, 'totbK' => '1'], $noisy['line_items'] ?? []);
            // Output keys come in policy order: the very same bytes.
            self::assertSame($expected, secure_forward_prepare($noisy), $name);
        }
    }

    public function testBoundsHoldAtTheLimitAndFailJustPastIt(): void
    {
        $order = self::fixture('guest-simple');
        // Unselected fields count too: the whole input is bounded.
        $order['customer_note'] = str_repeat('x', 64 * 1024);
        self::assertSame($order['id'], self::body($order)['id']);
        $order['customer_note'] .= 'x';
        self::assertStringContainsString('customer_note', self::refused($order));

        $order = self::fixture('guest-simple');
        $order['meta_data'] = [[ 'key' => str_repeat('k', 64 * 1024 + 1), 'value' => 1 ]];
        self::assertStringContainsString('meta_data[0].key', self::refused($order));

        $order = self::fixture('guest-simple');
        $order['meta_data'] = array_fill(0, 1000, ['key' => 'k', 'value' => 'v']);
        self::body($order);
        $order['meta_data'][] = ['key' => 'k', 'value' => 'v'];
        self::assertStringContainsString('meta_data', self::refused($order));

        $order = self::fixture('guest-simple');
        $order['meta_data'] = array_fill(0, 20, ['key' => 'k', 'value' => str_repeat('v', 60 * 1024)]);
        self::assertStringContainsString('1048576 bytes', self::refused($order));
    }

    public function testDepthLimit(): void
    {
        $deep = 'leaf';
        for ($i = 0; $i < 15; $i++) {
            $deep = [$deep];
        }
        $order = self::fixture('guest-simple');
        $order['meta_data'] = $deep;           // the order (1) + 15 nested arrays = 16 levels
        self::body($order);
        $order['meta_data'] = [$deep];         // 17
        self::assertStringContainsString('deeper than 16', self::refused($order));
        // The same with an empty array at the bottom (the fast walk does not descend into those).
        $empty = [];
        for ($i = 0; $i < 14; $i++) {
            $empty = [$empty];
        }
        $order['meta_data'] = $empty;          // 1 + 14 + the empty one = 16
        self::body($order);
        $order['meta_data'] = [$empty];        // 17
        self::assertStringContainsString('deeper than 16', self::refused($order));
    }

    public function testAReferenceCycleIsBoundedNotAHang(): void
    {
        $order = self::fixture('guest-simple');
        $order['meta_data'] = [];
        $order['meta_data'][0] = &$order['meta_data'];
        self::assertStringContainsString('deeper than 16', self::refused($order));
    }

    public function testSharedArraysCountEachTimeTheyAreReached(): void
    {
        // Copy-on-write shares one array: 1,000 × 1,000 × 1,000 entries in a few KiB,
        // no string bytes, every array within 1,000 elements and depth 4. Without
        // a bound on all entries together, the walk would visit a billion values.
        $x = array_fill(0, 1000, array_fill(0, 1000, range(1, 1000)));
        $order = ['id' => 7, 'meta_data' => $x];
        self::assertStringContainsString('more than 100000 values', self::refused($order));
        // 100 × 1,000 is within the bound.
        self::body(['id' => 7, 'meta_data' => array_fill(0, 99, range(1, 1000))]);
    }
}
