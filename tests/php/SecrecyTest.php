<?php
declare(strict_types=1);

/** The key never reaches PHP: not in results, messages, traces or phpinfo. */
final class SecrecyTest extends SecureForwardTestCase
{
    public function testKeyIsNeverInAnyExceptionMessageOrTrace(): void
    {
        $key = self::apiKey();
        $seen = 0;
        foreach (['s401', 's422', 's503', 'redirect', 'untrusted', 'loosekey', 'webpki', 'nowhere'] as $dest) {
            try {
                $r = secure_forward_order(self::freshOrder(), $dest);
                self::assertStringNotContainsString($key, json_encode($r));
                self::assertStringNotContainsString($key, json_encode(secure_forward_status()));
            } catch (SecureForward\Exception $e) {
                $seen++;
                foreach ([$e->getMessage(), $e->getTraceAsString(), (string) $e, print_r($e->getTrace(), true)] as $text) {
                    self::assertStringNotContainsString($key, $text, $dest);
                }
            }
        }
        self::assertGreaterThan(0, $seen);
    }

    public function testNoFunctionTakesOrReturnsASecret(): void
    {
        foreach (get_extension_funcs('secure_forward') as $fn) {
            foreach ((new ReflectionFunction($fn))->getParameters() as $p) {
                self::assertDoesNotMatchRegularExpression('/key|secret|token|password|pepper/i', $p->getName(), "$fn takes a secret");
            }
        }
    }

    public function testExceptionsAreConstructibleFromPhp(): void
    {
        foreach (['Config', 'Validation', 'Transport', 'Rejected', 'Signature'] as $kind) {
            $class = "SecureForward\\{$kind}Exception";
            $e = new $class('msg', 42);
            self::assertInstanceOf(SecureForward\Exception::class, $e);
            self::assertInstanceOf(\Exception::class, $e);
            self::assertSame('msg', $e->getMessage());
            self::assertSame(42, $e->getCode());
        }
        self::assertSame(\Exception::class, get_parent_class(SecureForward\Exception::class));
    }
}
