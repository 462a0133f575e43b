# amicd — build, test, run and benchmark with plain make.
#
#   make                 build build/amicd (installs missing -dev packages first, as root)
#   make test            unit + integration tests
#   make SANITIZE=address,undefined test   the same under ASan/UBSan, built in build/sanitize
#   make run             serve examples/amicd.yml, database under var/
#   make demo            the example config end to end: fixture deliveries in, a promotion and its
#                        trigger out (temp dir and free port; var/ untouched)
#   make bench           wrk against amicd, a bare libmicrohttpd server and adnanh/webhook;
#                        the promotion latency; the reconciler against fake GitLab/EC2;
#                        10/100/1,000 ASGs: worker events/s, promotion latency, a reconcile pass;
#                        growth with history (GROWTH_EVENTS, GROWTH_AMIS, GROWTH_SECONDS)
#   make fuzz            every libFuzzer harness for FUZZ_SECONDS (clang; installed as needed)
#   make install         PREFIX=/usr/local DESTDIR=
.DELETE_ON_ERROR:
.SUFFIXES:
.DEFAULT_GOAL := all

PREFIX  ?= /usr/local
DESTDIR ?=
SANITIZE ?=
BUILD   ?= $(if $(SANITIZE),build/sanitize,build)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

# Only src/version.c sees the version (per-object flags: DEFS_<name>). It is
# rebuilt when VERSION changes or when the git revision does: the revision is
# kept in $(GIT_REV_STAMP), rewritten here, as the Makefile is read, only when
# it differs, so an unchanged revision rebuilds nothing.
DEFS_version  := -DAMICD_VERSION='"$(VERSION)"' -DAMICD_GIT_REV='"$(GIT_REV)"'
GIT_REV_STAMP := $(BUILD)/git-rev
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),all)),)
$(shell mkdir -p $(BUILD) && [ "$$(cat $(GIT_REV_STAMP) 2>/dev/null)" = '$(GIT_REV)' ] || echo '$(GIT_REV)' > $(GIT_REV_STAMP))
endif

PKGS      := libmicrohttpd libcurl openssl jansson yaml-0.1 sqlite3 expat
TEST_PKGS := cmocka

# pkg-config runs on first use, i.e. after scripts/deps.sh has installed the
# packages (objects depend on the deps step), and its answer is then cached.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)
TEST_CFLAGS = $(eval TEST_CFLAGS := $$(shell pkg-config --cflags $(TEST_PKGS)))$(TEST_CFLAGS)
TEST_LIBS   = $(eval TEST_LIBS := $$(shell pkg-config --libs $(TEST_PKGS)))$(TEST_LIBS)

CC      ?= cc
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla
SAN_FLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SAN_FLAGS) -D_GNU_SOURCE -pthread -MMD -MP \
             -Isrc $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS) -pthread

