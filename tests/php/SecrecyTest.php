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

    /** A low-entropy pepper's plain hash would undo pseudonymisation offline: only "set", or a fingerprint keyed per installation. */
    public function testPepperFingerprintIsKeyedOrAbsent(): void
    {
        $d = self::dir() . '/fp';
        @mkdir($d, 0700);
        file_put_contents("$d/pii.pepper", 'weak');
        chmod("$d/pii.pepper", 0600);
        $install = bin2hex(random_bytes(32));
        file_put_contents("$d/install.key", $install);
        chmod("$d/install.key", 0600);
        $dest = "[destinations.default]\nurl = \"https://localhost:" . self::port() . "/ok\"\nca_file = \"" . self::dir() . "/ca/ca.pem\"\n"
            . "[destinations.default.policy]\nfields = [\"id\", \"billing.email\"]\npseudonymize = [\"billing.email\"]\npepper_file = \"$d/pii.pepper\"\n"
            . "[outbox]\npath = \"$d/outbox.sqlite\"\n";
        $show = 'echo json_encode(secure_forward_policy()["pepper"]);';
        $plain = substr(hash('sha256', 'weak'), 0, 12);

        [, $out] = self::runPhp($show, self::writeConfig('fp-unkeyed', $dest));
        self::assertSame(['path' => "$d/pii.pepper", 'set' => true, 'fingerprint' => null], json_decode($out, true), $out);

        [, $out] = self::runPhp($show, self::writeConfig('fp-keyed', "fingerprint_key_file = \"$d/install.key\"\n$dest"));
        $want = substr(hash_hmac('sha256', 'weak', $install), 0, 12);
        self::assertSame(['path' => "$d/pii.pepper", 'set' => true, 'fingerprint' => $want], json_decode($out, true), $out);
        self::assertStringNotContainsString($plain, $out);
        self::assertStringNotContainsString($install, $out);
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
