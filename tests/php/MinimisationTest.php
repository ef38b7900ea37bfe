<?php
declare(strict_types=1);

/** Only what the destination needs leaves the store. */
final class MinimisationTest extends SecureForwardTestCase
{
    /** @return iterable<string, array{string}> */
    public function fixtures(): iterable
    {
        foreach (self::fixtureNames() as $name) {
            yield $name => [$name];
        }
    }

    /** @dataProvider fixtures */
    public function testNoPersonalDataInTheBody(string $name): void
    {
        $order = self::fixture($name);
        $body = secure_forward_prepare($order);
        self::assertIsArray(json_decode($body, true, 512, JSON_THROW_ON_ERROR));
        $pii = self::piiValues($order);
        self::assertNotEmpty($pii, 'the fixture has personal data to look for');
        foreach ($pii as $value) {
            self::assertStringNotContainsString($value, $body, "$name leaks a personal value");
            self::assertStringNotContainsString(json_encode($value), $body);
        }
        foreach (['email', 'phone', 'first_name', 'last_name', 'address_1', 'customer_ip_address', 'customer_note', 'meta_data', 'order_key', 'transaction_id'] as $key) {
            self::assertStringNotContainsString("\"$key\"", $body, "$name sends $key");
        }
        self::assertDoesNotMatchRegularExpression('/4111[ -]?1111[ -]?1111[ -]?1111/', $body);
    }

    public function testPrepareIsDeterministicAndNeedsNoNetwork(): void
    {
        $order = self::fixture('unicode-jp');
        $before = count(self::received());
        self::assertSame(secure_forward_prepare($order), secure_forward_prepare($order));
        self::assertCount(0, self::receivedSince($before));
    }

    public function testNonArrayOrdersAreRefused(): void
    {
        $this->expectException(TypeError::class);
        secure_forward_prepare('not an order');
    }
}
