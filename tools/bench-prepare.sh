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
php -d extension="$so" -d secure_forward.config="$work/config.toml" "$root/tools/bench-prepare.php" "$fixtures" "${ROUNDS:-20000}" "$work/pepper"
