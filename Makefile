# jiaozi: one plain, non-recursive Makefile (STYLE.md).
#   make            build/jiaozi
#   make test       build and run every test; ends with "N passed, N failed"
#   make asan       the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      the ledger benchmark and its PostgreSQL peer, side by side
#   make run        serve with demo data (the README's first command)

CC       ?= cc
BUILD    ?= build
# The release build keeps ASSERT (always on) but skips the full invariant scan after every
# batch (NDEBUG); the test builds run it.
OPT      ?= -O2 -DNDEBUG
PKGS     := openssl sqlite3 jansson libh2o-evloop
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Werror
CFLAGS   += -std=c17 -D_GNU_SOURCE $(OPT) -g $(WARN) -MMD -MP -iquote src -iquote tests -Iinclude $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread -lm
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# The console's files, compiled in: ours from web/, uPlot from the npm registry (web/package-lock.json).
CONSOLE_ASSETS := index_html app_js app_css uplot_js uplot_css
UPLOT_DIST := web/node_modules/uplot/dist
CORE_SRC := $(filter-out src/main.c,$(wildcard src/*.c src/cli/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/openapi_json.o \
            $(CONSOLE_ASSETS:%=$(BUILD)/gen/console_%.o)
TEST_SRC := $(wildcard tests/*.c tests/unit/*.c tests/crash/*.c tests/fault/*.c tests/integration/*.c tests/fuzz/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test asan test-run test-deps bench bench-api run clean deps fuzz
all: $(BUILD)/jiaozi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# Documents compiled into the binary.
$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror $< -o $@

$(BUILD)/gen/openapi_json.c: docs/openapi.json $(BUILD)/tools/embed
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed openapi_json $< $@

$(BUILD)/gen/openapi_json.o: $(BUILD)/gen/openapi_json.c
	$(CC) $(CFLAGS) -c $< -o $@

$(UPLOT_DIST)/uPlot.iife.min.js $(UPLOT_DIST)/uPlot.min.css: web/package-lock.json
	bash scripts/deps.sh --web
	cd web && npm ci --no-audit --no-fund --silent
	@touch $(UPLOT_DIST)/uPlot.iife.min.js $(UPLOT_DIST)/uPlot.min.css

console_src_index_html := web/index.html
console_src_app_js := web/app.js
console_src_app_css := web/app.css
console_src_uplot_js := $(UPLOT_DIST)/uPlot.iife.min.js
console_src_uplot_css := $(UPLOT_DIST)/uPlot.min.css

.SECONDEXPANSION:
$(CONSOLE_ASSETS:%=$(BUILD)/gen/console_%.c): $(BUILD)/gen/console_%.c: $$(console_src_$$*) $(BUILD)/tools/embed
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed console_$* $< $@

$(CONSOLE_ASSETS:%=$(BUILD)/gen/console_%.o): %.o: %.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libjzcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/jiaozi: $(BUILD)/src/main.o $(BUILD)/libjzcore.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/jz_tests: $(TEST_OBJ) $(BUILD)/libjzcore.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# TEST_ARGS passes options to the runner, e.g. make test TEST_ARGS="--kills 500".
test: deps test-deps
	$(MAKE) fuzz FUZZ_SECONDS=1
	$(MAKE) BUILD=build/test OPT=-O2 test-run

asan: deps test-deps
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    $(MAKE) BUILD=build/asan OPT="-O1 $(SAN)" test-run

# Tools the tests run against the server: promtool, an OpenAPI validator from npm, and
# playwright-core driving Debian's chromium for the console's browser test.
test-deps:
	bash scripts/deps.sh --test
	cd tests/openapi && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; }
	cd tests/console && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; }
	cd tests/interop && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; }

test-run: $(BUILD)/jz_tests $(BUILD)/jiaozi $(BUILD)/examples/jzcard_selftest
	JZ_BIN=$(abspath $(BUILD)/jiaozi) $(BUILD)/jz_tests $(TEST_ARGS)

bench:
	bash scripts/deps.sh --bench
	$(MAKE) $(BUILD)/jiaozi
	bash bench/run.sh

# The API's load benchmark beside nginx on the same connections (bench/api_README.md).
bench-api:
	bash scripts/deps.sh --bench
	$(MAKE) $(BUILD)/jiaozi
	bash bench/api_bench.sh

# The main job: a server on ./jiaozi-data (127.0.0.1:8080) with the demo pilot loaded through
# its API, left serving the API and the console until Ctrl-C (which stops it cleanly).
run: deps
	$(MAKE) $(BUILD)/jiaozi
	$(BUILD)/jiaozi demo --data jiaozi-data --serve

deps:
	bash scripts/deps.sh

clean:
	rm -rf build

# libjzcard: the hard wallet's secure-element emulator alone (src/jzcard.h), no server in it.
JZCARD_OBJ := $(addprefix $(BUILD)/src/,jzcard.o voucher.o crypto_x509.o crypto.o common.o io.o)
$(BUILD)/libjzcard.a: $(JZCARD_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/examples/jzcard_selftest: examples/jzcard_selftest.c $(BUILD)/libjzcard.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ -lssl -lcrypto

# libFuzzer harnesses of the offline decoders (tests/fuzz): `make fuzz` runs each for
# FUZZ_SECONDS (60); `make test` for 1 s each.
FUZZERS  := voucher challenge command cert
FUZZ_LIB := src/voucher.c src/crypto_x509.c src/crypto.c src/common.c
build/fuzz/%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) $(wildcard src/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -DJZ_LIBFUZZER $(WARN) \
		-iquote src -iquote tests $(filter %.c,$^) -o $@ $(PKG_LIBS)
fuzz: $(FUZZERS:%=build/fuzz/%)
	for f in $(FUZZERS); do mkdir -p build/fuzz/corpus-$$f && \
		{ build/fuzz/$$f -max_total_time=$${FUZZ_SECONDS:-60} -max_len=4096 \
		build/fuzz/corpus-$$f > build/fuzz/$$f.log 2>&1 || { tail -40 build/fuzz/$$f.log; exit 1; }; } && \
		echo "fuzz $$f: $$(grep -c . build/fuzz/$$f.log) lines of log, $$(tail -1 build/fuzz/$$f.log)"; done

include sdk/sdk.mk

-include $(CORE_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/src/main.d
