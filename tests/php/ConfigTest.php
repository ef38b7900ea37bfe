<?php
declare(strict_types=1);

/** Operator configuration: refused clearly, never a crash, never a leak. */
final class ConfigTest extends SecureForwardTestCase
{
    /** Sends once; prints the receipt's status and reason, or the exception. */
    private const SEND_SHOW = 'try { $r = secure_forward_order(["id" => (int) (microtime(true) * 1000) % 1000000, "total" => "1"]); echo $r["status"], "|", $r["reason"] ?? ""; }
        catch (SecureForward\Exception $e) { echo get_class($e), "|", $e->getMessage(); }';
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

    /** timeout_ms alone below 3000 is accepted (the connect timeout follows it); an explicit larger connect timeout is named. */
    public function testShortTimeoutAloneIsAcceptedAndALargerConnectTimeoutIsNamed(): void
    {
        $base = "[destinations.default]\nurl = \"https://localhost:" . self::port() . "/ok\"\nkey_file = \"" . self::dir() . "/api.key\"\nca_file = \"" . self::dir() . "/ca/ca.pem\"\n"
            . "timeout_ms = 2000\n%s[outbox]\npath = \"" . self::dir() . "/timeout.sqlite\"\n";
        $before = count(self::received());
        [, $out] = self::runPhp(self::SEND, self::writeConfig('timeout-alone', sprintf($base, '')));
        self::assertSame('SENT', $out);
        self::assertCount(1, self::receivedSince($before));
        [, $out] = self::runPhp(self::SEND, self::writeConfig('timeout-connect', sprintf($base, "connect_timeout_ms = 2500\n")));
        self::assertStringStartsWith('SecureForward\ConfigException|', $out);
        self::assertStringContainsString('destinations.default.connect_timeout_ms: must be between 1 and timeout_ms', $out);
    }

    /** A FIFO, a directory, a device or a 65 KiB file at a key path is refused at once; a symlink to a good key works. */
    public function testKeyPathsThatAreNotSmallRegularFilesAreRefusedAtOnce(): void
    {
        $d = self::dir() . '/kinds';
        @mkdir($d, 0700);
        @unlink("$d/fifo");
        self::assertTrue(posix_mkfifo("$d/fifo", 0600));
        @mkdir("$d/dir", 0700);
        file_put_contents("$d/big", str_repeat('k', 65 * 1024));
        chmod("$d/big", 0600);
        @unlink("$d/link");
        symlink(self::dir() . '/api.key', "$d/link");
        $cfg = fn (string $key) => self::writeConfig('kinds', "[destinations.default]\nurl = \"https://localhost:" . self::port() . "/ok\"\nkey_file = \"$key\"\nca_file = \"" . self::dir() . "/ca/ca.pem\"\n[outbox]\npath = \"$d/outbox.sqlite\"\nretry_schedule = []\n");
        foreach (["$d/fifo" => 'not a regular file', "$d/dir" => 'not a regular file', '/dev/zero' => 'not a regular file', "$d/big" => 'too large'] as $key => $why) {
            $started = microtime(true);
            [$code, $out] = self::runPhp(self::SEND_SHOW, $cfg($key));
            self::assertSame(0, $code);
            self::assertLessThan(3.0, microtime(true) - $started, "$key: refused at once, not after a hang");
            self::assertStringContainsString($key, $out);
            self::assertStringContainsString($why, $out);
        }
        $before = count(self::received());
        [, $out] = self::runPhp(self::SEND, $cfg("$d/link"));
        self::assertSame('SENT', $out, 'a symlink to a good key file (Kubernetes secrets) works');
        self::assertSame(self::apiKey(), self::receivedSince($before)[0]['headers']['x-api-key']);
    }

    /** The configuration file and ca_file decide where the key goes: refused when others may write them. */
    public function testWritableConfigOrCaFileIsRefusedNamingTheFix(): void
    {
        $cfg = self::writeConfig('loosecfg', "[destinations.default]\nurl = \"https://localhost:" . self::port() . "/ok\"\nkey_file = \"" . self::dir() . "/api.key\"\n");
        chmod($cfg, 0666);
        [, $out] = self::runPhp(self::SEND, $cfg);
        self::assertStringStartsWith('SecureForward\ConfigException|', $out);
        self::assertStringContainsString("writable by group or others (mode 666); run: chmod go-w $cfg", $out);

        $ca = self::dir() . '/loose-ca.pem';
        copy(self::dir() . '/ca/ca.pem', $ca);
        chmod($ca, 0664);
        $cfg = self::writeConfig('looseca', "[destinations.default]\nurl = \"https://localhost:" . self::port() . "/ok\"\nkey_file = \"" . self::dir() . "/api.key\"\nca_file = \"$ca\"\n[outbox]\npath = \"" . self::dir() . "/looseca.sqlite\"\nretry_schedule = []\n");
        $before = count(self::received());
        [, $out] = self::runPhp(self::SEND_SHOW, $cfg);
        self::assertStringContainsString("ca_file is writable by group or others (mode 664); run: chmod go-w $ca", $out);
        self::assertCount(0, self::receivedSince($before), 'nothing is sent trusting a writable ca_file');
        if (posix_geteuid() === 0) {
            chmod($ca, 0644);
            chown($ca, 65534);
            [, $out] = self::runPhp(self::SEND_SHOW, $cfg);
            self::assertStringContainsString("ca_file is owned by uid 65534, not by root or the running user (0); run: chown root $ca", $out);
        }
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
