#!/usr/bin/env bash
# The shared outbox on a REAL MariaDB ([outbox] url): two "nodes" (PHP processes with their own
# configuration, node_id and local spool, one shared database), a real HTTPS receiver that logs
# every request with its Idempotency-Key, and a private mariadbd (tests/support/mariadb.sh, on a
# socket and a TCP port of 127.0.0.1). Installs mariadb-server with apt when missing (as root).
#   1. 4 writers and 2 flushers over both nodes: 400 orders, 400 delivered, none twice.
#   2. kill -9 of a flusher mid-batch: nothing lost; only its in-flight events are sent again.
#   3. MariaDB stopped during 20 orders: each returns `queued` (spooled), delivered once after a flush.
#   4. A rate limit held across both nodes; one OAuth2 token for both; a webhook replayed to the
#      other node refused.
#   5. Wrong password, unknown database, TLS refused (a certificate from another CA): order()
#      spools and returns `queued`; status(), auth_check(), flush() and phpinfo name the host and
#      the problem, never the password. tls = "verify" with the test CA works over TCP.
#   6. A node whose outbox key file differs is refused.
#   7. Dead letter, requeue from the other node, purge (the rows are deleted in the database).
#   8. Sites: the site stored per event, site-scoped requeue and purge, the deliveries listing
#      and purge_event across nodes; an open circuit's since-when (circuits.since_ms).
# Usage: run.sh EXTENSION.so FIXTURES_DIR. Exits non-zero on any failure.
set -euo pipefail
so=$(realpath "$1"); fixtures=$(realpath "$2")
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/support/testlib.sh"
. "$root/tests/support/mariadb.sh"
sf_mariadb_ensure
sf_work mysql
trap 'sf_stop; sf_mariadb_stop; rm -rf "$work"' EXIT
fail=0
ok() { echo "  ok   $*"; }
bad() { echo "  FAIL $*"; fail=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# like VALUE GLOB: VALUE matches the shell pattern GLOB.
like() { [[ $1 == $2 ]]; }

# --- secrets, receiver, database ---------------------------------------------------------------
(umask 077
 printf 'cs_%s' "$(sf_random)" > "$work/client.secret"
 printf 'sk_test_%s' "$(sf_random)" > "$work/api.key"
 head -c 32 /dev/urandom | base64 -w0 > "$work/outbox.key"; echo >> "$work/outbox.key"
 head -c 32 /dev/urandom | base64 -w0 > "$work/other.key"; echo >> "$work/other.key"
 printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" > "$work/webhook.secrets"
 db_pass="pw_$(sf_random)"; printf '%s\n' "$db_pass" > "$work/db.password"
 printf 'wrong_%s\n' "$(sf_random)" > "$work/wrong.password")
db_pass=$(head -n1 "$work/db.password")
sf_receiver "$work/recv.jsonl" 1800 --oauth-client-id sf-client --oauth-secret-file "$work/client.secret"
dbport=$(sf_free_port)
# TLS on TCP with the test CA's certificate for localhost / 127.0.0.1 (the socket needs none).
sf_mariadb_start "$work/mariadb" "$dbport" --ssl-cert="$work/ca/server.pem" --ssl-key="$work/ca/server.key"
sf_mariadb_sql "CREATE DATABASE sfshop; CREATE USER 'sf'@'localhost' IDENTIFIED BY '$db_pass';
  CREATE USER 'sf'@'127.0.0.1' IDENTIFIED BY '$db_pass'; GRANT ALL ON sfshop.* TO 'sf'@'localhost';
  GRANT ALL ON sfshop.* TO 'sf'@'127.0.0.1'; GRANT ALL ON nosuchdb.* TO 'sf'@'localhost';"
echo "mysql tests: mariadbd on $sf_db_sock and 127.0.0.1:$dbport, receiver on $port"

# conf NODE DELIVERY [outbox lines...]: a node's configuration (shared database over the socket).
conf() {
  local node=$1 delivery=$2; shift 2
  local f="$work/$node.toml"
  {
    d() { printf '[destinations.%s]\nurl = "https://localhost:%s%s"\nkey_file = "%s"\nca_file = "%s"\ntimeout_ms = 2000\n%s\n\n' \
      "$1" "$port" "$2" "$work/api.key" "$work/ca/ca.pem" "${3:-}"; }
    d main /ok/main
    d slow /slow/40
    d limited /ok/limited 'rate_limit = { requests = 4, per_s = 1 }'
    d gone /status/422
    d down /status/503
    printf '[destinations.oauth]\nurl = "https://localhost:%s/bearer/shared"\nca_file = "%s"\nauth = "oauth2"\n' "$port" "$work/ca/ca.pem"
    printf 'token_url = "https://localhost:%s/oauth/token?ttl=300&tag=fleet"\nclient_id = "sf-client"\nclient_secret_file = "%s"\n\n' \
      "$port" "$work/client.secret"
    printf '[webhooks.default]\nsecret_file = "%s"\ntolerance_s = 300\n\n' "$work/webhook.secrets"
    printf '[audit]\npath = "%s"\n\n' "$work/$node-audit.jsonl"
    printf '[outbox]\npath = "%s"\nkey_file = "%s"\ndelivery = "%s"\nretry_schedule = [1, 1, 1]\n' \
      "$work/$node-spool.sqlite" "$work/outbox.key" "$delivery"
    printf 'url = "mysql://sf@localhost/sfshop?socket=%s"\npassword_file = "%s"\ntls = "off"\nnode_id = "%s"\n' \
      "$sf_db_sock" "$work/db.password" "$node"
    local line; for line in "$@"; do printf '%s\n' "$line"; done
  } > "$f"
  echo "$f"
}
# node CONFIG CMD ARGS...: runs tests/mysql/node.php as a node.
node() {
  local c=$1; shift
  php -n -d "extension=$so" -d "secure_forward.config=$c" -d display_errors=stderr "$root/tests/mysql/node.php" "$@"
}
# node_exec CONFIG CMD ARGS...: the same, replacing the (background) subshell, so that $! is
# the PHP process itself (what kill -9 must hit).
node_exec() {
  local c=$1; shift
  exec php -n -d "extension=$so" -d "secure_forward.config=$c" -d display_errors=stderr "$root/tests/mysql/node.php" "$@"
}
# sent PATH: "key count" per Idempotency-Key received on PATH.
sent() {
  python3 - "$work/recv.jsonl" "$1" <<'PY'
import json, sys, collections
c = collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["path"] == sys.argv[2] and e["headers"].get("idempotency-key"):
        c[e["headers"]["idempotency-key"]] += 1
for k, n in c.items():
    print(k, n)
PY
}
fixture=$fixtures/order-guest-simple.json
A=$(conf nodeA deferred)
B=$(conf nodeB inline)

# --- 1. two nodes, 4 writers, 2 flushers, 400 orders --------------------------------------------
echo "1. two nodes: 4 writers (A deferred, B inline), 2 flushers, 400 orders"
rm -f "$work/stop"
node "$A" flushloop "$work/stop" > "$work/f1.out" 2>"$work/f1.err" & f1=$!
node "$B" flushloop "$work/stop" > "$work/f2.out" 2>"$work/f2.err" & f2=$!
w=()
node "$A" orders main 100000 100 "$fixture" > "$work/w1.out" 2>&1 & w+=($!)
node "$A" orders main 100100 100 "$fixture" > "$work/w2.out" 2>&1 & w+=($!)
node "$B" orders main 100200 100 "$fixture" > "$work/w3.out" 2>&1 & w+=($!)
node "$B" orders main 100300 100 "$fixture" > "$work/w4.out" 2>&1 & w+=($!)
wrc=0; for p in "${w[@]}"; do wait "$p" || wrc=1; done
touch "$work/stop"
frc=0; wait "$f1" || frc=1; wait "$f2" || frc=1
check "writers exit 0" test $wrc = 0
check "flushers exit 0 ($(cat "$work/f1.out" "$work/f2.out" | tr '\n' ' '))" test $frc = 0
grep -h '^evt_' "$work"/w[1-4].out > "$work/receipts1" || true
check "400 receipts, queued or delivered" test "$(grep -cE '^evt_[0-9a-f]+ (queued|delivered) ' "$work/receipts1")" = 400
sent /ok/main > "$work/sent1"
check "400 distinct Idempotency-Keys received" test "$(wc -l < "$work/sent1")" = 400
check "none received twice" test "$(awk '$2 != 1' "$work/sent1" | wc -l)" = 0
check "every receipt's event received" test "$(awk 'NR==FNR {s[$1]=1; next} !($1 in s)' "$work/sent1" "$work/receipts1" | wc -l)" = 0
node "$A" status > "$work/status1.json"
check "status from node A: fleet-wide, 400 delivered, 0 queued" python3 -c '
import json,sys; s=json.load(open(sys.argv[1]))
sys.exit(0 if s["destinations"]["main"]["delivered"] == 400 and s["queued"] == 0 and s["database"].startswith("localhost/sfshop") and s["node"] == "nodeA" else 1)' "$work/status1.json"

check "the attempts list keeps the newest 10 per destination" test \
  "$("${sf_db_client[@]}" -N sfshop -e "SELECT COUNT(*) FROM secure_forward_attempts WHERE destination = 'main'")" = 10

# --- 2. kill -9 of a flusher mid-batch -----------------------------------------------------------
echo "2. kill -9 of a flusher mid-batch"
node "$A" orders slow 200000 120 "$fixture" > "$work/receipts2" 2>&1 || bad "enqueue for the kill test"
node_exec "$A" flush 1000 60 > "$work/f3.out" 2>&1 & f3=$!
for _ in $(seq 1 200); do [ "$(sent /slow/40 | wc -l)" -ge 20 ] && break; sleep 0.05; done
kill -9 "$f3"; wait "$f3" 2>/dev/null || true
check "the flusher (PHP process $f3) is gone" bash -c "! kill -0 $f3 2>/dev/null"
# The server rolls back the dead process's open claim (if any) once it sees the connection gone.
for _ in $(seq 1 100); do
  [ "$("${sf_db_client[@]}" -N -e 'SELECT COUNT(*) FROM information_schema.INNODB_TRX')" = 0 ] && break; sleep 0.05
done
before=$(sent /slow/40 | wc -l)
# What the dead flusher held: leased to nodeA, with its owner shown by status on node B.
node "$B" status > "$work/status2.json"
"${sf_db_client[@]}" -N sfshop -e "SELECT id FROM secure_forward_events WHERE state = 'queued' AND lease_owner LIKE 'nodeA:%'" > "$work/held2"
check "killed mid-batch ($before of 120 received, $(wc -l < "$work/held2") leased by the dead flusher)" test "$before" -lt 120
check "status on node B names the node holding leases" python3 -c '
import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if any(l["owner"].startswith("nodeA:") for l in s["leases"]) else 1)' "$work/status2.json"
node "$B" flush 1000 60 > "$work/f4.out" 2>&1 || true
sent /slow/40 > "$work/sent2a"
check "node B delivers every event the dead flusher did not hold, at once ($(cat "$work/f4.out"))" test \
  "$(grep '^evt_' "$work/receipts2" | awk '{print $1}' | grep -vxF -f "$work/held2" | grep -vxF -f <(awk '{print $1}' "$work/sent2a") | wc -l)" = 0
