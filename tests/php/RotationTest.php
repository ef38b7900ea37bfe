<?php
declare(strict_types=1);

/**
 * Issue #5 (key rotation): the API key file and the signing secrets file are
 * replaced (atomic rename) while a long-lived PHP server (`php -S` with the
 * extension) keeps running; the next request carries the new key and is signed
 * with the new secret. Checked at the receiver.
 */
final class RotationTest extends SecureForwardTestCase
{
    /** @var resource|null */
    private $server = null;

    protected function tearDown(): void
    {
        if (is_resource($this->server)) {
            proc_terminate($this->server);
            proc_close($this->server);
        }
    }

    private static function replaceAtomically(string $path, string $content): void
    {
        $tmp = "$path.new";
        file_put_contents($tmp, $content);
        chmod($tmp, 0600);
        rename($tmp, $path);
    }

    private static function freePort(): int
    {
        $s = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($s, false);
        fclose($s);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    /** The receiver's log entry of event $id. */
    private static function requestOf(string $id): array
    {
        $found = array_values(array_filter(self::received(), fn ($r) => ($r['headers']['idempotency-key'] ?? '') === $id));
        self::assertCount(1, $found, "the receiver got event $id once");
        return $found[0];
    }

    private static function signedWith(array $req, string $whsec): bool
    {
        $h = $req['headers'];
        $raw = base64_decode(substr($whsec, strlen('whsec_')), true);
        $expected = 'v1,' . base64_encode(hash_hmac('sha256', "{$h['webhook-id']}.{$h['webhook-timestamp']}.{$req['body']}", $raw, true));
        return in_array($expected, explode(' ', $h['webhook-signature']), true);
    }

    private function get(int $port, int $n): array
    {
        $body = @file_get_contents("http://127.0.0.1:$port/?n=$n");
        self::assertIsString($body, 'the php -S server answers');
        return json_decode($body, true, 512, JSON_THROW_ON_ERROR);
    }

    public function testReplacedKeyAndSigningSecretTakeEffectInARunningServer(): void
    {
        $d = self::dir() . '/rotation';
        @mkdir($d, 0700);
        $old = 'sk_old_' . bin2hex(random_bytes(12));
        $new = 'sk_new_' . bin2hex(random_bytes(12));
        $oldSecret = 'whsec_' . base64_encode(random_bytes(32));
        $newSecret = 'whsec_' . base64_encode(random_bytes(32));
        self::replaceAtomically("$d/api.key", $old);
        self::replaceAtomically("$d/signing.secrets", "$oldSecret\n");
        $config = "$d/config.toml";
        file_put_contents($config, sprintf(
            "[destinations.rotating]\nurl = \"https://localhost:%d/ok\"\nkey_file = \"%s\"\nca_file = \"%s\"\nsigning_secret_file = \"%s\"\n"
            . "[outbox]\npath = \"%s\"\n[audit]\npath = \"%s\"\n",
            self::port(), "$d/api.key", self::dir() . '/ca/ca.pem', "$d/signing.secrets", "$d/outbox.sqlite", "$d/audit.jsonl",
        ));
        $port = self::freePort();
        $cmd = [PHP_BINARY, '-n', '-d', 'extension=' . getenv('SF_EXTENSION'), '-d', "secure_forward.config=$config",
                '-S', "127.0.0.1:$port", __DIR__ . '/scripts/rotation-router.php'];
        $this->server = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$d/server.out", 'w'], 2 => ['file', "$d/server.err", 'w']], $pipes);
        for ($i = 0; $i < 100 && !@fsockopen('127.0.0.1', $port); $i++) {
            usleep(50_000);
        }

        $first = $this->get($port, 1);
        self::assertSame('delivered', $first['receipt']['status'] ?? null, json_encode($first));
        $req = self::requestOf($first['receipt']['event_id']);
        self::assertSame($old, $req['headers']['x-api-key']);
        self::assertTrue(self::signedWith($req, $oldSecret));

        self::replaceAtomically("$d/api.key", $new);
        self::replaceAtomically("$d/signing.secrets", "$newSecret\n");
        // Secret files are re-checked at most once a second (no restart, no signal).
        usleep(1_200_000);

        $second = $this->get($port, 2);
        self::assertSame($first['pid'], $second['pid'], 'the same long-lived server process');
        self::assertSame('delivered', $second['receipt']['status'] ?? null, json_encode($second));
        $req = self::requestOf($second['receipt']['event_id']);
        self::assertSame($new, $req['headers']['x-api-key']);
        self::assertTrue(self::signedWith($req, $newSecret));
        self::assertFalse(self::signedWith($req, $oldSecret));

        // The audit log shows the key change by fingerprint only.
        $audit = file_get_contents("$d/audit.jsonl");
        self::assertStringContainsString('"key_fp":"' . substr(hash('sha256', $old), 0, 12) . '"', $audit);
        self::assertStringContainsString('"key_fp":"' . substr(hash('sha256', $new), 0, 12) . '"', $audit);
        self::assertStringNotContainsString($old, $audit);
        self::assertStringNotContainsString($new, $audit);
    }
}