SRC      := $(filter-out src/main.c,$(wildcard src/*.c))
OBJ      := $(SRC:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/migrations.gen.o
MIGRATIONS := $(sort $(wildcard migrations/*.sql))

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/%)
HARNESS_OBJ := $(BUILD)/obj/tests/harness.o
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz_replay_%)

.PHONY: all deps test unit integration run demo bench install clean check-config fuzz

all: $(BUILD)/amicd

# One deps step per make run (parallel apt-get calls would fight over the dpkg
# lock); what it installs follows the goal.
DEPS_LEVEL := $(if $(filter bench,$(MAKECMDGOALS)),bench,$(if $(filter fuzz,$(MAKECMDGOALS)),fuzz,$(if $(filter test unit integration,$(MAKECMDGOALS)),test,build)))
deps:
	@scripts/deps.sh $(DEPS_LEVEL)

$(BUILD)/obj/%.o: src/%.c | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(DEFS_$*) -c -o $@ $<

$(BUILD)/obj/version.o: $(wildcard VERSION) $(GIT_REV_STAMP)

$(GIT_REV_STAMP): # missing only when build/ went away after the Makefile was read (make clean all)
	@mkdir -p $(@D)
	@echo '$(GIT_REV)' > $@

$(BUILD)/gen/migrations.gen.c: $(MIGRATIONS) scripts/embed-migrations.sh
	@mkdir -p $(@D)
	$(Q)scripts/embed-migrations.sh $(MIGRATIONS) > $@

$(BUILD)/obj/migrations.gen.o: $(BUILD)/gen/migrations.gen.c | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libamicd.a: $(OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@ $^

$(BUILD)/amicd: $(BUILD)/obj/main.o $(BUILD)/libamicd.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# --- tests -------------------------------------------------------------------
# Per-test link flags (fakes by -Wl,--wrap=) go in WRAP_<name>. Every unit test
# links the support objects (tests/unit/*.c that are not test_*.c): the shared
# scaffolding (support.c), the fault VFS and the AWS fakes' SigV4 verifier
# (sigv4.c). Every integration test links the harness and those same objects.
UNIT_SUPPORT_SRC := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
UNIT_SUPPORT_OBJ := $(UNIT_SUPPORT_SRC:tests/unit/%.c=$(BUILD)/obj/tests/%.o)
# test_awsxml fails allocations on purpose (its own and, through awsxml's memory suite, expat's)
WRAP_test_awsxml := -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc

$(BUILD)/obj/tests/%.o: tests/unit/%.c | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/integration/%.c | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/fuzz/%.c | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The fuzz harnesses as plain programs that replay their seeds and regressions.
$(FUZZ_REPLAY): $(BUILD)/tests/fuzz_replay_%: $(BUILD)/obj/tests/fuzz_%.o $(BUILD)/obj/tests/replay_main.o $(BUILD)/libamicd.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(UNIT_BIN): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(UNIT_SUPPORT_OBJ) $(BUILD)/libamicd.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $(WRAP_$*) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(INTEG_BIN): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(HARNESS_OBJ) $(UNIT_SUPPORT_OBJ) $(BUILD)/libamicd.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

test: $(BUILD)/amicd $(BUILD)/demo $(UNIT_BIN) $(FUZZ_REPLAY) $(INTEG_BIN) | deps
	@AMICD_BIN=$(abspath $(BUILD)/amicd) AMICD_DEMO_BIN=$(abspath $(BUILD)/demo) AMICD_TEST_DATA=$(abspath tests/data) AMICD_FUZZ_DIR=$(abspath tests/fuzz) \
		scripts/run-tests.sh $(UNIT_BIN) $(FUZZ_REPLAY) $(INTEG_BIN)

unit: $(UNIT_BIN) $(FUZZ_REPLAY) | deps
	@AMICD_TEST_DATA=$(abspath tests/data) AMICD_FUZZ_DIR=$(abspath tests/fuzz) \
		scripts/run-tests.sh $(UNIT_BIN) $(FUZZ_REPLAY)

integration: $(BUILD)/amicd $(BUILD)/demo $(INTEG_BIN) | deps
	@AMICD_BIN=$(abspath $(BUILD)/amicd) AMICD_DEMO_BIN=$(abspath $(BUILD)/demo) AMICD_TEST_DATA=$(abspath tests/data) \
		scripts/run-tests.sh $(INTEG_BIN)

# --- fuzzing (clang's libFuzzer) -----------------------------------------------
# make fuzz [FUZZ_SECONDS=30]: build every harness with -fsanitize=fuzzer,address,undefined
# and run each for FUZZ_SECONDS on its corpus (build/fuzz/corpus/<name>, grown from
# tests/fuzz/seeds/<name>). A crash fails the run and is kept under build/fuzz/crashes/:
# copy it into tests/fuzz/regressions/<name>/, where make test replays it for good.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -std=gnu11 -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all -D_GNU_SOURCE -pthread \
                -Isrc -Itests/fuzz
FUZZ_LIB_OBJ := $(SRC:src/%.c=$(FUZZ_DIR)/obj/%.o) $(FUZZ_DIR)/obj/migrations.gen.o
FUZZ_BIN     := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
.SECONDARY: $(FUZZ_LIB_OBJ)

$(FUZZ_DIR)/obj/%.o: src/%.c | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(DEFS_$*) -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/obj/version.o: $(wildcard VERSION) $(GIT_REV_STAMP)

$(FUZZ_DIR)/obj/migrations.gen.o: $(BUILD)/gen/migrations.gen.c | deps
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ) | deps
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) -o $@ $< $(FUZZ_LIB_OBJ) $(PKG_LIBS)

fuzz: $(FUZZ_BIN) | deps
	@scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

# --- run, bench, install -----------------------------------------------------
run: $(BUILD)/amicd
	@mkdir -p var/pins
	exec $(BUILD)/amicd serve --config examples/amicd.yml

# scripts/demo.c starts amicd on a temp copy of examples/amicd.yml (its own
# database, pins dir and port), plays terraform-resources, sends tests/data's
# deliveries in order and prints the ASG after each; it stops amicd at the end.
$(BUILD)/demo: scripts/demo.c | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PKG_LIBS)

demo: $(BUILD)/amicd $(BUILD)/demo
	$(BUILD)/demo $(BUILD)/amicd examples/amicd.yml tests/data

check-config: $(BUILD)/amicd
	$(BUILD)/amicd check-config --config examples/amicd.yml

$(BUILD)/bench/bare: bench/bare.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PKG_LIBS)

$(BUILD)/bench/promotion_latency: bench/promotion_latency.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PKG_LIBS)

$(BUILD)/bench/growth: bench/growth.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PKG_LIBS)

$(BUILD)/bench/floor: bench/floor.c $(BUILD)/libamicd.a | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libamicd.a $(PKG_LIBS)

# The reconciler against the tests' fakes (GitLab, EC2 and STS verifying SigV4):
# the fakes' sources are compiled in, and libamicd.a supplies crypto.c for sigv4.c.
BENCH_RECONCILE_SRC := bench/reconcile.c tests/unit/fakehttp.c tests/unit/sigv4.c
$(BUILD)/bench/reconcile: $(BENCH_RECONCILE_SRC) tests/unit/fakehttp.h tests/unit/sigv4.h $(BUILD)/libamicd.a | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $(BENCH_RECONCILE_SRC) $(BUILD)/libamicd.a $(PKG_LIBS)

bench: $(BUILD)/amicd $(BUILD)/bench/bare $(BUILD)/bench/promotion_latency $(BUILD)/bench/reconcile $(BUILD)/bench/growth $(BUILD)/bench/floor | deps
	AMICD_BIN=$(abspath $(BUILD)/amicd) BARE_BIN=$(abspath $(BUILD)/bench/bare) scripts/bench.sh
	$(BUILD)/bench/floor
	AMICD_BIN=$(abspath $(BUILD)/amicd) $(BUILD)/bench/promotion_latency $(or $(PROMOTIONS),200)
	AMICD_BIN=$(abspath $(BUILD)/amicd) $(BUILD)/bench/reconcile $(or $(RECONCILE_ROUNDS),50)
	AMICD_BIN=$(abspath $(BUILD)/amicd) $(BUILD)/bench/reconcile scale
	AMICD_BIN=$(abspath $(BUILD)/amicd) $(BUILD)/bench/growth $(or $(GROWTH_EVENTS),1000000) $(or $(GROWTH_AMIS),100000) $(or $(GROWTH_SECONDS),5)

install: $(BUILD)/amicd
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/amicd $(DESTDIR)$(PREFIX)/bin/amicd

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
