#!/usr/bin/env bash
# make demo: a fresh test CA, a real local HTTPS receiver, one sample WooCommerce
# order forwarded through the extension, and what the receiver got.
set -euo pipefail
so=$(realpath "$1"); fixtures=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/secure-forward-demo.XXXXXX)
trap 'kill $(cat "$work/receiver.pid" 2>/dev/null) 2>/dev/null || true' EXIT
"$here/make-test-ca.sh" "$work/ca"
python3 "$here/receiver.py" --cert "$work/ca/server.pem" --key "$work/ca/server.key" \
  --port-file "$work/port" --log "$work/received.jsonl" --max-seconds 120 >/dev/null &
echo $! > "$work/receiver.pid"
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
(umask 077; printf 'demo_%s' "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$work/api.key")
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
echo "== files: $work (config, key, outbox); receiver stopped"