check "nothing twice before the leases expire" test "$(sent /slow/40 | awk '$2 != 1' | wc -l)" = 0
sleep 33   # lease = timeout_ms (2 s) + 30 s margin
node "$B" flush 1000 60 > "$work/f5.out" 2>&1 || true
sent /slow/40 > "$work/sent2"
check "all 120 delivered after the leases expired" test "$(wc -l < "$work/sent2")" = 120
check "only events in flight at the kill were sent again" test \
  "$(awk '$2 != 1 {print $1}' "$work/sent2" | grep -vxF -f "$work/held2" | wc -l)" = 0
check "status: nothing queued" python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["queued"] == 0 else 1)' "$(node "$B" status)"

# --- 3. MariaDB down during 20 orders ------------------------------------------------------------
echo "3. MariaDB stopped while 20 orders are submitted, then started"
sf_mariadb_stop
rc=0; node "$B" orders main 300000 20 "$fixture" > "$work/receipts3" 2>&1 || rc=$?
check "20 receipts, all queued, no exception (rc $rc)" test "$(grep -cE '^evt_[0-9a-f]+ queued spooled_on_this_node' "$work/receipts3")" = 20
check "receipt reason names the database host, not the password" bash -c "grep -q 'sfshop' '$work/receipts3' && ! grep -qF '$db_pass' '$work/receipts3'"
node "$B" status > "$work/status3" 2>&1 || true
check "status names the database and the 20 spooled events" grep -q "sfshop.*20 event(s) spooled" "$work/status3"
sf_mariadb_restart
node "$B" flush 1000 30 > "$work/f6.out" 2>&1 || true
sent /ok/main > "$work/sent3"
check "every receipt's order delivered exactly once" test \
  "$(awk 'NR==FNR {s[$1]=$2; next} s[$1] != 1' "$work/sent3" "$work/receipts3" | wc -l)" = 0
