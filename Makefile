# spamlab top-level Makefile.
#
#   make deps      install the Debian packages spamlab needs (root)
#   make           build the extension and ingestd
#   make install   install the extension into the server, ingestd into $(PREFIX)
#   make check     deps, build, then every test layer, ending "N passed, N failed"
#   make demo      the main job on a private cluster under ./var; make stop ends it
#   make db        apply sql/ migrations to the demo cluster
#   make notebook  Jupyter on notebooks/, against the demo database
#   make lint      clang-format check and cppcheck;  make fmt reformats
#   make fuzz      run the libFuzzer targets (FUZZ_SECONDS each)
#   make geoip-db  fetch free GeoIP databases (npm registry) into var/geoip
#                  and point the demo cluster at them (network; not in check)

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PREFIX ?= /usr/local
export PG_CONFIG

C_SOURCES = $(shell tools/lint --list)

.PHONY: all deps install check installcheck unittest lint fmt demo stop db \
	psql notebook fuzz bench geoip-db clean

all:
	$(MAKE) -C extension
	$(MAKE) -C ingestd

deps:
	@tools/deps

install: all
	$(MAKE) -C extension install
	$(MAKE) -C ingestd install PREFIX=$(PREFIX)

check: deps
	@$(MAKE) -s all >/dev/null
	@tests/run-all

installcheck: all
	tests/pgtmp run -- $(MAKE) -C extension installcheck

unittest:
	$(MAKE) -C ingestd unittest

lint:
	@tools/lint

fmt:
	clang-format -i $(C_SOURCES)

demo: deps
	@$(MAKE) -s all >/dev/null
	@$(MAKE) -s -C extension install >/dev/null
	@tools/demo

stop:
	@tools/democluster stop

db:
	@tools/democluster start
	@eval "$$(tools/democluster env)" && sql/migrate

psql:
	@eval "$$(tools/democluster env)" && psql

notebook:
	@tools/democluster start
	@eval "$$(tools/democluster env)" && \
	SPAMLAB_DSN="host=$$PGHOST port=$$PGPORT dbname=spamlab user=postgres" \
	SPAMLAB_FIGURES=$(CURDIR)/var/figures \
	jupyter notebook --ip=127.0.0.1 --no-browser --allow-root \
		--notebook-dir=$(CURDIR)/notebooks

fuzz:
	@tests/fuzz $(FUZZ_SECONDS)

geoip-db:
	@tools/geoip-db

bench:
	@for b in bench/*; do [ -x "$$b" ] && [ -f "$$b" ] && "$$b" --quick; done

clean:
	$(MAKE) -C extension clean
	$(MAKE) -C ingestd clean
