#!/usr/bin/env bash
# make demo: a fresh test CA, a real local HTTPS receiver, one sample WooCommerce
# order forwarded through the extension, and what the receiver got.
set -euo pipefail
so=$(realpath "$1"); fixtures=$(realpath "$2")
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/support/testlib.sh"
sf_work demo
sf_receiver "$work/received.jsonl" 120
(umask 077; printf 'demo_%s' "$(sf_random)" > "$work/api.key")
cat > "$work/config.toml" <<TOML
[destinations.default]
url = "https://localhost:$port/orders"
key_file = "$work/api.key"
ca_file = "$work/ca/ca.pem"

[outbox]
path = "$work/outbox.sqlite"
TOML
order="$fixtures/order-registered-multi.json"
echo "== order: $(basename "$order") ($(wc -c < "$order") bytes, with names, address, email, phone, IP, meta)"
php -d extension="$so" -d secure_forward.config="$work/config.toml" -r '
  $order = json_decode(file_get_contents($argv[1]), true);
  $receipt = secure_forward_order($order, "default", "order.processing");
  echo "== receipt\n", json_encode($receipt, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES), "\n";
' "$order"
echo "== what the receiver at https://localhost:$port/ got (the API key shown as its length only)"
python3 - "$work/received.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f'{r["method"]} {r["path"]}')
    for k, v in r["headers"].items():
        if k == "x-api-key":
            v = f"[{len(v)} characters, from a 0600 key file]"
        print(f"  {k}: {v}")
    print(json.dumps(json.loads(r["body"]), indent=2, ensure_ascii=False))
PY
echo "== done: receiver stopped, temporary files (test CA, config, key, outbox) removed"