check "spool empty after the flush" python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["spooled"] == 0 else 1)' "$(node "$B" status)"
node "$A" flush 1000 30 >/dev/null 2>&1
check "still once after another flush on the other node" test "$(sent /ok/main | awk '$2 != 1' | wc -l)" = 0

# The next submit (not only a flush) moves a spool once the database answers.
sf_mariadb_stop
node "$A" orders main 310000 3 "$fixture" > "$work/receipts3b" 2>&1 || true
check "3 more orders spooled on node A" test "$(grep -c ' queued spooled_on_this_node' "$work/receipts3b")" = 3
sf_mariadb_restart
node "$A" orders main 310003 1 "$fixture" > /dev/null 2>&1 || true
check "the next submit on node A moved its spool (spooled 0, 4 queued in the database)" python3 -c '
import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s["spooled"] == 0 and s["queued"] == 4 else 1)' "$(node "$A" status)"
node "$B" flush 1000 30 > /dev/null 2>&1 || true
check "each delivered once, from the other node" test \
  "$(grep -h '^evt_' "$work/receipts3b" | awk 'NR==FNR {s[$1]=$2; next} s[$1] != 1' <(sent /ok/main) - | wc -l)" = 0

# --- 4. rate limit, OAuth2 token and webhook replay across nodes ---------------------------------
echo "4. shared rate limit, OAuth2 token, webhook replay cache"
node "$A" orders limited 400000 24 "$fixture" > /dev/null 2>&1 || bad "enqueue for the rate-limit test"
rm -f "$work/stop4"; touch "$work/stop4"
node "$A" flushloop "$work/stop4" > /dev/null 2>&1 & f7=$!
node "$B" flushloop "$work/stop4" > /dev/null 2>&1 & f8=$!
wait "$f7" "$f8" || true
check "a 4/s limit holds across both nodes (24 requests, any 1 s window <= 8, span >= 4.5 s)" python3 - "$work/recv.jsonl" <<'PY'
import json, sys
t = sorted(e["t"] for e in map(json.loads, open(sys.argv[1])) if e["path"] == "/ok/limited")
worst = max(sum(1 for u in t if s <= u < s + 1.0) for s in t)
print("    ", len(t), "requests, span %.2f s, worst window %d" % (t[-1] - t[0], worst))
sys.exit(0 if len(t) == 24 and worst <= 8 and t[-1] - t[0] >= 4.5 else 1)
PY
C=$(conf nodeC inline)
ra=$(node "$C" orders oauth 500000 1 "$fixture"); rb=$(node "$B" orders oauth 500001 1 "$fixture")
check "OAuth2 sends delivered on both nodes ($ra / $rb)" like "$ra $rb" "* delivered* delivered*"
check "one token issued for both nodes" test "$(python3 -c '
import json,sys; print(sum(1 for e in map(json.loads, open(sys.argv[1])) if e["path"].startswith("/oauth/token") and e.get("issued")))' "$work/recv.jsonl")" = 1
python3 - "$work" <<'PY'
import base64, hashlib, hmac, json, sys, time
w = sys.argv[1]
key = base64.b64decode(open(w + "/webhook.secrets").read().strip()[len("whsec_"):])
body = '{"type":"order.paid","id":42}'
mid, ts = "msg_fleet_%d" % time.time_ns(), str(int(time.time()))
sig = base64.b64encode(hmac.new(key, ("%s.%s.%s" % (mid, ts, body)).encode(), hashlib.sha256).digest()).decode()
open(w + "/wh.body", "w").write(body)
json.dump({"webhook-id": mid, "webhook-timestamp": ts, "webhook-signature": "v1," + sig}, open(w + "/wh.headers", "w"))
PY
check "webhook accepted on node A" test "$(node "$A" webhook "$work/wh.body" "$work/wh.headers")" = accepted
out=$(node "$B" webhook "$work/wh.body" "$work/wh.headers" || true)
check "the same webhook replayed to node B is refused ($out)" like "$out" "*replay*"

