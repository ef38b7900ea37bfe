#!/usr/bin/env bash
# make test-install: make install and make uninstall into a staging root (DESTDIR), so the
# machine is not touched. Checks what lands where, that uninstall removes exactly that,
# and that it keeps /etc/secure-forward and the outbox directory and says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=$(mktemp -d /tmp/sf-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
ext=$(php-config --extension-dir)
user=$(id -un)
cd "$root"
make -s install DESTDIR="$dest" FPM_USER="$user" >"$dest.log" 2>&1 || { cat "$dest.log"; rm -f "$dest.log"; exit 1; }
rm -f "$dest.log"
ini=$dest/etc/php/8.2/mods-available/secure_forward.ini
cmp -s target/release/libsecure_forward.so "$dest$ext/secure_forward.so" || { echo "install: no secure_forward.so in $ext"; exit 1; }
grep -qx 'extension=secure_forward.so' "$ini" || { echo "install: $ini does not load the extension"; exit 1; }
grep -qx 'secure_forward.config=/etc/secure-forward/config.toml' "$ini" || { echo "install: $ini does not name the configuration"; exit 1; }
[ -d "$dest/etc/secure-forward" ] || { echo "install: no /etc/secure-forward"; exit 1; }
[ "$(stat -c %a "$dest/var/lib/secure-forward")" = 700 ] || { echo "install: /var/lib/secure-forward is not 0700"; exit 1; }
# What the operator would have written meanwhile.
echo '# operator config' > "$dest/etc/secure-forward/config.toml"
echo 'queued' > "$dest/var/lib/secure-forward/outbox.sqlite"
out=$(make -s uninstall DESTDIR="$dest" 2>&1)
[ ! -e "$dest$ext/secure_forward.so" ] || { echo "uninstall: secure_forward.so is still there"; exit 1; }
[ ! -e "$ini" ] || { echo "uninstall: $ini is still there"; exit 1; }
[ -f "$dest/etc/secure-forward/config.toml" ] && [ -f "$dest/var/lib/secure-forward/outbox.sqlite" ] \
  || { echo "uninstall removed the configuration or the outbox"; exit 1; }
grep -q 'left in place: .*/etc/secure-forward' <<<"$out" || { echo "uninstall does not say what it kept: $out"; exit 1; }
left=$(cd "$dest" && find . -type f | sort | tr '\n' ' ')
[ "$left" = "./etc/secure-forward/config.toml ./var/lib/secure-forward/outbox.sqlite " ] \
  || { echo "uninstall left other files: $left"; exit 1; }
echo "install/uninstall: staged install complete; uninstall removes it and keeps the configuration and the outbox"
