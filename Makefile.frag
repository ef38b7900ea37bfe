# Added to the Makefile that `phpize && ./configure` writes (see config.m4): builds the
# Rust extension with cargo, which decides itself what is out of date.
.PHONY: secure_forward-cargo

secure_forward-cargo:
	cd $(srcdir) && $(SF_CARGO_ENV) CARGO_TARGET_DIR="$(SF_CARGO_TARGET_DIR)" \
	  "$(CARGO)" build --release --locked -p secure_forward

$(phplibdir)/secure_forward.so: secure_forward-cargo
	@mkdir -p $(phplibdir)
	cp "$(SF_CARGO_TARGET_DIR)/release/libsecure_forward.so" $@

