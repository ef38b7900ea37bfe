#!/usr/bin/env bash
# What zero key residue costs: instructions (callgrind, repeatable) and µs (wall
# clock, noisy) per secure_forward_prepare() and per secure_forward_order() over
# real HTTPS (keep-alive), for each extension given; "key" is
# secure_forward_auth_check(): the key loaded from key_file and dropped, no network. The wall clock of an order
# is mostly tests/support/receiver.py's answer time, so only prepare's is shown.
# usage: tools/bench-residue.sh FIXTURES LABEL=path/to/libsecure_forward.so ...
set -euo pipefail
fixtures=$(realpath "$1"); shift
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/support/testlib.sh"
sf_work bench-residue
(umask 077; printf 'sk_live_%s' "$(sf_random)" > "$work/api.key")
sf_receiver /dev/null 3600
cat > "$work/config.toml" <<TOML
[destinations.default]
url = "https://localhost:$port/ok"
key_file = "$work/api.key"
ca_file = "$work/ca/ca.pem"
timeout_ms = 60000

[outbox]
path = "$work/outbox.sqlite"

[audit]
path = "$work/audit.jsonl"
TOML
# Instructions of the whole PHP process (callgrind totals) for N calls.
instr() { # so kind n
  rm -f "$work"/cg.out*
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    php -n -d extension="$1" -d secure_forward.config="$work/config.toml" \
    "$root/tools/bench-residue.php" "$fixtures" "$2" "$3" >/dev/null 2>&1
  awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out"
}
printf '%-12s %-8s %14s %10s\n' build call "instr/call" "µs/call"
for spec in "$@"; do
  label=${spec%%=*}; so=$(realpath "${spec#*=}")
  for kind in prepare key order; do
    n=200; [ "$kind" = order ] && n=${ORDER_ROUNDS:-400}
    lo=$(instr "$so" "$kind" 20); hi=$(instr "$so" "$kind" $((20 + n)))
    us=-
    [ "$kind" != order ] && us=$(php -n -d extension="$so" -d secure_forward.config="$work/config.toml" \
      "$root/tools/bench-residue.php" "$fixtures" "$kind" "${WALL_ROUNDS:-20000}")
    printf '%-12s %-8s %14s %10s\n' "$label" "$kind" "$(( (hi - lo) / n ))" "$us"
  done
done
