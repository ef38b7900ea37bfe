<?php
declare(strict_types=1);

/**
 * TLS refusals through the extension, against real `openssl s_server` instances
 * (started here, with the certificates run.sh made), and SPKI pinning against
 * the main receiver. Each refusal has its own message, naming the host.
 */
final class TlsTest extends SecureForwardTestCase
{
    /** @var list<resource> */
    private static array $servers = [];
    /** @var array<string, int> */
    private static array $ports = [];

    private const REFUSALS = [
        'tls11' => 'localhost: tls: server does not support TLS 1.2 or later',
        'expired' => 'localhost: tls: certificate expired',
        'future' => 'localhost: tls: certificate not yet valid',
        'wrongname' => 'localhost: tls: certificate not valid for this host name',
        'selfsigned' => 'localhost: tls: certificate is self-signed',
        'otherca' => 'localhost: tls: certificate issued by an untrusted CA',
        'wrongpin' => 'localhost: tls: certificate key matches no pin_sha256 (pin mismatch)',
    ];

    public static function setUpBeforeClass(): void
    {
        $certs = [
            'tls11' => ['server', ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']],
            'expired' => ['expired', []],
            'future' => ['future', []],
            'wrongname' => ['wrongname', []],
            'selfsigned' => ['self', []],
            'otherca' => ['rogue', []],
        ];
        foreach ($certs as $name => [$cert, $extra]) {
            self::$ports[$name] = self::startServer($cert, $extra);
        }
    }

    public static function tearDownAfterClass(): void
    {
        foreach (self::$servers as $p) {
            proc_terminate($p);
            proc_close($p);
        }
        self::$servers = [];
    }

    private static function startServer(string $cert, array $extra): int
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $port = (int) substr(strrchr(stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);
        $ca = self::dir() . '/ca';
        $cmd = array_merge(['openssl', 's_server', '-accept', "127.0.0.1:$port", '-cert', "$ca/$cert.pem", '-key', "$ca/$cert.key", '-www', '-quiet'], $extra);
        self::$servers[] = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes);
        for ($i = 0; $i < 200; $i++) {
            $s = @fsockopen('127.0.0.1', $port, $errno, $errstr, 0.1);
            if ($s) {
                fclose($s);
                return $port;
            }
            usleep(25000);
        }
        self::fail("openssl s_server with $cert did not start");
    }

    /** base64 SHA-256 of a certificate's SubjectPublicKeyInfo (the README's openssl recipe). */
    private static function pin(string $cert): string
    {
        $file = escapeshellarg(self::dir() . "/ca/$cert.pem");
        $pin = trim((string) shell_exec("openssl x509 -in $file -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"));
        self::assertSame(44, strlen($pin));
        return $pin;
    }

    private static function config(string $extraDestinations = ''): string
    {
        $ca = self::dir() . '/ca/ca.pem';
        $toml = '';
        foreach (self::$ports as $name => $port) {
            $toml .= "[destinations.$name]\nurl = \"https://localhost:$port/ok\"\nca_file = \"$ca\"\ntimeout_ms = 5000\n\n";
        }
        $main = self::port();
        $pinned = fn(string $name, array $pins) => "[destinations.$name]\nurl = \"https://localhost:$main/ok/$name\"\nca_file = \"$ca\"\n"
            . 'pin_sha256 = [' . implode(', ', array_map(fn($p) => "\"$p\"", $pins)) . "]\n\n";
        $toml .= $pinned('pinned', [self::pin('server')]);
        $toml .= $pinned('pinnedca', [self::pin('rogue'), self::pin('ca')]);
        $toml .= $pinned('wrongpin', [self::pin('rogue')]);
        $toml .= "[destinations.stalled]\nurl = \"https://localhost:$main/stall\"\nca_file = \"$ca\"\ntimeout_ms = 1000\nconnect_timeout_ms = 500\n\n";
        $toml .= $extraDestinations;
        $toml .= "[outbox]\npath = \"" . self::dir() . "/tls-outbox.sqlite\"\nretry_schedule = [0, 0]\n";
        return self::writeConfig('tls', $toml);
    }

    /** Sends one fresh order to each destination in a child PHP; their receipts. */
    private static function sendAll(string $config, array $destinations): array
    {
        $order = base64_encode(json_encode(self::freshOrder()));
        $list = var_export($destinations, true);
        $code = "\$o = json_decode(base64_decode('$order'), true); \$out = [];"
            . "foreach ($list as \$d) { \$t = hrtime(true); \$r = secure_forward_order(\$o, \$d);"
            . " \$out[\$d] = [\$r['status'], \$r['http_status'], \$r['reason'] ?? null, intdiv(hrtime(true) - \$t, 1000000)]; }"
            . 'echo json_encode($out);';
        [$exit, $out, $err] = self::runPhp($code, $config);
        self::assertSame(0, $exit, $err);
        return json_decode($out, true, 512, JSON_THROW_ON_ERROR);
    }

