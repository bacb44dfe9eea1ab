# vaultd — the one build entry point. `make help` lists the targets.
VERSION   := 0.1.0
CC        ?= cc
PYTHON    := /usr/bin/python3
BUILD     ?= build
PREFIX    ?= /usr/local
PKGS      := libsodium lmdb libsystemd libseccomp jansson

# Asked of pkg-config when a recipe first needs them, not when the Makefile
# is read: on a fresh machine `deps` installs pkg-config and the -dev
# packages first. Each is computed once (the eval caches it).
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)

CFLAGS    ?= -O2 -g
WARNINGS  := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-missing-field-initializers
HARDEN    := $(if $(HARDEN_OFF),-fPIE,-D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE -fstack-clash-protection)
ALL_CFLAGS = -std=gnu11 $(WARNINGS) $(HARDEN) $(CFLAGS) -D_GNU_SOURCE -DVAULTD_VERSION='"$(VERSION)"' \
             -Ilib -Ivaultd $(PKG_CFLAGS) $(SAN)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(LDFLAGS) $(SAN)
# libunistring (Unicode names, lib/names.c) ships no pkg-config file.
LIBS       = $(PKG_LIBS) -lunistring -lpthread

LIB_SRC     := $(wildcard lib/*.c)
DAEMON_SRC  := $(wildcard vaultd/*.c)
CTL_SRC     := $(wildcard vaultctl/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ    := $(call obj,$(LIB_SRC))
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
CTL_OBJ    := $(call obj,$(CTL_SRC))

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test-*.c))
FUZZ_TARGETS := varlink policy audit jsonscan
FUZZ_SECONDS ?= 60
SANITIZE  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The replay drivers run each seed corpus once (make check); any compiler.
REPLAYS   := $(patsubst %,$(BUILD)/fuzz/replay-%,$(FUZZ_TARGETS))
# lib/note.c's verdict on a signed note, set against Go's package by
# tests/integration/test_note_corpus.py (make check).
NOTE_VERDICT := $(BUILD)/notes/note-verdict
# lib/merkle.c's proofs, set against Go's tlog package by
# tests/integration/test_merkle_tlog.py (make check).
MERKLE_PROOFS := $(BUILD)/merkle/merkle-proofs

SBINDIR   ?= $(PREFIX)/sbin
BINDIR    ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR    ?= $(PREFIX)/share/man
UNITDIR   ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
SYSCONFDIR ?= /etc

.PHONY: everything fuzz-deps deps-check deps-lint deps-system deps-bench all deps demo check check-unit check-integration check-long check-sanitize bench fuzz lint clean help install
all: $(BUILD)/vaultd $(BUILD)/vaultctl

help:
	@echo "make            build vaultd and vaultctl into $(BUILD)/"
	@echo "make deps       install missing Debian build/test packages (as root)"
	@echo "make demo       build, run a throwaway vault under ./demo/ with 1,000 records"
	@echo "make check      every test (unit + integration + crash + fuzz corpora replay)"
	@echo "make check-sanitize  the suites again under ASan + UBSan"
	@echo "make everything every program and test binary (e.g. CC=clang), nothing run"
	@echo "make deb        the Debian package, into build/deb/"
	@echo "make check-system  the .deb under a real systemd (PID 1 in a container)"
	@echo "make fuzz       libFuzzer on each target (FUZZ_SECONDS=60 each)"
	@echo "make bench      vaultd's throughput, latency and limits next to a PostgreSQL peer,"
	@echo "                into bench/results.json (BENCH_QUICK=1: a 1-minute smoke run;"
	@echo "                BENCH_BIG=N: records in the big store, default 300000)"
	@echo "make lint       clang-format check and cppcheck"
	@echo "make install    binaries, systemd units (the daily backup too; the witness poster,"
	@echo "                not enabled), sysusers/tmpfiles,"
	@echo "                policy, man pages"
	@echo "                (PREFIX=/usr/local, DESTDIR= as usual)"

# What each target needs from Debian (scripts/deps.sh says which packages).
# Compiling waits for `deps` (order-only), so `make -j` cannot race it, and
# the sets install one after another (one apt at a time).
deps:
	@sh scripts/deps.sh build $(if $(findstring clang,$(CC)),clang)
deps-check: deps
	@sh scripts/deps.sh check
deps-lint: deps
	@sh scripts/deps.sh lint
deps-system: deps-check
	@sh scripts/deps.sh system
deps-bench: deps
	@sh scripts/deps.sh bench

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# The interface descriptions are embedded with .incbin.
$(BUILD)/obj/vaultd/interfaces.o: $(wildcard docs/*.varlink)

$(BUILD)/vaultd: $(DAEMON_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# vaultctl is a pure client of the socket: it links no daemon module.
$(BUILD)/vaultctl: $(CTL_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Unit tests link the module under test and its dependencies (no main()).
TEST_LINK := $(LIB_OBJ) $(filter-out $(BUILD)/obj/vaultd/main.o,$(DAEMON_OBJ))
$(BUILD)/tests/%: tests/unit/%.c $(TEST_LINK) | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(TEST_LINK) $(LIBS) -lcmocka

$(NOTE_VERDICT): tests/notes/note-verdict.c $(LIB_OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB_OBJ) $(LIBS)

$(MERKLE_PROOFS): tests/merkle/merkle-proofs.c $(LIB_OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB_OBJ) $(LIBS)

# The load generator speaks the protocol by itself: it links nothing of
# vaultd's, so a change to lib/ cannot change what it measures.
$(BUILD)/vaultd-bench: bench/bench.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

$(BUILD)/fuzz/replay-%: tests/fuzz/fuzz-%.c tests/fuzz/replay.c $(LIB_SRC) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SANITIZE) -o $@ $< tests/fuzz/replay.c $(LIB_SRC) $(LIBS)

# libFuzzer builds need clang (Debian: clang, libclang-rt-14-dev).
$(BUILD)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(LIB_SRC) | fuzz-deps
	@mkdir -p $(dir $@)
	clang $(filter-out -fstack-clash-protection,$(ALL_CFLAGS)) -fsanitize=fuzzer,address,undefined \
	    -o $@ $< $(LIB_SRC) $(LIBS)

# make fuzz FUZZ_SECONDS=600: each target in turn; new inputs go to
# $(BUILD)/fuzz/corpus-*, findings to $(BUILD)/fuzz/ (crash-*, leak-*).
fuzz-deps: deps
	@sh scripts/deps.sh fuzz

fuzz: fuzz-deps $(patsubst %,$(BUILD)/fuzz/fuzz-%,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(BUILD)/fuzz/corpus-$$t; \
	    echo "== fuzz-$$t for $(FUZZ_SECONDS)s"; \
	    $(BUILD)/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus-$$t tests/fuzz/corpus/$$t \
	        2>&1 | grep -E "stat::|ERROR|SUMMARY|Done" || exit 1; \
	done

demo: deps all
	$(PYTHON) scripts/demo.py --build $(BUILD)

# Every program and test binary, without running anything (CI builds this
# with CC=clang too).
everything: all $(UNIT_TESTS) $(REPLAYS) $(NOTE_VERDICT) $(MERKLE_PROOFS) $(BUILD)/vaultd-bench

check: deps-check all $(UNIT_TESTS) $(REPLAYS) $(NOTE_VERDICT) $(MERKLE_PROOFS)
	$(PYTHON) tests/run.py --build $(BUILD)

# The unit and integration suites again, built with ASan and UBSan.
check-sanitize: deps-check
	$(MAKE) BUILD=$(BUILD)/sanitize CFLAGS="-O1 -g $(SANITIZE)" LDFLAGS="$(SANITIZE)" \
	    HARDEN_OFF=1 all $(patsubst $(BUILD)/%,$(BUILD)/sanitize/%,$(UNIT_TESTS) $(REPLAYS) $(NOTE_VERDICT) $(MERKLE_PROOFS))
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=32 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(PYTHON) tests/run.py --build $(BUILD)/sanitize

check-unit: deps-check all $(UNIT_TESTS)
	$(PYTHON) tests/run.py --build $(BUILD) --unit-only

check-long: deps-check all $(UNIT_TESTS) $(REPLAYS) $(NOTE_VERDICT) $(MERKLE_PROOFS)
	VAULTD_CRASH_ROUNDS=200 $(PYTHON) tests/run.py --build $(BUILD)

# One run, about 10 minutes (bench/README.md): bench/results.json, or with
# BENCH_QUICK=1 $(BUILD)/bench-results-quick.json.
# The daemon once more without its Merkle tree's writes, for the bench only
# (what the tree costs a Put, issue #14); never installed.
# (The sub-make builds it as its own $(BUILD)/vaultd, incrementally.)
.PHONY: bench-notree
bench-notree: | deps
	$(MAKE) BUILD=$(BUILD)/bench-notree CFLAGS="$(CFLAGS) -DVAULTD_BENCH_NO_TREE" $(BUILD)/bench-notree/vaultd

bench: deps-bench all $(BUILD)/vaultd-bench bench-notree
	$(PYTHON) bench/bench.py --build $(BUILD) $(if $(BENCH_QUICK),--quick) $(if $(BENCH_BIG),--big $(BENCH_BIG))

lint: deps-lint
	clang-format --dry-run --Werror lib/*.[ch] vaultd/*.[ch] vaultctl/*.[ch] tests/unit/*.c tests/notes/*.c tests/merkle/*.c
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	    -D_GNU_SOURCE -Ilib -Ivaultd \
	    '-Djson_array_foreach(a,i,v)=for(i=0;i<1;i++)' '-Djson_object_foreach(o,k,v)=for(k=0;k;)' \
	    lib vaultd vaultctl

# The man pages render as written: mandoc's warnings fail the check.
.PHONY: check-man
check-man:
	mandoc -T lint -W warning docs/man/*

# DESTDIR and PREFIX as usual. The default policy and the backup settings
# are installed only when none are there, so an admin's are never
# overwritten.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/vaultd $(DESTDIR)$(LIBEXECDIR)/vaultd \
	    $(DESTDIR)$(SYSCONFDIR)/default
	install -m 0755 $(BUILD)/vaultd $(DESTDIR)$(SBINDIR)/vaultd
	install -m 0755 $(BUILD)/vaultctl $(DESTDIR)$(BINDIR)/vaultctl
	sed -e 's|/usr/sbin/vaultd|$(SBINDIR)/vaultd|' -e 's|/etc/vaultd|$(SYSCONFDIR)/vaultd|g' \
	    packaging/systemd/vaultd.service > $(DESTDIR)$(UNITDIR)/vaultd.service
	install -m 0644 packaging/systemd/vaultd.socket $(DESTDIR)$(UNITDIR)/vaultd.socket
	sed -e 's|/usr/libexec/vaultd|$(LIBEXECDIR)/vaultd|' \
	    packaging/systemd/vaultd-backup.service > $(DESTDIR)$(UNITDIR)/vaultd-backup.service
	install -m 0644 packaging/systemd/vaultd-backup.timer $(DESTDIR)$(UNITDIR)/vaultd-backup.timer
	install -m 0755 packaging/vaultd-backup $(DESTDIR)$(LIBEXECDIR)/vaultd/vaultd-backup
	install -m 0644 packaging/sysusers.d/vaultd.conf $(DESTDIR)$(SYSUSERSDIR)/vaultd.conf
	install -m 0644 packaging/tmpfiles.d/vaultd.conf $(DESTDIR)$(TMPFILESDIR)/vaultd.conf
	install -m 0644 docs/man/vaultctl.1 $(DESTDIR)$(MANDIR)/man1/vaultctl.1
	install -m 0644 docs/man/vaultd.8 $(DESTDIR)$(MANDIR)/man8/vaultd.8
	install -D -m 0644 packaging/bash-completion/vaultctl $(DESTDIR)$(PREFIX)/share/bash-completion/completions/vaultctl
	test -e $(DESTDIR)$(SYSCONFDIR)/vaultd/vaultd.policy || \
	    install -m 0644 policy/vaultd.policy $(DESTDIR)$(SYSCONFDIR)/vaultd/vaultd.policy
	test -e $(DESTDIR)$(SYSCONFDIR)/default/vaultd-backup || \
	    install -m 0644 packaging/default/vaultd-backup $(DESTDIR)$(SYSCONFDIR)/default/vaultd-backup
	sed -e 's|/usr/libexec/vaultd|$(LIBEXECDIR)/vaultd|' \
	    packaging/witness/vaultd-witness-post.service > $(DESTDIR)$(UNITDIR)/vaultd-witness-post.service
	install -m 0644 packaging/witness/vaultd-witness-post.timer $(DESTDIR)$(UNITDIR)/vaultd-witness-post.timer
	install -m 0755 packaging/witness/vaultd-witness-post $(DESTDIR)$(LIBEXECDIR)/vaultd/vaultd-witness-post
	test -e $(DESTDIR)$(SYSCONFDIR)/default/vaultd-witness-post || \
	    install -m 0644 packaging/witness/vaultd-witness-post.default $(DESTDIR)$(SYSCONFDIR)/default/vaultd-witness-post

clean:
	rm -rf $(BUILD) demo

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# The Debian package and the systemd system test (issue #7).
# make deb: $(DEB_DIR)/vaultd_$(VERSION)_<arch>.deb from packaging/debian
# (dpkg-buildpackage in a copy of the tree; no apt, no tests), lintian-clean.
# make check-system: boots systemd 252 in a container, installs that .deb
# and checks the service through the real manager (tests/system/).
DEB_DIR   ?= $(BUILD)/deb
DEB_FILE   = $(DEB_DIR)/vaultd_$(VERSION)_$(shell dpkg --print-architecture).deb
.PHONY: deb check-system
deb: deps-system
	sh packaging/mkdeb.sh $(DEB_DIR)

check-system: deb
	$(PYTHON) tests/system/run.py --deb $(DEB_FILE)
