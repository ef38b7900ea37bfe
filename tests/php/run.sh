#!/usr/bin/env bash
# PHPUnit integration suite: a fresh test CA, real local HTTPS receivers, a config
# made on the spot, then Debian's phpunit with the built extension loaded.
set -euo pipefail
so=$(realpath "$1"); fixtures=$(realpath "$2")
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/support/testlib.sh"
sf_work phpunit
# OAuth2 client credentials: the main receiver is also the token endpoint.
(umask 077; printf 'cs_%s' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$work/client.secret"
 printf 'cs_wrong_%s' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$work/bad-client.secret")
oauth_opts=(--oauth-client-id sf-test-client --oauth-secret-file "$work/client.secret")
SF_CERT=rogue sf_receiver "$work/rogue.jsonl" 1800 "${oauth_opts[@]}"
rogue=$port
sf_receiver "$work/main.jsonl" 1800 "${oauth_opts[@]}"
(umask 077; printf 'sk_test_%s' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$work/api.key")
cp "$work/api.key" "$work/loose.key"; chmod 644 "$work/loose.key"
(umask 077; for _ in 1 2; do printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64 -w0)"; done > "$work/signing.secrets")
dest() { # name url [extra lines]
  printf '[destinations.%s]\nurl = "%s"\nkey_file = "%s"\nca_file = "%s"\n%s\n' "$1" "$2" "$work/api.key" "$work/ca/ca.pem" "${3:-}"
}
{
  dest default "https://localhost:$port/ok"
  dest redirect "https://localhost:$port/redirect"
  dest s401 "https://localhost:$port/status/401"
  dest s422 "https://localhost:$port/status/422"
  dest s503 "https://localhost:$port/status/503"
  dest untrusted "https://localhost:$rogue/ok"
  printf '[destinations.loosekey]\nurl = "https://localhost:%s/ok"\nkey_file = "%s"\nca_file = "%s"\n\n' "$port" "$work/loose.key" "$work/ca/ca.pem"
  printf '[destinations.webpki]\nurl = "https://localhost:%s/ok"\nkey_file = "%s"\n\n' "$port" "$work/api.key"
  dest signed "https://localhost:$port/ok" "signing_secret_file = \"$work/signing.secrets\""
  dest bearer "https://localhost:$port/ok/bearer" 'auth = "bearer"'
  oauth() { # name resource-path tag [ttl] [secret file] [extra]
    printf '[destinations.%s]\nurl = "https://localhost:%s%s"\nca_file = "%s"\nauth = "oauth2"\n' "$1" "$port" "$2" "$work/ca/ca.pem"
    printf 'token_url = "https://localhost:%s/oauth/token?ttl=%s&tag=%s"\nclient_id = "sf-test-client"\n' "$port" "${4:-300}" "$3"
    printf 'client_secret_file = "%s"\nscope = "orders.write"\n%s\n\n' "${5:-$work/client.secret}" "${6:-}"
  }
  oauth oauth /bearer/oauth oauth
  oauth oauthshared /bearer/shared shared
  oauth oauthshort /bearer/short short 2
  oauth oauthrevoke /bearer/revoke revoke
  oauth oauth401 /status/401 always401
  oauth oauthpost /bearer/post post 300 "$work/client.secret" 'token_auth = "client_secret_post"'
  oauth oauthbad /bearer/bad bad 300 "$work/bad-client.secret"
  oauth oauthherd /bearer/herd 'herd&delay_ms=500' 300
  dest limited "https://localhost:$port/ok/limited" 'rate_limit = { requests = 50, per_s = 1 }'
  dest pausing "https://localhost:$port/seq/200,200,200,200,200,429r2,200"
  printf '[webhooks.default]\nsecret_file = "%s"\ntolerance_s = 300\n\n' "$work/signing.secrets"
  printf '[outbox]\npath = "%s"\nretry_schedule = [0, 0]\n' "$work/outbox.sqlite"
  printf '[audit]\npath = "%s"\n' "$work/audit.jsonl"
} > "$work/config.toml"
export SF_TEST_DIR=$work SF_TEST_PORT=$port SF_TEST_ROGUE_PORT=$rogue SF_FIXTURES=$fixtures
export SF_EXTENSION=$so SF_ROOT=$root
cd "$root"
php -d extension="$so" -d secure_forward.config="$work/config.toml" -d zend.exception_ignore_args=Off \
  /usr/bin/phpunit -c tests/php/phpunit.xml "${@:3}"
