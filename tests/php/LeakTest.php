<?php
declare(strict_types=1);

/**
 * Issue #6's leak test: every scenario (delivered, retried, dead-lettered, TLS
 * failure, validation refusal, card-number refusal, purge) with a known key,
 * pepper, signing secrets and a PII fixture, then every channel — audit file, PHP
 * error log, stdout/stderr, exception messages and traces, status(), phpinfo() —
 * is searched for the secrets and the personal data: zero hits.
 */
final class LeakTest extends SecureForwardTestCase
{
    private static function secretFile(string $path, string $content): string
    {
        file_put_contents($path, $content);
        chmod($path, 0600);
        return $path;
    }

    /** Writes a config in its own directory; returns [config path, dir]. */
    private static function leakConfig(string $tag, bool $withAudit): array
    {
        $d = self::dir() . "/leak-$tag";
        @mkdir($d, 0700);
        $key = self::secretFile("$d/api.key", 'sk_live_' . bin2hex(random_bytes(16)));
        $pepper = self::secretFile("$d/pii.pepper", 'pepper_' . bin2hex(random_bytes(16)));
        $signing = self::secretFile("$d/signing.secrets", 'whsec_' . base64_encode(random_bytes(32)) . "\n");
        $ca = self::dir() . '/ca/ca.pem';
        $port = self::port();
        $rogue = (int) getenv('SF_TEST_ROGUE_PORT');
        $dest = fn (string $name, string $url, string $extra = '') =>
            "[destinations.$name]\nurl = \"$url\"\nkey_file = \"$key\"\nca_file = \"$ca\"\nsigning_secret_file = \"$signing\"\n$extra\n";
        $toml = $dest('pii', "https://localhost:$port/ok?token=abc",
                "[destinations.pii.policy]\nfields = [\"id\", \"total\", \"billing.email\", \"billing.phone\", \"billing.first_name\"]\n"
                . "pseudonymize = [\"billing.email\", \"billing.first_name\"]\nmask = { \"billing.phone\" = 2 }\npepper_file = \"$pepper\"\n")
            . $dest('s503', "https://localhost:$port/status/503")
            . $dest('s401', "https://localhost:$port/status/401")
            . $dest('untrusted', "https://localhost:$rogue/ok")
            . $dest('notes', "https://localhost:$port/ok", "[destinations.notes.policy]\nfields = [\"id\", \"customer_note\"]\n")
            . "[outbox]\npath = \"$d/outbox.sqlite\"\nretry_schedule = [0]\n";
        if ($withAudit) {
            $toml .= "[audit]\npath = \"$d/audit.jsonl\"\nmax_bytes = 4096\nkeep = 3\n";
        }
        file_put_contents("$d/config.toml", $toml);
        return ["$d/config.toml", $d];
    }

    /** The needles: every secret of the run and the fixture's personal data. @return array<string, string> */
    private static function needles(string $dir, array $order): array
    {
        $n = [
            'api key' => file_get_contents("$dir/api.key"),
            'pepper' => file_get_contents("$dir/pii.pepper"),
            'signing secret' => trim(file_get_contents("$dir/signing.secrets")),
            'signing secret (base64 part)' => substr(trim(file_get_contents("$dir/signing.secrets")), 6),
            'email' => $order['billing']['email'],
            'first name' => $order['billing']['first_name'],
            'last name' => $order['billing']['last_name'],
            'full name' => $order['billing']['first_name'] . ' ' . $order['billing']['last_name'],
            'phone' => $order['billing']['phone'],
            'phone digits' => substr(preg_replace('/\D/', '', $order['billing']['phone']), -7),
            'street' => $order['billing']['address_1'],
            'card number' => '4111 1111 1111 1111',
            'card number digits' => '4111111111111111',
            'card tail' => '1111 1111 1111',
        ];
        foreach (preg_split('/\s+/', trim((string) @file_get_contents("$dir/outbox.sqlite.key"))) as $i => $tok) {
            if (strlen($tok) >= 16) {
                $n["outbox key token $i"] = $tok;
            }
        }
        return $n;
    }

    /** @return list<string> what a grep of $text for $needles finds */
    private static function hits(string $text, array $needles): array
    {
        $found = [];
        foreach ($needles as $what => $needle) {
            if ($needle !== '' && stripos($text, $needle) !== false) {
                $found[] = $what;
            }
        }
        return $found;
    }

