#!/usr/bin/env bash
# make test-phpize: the PECL / PIE build path (config.m4 + Makefile.frag). Copies the
# tracked tree to a temporary directory (what a source package holds), runs
#   phpize && ./configure && make && make install INSTALL_ROOT=<staging>
# with cargo's target directory pointed at this repository's target/ (so only the
# binding is rebuilt, not every dependency), then checks that the module loads, that
# a configuration file which does not exist yet is not a startup warning while a broken
# one is, and that make install put secure_forward.so into PHP's extension directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/sf-phpize.XXXXXX)
trap '[ -n "${SF_KEEP:-}" ] || rm -rf "$work"' EXIT
src=$work/secure_forward
mkdir -p "$src"
# Tracked and new (not ignored) files, with their modification times.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$src"
cd "$src"
phpize >"$work/phpize.log" 2>&1 || { cat "$work/phpize.log"; echo "phpize failed"; exit 1; }
CARGO_TARGET_DIR="$root/target" ./configure >"$work/configure.log" 2>&1 || { tail -30 "$work/configure.log"; echo "configure failed"; exit 1; }
grep -q '^checking for PHP 8.2 or later... yes' "$work/configure.log" || { echo "configure did not check the PHP version"; exit 1; }
make >"$work/make.log" 2>&1 || { tail -30 "$work/make.log"; echo "make failed"; exit 1; }
so=$src/modules/secure_forward.so
[ -f "$so" ] || { echo "make did not produce modules/secure_forward.so"; exit 1; }
php -n -d extension="$so" -m | grep -qx secure_forward || { echo "modules/secure_forward.so does not load"; exit 1; }
echo "phpize build: modules/secure_forward.so loads"

# No configuration yet: silent. A broken one: a startup warning naming the file.
out=$(php -n -d extension="$so" -d secure_forward.config=/nonexistent/config.toml -d display_startup_errors=1 -r '' 2>&1)
[ -z "$out" ] || { echo "a missing configuration printed: $out"; exit 1; }
printf '[destinations.default]\nurl = "https://x.example/"\nsurprise = 1\n' > "$work/broken.toml"
out=$(php -n -d extension="$so" -d secure_forward.config="$work/broken.toml" -d display_startup_errors=1 -r '' 2>&1)
grep -q "secure_forward: configuration error in $work/broken.toml" <<<"$out" \
  || { echo "a broken configuration did not warn at startup: $out"; exit 1; }
echo "phpize build: no warning without a configuration file, a warning for a broken one"

make install INSTALL_ROOT="$work/root" >"$work/install.log" 2>&1 || { cat "$work/install.log"; echo "make install failed"; exit 1; }
installed=$work/root$(php-config --extension-dir)/secure_forward.so
cmp -s "$so" "$installed" || { echo "make install did not put secure_forward.so at $installed"; exit 1; }
echo "phpize build: make install puts secure_forward.so in $(php-config --extension-dir)"