# --- 5. database refusing: wrong password, unknown database, TLS refused -------------------------
echo "5. wrong password, unknown database, TLS refused"
W=$(conf nodeW inline); sed -i "s|$work/db.password|$work/wrong.password|" "$W"
U=$(conf nodeU inline); sed -i "s|/sfshop?|/nosuchdb?|" "$U"
T=$(conf nodeT inline); sed -i "s|^url = \"mysql://.*|url = \"mysql://sf@127.0.0.1:$dbport/sfshop\"\nca_file = \"$work/ca/rogue-ca.pem\"|; /^tls = /d" "$T"
wrong=$(head -n1 "$work/wrong.password")
oid=600000
for c in "W:$W:refused the credentials" "U:$U:unknown database" "T:$T:TLS refused"; do
  oid=$((oid + 1))
  n=${c%%:*}; rest=${c#*:}; f=${rest%%:*}; problem=${rest#*:}
  r=$(node "$f" orders main "$oid" 1 "$fixture" 2>&1 || true)
  check "$n: order returns queued (spooled): $r" like "$r" "evt_* queued spooled_on_this_node*"
  for what in status "auth oauth" "flush 10 5" info; do
    # shellcheck disable=SC2086
    out=$(node "$f" $what 2>&1 || true)
    host=localhost; [ "$n" = T ] && host=127.0.0.1
    check "$n: ${what%% *} names the host and the problem" bash -c "grep -q '$host' <<<\"\$1\" && grep -qi '$problem' <<<\"\$1\"" _ "$out"
    check "$n: ${what%% *} never shows a password" bash -c "! grep -qF -e '$db_pass' -e '$wrong' <<<\"\$1\"" _ "$out"
  done
done

echo "5b. tls = \"verify\" over TCP with the test CA"
V=$(conf nodeV inline); sed -i "s|^url = \"mysql://.*|url = \"mysql://sf@127.0.0.1:$dbport/sfshop\"\nca_file = \"$work/ca/ca.pem\"|; /^tls = /d" "$V"
ssl_before=$("${sf_db_client[@]}" -N -e "SHOW GLOBAL STATUS LIKE 'Ssl_accepts'" | awk '{print $2}')
r=$(node "$V" orders main 650000 1 "$fixture" 2>&1 || true)
check "a verified TLS connection: the order is delivered ($r)" like "$r" "evt_* delivered*"
check "the server accepted a TLS handshake" test \
  "$("${sf_db_client[@]}" -N -e "SHOW GLOBAL STATUS LIKE 'Ssl_accepts'" | awk '{print $2}')" -gt "$ssl_before"

# --- 6. a node with another outbox key ---------------------------------------------------------
echo "6. a node whose outbox key file differs"
K=$(conf nodeK inline); sed -i "s|$work/outbox.key|$work/other.key|" "$K"
out=$(node "$K" orders main 700000 1 "$fixture" 2>&1 || true)
check "refused with a ConfigException naming the key file ($out)" like "$out" "*ConfigException*other.key*differs*"
M=$(conf nodeM inline); sed -i "s|$work/outbox.key|$work/missing.key|" "$M"
out=$(node "$M" orders main 700001 1 "$fixture" 2>&1 || true)
check "a missing key file is a ConfigException, never generated" bash -c "[[ \$1 == *ConfigException* ]] && [ ! -e '$work/missing.key' ]" _ "$out"

# --- 7. dead letters, requeue, purge ------------------------------------------------------------
echo "7. dead letter, requeue, purge"
dead=$(node "$B" orders gone 800000 1 "$fixture" | awk '{print $1, $2}')
check "a 422 is a dead letter ($dead)" like "$dead" "* dead"
check "requeued from the other node" test "$(node "$A" requeue "${dead%% *}")" = true
check "the requeued event is queued again, fleet-wide" python3 -c '
import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s["destinations"]["gone"]["queued"] == 1 and s["dead"] == 0 else 1)' "$(node "$B" status)"
node "$A" orders main 800001 1 "$fixture" > /dev/null
rows() { "${sf_db_client[@]}" -N sfshop -e "SELECT COUNT(*) FROM secure_forward_events WHERE order_key IN ('800000', '800001')"; }
check "two rows before the purge" test "$(rows)" = 2
check "purge of 800000 from node B removes 1, of 800001 (as \"0800001\") from node A removes 1" \
  test "$(node "$B" purge 800000)/$(node "$A" purge 0800001)" = 1/1
