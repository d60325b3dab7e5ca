# sealdb - one non-recursive GNU Makefile.
#   make            build everything that exists (libraries, sealdb, seal)
#   make run        install missing build dependencies, build, start the server
#   make test       install missing test dependencies, build and run every test (unit, crash, end-to-end)
#   make install    PREFIX=/usr/local DESTDIR= : libraries (versioned, with .pc files), headers,
#                   sealdb, seal and sealdb-cdc, man pages, systemd units
#   make bench      build and run the benchmarks (lines "bench <name>: <number> <unit>")
#   make fuzz       build the libFuzzer targets (clang);  make fuzz-run FUZZ_SECONDS=N runs each
#   make SANITIZE=address,undefined test    same tests under sanitizers (objects in build/san)
#   make WERROR=1   warnings are errors (CI)
.DEFAULT_GOAL := all
SHELL := /bin/bash

SANITIZE ?=
WERROR ?=
ifeq ($(SANITIZE),)
B ?= build
else
B ?= build/san
endif
OPT ?= -O2 -g

# ---- external libraries: found with pkg-config here and nowhere else ----
PKGS_CORE   := libcrypto
PKGS_ENGINE :=               # none: the key index is our own LSM (src/index/lsm.c)
PKGS_RPC    := grpc libprotobuf-c
PKGS_SERVER := libmicrohttpd libcrypt libcjson
PKGS_TEST   :=
PKGS_BENCH  := sqlite3
PKGS_CDC    := libpq
PKGS_ALL    := $(PKGS_CORE) $(PKGS_ENGINE) $(PKGS_RPC) $(PKGS_SERVER) $(PKGS_TEST) $(PKGS_BENCH) $(PKGS_CDC)
# Goals that install the dependencies themselves (then build in a sub-make) must parse on a bare
# machine, and cost no pkg-config calls (make test and make run pay for the sub-make's only).
NODEPS_GOALS := deps run test clean
NEED_LIBS := $(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all))
HAVE_PKG_CONFIG := $(if $(NEED_LIBS),$(shell command -v pkg-config >/dev/null 2>&1 && echo y))
MISSING_PKGS := $(if $(NEED_LIBS),$(if $(HAVE_PKG_CONFIG),$(strip $(foreach p,$(PKGS_ALL),$(if $(shell \
                  pkg-config --exists $(p) && echo y),,$(p)))),pkg-config $(PKGS_ALL)))
# a dry run (-n) only warns: it installs nothing, so `make -n run` shows the whole sequence
DRY_RUN := $(findstring n,$(firstword -$(MAKEFLAGS)))
ifneq ($(MISSING_PKGS),)
MISSING_MSG := missing libraries ($(MISSING_PKGS)): run `make run` (or scripts/install-deps.sh)
ifneq ($(DRY_RUN),)
$(warning dry run: not installed yet: $(MISSING_PKGS) (the install step above puts them in place))
else
$(error $(MISSING_MSG))
endif
endif
pc_cflags = $(if $(HAVE_PKG_CONFIG),$(shell pkg-config --cflags $(1) 2>/dev/null))
pc_libs   = $(if $(HAVE_PKG_CONFIG),$(shell pkg-config --libs $(1) 2>/dev/null))
LIBS_CORE   := $(call pc_libs,$(PKGS_CORE)) -lpthread
LIBS_ENGINE := $(call pc_libs,$(PKGS_ENGINE)) $(LIBS_CORE)
LIBS_RPC    := $(call pc_libs,$(PKGS_RPC))
LIBS_SERVER := $(call pc_libs,$(PKGS_SERVER))
LIBS_TEST   := $(call pc_libs,$(PKGS_TEST))
LIBS_BENCH  := $(call pc_libs,$(PKGS_BENCH))
LIBS_CDC    := $(call pc_libs,$(PKGS_CDC))

WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2 \
        -Wno-unused-parameter
