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
     * @return array{event_id: string, status: string, http_status: ?int, attempts: int, reason: ?string}
     * @throws SecureForward\ConfigException The configuration, key file or destination is unusable.
     * @throws SecureForward\ValidationException The order was refused; nothing was stored or sent.
     * @throws SecureForward\TransportException TLS, connection, timeout or 5xx.
     * @throws SecureForward\RejectedException The endpoint answered 4xx or redirected.
     */
    function secure_forward_order(array $order, string $destination = "default", string $event = "order.updated"): array {}

    /**
     * The exact JSON body that would be sent for this order, without sending (no key, no network).
     *
     * @throws SecureForward\ConfigException
     * @throws SecureForward\ValidationException
     */
    function secure_forward_prepare(array $order, string $destination = "default"): string {}

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