check "the purged rows are gone from the database" test "$(rows)" = 0

# --- 8. sites, the deliveries listing, one event's erasure ---------------------------------------
echo "8. sites, deliveries, purge_event"
e1=$(node "$B" siteorder gone 810000 shop-a "$fixture"); e2=$(node "$B" siteorder gone 810000 shop-b "$fixture")
check "one order id from two sites is two dead letters ($e1 / $e2)" bash -c '[[ $1 == *" dead" && $2 == *" dead" && ${1%% *} != "${2%% *}" ]]' _ "$e1" "$e2"
sites() { "${sf_db_client[@]}" -N sfshop -e "SELECT GROUP_CONCAT(site ORDER BY site) FROM secure_forward_events WHERE order_key = '810000'"; }
check "each event stores its site in the shared database" test "$(sites)" = "shop-a,shop-b"
listed=$(node "$A" deliveries '{"order_id": 810000, "site": "shop-a"}')
check "deliveries from node A lists shop-a's event only ($listed)" python3 -c '
import json,sys; d=json.loads(sys.argv[1]); r=d["rows"]
sys.exit(0 if d["total"] == 1 and len(r) == 1 and r[0]["event_id"] == sys.argv[2] and r[0]["site"] == "shop-a" and r[0]["state"] == "dead" and r[0]["attempts"] == 1 and r[0]["last_attempt_at"] else 1)' "$listed" "${e1%% *}"
check "requeue of shop-a's event as shop-b is refused, as shop-a accepted" \
  test "$(node "$B" requeue "${e1%% *}" shop-b)/$(node "$B" requeue "${e1%% *}" shop-a)" = false/true
