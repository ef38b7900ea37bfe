#!/usr/bin/env bash
# make test-residue: after secure_forward_order() returns, no copy of a key_file
# key remains in the PHP process's memory. A PHP child sends orders over real
# HTTPS (test CA, tests/support/receiver.py), then waits while scan.py reads every
# readable region of /proc/<pid>/mem and counts the key's bytes. The last
# requests have a body shorter than their head, so a key left in ureq's output
# buffer would not be overwritten (a build without WipeSentConnector and without
# the zeroing allocator fails here: 1 copy). Controls: a key
# given by key_env (in the environment by design) and a copy PHP keeps in a
# variable must be found, so the scanner provably sees the heap and the stack.
set -euo pipefail
so=$(realpath "$1"); fixtures=$(realpath "$2")
root=$(cd "$(dirname "$0")/../.." && pwd); here="$root/tests/residue"
. "$root/tests/support/testlib.sh"
sf_work residue
(umask 077
 printf 'sk_live_%s\n' "$(sf_random)" > "$work/api.key"
 printf 'sk_bearer_%s\n' "$(sf_random)" > "$work/bearer.key"
 printf 'sk_env_%s' "$(sf_random)" > "$work/env.key"
 printf 'sk_kept_%s' "$(sf_random)" > "$work/control.key"
 printf 'cs_%s' "$(sf_random)" > "$work/client.secret")
sf_receiver "$work/log.jsonl" 600 --oauth-client-id residue-client --oauth-secret-file "$work/client.secret"
cat > "$work/config.toml" <<TOML
[destinations.default]
url = "https://localhost:$port/ok"
key_file = "$work/api.key"
ca_file = "$work/ca/ca.pem"

# A body shorter than the request head: without WipeSentConnector the key
# would stay in ureq's output buffer (the body no longer overwrites it).
[destinations.tiny]
url = "https://localhost:$port/ok/tiny"
key_file = "$work/api.key"
ca_file = "$work/ca/ca.pem"
[destinations.tiny.policy]
fields = ["id"]

[destinations.bearer]
url = "https://localhost:$port/ok/bearer"
key_file = "$work/bearer.key"
auth = "bearer"
ca_file = "$work/ca/ca.pem"

[destinations.tinybearer]
url = "https://localhost:$port/ok/tinybearer"
key_file = "$work/bearer.key"
auth = "bearer"
ca_file = "$work/ca/ca.pem"
[destinations.tinybearer.policy]
fields = ["id"]

[destinations.envkey]
url = "https://localhost:$port/ok/env"
key_env = "SF_RESIDUE_ENV_KEY"
ca_file = "$work/ca/ca.pem"

[destinations.oauth]
url = "https://localhost:$port/bearer/residue"
ca_file = "$work/ca/ca.pem"
auth = "oauth2"
token_url = "https://localhost:$port/oauth/token?ttl=300&tag=residue"
client_id = "residue-client"
client_secret_file = "$work/client.secret"

[outbox]
path = "$work/outbox.sqlite"

[audit]
path = "$work/audit.jsonl"
TOML
php_child=(php -n -d extension="$so" -d secure_forward.config="$work/config.toml" "$here/child.php" "$fixtures")
export SF_CONTROL_FILE="$work/control.key" SF_RESIDUE_ENV_KEY; SF_RESIDUE_ENV_KEY=$(cat "$work/env.key")
fail=0
echo "residue: header mode (X-API-KEY from key_file): one key_env order, then 3 orders + 3 with a tiny body"
SF_ENV_DESTINATION=envkey python3 "$here/scan.py" \
  api_key=0:"$work/api.key" env_key=+:"$work/env.key" php_kept_copy=+:"$work/control.key" \
  -- "${php_child[@]}" default,tiny 3 || fail=1
echo "residue: bearer mode (Authorization: Bearer from key_file), 3 orders + 3 with a tiny body"
python3 "$here/scan.py" bearer_key=0:"$work/bearer.key" php_kept_copy=+:"$work/control.key" \
  -- "${php_child[@]}" bearer,tinybearer 3 || fail=1
echo "residue: oauth2 mode, 3 orders (client secret and access token are cached by design: reported, not asserted)"
python3 "$here/scan.py" client_secret=?:"$work/client.secret" access_token=?:@"$work/log.jsonl" \
  php_kept_copy=+:"$work/control.key" -- "${php_child[@]}" oauth 3 || fail=1
[ "$fail" = 0 ] && echo "residue: passed" || { echo "residue: FAILED"; exit 1; }
