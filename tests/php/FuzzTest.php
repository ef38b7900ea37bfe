<?php
declare(strict_types=1);

/**
 * Bounded fuzz of secure_forward_prepare() with random nested arrays of random
 * bytes (tests/php/scripts/fuzz-orders.php), in child processes so that a crash
 * is reported with its seed. SF_FUZZ_SEED=n replays one seed.
 */
final class FuzzTest extends SecureForwardTestCase
{
    private static function config(): string
    {
        $main = (string) file_get_contents(self::mainConfig());
        return self::writeConfig('fuzz', $main . <<<'TOML'

[destinations.freetext]
url = "https://localhost:1/ok"
key_env = "SF_FUZZ_UNUSED_KEY"
[destinations.freetext.policy]
fields = ["id", "total", "customer_note", "billing.phone", "billing.postcode", "line_items[].name", "meta_data[].value"]
mask = { "billing.phone" = 2 }
truncate = { "billing.postcode" = 3 }
rename = { "customer_note" = "note.text" }

[destinations.redacting]
url = "https://localhost:1/ok"
key_env = "SF_FUZZ_UNUSED_KEY"
[destinations.redacting.policy]
fields = ["id", "customer_note", "line_items[].name", "meta_data[].value"]
on_card_number = "redact"

TOML);
    }

    public function testRandomOrdersOnlyEverGiveABodyOrAValidationException(): void
    {
        $seed = (int) (getenv('SF_FUZZ_SEED') ?: random_int(1, PHP_INT_MAX >> 1));
        $config = self::config();
        $codes = [];
        foreach ([0, 1] as $k) {
            $codes[] = sprintf(
                '$argv = ["x", "%d", "300", "default", "freetext", "redacting"]; require %s;',
                $seed + $k,
                var_export(getenv('SF_ROOT') . '/tests/php/scripts/fuzz-orders.php', true)
            );
        }
        $accepted = $refused = 0;
        foreach (self::runPhpParallel($codes, $config) as $i => [$exit, $out, $err]) {
            $s = $seed + $i;
            self::assertSame(0, $exit, "fuzz seed $s crashed or failed (replay: SF_FUZZ_SEED=$s): $err");
            $stats = json_decode($out, true);
            self::assertIsArray($stats, "seed $s printed: $out $err");
            self::assertSame([], $stats['failures'], "seed $s (replay: SF_FUZZ_SEED=$s)");
            $accepted += $stats['accepted'];
            $refused += $stats['refused'];
        }
        // Both verdicts happen, so the generator reaches past validation.
        self::assertGreaterThan(0, $accepted, 'no random order was accepted');
        self::assertGreaterThan(0, $refused, 'no random order was refused');
        fwrite(STDERR, "\n[fuzz] seed $seed: $accepted accepted, $refused refused\n");
    }
}