    public function testEachRefusalIsQueuedWithItsOwnMessage(): void
    {
        $before = count(self::received());
        $got = self::sendAll(self::config(), array_keys(self::REFUSALS));
        foreach (self::REFUSALS as $dest => $reason) {
            self::assertSame(['queued', null, $reason], array_slice($got[$dest], 0, 3), $dest);
        }
        self::assertCount(count(self::REFUSALS), array_unique(array_column($got, 2)), 'every refusal has its own message');
        self::assertCount(0, self::to('/ok/wrongpin', $before), 'nothing is sent over a connection with an unpinned key');
    }

    public function testPinnedDestinationsDeliver(): void
    {
        $before = count(self::received());
        $got = self::sendAll(self::config(), ['pinned', 'pinnedca']);
        self::assertSame(['delivered', 200, null], array_slice($got['pinned'], 0, 3));
        self::assertSame(['delivered', 200, null], array_slice($got['pinnedca'], 0, 3), 'pinning the CA that issued the chain also works');
        self::assertCount(2, self::to('/ok/pinned', $before), '/ok/pinned and /ok/pinnedca');
    }

    /**
     * Issue #17.1: a pin counts only on the verified path. A leaf from another
     * trusted CA padded with the real server's certificate, or a pinned
     * intermediate the server sends off the path, does not satisfy a pin.
     */
    public function testPinsMatchOnlyTheVerifiedChainNotPaddingTheServerSends(): void
    {
        $ca = self::dir() . '/ca';
        $both = self::dir() . '/two-cas.pem';
        file_put_contents($both, file_get_contents("$ca/ca.pem") . file_get_contents("$ca/rogue-ca.pem"));
        chmod($both, 0644);
        $padded = self::startServer('rogue', ['-cert_chain', "$ca/server.pem"]);
        $offpath = self::startServer('server', ['-cert_chain', "$ca/inter.pem"]);
        $dest = fn(string $name, int $port, string $pin) => "[destinations.$name]\nurl = \"https://localhost:$port/ok\"\nca_file = \"$both\"\ntimeout_ms = 2000\npin_sha256 = [\"$pin\"]\n\n";
        $toml = $dest('paddedleaf', $padded, self::pin('server')) . $dest('paddedanchor', $padded, self::pin('ca'))
            . $dest('offpath', $offpath, self::pin('inter')) . $dest('roguecontrol', $padded, self::pin('rogue'))
            . "[outbox]\npath = \"" . self::dir() . "/tls-padding.sqlite\"\nretry_schedule = [0, 0]\n";
        $got = self::sendAll(self::writeConfig('tls-padding', $toml), ['paddedleaf', 'paddedanchor', 'offpath', 'roguecontrol']);
        foreach (['paddedleaf', 'paddedanchor', 'offpath'] as $name) {
            self::assertSame(['queued', null, self::REFUSALS['wrongpin']], array_slice($got[$name], 0, 3), $name);
        }
        // Control: the rogue chain itself verifies (trusted CA), so its own key passes
        // the pin and the failure is past TLS (s_server -www does not answer a POST).
        self::assertStringNotContainsString('tls:', (string) $got['roguecontrol'][2]);
    }

    public function testStalledReceiverCostsTheWorkerAtMostItsTimeout(): void
    {
        [$status, $http, $reason, $ms] = self::sendAll(self::config(), ['stalled'])['stalled'];
        self::assertSame(['queued', null, 'localhost: timeout (global)'], [$status, $http, $reason]);
        self::assertGreaterThanOrEqual(900, $ms, 'it waited for the receiver');
        self::assertLessThan(1750, $ms, 'timeout_ms = 1000 bounds the call');
    }

    public function testMalformedPinIsConfigExceptionNamingTheDestination(): void
    {
        $base = "[destinations.crm]\nurl = \"https://localhost:" . self::port() . "/ok\"\n";
        foreach (['"not base64!"', '"AAAA"', '"' . self::pin('server') . 'AAAA"'] as $pin) {
            $cfg = self::writeConfig('badpin', $base . "pin_sha256 = [$pin]\n");
            [, $out] = self::runPhp('try { secure_forward_order([], "crm"); } catch (SecureForward\Exception $e) { echo get_class($e), "|", $e->getMessage(); }', $cfg);
            self::assertStringStartsWith('SecureForward\ConfigException|', $out);
            self::assertStringContainsString('destinations.crm.pin_sha256', $out);
            self::assertStringNotContainsString(trim($pin, '"'), $out, 'the value is not echoed');
        }
    }
}
