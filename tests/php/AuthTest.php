<?php
declare(strict_types=1);

/**
 * Bearer keys and OAuth2 client credentials against the receiver's real HTTPS token
 * endpoint (/oauth/token) and token-checking resource (/bearer/...).
 */
final class AuthTest extends SecureForwardTestCase
{
    private static function clientSecret(string $file = 'client.secret'): string
    {
        return file_get_contents(self::dir() . "/$file");
    }

    /** Token requests for $tag since $before. @return list<array<string, mixed>> */
    private static function tokenRequests(string $tag, int $before = 0): array
    {
        return array_values(array_filter(
            self::to('/oauth/token', $before),
            fn($r) => str_contains($r['path'], "tag=$tag&") || str_ends_with($r['path'], "tag=$tag")
        ));
    }

    private static function issued(string $tag, int $before = 0): int
    {
        return count(array_filter(self::tokenRequests($tag, $before), fn($r) => $r['issued']));
    }

    /** Every access token the receiver saw in a request. @return list<string> */
    private static function seenTokens(): array
    {
        $tokens = [];
        foreach (self::received() as $r) {
            $a = $r['headers']['authorization'] ?? '';
            if (str_starts_with($a, 'Bearer tok_')) {
                $tokens[] = substr($a, 7);
            }
        }
        return array_values(array_unique($tokens));
    }

    private static function post(string $path): void
    {
        $ctx = stream_context_create([
            'http' => ['method' => 'POST', 'header' => "Content-Length: 0\r\n", 'ignore_errors' => true],
            'ssl' => ['cafile' => self::dir() . '/ca/ca.pem'],
        ]);
        self::assertNotFalse(file_get_contents('https://localhost:' . self::port() . $path, false, $ctx));
    }

    public function testBearerModeSendsTheKeyInAuthorization(): void
    {
        $before = count(self::received());
        $r = secure_forward_order(self::freshOrder(), 'bearer');
        self::assertSame('delivered', $r['status']);
        $sent = self::to('/ok/bearer', $before);
        self::assertCount(1, $sent);
        self::assertSame('Bearer ' . self::apiKey(), $sent[0]['headers']['authorization']);
        self::assertArrayNotHasKey('x-api-key', $sent[0]['headers']);
    }

    public function testTokenIsFetchedOnceAndReusedAcrossSendsAndTwoProcesses(): void
    {
        $before = count(self::received());
        for ($i = 0; $i < 5; $i++) {
            self::assertSame('delivered', secure_forward_order(self::freshOrder(), 'oauthshared')['status']);
        }
        $orders = [base64_encode(json_encode(self::freshOrder())), base64_encode(json_encode(self::freshOrder()))];
        foreach ($orders as $o) {
            $code = "\$r = secure_forward_order(json_decode(base64_decode('$o'), true), 'oauthshared'); echo \$r['status'];";
            [$exit, $out, $err] = self::runPhp($code, self::mainConfig());
            self::assertSame([0, 'delivered'], [$exit, $out], $err);
        }
        self::assertSame(1, self::issued('shared', $before), 'one token for 5 in-process sends and 2 other processes');
        $sent = self::to('/bearer/shared', $before);
        self::assertCount(7, $sent);
        self::assertCount(1, array_unique(array_map(fn($r) => $r['headers']['authorization'], $sent)));
        // client_secret_basic: Basic credentials, grant and scope in the form.
        $token = self::tokenRequests('shared', $before)[0];
        self::assertStringStartsWith('Basic ', $token['headers']['authorization']);
        self::assertSame('application/x-www-form-urlencoded', $token['headers']['content-type']);
        self::assertSame(['grant_type', 'scope'], $token['form_keys']);
    }

    public function testWorkersStartingTogetherShareOneTokenFetch(): void
    {
        // The token endpoint takes 500 ms: four workers all miss the cache at once.
        $before = count(self::received());
        $codes = [];
        for ($i = 0; $i < 4; $i++) {
            $o = base64_encode(json_encode(self::freshOrder()));
            $codes[] = "\$r = secure_forward_order(json_decode(base64_decode('$o'), true), 'oauthherd'); echo \$r['status'];";
        }
        foreach (self::runPhpParallel($codes, self::mainConfig()) as [$exit, $out, $err]) {
            self::assertSame([0, 'delivered'], [$exit, $out], $err);
        }
        self::assertSame(1, self::issued('herd', $before), 'one worker fetched, the others waited for its token');
        self::assertCount(4, self::to('/bearer/herd', $before));
    }

    public function testClientSecretPostSendsCredentialsInTheBody(): void
    {
        $before = count(self::received());
        self::assertSame('delivered', secure_forward_order(self::freshOrder(), 'oauthpost')['status']);
        $token = self::tokenRequests('post', $before)[0];
        self::assertArrayNotHasKey('authorization', $token['headers']);
        self::assertSame(['client_id', 'client_secret', 'grant_type', 'scope'], $token['form_keys']);
    }

