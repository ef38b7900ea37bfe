<?php
declare(strict_types=1);

/** Operator configuration: refused clearly, never a crash, never a leak. */
final class ConfigTest extends SecureForwardTestCase
{
    private const SEND = 'try { secure_forward_order(["id" => 7, "total" => "1"]); echo "SENT"; }
        catch (SecureForward\Exception $e) { echo get_class($e), "|", $e->getMessage(); }';

    public function testPlainHttpAndOtherSchemesAreRefusedBeforeAnyConnection(): void
    {
        foreach (['http://localhost:' . self::port() . '/ok', 'ftp://localhost/x', 'file:///etc/passwd'] as $url) {
            $before = count(self::received());
            $cfg = self::writeConfig('scheme', "[destinations.default]\nurl = \"$url\"\nkey_file = \"" . self::dir() . "/api.key\"\n");
            [, $out] = self::runPhp(self::SEND, $cfg);
            self::assertStringStartsWith('SecureForward\ConfigException|', $out, $url);
            self::assertStringContainsString('destinations.default.url', $out);
            self::assertStringContainsString('only https:// URLs are allowed', $out);
            self::assertCount(0, self::receivedSince($before));
        }
    }

    public function testLooseKeyFileIsRefusedWithoutTheKey(): void
    {
        $before = count(self::received());
        try {
            secure_forward_order(self::freshOrder(), 'loosekey');
            self::fail('a 0644 key file must be refused');
        } catch (SecureForward\ConfigException $e) {
            self::assertStringContainsString('loose.key', $e->getMessage());
            self::assertStringContainsString('readable by group or others', $e->getMessage());
            self::assertStringContainsString('chmod 600', $e->getMessage());
            self::assertStringNotContainsString(self::apiKey(), (string) $e);
        }
        self::assertCount(0, self::receivedSince($before), 'nothing is sent with a loose key');
    }

    public function testMissingConfigIsConfigExceptionButNoStartupWarning(): void
    {
        $ini = ['display_startup_errors' => '1', 'log_errors' => '0', 'display_errors' => 'stderr'];
        $missing = self::dir() . '/does-not-exist.toml';
        [$code, $out, $err] = self::runPhp(self::SEND, $missing, $ini);
        self::assertSame(0, $code, 'never a crash');
        self::assertSame('SecureForward\ConfigException|configuration error in ' . $missing . ': file not found', $out);
        self::assertStringNotContainsString('secure_forward', $err, 'no configuration yet is not a startup warning');
        self::assertStringNotContainsString('Warning', $err);

        $status = 'try { secure_forward_status(); echo "STATUS"; } catch (SecureForward\Exception $e) { echo $e->getMessage(); }';
        [, $out] = self::runPhp($status, $missing, $ini);
        self::assertSame('configuration error in ' . $missing . ': file not found', $out, 'status says the file is missing');
    }

    public function testBrokenConfigIsConfigExceptionAndAStartupWarning(): void
    {
        $ini = ['display_startup_errors' => '1', 'log_errors' => '0', 'display_errors' => 'stderr'];
        $cfg = self::writeConfig('broken', "[destinations.default]\nurl = \"https://x.example/\"\nkey_file = \"/k\"\nsurprise = 1\n");
        [$code, $out, $err] = self::runPhp(self::SEND, $cfg, $ini);
        self::assertSame(0, $code);
        self::assertStringContainsString('broken.toml: line 4: unknown field `surprise`', $out);
        self::assertStringContainsString('secure_forward: configuration error in ' . $cfg, $err . $out, 'a warning at startup');
    }

    public function testKeyFromEnvironment(): void
    {
        $cfg = self::writeConfig('envkey', "[destinations.default]\nurl = \"https://localhost:" . self::port() . "/ok\"\nkey_env = \"SF_DEMO_KEY\"\nkey_header = \"X-Shop-Key\"\nca_file = \"" . self::dir() . "/ca/ca.pem\"\n[outbox]\npath = \"" . self::dir() . "/envkey.sqlite\"\n");
        $before = count(self::received());
        putenv('SF_DEMO_KEY=from-env-123');
        try {
            [, $out] = self::runPhp(self::SEND, $cfg);
        } finally {
            putenv('SF_DEMO_KEY');
        }
        self::assertSame('SENT', $out);
        $got = self::receivedSince($before);
        self::assertSame('from-env-123', $got[0]['headers']['x-shop-key']);
        self::assertArrayNotHasKey('x-api-key', $got[0]['headers']);
    }

    public function testKeyRotationNeedsNoRestart(): void
    {
        $dir = self::dir() . '/rotate';
        @mkdir($dir, 0700);
        file_put_contents("$dir/key", 'first-key');
        chmod("$dir/key", 0600);
        $cfg = self::writeConfig('rotate', "[destinations.default]\nurl = \"https://localhost:" . self::port() . "/ok\"\nkey_file = \"$dir/key\"\nca_file = \"" . self::dir() . "/ca/ca.pem\"\n[outbox]\npath = \"$dir/outbox.sqlite\"\n");
        $code = 'secure_forward_order(["id" => 8, "total" => "1"]); '
            . 'file_put_contents($argv[1] ?? "' . $dir . '/key.new", "second-key"); chmod("' . $dir . '/key.new", 0600); '
            . 'rename("' . $dir . '/key.new", "' . $dir . '/key"); usleep(1100000); '
            . 'secure_forward_order(["id" => 8, "total" => "2"]); echo "OK";';
        $before = count(self::received());
        [, $out] = self::runPhp($code, $cfg);
        self::assertSame('OK', $out);
        $keys = array_map(fn ($r) => $r['headers']['x-api-key'], self::receivedSince($before));
        self::assertSame(['first-key', 'second-key'], $keys);
    }

    public function testIniEntryIsSystemOnly(): void
    {
        self::assertFalse(@ini_set('secure_forward.config', '/tmp/evil.toml'));
        self::assertSame(self::dir() . '/config.toml', ini_get('secure_forward.config'));
    }

    public function testPhpinfoShowsVersionAndConfigPath(): void
    {
        $out = shell_exec(escapeshellarg(PHP_BINARY) . ' -n -d extension=' . escapeshellarg(getenv('SF_EXTENSION'))
            . ' -d secure_forward.config=' . escapeshellarg(self::dir() . '/config.toml') . ' --ri secure_forward');
        self::assertStringContainsString('version => ' . phpversion('secure_forward'), $out);
        self::assertStringContainsString('config => ' . self::dir() . '/config.toml', $out);
        self::assertStringContainsString('config parsed => yes', $out);
        self::assertStringContainsString('TLS provider => rustls', $out);
        self::assertStringContainsString('secure_forward.config => ', $out, 'the INI table is shown');
        self::assertStringContainsString('(fingerprint ' . substr(hash('sha256', self::apiKey()), 0, 12) . ')', $out);
        self::assertMatchesRegularExpression('/destination signed signing => .*signing\.secrets \([0-9a-f]{12}, [0-9a-f]{12}\)/', $out);
        self::assertStringNotContainsString(self::apiKey(), $out);
        self::assertStringNotContainsString('whsec_', $out);
    }
}
