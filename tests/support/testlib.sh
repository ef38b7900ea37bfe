# Shared by every shell test driver, the demo and the benchmarks (source it after
# `set -euo pipefail` and after setting $root, the repository): a work directory
# removed on exit with every server started by sf_receiver killed, the test CA,
# random secrets, a real HTTPS receiver (tests/support/receiver.py).

# sf_work NAME: sets $work (a new temporary directory) and the exit trap.
sf_work() {
  work=$(mktemp -d "/tmp/sf-$1.XXXXXX")
  sf_pids=()
  trap 'sf_stop; rm -rf "$work"' EXIT
  sf_ca "$work/ca"
}

# sf_ca DIR: the test CA and its certificates (tests/support/make-test-ca.sh) in DIR.
sf_ca() { "$root/tests/support/make-test-ca.sh" "$1" >/dev/null; }

# sf_stop: kills every receiver started by sf_receiver (for drivers with their own trap).
sf_stop() { local p; [ -v sf_pids ] || return 0; for p in "${sf_pids[@]}"; do kill "$p" 2>/dev/null || true; done; }

# sf_random: 24 random bytes as hex (for keys and secrets made at run time).
sf_random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# sf_receiver LOG MAX_SECONDS [receiver.py options...]: starts tests/support/receiver.py
# with the test CA's server certificate ($SF_CERT names another one of $work/ca,
# e.g. SF_CERT=rogue); sets $port once it listens.
sf_receiver() {
  local log=$1 max=$2 cert=${SF_CERT:-server}; shift 2
  [ -v sf_pids ] || sf_pids=()
  rm -f "$work/port"
  python3 "$root/tests/support/receiver.py" --cert "$work/ca/$cert.pem" --key "$work/ca/$cert.key" \
    --port-file "$work/port" --log "$log" --max-seconds "$max" "$@" >/dev/null &
  sf_pids+=($!)
  for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || { echo "receiver.py did not start" >&2; return 1; }
  port=$(cat "$work/port")
}