    public function testShortLivedTokenIsRefreshedAfterExpiry(): void
    {
        $before = count(self::received());
        self::assertSame('delivered', secure_forward_order(self::freshOrder(), 'oauthshort')['status']);
        self::assertSame('delivered', secure_forward_order(self::freshOrder(), 'oauthshort')['status']);
        self::assertSame(1, self::issued('short', $before));
        sleep(2); // expires_in = 2: past the refresh point (2 s - min(60 s, 10 %))
        usleep(300_000);
        $r = secure_forward_order(self::freshOrder(), 'oauthshort');
        self::assertSame(['delivered', 1], [$r['status'], $r['attempts']]);
        self::assertSame(2, self::issued('short', $before), 'a fresh token, fetched before the old one was refused');
        self::assertCount(3, self::to('/bearer/short', $before), 'no request went out with the expired token');
    }

    public function testA401WithAStaleTokenTriggersExactlyOneRefresh(): void
    {
        $before = count(self::received());
        self::assertSame('delivered', secure_forward_order(self::freshOrder(), 'oauthrevoke')['status']);
        self::post('/_revoke?tag=revoke'); // the server forgets the token we still hold
        $r = secure_forward_order(self::freshOrder(), 'oauthrevoke');
        self::assertSame(['delivered', 200, 1], [$r['status'], $r['http_status'], $r['attempts']]);
        self::assertSame(2, self::issued('revoke', $before), 'exactly one refresh');
        $sent = self::to('/bearer/revoke', $before);
        self::assertCount(3, $sent, 'first send, the refused one, the retry');
        self::assertSame($sent[0]['headers']['authorization'], $sent[1]['headers']['authorization']);
        self::assertNotSame($sent[1]['headers']['authorization'], $sent[2]['headers']['authorization']);
        self::assertSame($sent[1]['headers']['idempotency-key'], $sent[2]['headers']['idempotency-key']);
    }

    public function testA401EvenWithAFreshTokenIsARejectionAfterOneRefresh(): void
    {
        $before = count(self::received());
        $r = secure_forward_order(self::freshOrder(), 'oauth401');
        self::assertSame('dead', $r['status']);
        self::assertSame(401, $r['http_status']);
        self::assertStringContainsString('authentication rejected by localhost (401)', $r['reason']);
        self::assertCount(2, self::to('/status/401', $before), 'sent, refreshed, retried once, no more');
        self::assertLessThanOrEqual(2, self::issued('always401', $before));
        self::assertGreaterThanOrEqual(1, self::issued('always401', $before));
    }

    public function testBadClientSecretIsAClearRejectionNamingTheTokenHost(): void
    {
        $before = count(self::received());
        try {
            secure_forward_auth_check('oauthbad');
            self::fail('a wrong client secret must be refused');
        } catch (SecureForward\RejectedException $e) {
            self::assertSame('OAuth2 client credentials rejected (invalid_client) by localhost (401)', $e->getMessage());
            self::assertSame(401, $e->getCode());
            foreach ([self::clientSecret('bad-client.secret'), self::clientSecret()] as $secret) {
                self::assertStringNotContainsString($secret, (string) $e);
            }
        }
        // Checkout does not throw for a remote failure: the order is kept queued
        // (the operator fixes the secret; nothing is lost) and the receipt says why.
        $r = secure_forward_order(self::freshOrder(), 'oauthbad');
        self::assertSame('queued', $r['status']);
        self::assertStringContainsString('invalid_client', $r['reason']);
        self::assertStringContainsString('localhost', $r['reason']);
        self::assertCount(0, self::to('/bearer/bad', $before), 'nothing reaches the resource without a token');
        self::assertSame(0, self::issued('bad', $before));
        // No stampede: for a few seconds after a failed fetch, every worker gets
        // that failure at once instead of asking the token endpoint again.
        $o = base64_encode(json_encode(self::freshOrder()));
        $code = "\$r = secure_forward_order(json_decode(base64_decode('$o'), true), 'oauthbad'); echo \$r['status'], ' ', \$r['reason'];";
        foreach (self::runPhpParallel([$code, $code, $code], self::mainConfig()) as [$exit, $out, $err]) {
            self::assertSame(0, $exit, $err);
            self::assertStringStartsWith('queued ', $out);
            self::assertStringContainsString('invalid_client', $out);
        }
        self::assertCount(1, self::tokenRequests('bad', $before), 'one token request for the check, the order and three workers');
        $s = secure_forward_status()['destinations']['oauthbad'];
        self::assertStringContainsString('invalid_client', $s['last_error']);
        self::assertSame('closed', $s['circuit']);
    }