ifneq ($(WERROR),)
WARN += -Werror
endif
CPPFLAGS += -D_GNU_SOURCE -DSEALDB_BUILDING -Iinclude -Isrc -I$(B)/gen $(call pc_cflags,$(PKGS_ALL))
CFLAGS   += $(OPT) -fPIC -fvisibility=hidden -MMD -MP
LDFLAGS  += -Wl,--as-needed
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# ---- sources, one folder per layer ----
src_of = $(sort $(wildcard src/$(1)/*.c))
obj_of = $(patsubst %.c,$(B)/%.o,$(1))
CORE_SRCS   := $(call src_of,util) $(call src_of,crypto)
ENGINE_SRCS := $(call src_of,storage) $(call src_of,index) $(call src_of,engine)
DB_SRCS     := $(call src_of,db)
RPC_SRCS    := $(call src_of,rpc)
SERVER_SRCS := $(filter-out src/server/main.c,$(call src_of,server))
PROTOS      := $(sort $(wildcard proto/*.proto))
# the client and its CLI, tests and fuzz targets need the generated protobuf code (proto/)
CLIENT_SRCS := $(if $(PROTOS),$(call src_of,client))
CLI_SRCS    := $(if $(PROTOS),$(call src_of,cli))
# sealdb-cdc: the pure parts (decoder, JSON) in an archive tests and seal link; the rest is the daemon
CDC_SRCS    := $(if $(PROTOS),$(call src_of,cdc))
CDC_LIB_SRCS := $(filter src/cdc/pgoutput.c src/cdc/rowjson.c,$(CDC_SRCS))
CDC_BIN_SRCS := $(filter-out $(CDC_LIB_SRCS),$(CDC_SRCS))
GEN_SRCS    := $(patsubst proto/%.proto,$(B)/gen/%.pb-c.c,$(PROTOS))
GEN_HDRS    := $(GEN_SRCS:.c=.h)

CORE_OBJS   := $(call obj_of,$(CORE_SRCS))
ENGINE_OBJS := $(call obj_of,$(ENGINE_SRCS))
SRVINT_OBJS := $(call obj_of,$(DB_SRCS) $(RPC_SRCS) $(SERVER_SRCS))
CLIENT_OBJS := $(call obj_of,$(CLIENT_SRCS))
CDC_OBJS    := $(call obj_of,$(CDC_LIB_SRCS))
GEN_OBJS    := $(GEN_SRCS:.c=.o)

# internal archives (link order: server, client, gen, engine, core)
A_CORE   := $(B)/libsdb_core.a
A_ENGINE := $(B)/libsdb_engine.a
A_GEN    := $(B)/libsdb_gen.a
A_CLIENT := $(B)/libsdb_client.a
A_SRVINT := $(B)/libsdb_server.a
A_CDC    := $(B)/libsdb_cdc.a
LINK_ALL := $(A_SRVINT) $(A_CDC) $(A_CLIENT) $(A_GEN) $(A_ENGINE) $(A_CORE)
LIBS_ALL := $(LIBS_SERVER) $(LIBS_RPC) $(LIBS_ENGINE) $(LIBS_TEST) $(LIBS_BENCH) -lm

# installable artefacts
LIBSEALDB_A   := $(B)/libsealdb.a
LIBSEALDB_SO  := $(B)/libsealdb.so
LIBCLIENT_A   := $(B)/libsealdb-client.a
LIBCLIENT_SO  := $(B)/libsealdb-client.so
SEALDB_BIN    := $(if $(wildcard src/server/main.c),$(B)/sealdb)
SEAL_BIN      := $(if $(CLI_SRCS),$(B)/seal)
SEALDB_CDC_BIN := $(if $(CDC_BIN_SRCS),$(B)/sealdb-cdc)

TEST_SRCS  := $(filter-out $(if $(PROTOS),,tests/unit/test_client_%.c),$(sort $(wildcard tests/unit/test_*.c)))
TEST_BINS  := $(patsubst tests/unit/%.c,$(B)/tests/%,$(TEST_SRCS))
BENCH_SRCS := $(sort $(wildcard bench/bench_*.c))
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRCS))
CRASH_SRCS := $(sort $(wildcard tests/crash/*.c))
CRASH_BINS := $(patsubst tests/crash/%.c,$(B)/tests/crash/%,$(CRASH_SRCS))
FUZZ_SRCS  := $(filter-out $(if $(PROTOS),,fuzz/fuzz_client_%.c),$(sort $(wildcard fuzz/fuzz_*.c)))

LIB_TARGETS := $(LIBSEALDB_A) $(LIBSEALDB_SO) $(if $(PROTOS),$(LIBCLIENT_A) $(LIBCLIENT_SO))
# examples/client.c uses libsealdb-client (needs proto/); every other example embeds libsealdb
EXAMPLE_SRCS := $(filter-out $(if $(PROTOS),,examples/client.c),$(sort $(wildcard examples/*.c)))
EXAMPLE_BINS := $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRCS))
all: $(LIB_TARGETS) $(SEALDB_BIN) $(SEAL_BIN) $(SEALDB_CDC_BIN) $(EXAMPLE_BINS)
	@if [ -z "$(SEALDB_BIN)" ]; then echo "note: the sealdb server is not written yet; libraries built in $(B)/"; fi

# ---- compile ----
$(B)/%.o: %.c | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

# the web console's static files, compiled into sealdb (tools/embed.c writes them as a C include)
CONSOLE_FILES := $(notdir $(sort $(wildcard web/console/*)))
$(B)/tools/embed: tools/embed.c
	@mkdir -p $(@D)
	$(CC) -O2 -o $@ $<
$(B)/gen/console_assets.inc: $(B)/tools/embed $(addprefix web/console/,$(CONSOLE_FILES))
	@mkdir -p $(@D)
	$(B)/tools/embed $@ web/console $(CONSOLE_FILES)
$(B)/src/server/console.o: $(B)/gen/console_assets.inc

# generated protobuf-c code: compiled without our strict warnings
$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(B)/gen
	protoc-c --proto_path=proto --c_out=$(B)/gen $<
$(B)/gen/%.pb-c.o: $(B)/gen/%.pb-c.c $(GEN_HDRS)
	$(CC) $(CPPFLAGS) $(CFLAGS) -w -c $< -o $@

# ---- archives and libraries ----
$(A_CORE): $(CORE_OBJS)
$(A_ENGINE): $(ENGINE_OBJS)
$(A_GEN): $(GEN_OBJS)
$(A_CLIENT): $(CLIENT_OBJS)
$(A_SRVINT): $(SRVINT_OBJS)
$(A_CDC): $(CDC_OBJS)
$(B)/libsdb_%.a:
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^ $(if $^,,$(B)/.empty.o)
$(B)/.empty.o:
	@mkdir -p $(@D)
	echo 'typedef int sdb_empty_;' | $(CC) -x c -c - -o $@
$(A_CORE) $(A_ENGINE) $(A_GEN) $(A_CLIENT) $(A_SRVINT) $(A_CDC): | $(B)/.empty.o

$(LIBSEALDB_A): $(CORE_OBJS) $(ENGINE_OBJS)
	rm -f $@ && ar rcs $@ $^
$(LIBSEALDB_SO): $(CORE_OBJS) $(ENGINE_OBJS)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libsealdb.so.0 -o $@ $^ $(LIBS_ENGINE)
$(LIBCLIENT_A): $(CLIENT_OBJS) $(GEN_OBJS) $(CORE_OBJS)
	rm -f $@ && ar rcs $@ $^
$(LIBCLIENT_SO): $(CLIENT_OBJS) $(GEN_OBJS) $(CORE_OBJS)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libsealdb-client.so.0 -o $@ $^ $(LIBS_RPC) $(LIBS_CORE)

# ---- programs ----
$(B)/sealdb: $(B)/src/server/main.o $(LINK_ALL)
	$(CC) $(LDFLAGS) -o $@ $< $(LINK_ALL) $(LIBS_SERVER) $(LIBS_RPC) $(LIBS_ENGINE) -lm
$(B)/seal: $(call obj_of,$(CLI_SRCS)) $(A_CDC) $(A_CLIENT) $(A_GEN) $(A_CORE)
	$(CC) $(LDFLAGS) -o $@ $(call obj_of,$(CLI_SRCS)) $(A_CDC) $(A_CLIENT) $(A_GEN) $(A_CORE) $(LIBS_RPC) $(LIBS_CORE) -lm
$(B)/sealdb-cdc: $(call obj_of,$(CDC_BIN_SRCS)) $(A_CDC) $(A_CLIENT) $(A_GEN) $(A_CORE)
	$(CC) $(LDFLAGS) -o $@ $(call obj_of,$(CDC_BIN_SRCS)) $(A_CDC) $(A_CLIENT) $(A_GEN) $(A_CORE) \
	  $(LIBS_CDC) $(call pc_libs,libmicrohttpd libcjson) $(LIBS_RPC) $(LIBS_CORE) -lm

$(B)/tests/%: $(B)/tests/unit/%.o $(B)/tests/unit/runner.o $(LINK_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(B)/tests/unit/runner.o $(LINK_ALL) $(LIBS_ALL)
$(B)/tests/crash/%: $(B)/tests/crash/%.o $(LINK_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LINK_ALL) $(LIBS_ALL)
$(B)/examples/%: examples/%.c $(LIBSEALDB_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -USEALDB_BUILDING -o $@ $< $(LIBSEALDB_A) $(LIBS_ENGINE)
$(B)/examples/client: examples/client.c $(LIBCLIENT_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -USEALDB_BUILDING -o $@ $< $(LIBCLIENT_A) $(LIBS_RPC) $(LIBS_CORE) -lm
$(B)/bench/%: $(B)/bench/%.o $(LINK_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LINK_ALL) $(LIBS_ALL)

# ---- the two commands, and the rest ----
# run and test install what is missing first (quick when all is there), then build in a sub-make,
# which finds the freshly installed libraries with pkg-config.
.PHONY: all run deps test test-nodeps bench fuzz fuzz-bins fuzz-run clean install
deps:
	bash scripts/install-deps.sh

run:
	bash scripts/install-deps.sh
	$(MAKE) all
	@if [ -x $(B)/sealdb ]; then exec $(B)/sealdb $(ARGS); \
	 else echo "sealdb: the server binary is not written yet; everything else is built in $(B)/"; fi

test:
	bash scripts/install-deps.sh --test
	$(MAKE) test-nodeps

test-nodeps: all $(TEST_BINS) $(CRASH_BINS)
	B=$(B) bash tests/run-all.sh

bench: OPT = -O2 -g -DNDEBUG
bench: all $(BENCH_BINS)
	@set -e; for b in $(BENCH_BINS); do echo "# $$b"; $$b; done
	@if [ -n "$(SEALDB_CDC_BIN)" ]; then echo "# bench/cdc_bench.py"; \
	  SEALDB_BIN=$(B)/sealdb python3 bench/cdc_bench.py; fi

FUZZ_B := build/fuzz
fuzz:
	$(MAKE) B=$(FUZZ_B) CC=clang SANITIZE=fuzzer-no-link,address,undefined fuzz-bins
fuzz-bins: $(patsubst fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))
$(B)/fuzz/%: $(B)/fuzz/%.o $(LINK_ALL)
	@mkdir -p $(@D)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $< $(LINK_ALL) $(LIBS_ALL)
FUZZ_SECONDS ?= 20
fuzz-run: fuzz
	@set -e; for f in $(patsubst fuzz/%.c,%,$(FUZZ_SRCS)); do \
	  mkdir -p $(FUZZ_B)/corpus/$$f; \
	  echo "fuzz $$f: $(FUZZ_SECONDS)s"; \
	  $(FUZZ_B)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	    $(FUZZ_B)/corpus/$$f $$( [ -d fuzz/corpus/$$f ] && echo fuzz/corpus/$$f ) 2>&1 | tail -n 3; \
	  test $${PIPESTATUS[0]} -eq 0; done

# ---- install: PREFIX is where the files will live, DESTDIR a staging root (packages) ----
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
LIBDIR         ?= $(PREFIX)/lib
INCLUDEDIR     ?= $(PREFIX)/include
PKGCONFIGDIR   ?= $(LIBDIR)/pkgconfig
MANDIR         ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
VERSION   := $(shell sed -n 's/^.define SEALDB_VERSION  *"\(.*\)"/\1/p' include/sealdb.h)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
# installs lib$(1).so.$(VERSION) with the links lib$(1).so.$(SOVERSION) (its SONAME, for the loader)
# and lib$(1).so (for the linker)
install_so = install -m 755 $(2) $(DESTDIR)$(LIBDIR)/lib$(1).so.$(VERSION) && \
	ln -sf lib$(1).so.$(VERSION) $(DESTDIR)$(LIBDIR)/lib$(1).so.$(SOVERSION) && \
	ln -sf lib$(1).so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/lib$(1).so
subst_paths = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	-e 's|@BINDIR@|$(BINDIR)|g' -e 's|@VERSION@|$(VERSION)|g'

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 644 include/sealdb.h include/sealdb_err.h $(DESTDIR)$(INCLUDEDIR)
	install -m 644 $(LIBSEALDB_A) $(DESTDIR)$(LIBDIR)
	$(call install_so,sealdb,$(LIBSEALDB_SO))
	$(subst_paths) packaging/sealdb.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/sealdb.pc
	$(if $(PROTOS),install -m 644 include/sealdb_client.h $(DESTDIR)$(INCLUDEDIR))
	$(if $(PROTOS),install -m 644 $(LIBCLIENT_A) $(DESTDIR)$(LIBDIR))
	$(if $(PROTOS),$(call install_so,sealdb-client,$(LIBCLIENT_SO)))
	$(if $(PROTOS),$(subst_paths) packaging/sealdb-client.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/sealdb-client.pc)
	$(if $(SEALDB_BIN),install -m 755 $(SEALDB_BIN) $(DESTDIR)$(BINDIR))
	$(if $(SEAL_BIN),install -m 755 $(SEAL_BIN) $(DESTDIR)$(BINDIR))
	$(if $(SEALDB_CDC_BIN),install -m 755 $(SEALDB_CDC_BIN) $(DESTDIR)$(BINDIR))
	install -m 644 man/sealdb.1 man/seal.1 man/sealdb-cdc.1 $(DESTDIR)$(MANDIR)/man1
	$(subst_paths) packaging/sealdb.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/sealdb.service
	$(if $(SEALDB_CDC_BIN),$(subst_paths) packaging/sealdb-cdc.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/sealdb-cdc.service)
	install -m 644 packaging/sealdb.sysusers $(DESTDIR)$(SYSUSERSDIR)/sealdb.conf
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig || true; fi

clean:
	rm -rf build

.SECONDARY:
-include $(if $(NEED_LIBS),$(shell find $(B) -name '*.d' 2>/dev/null))
