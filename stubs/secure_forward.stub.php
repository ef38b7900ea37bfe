<?php

/**
 * IDE stubs for the secure_forward extension — the source of truth for its PHP API.
 * tests/php/StubsTest.php compares this file with Reflection of the loaded extension.
 *
 * Configuration is operator-owned: the INI entry `secure_forward.config`
 * (PHP_INI_SYSTEM) names a TOML file. No function takes or returns a secret.
 *
 * @generate-class-entries
 */

namespace {
    /**
     * Minimises the order by the destination's policy, stores it in the outbox and
     * sends it over verified HTTPS with the destination's key.
     *
     * @param array $order A WooCommerce order as an array (WC_Order::get_data() shape).
     * @param string $destination A `[destinations.NAME]` of the configuration.
     * @param string $event Event name, part of the event id and sent as `X-Event-Type`.
     * @param array{key?: string, resend?: bool, site?: string}|null $options Without options
     *     (null or []) the event id is a hash of destination, order id, event and the minimised
     *     body, as always. Otherwise:
     *     - `key` (1 to 64 characters, no control characters) names the occurrence, e.g.
     *       `processing#3`, and replaces the body in the event id: the same occurrence is one
     *       event (one `Idempotency-Key`) whatever the payload, a new occurrence a new one;
     *     - `resend` (bool): a new event id even for a state delivered before; the audit line
     *       says `"resend": true`;
     *     - `site` (1 to 255 characters, e.g. `1:https://shop.example`): stored with the event and
     *       part of its id; purge and requeue can be limited to it.
     * @return array{event_id: string, status: string, http_status: ?int, attempts: int, reason: ?string}
     * @throws SecureForward\ConfigException The configuration, key file or destination is unusable.
     * @throws SecureForward\ValidationException The order was refused, or an option is unknown or
     *     has a bad value (the message names it, e.g. `options.key`); nothing was stored or sent.
     * Remote failures never throw: the receipt says `queued` (it will be retried) or
     * `dead` (4xx/redirect: not retried), with a redacted `reason`.
     * Exceptions thrown by the extension carry redacted messages and no argument
     * values in their traces (even with zend.exception_ignore_args=Off).
     * Each attempt and terminal event is written to the audit log (`[audit]`).
     */
    function secure_forward_order(array $order, string $destination = "default", string $event = "order.updated", ?array $options = null): array {}

    /**
     * The exact JSON body that would be sent for this order, without sending (no key, no network).
     *
     * @throws SecureForward\ConfigException
     * @throws SecureForward\ValidationException
     */
    function secure_forward_prepare(array $order, string $destination = "default"): string {}

    /**
     * The request this order would make, without sending it (no network; the key is
     * never read into the result).
     *
     * @return array{method: string, url: string, headers: array<string,string>, body: string}
     *   `url`: for a `url_file` destination `https://HOST` only; `headers`: every header
     *   that would be sent (Content-Type, Accept, User-Agent, Idempotency-Key,
     *   X-Event-Type, signing headers, the destination's `headers`), the key header and
     *   `Authorization` as `[REDACTED]`; `body`: the exact JSON string.
     * @throws SecureForward\ConfigException
     * @throws SecureForward\ValidationException
     */
    function secure_forward_preview(array $order, string $destination = "default", string $event = "order.updated"): array {}

    /**
     * The configured destinations (no secrets, no URL paths).
     *
     * @return list<array{name: string, host: string, method: string, auth: string, events: ?list<string>, shaped: bool}>
     *   `events`: the destination's `events`, or null (the caller's default events).
     * @throws SecureForward\ConfigException
     */
    function secure_forward_destinations(): array {}

    /**
     * Sends due events from the outbox until `$max` events or `$seconds` have passed,
     * whatever the circuit breaker says (flush is the probe).
     *
     * `skipped`: results not recorded because another flusher had taken the event's lease over.
     *
     * @return array{delivered: int, retried: int, dead: int, skipped: int, remaining: int}
     */
    function secure_forward_flush(int $max = 100, float $seconds = 10.0): array {}

    /**
     * Outbox totals at the top level (`queued`, `dead`, `undecryptable`, `delivered`
     * (last 24 h), `oldest_queued_age_s`, `last_success_at`, `last_error`,
     * `last_error_at`, `circuit`, `paused_until` (Unix seconds while a `Retry-After` or rate-limit
     * header pauses the destination, else null), `circuit_opened_at` (Unix seconds since when the
     * circuit has been open, through failed probes; null while closed)) and the same per destination
     * under `destinations`, where each destination also has:
     * - `host`: the host of its URL (never the path or query) and `auth`: `header`, `bearer` or `oauth2`;
     * - `key_fp`: first 12 hex of SHA-256 of its API key (null without a key or when unreadable);
     * - `key_source` (`file`, `env` or null) and `key_path` (file path or variable name);
     * - `signing_fp`: fingerprints of its signing secrets (`[]` without signing, null when unreadable);
     * - `attempts`: its last 10 delivery attempts, newest first, each
     *   `{ts: RFC 3339 UTC string, outcome: "delivered"|"retry"|"dead", http_status: ?int, latency_ms: ?int}`.
     * Also at the top level: `erasure_pending`; with a shared outbox (`[outbox] url`) the whole
     * fleet's figures and `database` (`host:port/db`), `node` (this node's id), `spooled` (events in
     * this node's local spool) and `leases` (who holds which events now: `{destination, owner
     * ("node:pid:tag:n"), events, until}`); without it `database`/`node` are null, `spooled` 0.
     * A shared database that cannot be read throws TransportException naming its host, the problem
     * and the events spooled on this node.
     * Facts only: never a key, a secret or order data; `last_error` is redacted.
     *
     * @return array{queued: int, dead: int, undecryptable: int, delivered: int, oldest_queued_age_s: ?int,
     *     last_success_at: ?int, last_error: ?string, last_error_at: ?int, circuit: string, paused_until: ?int,
     *     circuit_opened_at: ?int,
     *     erasure_pending: bool, database: ?string, node: ?string, spooled: int,
     *     leases: list<array{destination: string, owner: string, events: int, until: int}>,
     *     destinations: array<string, array{queued: int, dead: int, undecryptable: int, delivered: int,
     *         oldest_queued_age_s: ?int, last_success_at: ?int, last_error: ?string, last_error_at: ?int,
     *         circuit: string, paused_until: ?int, circuit_opened_at: ?int,
     *         attempts: list<array{ts: string, outcome: string, http_status: ?int, latency_ms: ?int}>,
     *         host: string, auth: string, key_fp: ?string, key_source: ?string, key_path: ?string, signing_fp: list<string>|null}>}
     */
    function secure_forward_status(): array {}

