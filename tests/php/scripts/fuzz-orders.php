<?php
// Bounded PHP-level fuzz of secure_forward_prepare(): random nested arrays of
// random bytes, seeded. Usage: php fuzz-orders.php SEED COUNT DESTINATION...
// Prints one JSON line: {"accepted":n,"refused":n,"failures":[...]}. A crash
// shows as a non-zero exit code; anything but a string or a
// SecureForward\ValidationException is a failure.
declare(strict_types=1);

[$seed, $count] = [(int) ($argv[1] ?? 1), (int) ($argv[2] ?? 500)];
$destinations = array_slice($argv, 3) ?: ['default'];
mt_srand($seed);

const KEYS = ['id', 'number', 'status', 'currency', 'total', 'subtotal', 'total_tax', 'billing', 'shipping', 'country',
    'email', 'phone', 'postcode', 'customer_note', 'line_items', 'sku', 'name', 'quantity', 'product_id', 'meta_data',
    'key', 'value', 'date_created', 'payment_method', 'refunds', 'amount', 'coupon_lines', 'code'];
const STRINGS = ['4111111111111111', '4111 1111 1111 1111', '4111-1111-1111-1111', '4111111111111112',
    'note: 5555 5555 5555 4444 thanks', 'jane@example.com', '12.50', '-0', '1e309', '', "\0", "caf\xC3\xA9", "\xFF\xFE"];

function rbytes(int $n): string
{
    $s = '';
    for ($i = 0; $i < $n; $i++) {
        $s .= chr(mt_rand(0, 255));
    }
    return $s;
}

function rstring(): string
{
    switch (mt_rand(0, 4)) {
        case 0: return STRINGS[mt_rand(0, count(STRINGS) - 1)];
        case 1: // digit runs with separators, often card-number length
            $s = '';
            for ($i = mt_rand(0, 24); $i > 0; $i--) {
                $r = mt_rand(0, 12);
                $s .= $r < 10 ? (string) $r : ($r === 10 ? ' ' : '-');
            }
            return $s;
        case 2: return rbytes(mt_rand(0, 40));
        case 3: return str_repeat('a', mt_rand(0, 15) === 0 ? 70000 : mt_rand(0, 100));
        default: return bin2hex(rbytes(mt_rand(0, 8)));
    }
}

function rkey(): int|string
{
    return match (mt_rand(0, 4)) {
        0 => mt_rand(-3, 50),
        1 => rstring(),
        default => KEYS[mt_rand(0, count(KEYS) - 1)],
    };
}

function rvalue(int $depth): mixed
{
    $r = mt_rand(0, 11);
    if ($depth > 20 && $r >= 8) {
        $r = 0;
    }
    switch ($r) {
        case 0: return null;
        case 1: return (bool) mt_rand(0, 1);
        case 2: return mt_rand(PHP_INT_MIN, PHP_INT_MAX);
        case 3: return [INF, -INF, NAN, 0.1, -1e300, 12.5][mt_rand(0, 5)];
        case 4: case 5: case 6: return rstring();
        case 7: return mt_rand(0, 3) === 0 ? new stdClass() : rstring();
        case 8: // a list; a long one (past the 1,000-element bound) of scalars only
            $a = [];
            if (mt_rand(0, 7) === 0) {
                for ($i = mt_rand(900, 1100); $i > 0; $i--) {
                    $a[] = mt_rand(0, 1) ? mt_rand() : bin2hex(rbytes(mt_rand(0, 4)));
                }
                return $a;
            }
            for ($i = mt_rand(0, max(1, 6 - $depth)); $i > 0; $i--) {
                $a[] = rvalue($depth + 1);
            }
            return $a;
        default: // a map, sometimes shaped like an order
            $a = [];
            for ($i = mt_rand(0, max(2, 10 - 2 * $depth)); $i > 0; $i--) {
                $a[rkey()] = rvalue($depth + 1);
            }
            return $a;
    }
}

/**
 * The card-number rule (docs/policy.md), written independently for ASCII
 * digits: digit groups joined by runs of one or two separators of one kind
 * (white space, -, ., /, _); any window of whole groups (a single unseparated
 * group glued to an ASCII letter is part of a code and does not count)
 * with a known brand's IIN prefix and length that passes the Luhn check, except
 * at most 15 digits right after '+' (a phone number) and four dotted groups of
 * at most three digits (an IPv4 address).
 */
