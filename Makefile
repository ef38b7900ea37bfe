# secure_forward — the two set-up commands on a fresh Debian 12 / Ubuntu machine:
#   make demo    build, start a local HTTPS receiver with a fresh test CA, forward a sample order
#   make test    install what is missing, build, run every test (Rust core + PHPUnit + WordPress)
SHELL := /bin/bash
.DEFAULT_GOAL := build
# One shell setup for every cargo call: ext-php-rs's build script re-runs when PATH changes.
export PATH := $(HOME)/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export CARGO_TERM_PROGRESS_WHEN := never

PHP        ?= php
SO         := target/release/libsecure_forward.so
SO_DEBUG   := target/debug/libsecure_forward.so
FIXTURES   ?= $(abspath ../shared/fixtures/woocommerce-10.0.2)
APT_BUILD  := php8.2-cli php8.2-dev libclang-dev clang phpunit python3 openssl
APT_WP     := wordpress mariadb-server php8.2-mysql
APT_BENCH  := nginx-light php8.2-curl
APT_LEAK   := valgrind

# Browser test of the wp-admin screens (tests/browser/run.sh installs Debian's chromium,
# chromium-driver, python3-selenium; starts its own php -S, MariaDB, receiver).
test-browser: build deps-wp
	SF_EXTENSION=$(abspath $(SO)) SF_FIXTURES=$(FIXTURES) bash tests/browser/run.sh

.PHONY: test-browser test-residue test-leak bench-prepare build debug deps deps-wp demo test test-rust test-php test-stubs test-wordpress install lint bench fuzz clean

# Installs Debian packages that are missing (as root; otherwise says what to run).
define apt_ensure
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing: $$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing packages: $$missing — run: sudo apt-get install $$missing"; exit 1; fi; \
	fi
endef

deps:
	$(call apt_ensure,$(APT_BUILD))
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first"; exit 1; }
	@command -v php-config >/dev/null || { echo "php-config not found: apt-get install php8.2-dev"; exit 1; }

deps-wp:
	$(call apt_ensure,$(APT_WP))

build: deps
	cargo build --release --locked -p secure_forward
	@ls -l $(SO)

debug: deps
	cargo build --locked -p secure_forward

demo: build
	@bash tools/demo.sh $(SO) $(FIXTURES)

test: build test-rust test-php test-residue test-leak test-wordpress test-browser
	@echo "make test: all suites passed"

test-rust: deps
	cargo test --locked -p secure_forward_core

test-php: build
	bash tests/php/run.sh $(abspath $(SO)) $(FIXTURES)

test-residue: build
	bash tests/residue/run.sh $(abspath $(SO)) $(FIXTURES)

# valgrind memcheck over ROUNDS x 8 calls (default 400: 3,200 calls, ~40 s).
test-leak: build
	$(call apt_ensure,$(APT_LEAK))
	bash tests/leak/run.sh $(abspath $(SO)) $(FIXTURES)

test-wordpress: build deps-wp
	@if [ -x tests/wordpress/run.sh ]; then SF_EXTENSION=$(abspath $(SO)) SF_FIXTURES=$(FIXTURES) bash tests/wordpress/run.sh; \
	else echo "no WordPress suite yet"; fi

lint: deps
	cargo clippy --locked --all-targets -- -D warnings

EXT_DIR = $(shell php-config --extension-dir)
INI_DIR = /etc/php/8.2/mods-available
FPM_USER ?= www-data
install: build
	install -m 0755 $(SO) $(EXT_DIR)/secure_forward.so
	install -d -m 0755 /etc/secure-forward
	install -d -m 0700 -o $(FPM_USER) -g $(FPM_USER) /var/lib/secure-forward
	printf '; priority=20\nextension=secure_forward.so\nsecure_forward.config=/etc/secure-forward/config.toml\n' > $(INI_DIR)/secure_forward.ini
	phpenmod secure_forward
	@echo "installed; now write /etc/secure-forward/config.toml (see README) and restart PHP-FPM"

clean:
	cargo clean

bench-prepare: build
	bash tools/bench-prepare.sh $(SO) $(FIXTURES)

# cargo-fuzz targets (fuzz/): order validation + policy, inbound webhook headers.
# Bounded run, not part of `make test`. FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@rustup toolchain list | grep -q nightly || { echo "cargo fuzz needs the nightly toolchain: rustup toolchain install nightly"; exit 1; }
	cd fuzz && for t in policy webhook; do \
	  mkdir -p corpus/$$t && cargo +nightly fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	done

# One table of figures against a local nginx HTTPS receiver (not part of `make test`).
bench: build
	$(call apt_ensure,$(APT_BENCH))
	bash tools/bench.sh $(SO) $(FIXTURES)