    /**
     * Moves a dead letter back to the queue, due now; false when there is no such dead event
     * (or, with `$site`, when it is another site's).
     */
    function secure_forward_requeue(string $event_id, ?string $site = null): bool {}

    /**
     * Erases every queued or dead payload of an order (right to erasure); with `$site`, only
     * the events submitted with that `site` option (shops sharing one outbox, multisite).
     *
     * @param int|string $order_id
     * @return int rows removed
     */
    function secure_forward_purge(mixed $order_id, ?string $site = null): int {}

    /**
     * Erases one event (whatever its state) from the outbox: row, payload and metadata,
     * like secure_forward_purge() for a whole order. False when there is no such event.
     */
    function secure_forward_purge_event(string $event_id): bool {}

    /**
     * Events as facts, for admin screens: filtered, paged, newest first by default.
     *
     * Filter keys (all optional; an unknown key or a bad value throws a ValidationException
     * naming the key, never the value):
     * - `order_id` (int or digit string, normalised like secure_forward_purge(): "007" is 7),
     *   `destination`, `event`, `site` (strings), `state` (`queued` | `dead` | `delivered`);
     * - `limit` (1..500, default 50), `offset` (>= 0, default 0), `order` (`desc` default, or `asc`,
     *   by creation time).
     * `total` counts every matching event; `rows` is the page. Each row has exactly these keys;
     * times are RFC 3339 UTC strings or null; `site` is null for events stored before sites were
     * recorded, and a `site` filter also matches those (as purge and requeue do); `reason` is redacted.
     * Never a payload, a key, a token or a destination URL.
     *
     * @param array{order_id?: int|string, destination?: string, state?: string, event?: string, site?: string,
     *     limit?: int, offset?: int, order?: string} $filter
     * @return array{total: int, rows: list<array{event_id: string, destination: string, event: string,
     *     order_id: string, site: ?string, state: string, attempts: int, http_status: ?int, reason: ?string,
     *     created_at: string, last_attempt_at: ?string, next_attempt_at: ?string}>}
     * @throws SecureForward\ValidationException
     * @throws SecureForward\ConfigException
     */
    function secure_forward_deliveries(array $filter = []): array {}

    /** The effective policy of a destination: fields, output names, transforms — never the pepper. */
    function secure_forward_policy(string $destination = "default"): array {}

    /**
     * Checks that a destination's credentials are usable now: loads its key, or obtains an
     * OAuth2 access token (from the in-process cache, the outbox database, or the token endpoint).
     *
     * @return array{auth: string, credential: bool, token_host?: string, client_id?: string, token_fingerprint?: string, token_expires_in_s?: int}
     *         Facts only: never a key, client secret or token.
     * @throws SecureForward\ConfigException Unknown destination, unusable key or client secret file.
     * @throws SecureForward\RejectedException The token endpoint refused the client credentials
     *         (the message names its host and the OAuth `error` code, e.g. `invalid_client`).
     * @throws SecureForward\TransportException The token endpoint could not be reached or failed.
     */
    function secure_forward_auth_check(string $destination = "default"): array {}

    /**
     * Verifies an inbound webhook against `[webhooks.SOURCE]` and returns its decoded
     * JSON body. Standard Webhooks (`webhook-id`, `webhook-timestamp`,
     * `webhook-signature`; `svix-*` accepted) with a replay check, or WooCommerce's
     * `X-WC-Webhook-Signature` when the source has `format = "woocommerce"`.
     *
     * @param string $body The raw request body, byte for byte (php://input).
     * @param array $headers name => value (getallheaders()); names match case-insensitively,
     *                       `$_SERVER`-style `HTTP_WEBHOOK_ID` names are accepted too.
     * @throws SecureForward\SignatureException Which check failed (missing header, malformed
     *         signature, no matching signature, timestamp outside the tolerance, replay).
     * @throws SecureForward\ConfigException Unknown source or unusable secret file.
     */
    function secure_forward_verify_webhook(string $body, array $headers, string $source = "default"): array {}
}

namespace SecureForward {
    /** Base of every exception the extension throws. Messages never carry a key or order data. */
    class Exception extends \Exception {}

    /** The configuration file, a key/secret file or a destination is unusable. */
    class ConfigException extends Exception {}

    /** The order was refused before anything was stored or sent; the message names the field path. */
    class ValidationException extends Exception {}

    /** TLS, connection, timeout or 5xx; the message names the host. */
    class TransportException extends Exception {}

    /** The endpoint answered 4xx (code = HTTP status) or redirected. */
    class RejectedException extends Exception {}

    /** An inbound webhook failed verification; the message says which check failed. */
    class SignatureException extends Exception {}
}