    public function testAuthCheckReportsFactsOnly(): void
    {
        $c = secure_forward_auth_check('oauth');
        self::assertSame('oauth2', $c['auth']);
        self::assertTrue($c['credential']);
        self::assertSame('localhost', $c['token_host']);
        self::assertSame('sf-test-client', $c['client_id']);
        self::assertMatchesRegularExpression('/^[0-9a-f]{12}$/', $c['token_fingerprint']);
        self::assertGreaterThan(200, $c['token_expires_in_s']);
        self::assertLessThanOrEqual(300, $c['token_expires_in_s']);
        self::assertSame(['auth' => 'header', 'credential' => true], secure_forward_auth_check('default'));
        $this->expectException(SecureForward\ConfigException::class);
        secure_forward_auth_check('nowhere');
    }

    public function testOAuth2ConfigMistakesNameTheKey(): void
    {
        $base = "[destinations.default]\nurl = \"https://localhost:" . self::port() . "/ok\"\nauth = \"oauth2\"\n";
        $cases = [
            "client_id = \"a\"\nclient_secret_file = \"/x\"\n" => 'destinations.default.token_url: required',
            "token_url = \"http://localhost/t\"\nclient_id = \"a\"\nclient_secret_file = \"/x\"\n" => 'destinations.default.token_url: only https://',
            "token_url = \"https://localhost/t\"\nclient_id = \"a\"\nclient_secret_file = \"/x\"\nkey_file = \"/k\"\n" => 'destinations.default.key_file: not used with auth = "oauth2"',
        ];
        foreach ($cases as $extra => $want) {
            $cfg = self::writeConfig('oauthbad', $base . $extra);
            [, $out] = self::runPhp('try { secure_forward_auth_check(); } catch (SecureForward\Exception $e) { echo get_class($e), "|", $e->getMessage(); }', $cfg);
            self::assertStringStartsWith('SecureForward\ConfigException|', $out);
            self::assertStringContainsString($want, $out);
        }
    }

    public function testLooseClientSecretFileIsRefusedBeforeAnythingIsStored(): void
    {
        $loose = self::dir() . '/loose-client.secret';
        copy(self::dir() . '/client.secret', $loose);
        chmod($loose, 0644);
        $cfg = self::writeConfig('oauthloose', "[destinations.default]\nurl = \"https://localhost:" . self::port() . "/bearer/loose\"\n"
            . "ca_file = \"" . self::dir() . "/ca/ca.pem\"\nauth = \"oauth2\"\ntoken_url = \"https://localhost:" . self::port() . "/oauth/token?tag=loose\"\n"
            . "client_id = \"sf-test-client\"\nclient_secret_file = \"$loose\"\n[outbox]\npath = \"" . self::dir() . "/loose-outbox.sqlite\"\n");
        $before = count(self::received());
        [, $out] = self::runPhp('try { secure_forward_order(["id" => 7, "total" => "1"]); echo "SENT"; } catch (SecureForward\Exception $e) { echo get_class($e), "|", $e->getMessage(); }', $cfg);
        self::assertStringStartsWith('SecureForward\ConfigException|', $out);
        self::assertStringContainsString("$loose: secret file is readable by group or others", $out);
        self::assertStringNotContainsString(self::clientSecret(), $out);
        self::assertCount(0, self::receivedSince($before), 'no token request with a loose secret file');
    }

    public function testNoTokenOrSecretInAnyOutput(): void
    {
        $outputs = [];
        foreach (['oauth', 'oauthshared', 'oauthbad', 'oauth401', 'bearer'] as $dest) {
            $outputs[] = json_encode(secure_forward_order(self::freshOrder(), $dest));
            try {
                $outputs[] = json_encode(secure_forward_auth_check($dest));
            } catch (SecureForward\Exception $e) {
                $outputs[] = (string) $e . print_r($e->getTrace(), true);
            }
        }
        $outputs[] = json_encode(secure_forward_status());
        $outputs[] = json_encode(secure_forward_flush(50, 1.0));
        [, $info, $err] = self::runPhp('phpinfo(INFO_MODULES);', self::mainConfig());
        $outputs[] = $info . $err;
        $raw = '';
        foreach (glob(self::dir() . '/outbox.sqlite*') as $f) {
            $raw .= is_file($f) ? file_get_contents($f) : '';
        }
        $outputs[] = $raw;
        $tokens = self::seenTokens();
        self::assertNotEmpty($tokens);
        $secrets = array_merge($tokens, [self::clientSecret(), self::clientSecret('bad-client.secret'), self::apiKey()]);
        foreach ($outputs as $i => $text) {
            foreach ($secrets as $s) {
                self::assertStringNotContainsString($s, $text, "output #$i");
            }
        }
        // phpinfo shows the mode, token host, client id and that the secret is set:
        // no plain fingerprint of a secret a person may have chosen (issue #17.8b).
        self::assertStringContainsString("destination oauth auth => auth oauth2, token_host localhost, client_id sf-test-client, client_secret " . self::dir() . "/client.secret (set)", $info);
        self::assertStringNotContainsString(substr(hash('sha256', self::clientSecret()), 0, 12), $info);
        self::assertStringContainsString('destination limited auth => auth header, rate_limit 50 requests per 1 s', $info);
    }
}