function strings_have_card(mixed $v): bool
{
    if (is_string($v)) {
        foreach (['[ \t\n\r\x0B\x0C]', '-', '\.', '\/', '_'] as $sep) {
            preg_match_all("/(?<![0-9])\\d+(?:{$sep}{1,2}\\d+)*/", $v, $m, PREG_OFFSET_CAPTURE);
            foreach ($m[0] as [$run, $at]) {
                preg_match_all('/\d+/', $run, $g, PREG_OFFSET_CAPTURE);
                $groups = $g[0];
                for ($a = 0; $a < count($groups); $a++) {
                    $start = $at + $groups[$a][1];
                    $plus = $start > 0 && $v[$start - 1] === '+';
                    $digits = '';
                    $short = true;
                    for ($b = $a; $b < count($groups) && strlen($digits . $groups[$b][0]) <= 19; $b++) {
                        $digits .= $groups[$b][0];
                        $short = $short && strlen($groups[$b][0]) <= 3;
                        $n = strlen($digits);
                        $end = $at + $groups[$b][1] + strlen($groups[$b][0]);
                        $glued = $a === $b && (($start > 0 && ctype_alpha_ascii($v[$start - 1])) || ctype_alpha_ascii($v[$end] ?? ''));
                        $ipv4 = $b - $a === 3 && $sep === '\.' && $short;
                        if ($n >= 12 && !$glued && !$ipv4 && !($plus && $n <= 15) && card_brand($digits) && luhn($digits)) {
                            return true;
                        }
                    }
                }
            }
        }
        return false;
    }
    if (is_array($v)) {
        foreach ($v as $k => $x) {
            if (strings_have_card((string) $k) || strings_have_card($x)) {
                return true;
            }
        }
    }
    return false;
}

/** Whether $c is one ASCII letter. */
function ctype_alpha_ascii(string $c): bool
{
    return strlen($c) === 1 && (($c >= 'a' && $c <= 'z') || ($c >= 'A' && $c <= 'Z'));
}

/** A known brand's IIN prefix and length (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro). */
function card_brand(string $d): bool
{
    $n = strlen($d);
    $p = fn (int $k): int => (int) substr($d, 0, $k);
    return ($p(1) === 4 && in_array($n, [13, 16, 19], true))
        || ((($p(2) >= 51 && $p(2) <= 55) || ($p(4) >= 2221 && $p(4) <= 2720)) && $n === 16)
        || (in_array($p(2), [34, 37], true) && $n === 15)
        || (($p(4) === 6011 || ($p(3) >= 644 && $p(3) <= 649) || $p(2) === 65) && $n >= 16)
        || (($p(2) === 36 || ($p(3) >= 300 && $p(3) <= 305) || $p(2) === 38 || $p(2) === 39) && $n >= 14)
        || ($p(4) >= 3528 && $p(4) <= 3589 && $n >= 16)
        || ($p(2) === 62 && $n >= 16)
        || (($p(2) === 50 || ($p(2) >= 56 && $p(2) <= 69)) && $n >= 12);
}

function luhn(string $d): bool
{
    $sum = 0;
    $alt = false;
    for ($i = strlen($d) - 1; $i >= 0; $i--) {
        $n = (int) $d[$i];
        if ($alt) {
            $n *= 2;
            if ($n > 9) {
                $n -= 9;
            }
        }
        $sum += $n;
        $alt = !$alt;
    }
    return $sum % 10 === 0;
}

// The checker itself must see what it is looking for.
if (!strings_have_card('ref x 4111-1111-1111-1111 y') || !strings_have_card(['a' => ['4242424242424242']]) || strings_have_card('4111111111111112 20261231')
    || !strings_have_card('4111.1111.1111.1111') || !strings_have_card("4111\r\n1111\r\n1111\r\n1111") || strings_have_card('1111111111111117')
    || strings_have_card('x4111111111111111') || strings_have_card('4111-1111 1111-1111')
    || !strings_have_card('卡号4111111111111111') || !strings_have_card('4111 1111 1111 1111exp')) {
    fwrite(STDERR, "fuzz-orders: the card-number checker is broken\n");
    exit(3);
}
$stats = ['accepted' => 0, 'refused' => 0, 'failures' => []];
for ($i = 0; $i < $count; $i++) {
    $order = rvalue(0);
    if (!is_array($order)) {
        $order = ['id' => mt_rand(1, 99999), 'customer_note' => $order];
    }
    if (mt_rand(0, 1)) {
        $order['id'] = mt_rand(1, 99999);
    }
    foreach ($destinations as $dest) {
        try {
            $body = secure_forward_prepare($order, $dest);
            $decoded = json_decode($body, true, 512, JSON_THROW_ON_ERROR);
            if (strings_have_card($decoded)) {
                $stats["failures"][] = "#$i $dest: a card number would leave" . (getenv("SF_FUZZ_SHOW") ? ": $body" : "");
            }
            if (secure_forward_prepare($order, $dest) !== $body) {
                $stats['failures'][] = "#$i $dest: not deterministic";
            }
            $stats['accepted']++;
        } catch (SecureForward\ValidationException $e) {
            if (strings_have_card($e->getMessage()) || str_contains($e->getTraceAsString(), '4111')) {
                $stats['failures'][] = "#$i $dest: a refusal shows a card number";
            }
            $stats['refused']++;
        } catch (Throwable $e) {
            $stats['failures'][] = "#$i $dest: " . get_class($e) . ': ' . $e->getMessage();
        }
    }
}
echo json_encode($stats), "\n";
