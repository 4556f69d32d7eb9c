# Build, set up and test the pilot-declaration host. `make run` and
# `make test` install what is missing first (Debian packages, npm ci).

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	       -Wwrite-strings -Werror
PG_INC   = $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
CPPFLAGS = -D_GNU_SOURCE -I/usr/include/lua5.4 -I$(PG_INC) -Ihost -Ibuild
LDLIBS   = -lcivetweb -llua5.4 -llua5.4-cjson -lsqlite3 -lpq -lsodium -ledit \
	       -lxlsxwriter -lzip -lexpat -lgumbo -lpthread -lm
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer

SRC      = $(filter-out host/main.c,$(wildcard host/*.c))
OBJ      = $(SRC:host/%.c=build/%.o)
SAN_OBJ  = $(SRC:host/%.c=build/san/%.o)
UNIT     = $(wildcard tests/unit/test_*.c) tests/unit/main.c

APT_PKGS = gcc make libcivetweb-dev liblua5.4-dev lua-cjson-dev \
	       libsqlite3-dev libpq-dev postgresql-15 libsodium-dev libedit-dev libxlsxwriter-dev \
	       libzip-dev libexpat1-dev libgumbo-dev lua-check lua5.4 nginx openssl nodejs chromium firefox-esr fonts-wqy-microhei
PORT    ?= 8080

.PHONY: all deps run test test-unit test-rules test-api test-e2e sanitize \
	    fmt web bench bench-scale clean

all: bin/host

build/%.o: host/%.c $(wildcard host/*.h)
	@mkdir -p build
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

bin/host: $(OBJ) build/main.o
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The rule contract (scripts/rules_contract.lua) compiled into the sandbox
# as a C string: one source for the platform and the evaluators.
build/rules_contract.inc: scripts/rules_contract.lua
	@mkdir -p build
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@

build/sandbox_contract.o build/san/sandbox_contract.o: build/rules_contract.inc

build/san/%.o: host/%.c $(wildcard host/*.h)
	@mkdir -p build/san
	$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WARN) -c -o $@ $<

bin/host-san: $(SAN_OBJ) build/san/main.o
	@mkdir -p bin
	$(CC) -g $(SAN) -o $@ $^ $(LDLIBS)

bin/unit: $(UNIT) $(OBJ) $(wildcard tests/unit/*.h)
	@mkdir -p bin
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Itests/unit -o $@ $(UNIT) $(OBJ) $(LDLIBS)

bin/unit-san: $(UNIT) $(SAN_OBJ) $(wildcard tests/unit/*.h)
	@mkdir -p bin
	$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WARN) -Itests/unit -o $@ $(UNIT) $(SAN_OBJ) $(LDLIBS)

# Installs what is missing: Debian packages (as root, apt-get) and the npm
# packages of package-lock.json (npm ci).
deps: node_modules/.ci-stamp
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" \
	    || missing="$$missing $$p"; done; \
	if ! command -v npm >/dev/null; then missing="$$missing npm"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq $$missing; \
	fi

node_modules/.ci-stamp: package.json package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm)
	npm ci --no-audit --no-fund
	@touch $@

web/dist/index.html: node_modules/.ci-stamp $(shell find web -path web/dist -prune -o -type f -print 2>/dev/null)
	npm run build

web: web/dist/index.html

run: deps bin/host web
	bin/host migrate
	bin/host seed --demo
	bin/host serve --port $(PORT)

# The API suite runs twice: on a SQLite file, then on a throwaway PostgreSQL
# cluster served by two instances, each request to the other in turn.
test: deps bin/host bin/unit web
	bin/unit
	bin/host rules test
	node tests/api/run.mjs
	HOST_TEST_DB=pg node tests/api/run.mjs
	node tests/e2e/run.mjs

test-api: bin/host web
	node tests/api/run.mjs
	HOST_TEST_DB=pg node tests/api/run.mjs

test-unit: bin/unit
	bin/unit

test-rules: bin/host
	bin/host rules test

sanitize: deps bin/host-san bin/unit-san
	ASAN_OPTIONS=detect_leaks=1 bin/unit-san
	HOST_BIN=bin/host-san node tests/api/run.mjs
	HOST_BIN=bin/host-san HOST_TEST_DB=pg node tests/api/run.mjs

# Figures as ratios to anchors measured in the same run (tests/bench/);
# BENCH_SECONDS bounds each figure.
bench: deps bin/host bin/bench-rule
	tests/bench/run.sh

bench-scale: deps bin/host
	tests/bench/scale.sh

# One rule evaluation in process, for callgrind (tests/bench/callgrind.sh).
bin/bench-rule: tests/bench/rule_eval.c $(OBJ)
	@mkdir -p bin
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(OBJ) $(LDLIBS)

fmt:
	clang-format -i host/*.c host/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf build bin web/dist
