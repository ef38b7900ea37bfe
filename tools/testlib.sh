# Shared by the shell test and benchmark drivers (source it after `set -euo pipefail`
# and after setting $root): a work directory removed on exit with every server
# started by sf_receiver killed, the test CA, random secrets, a real HTTPS receiver.

# sf_work NAME: sets $work (a new temporary directory) and the exit trap.
sf_work() {
  work=$(mktemp -d "/tmp/sf-$1.XXXXXX")
  sf_pids=()
  trap 'for p in "${sf_pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
  "$root/tools/make-test-ca.sh" "$work/ca" >/dev/null
}

# sf_random: 24 random bytes as hex (for keys and secrets made at run time).
sf_random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# sf_receiver LOG MAX_SECONDS [receiver.py options...]: starts tools/receiver.py
# with the test CA's server certificate; sets $port once it listens.
sf_receiver() {
  local log=$1 max=$2; shift 2
  rm -f "$work/port"
  python3 "$root/tools/receiver.py" --cert "$work/ca/server.pem" --key "$work/ca/server.key" \
    --port-file "$work/port" --log "$log" --max-seconds "$max" "$@" >/dev/null &
  sf_pids+=($!)
  for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || { echo "receiver.py did not start" >&2; return 1; }
  port=$(cat "$work/port")
}