    /** Runs every scenario in a child; returns [channels, needles]. */
    private static function runScenarios(string $tag, bool $withAudit): array
    {
        [$config, $d] = self::leakConfig($tag, $withAudit);
        $order = self::fixture('pan-in-note');
        $errorLog = "$d/php-error.log";
        putenv('SF_LEAK_ORDER_ID=' . (900000 + random_int(1, 99999)));
        [$rc, $out, $err] = self::runPhp(
            'require ' . var_export(__DIR__ . '/scripts/leak-scenarios.php', true) . ';',
            $config,
            ['zend.exception_ignore_args' => 'Off', 'log_errors' => '1', 'error_log' => $errorLog, 'display_errors' => 'stderr', 'error_reporting' => (string) E_ALL],
        );
        self::assertSame(0, $rc, $out . $err);
        $audit = '';
        foreach (glob("$d/audit.jsonl*") as $f) {
            $audit .= file_get_contents($f);
        }
        $channels = [
            'stdout (results, exceptions, traces, status, phpinfo)' => $out,
            'stderr' => $err,
            'PHP error log' => (string) @file_get_contents($errorLog),
            'audit file' => $audit,
        ];
        return [$channels, self::needles($d, $order), $d];
    }

    /** @return list<string> outcomes of the JSON audit lines in $text */
    private static function outcomes(string $text): array
    {
        preg_match_all('/\{"ts":.*\}/', $text, $m);
        $outcomes = [];
        foreach ($m[0] as $line) {
            $rec = json_decode($line, true, 512, JSON_THROW_ON_ERROR);
            self::assertSame(['ts', 'event_id', 'destination', 'order_id', 'attempt', 'outcome', 'http_status', 'latency_ms', 'error', 'key_fp'], array_keys($rec));
            self::assertMatchesRegularExpression('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/', $rec['ts']);
            $outcomes[] = $rec['outcome'];
        }
        return array_values(array_unique($outcomes));
    }

    public function testTheGrepFindsTheNeedlesInTheInput(): void
    {
        // The assertion below can fail: the same grep finds every PII needle in the
        // fixture itself, and an argument-carrying trace of a plain PHP exception.
        [$config, $d] = self::leakConfig('control', true);
        $order = self::fixture('pan-in-note');
        $needles = self::needles($d, $order);
        $json = json_encode($order, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES) . file_get_contents("$d/api.key")
            . file_get_contents("$d/pii.pepper") . file_get_contents("$d/signing.secrets");
        $missing = array_diff(array_keys($needles), self::hits($json, $needles), ['card number digits', 'phone digits']);
        self::assertSame([], array_values(array_filter($missing, fn ($k) => !str_starts_with($k, 'outbox key'))));
        $f = function (array $o): void { throw new RuntimeException('plain'); };
        try {
            $f($order);
        } catch (RuntimeException $e) {
            self::assertContains('email', self::hits($e->getTraceAsString() . print_r($e->getTrace(), true), $needles),
                'with zend.exception_ignore_args=Off a plain trace carries the order');
        }
    }

    public function testNoSecretOrPersonalDataInAnyChannelWithAuditFile(): void
    {
        [$channels, $needles, $d] = self::runScenarios('file', true);
        foreach ($channels as $name => $text) {
            self::assertSame([], self::hits($text, $needles), "$name leaks");
        }
        $outcomes = self::outcomes($channels['audit file']);
        foreach (['queued', 'delivered', 'retry', 'dead', 'refused', 'purged'] as $o) {
            self::assertContains($o, $outcomes, "the audit file has a '$o' line");
        }
        self::assertSame('0600', substr(sprintf('%o', fileperms("$d/audit.jsonl")), -4));
        self::assertStringContainsString('tls: certificate issued by an untrusted CA', $channels['audit file']);
        self::assertStringContainsString('rejected', $channels['audit file']);
        self::assertStringNotContainsString('secure_forward audit', $channels['PHP error log'], 'with a file, lines go to the file');
        // Every scenario ran and was visible to the grep.
        foreach (['== delivered', '== status', 'ValidationException', 'card number', 'untrusted CA', '== phpinfo', 'key_fp'] as $seen) {
            self::assertStringContainsString($seen, $channels['stdout (results, exceptions, traces, status, phpinfo)']);
        }
    }

    public function testWithoutAuditSectionTheLinesGoToThePhpErrorLog(): void
    {
        [$channels, $needles] = self::runScenarios('errorlog', false);
        foreach ($channels as $name => $text) {
            self::assertSame([], self::hits($text, $needles), "$name leaks");
        }
        self::assertSame('', $channels['audit file']);
        $outcomes = self::outcomes($channels['PHP error log']);
        foreach (['queued', 'delivered', 'retry', 'dead', 'refused', 'purged'] as $o) {
            self::assertContains($o, $outcomes, "the error log has a '$o' line");
        }
        self::assertStringContainsString('secure_forward audit notice: {', $channels['PHP error log']);
    }
}