check "purge of order 810000 for shop-b removes shop-b's event only" test "$(node "$A" purge 810000 shop-b)" = 1
check "shop-a's event stays" test "$(sites)" = "shop-a"
check "purge_event erases shop-a's event (then there is none)" \
  test "$(node "$B" purge_event "${e1%% *}")/$(node "$A" purge_event "${e1%% *}")" = true/false
for i in 1 2 3 4 5; do node "$B" orders down $((820000 + i)) 1 "$fixture" > /dev/null; done
since() { "${sf_db_client[@]}" -N sfshop -e "SELECT since_ms IS NOT NULL AND since_ms = opened_at_ms FROM secure_forward_circuits WHERE destination = 'down'"; }
check "five 503s open the circuit; the database records since when" test "$(since)" = 1
circ=$(node "$A" status)
check "status on the other node shows the open circuit and since when" python3 -c '
import json,sys,time; g=json.loads(sys.argv[1])["destinations"]["down"]
sys.exit(0 if g["circuit"] == "open" and abs(g["circuit_opened_at"] - time.time()) < 120 else 1)' "$circ"
check "nothing of order 810000 is left" test "$("${sf_db_client[@]}" -N sfshop -e "SELECT COUNT(*) FROM secure_forward_events WHERE order_key = '810000'")" = 0

[ $fail = 0 ] && echo "mysql tests: all passed" || echo "mysql tests: FAILED"
exit $fail
