#!/usr/bin/env bash
# make bench-prepare: config + pepper for tools/bench-prepare.php, then run it.
set -euo pipefail
so=$(realpath "$1"); fixtures=$(realpath "$2"); root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/sf-bench-prepare.XXXXXX); trap 'rm -rf "$work"' EXIT
(umask 077; head -c 32 /dev/urandom > "$work/pepper")
cat > "$work/config.toml" <<TOML
[destinations.default]
url = "https://localhost/"

[destinations.crm]
url = "https://localhost/"
[destinations.crm.policy]
fields = ["id", "number", "status", "currency", "total", "billing.country", "billing.email", "billing.phone",
          "line_items[].sku", "line_items[].quantity", "line_items[].total"]
pseudonymize = ["billing.email"]
mask = { "billing.phone" = 2 }
pepper_file = "$work/pepper"

[outbox]
path = "$work/outbox.sqlite"
TOML
# Issue #18: the recipes of docs/recipes.md (shaped) and the same destinations without a body.
for flag in "" --unshaped; do
  python3 "$root/tests/php/scripts/recipes-config.py" "$root/docs/recipes.md" 443 "$work" $flag >> "$work/config.toml"
done
php_sf=(php -d extension="$so" -d secure_forward.config="$work/config.toml")
if [ "${CALLGRIND:-0}" = 1 ]; then
  # Instructions per order (valgrind's callgrind; repeatable on a busy machine): each
  # implementation is run N and 0 times over the fixtures, the difference cancels start-up.
  command -v valgrind >/dev/null || { echo "CALLGRIND=1 needs valgrind (apt-get install valgrind)" >&2; exit 1; }
  n=${CALLGRIND_N:-500}; count=$(ls "$fixtures"/order-*.json | wc -l)
  ir() { valgrind --tool=callgrind --dump-instr=no --callgrind-out-file=/dev/null "${php_sf[@]}" \
           "$root/tools/callgrind-prepare.php" "$fixtures" "$2" "$1" "$work/pepper" 2>&1 \
         | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
  declare -A per
  impls=(rust php-same php-fast rust-crm php-crm)
  shaped=(hubspot klaviyo shipstation)
  for d in "${shaped[@]}"; do impls+=("rust-$d" "rust-$d-raw"); done
  impls+=(php-shipstation)
  for impl in "${impls[@]}"; do
    per[$impl]=$(( ($(ir "$impl" "$n") - $(ir "$impl" 0)) / (n * count) ))
  done
  printf '%-10s %12s %9s\n' implementation 'instr/order' 'PHP/Rust'
  for impl in rust php-same php-fast; do
    printf '%-10s %12d %9s\n' "$impl" "${per[$impl]}" "$([ "$impl" = rust ] || awk -v a="${per[$impl]}" -v b="${per[rust]}" 'BEGIN{printf "%.2fx", a/b}')"
  done
  for impl in rust-crm php-crm; do
    printf '%-10s %12d %9s\n' "$impl" "${per[$impl]}" "$([ "$impl" = rust-crm ] || awk -v a="${per[$impl]}" -v b="${per[rust-crm]}" 'BEGIN{printf "%.2fx", a/b}')"
  done
  echo
  printf '%-22s %12s %12s %9s %9s\n' 'shaped (issue #18)' 'instr/order' 'unshaped' 'ratio' 'PHP/Rust'
  for d in "${shaped[@]}"; do
    php_col=-
    [ "$d" = shipstation ] && php_col=$(awk -v a="${per[php-shipstation]}" -v b="${per[rust-$d]}" 'BEGIN{printf "%.2fx", a/b}')
    printf '%-22s %12d %12d %9s %9s\n' "$d" "${per[rust-$d]}" "${per[rust-$d-raw]}" \
      "$(awk -v a="${per[rust-$d]}" -v b="${per[rust-$d-raw]}" 'BEGIN{printf "%.2fx", a/b}')" "$php_col"
  done
  printf '%-22s %12d\n' 'php-shipstation' "${per[php-shipstation]}"
  echo "unshaped = the same destination's policy without its body; default policy: ${per[rust]} instr/order"
  echo "goal: shaped <= 1.5x unshaped, PHP/Rust >= 2x"
  exit 0
fi
"${php_sf[@]}" "$root/tools/bench-prepare.php" "$fixtures" "${ROUNDS:-20000}" "$work/pepper"
