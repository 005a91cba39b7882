# shinjuku -- see README.md.  `make V=1` shows the full commands.
.DELETE_ON_ERROR:
.SUFFIXES:

VERSION_MAJOR := 0
VERSION := $(VERSION_MAJOR).1.0

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
# where systemd looks (its pkg-config file says), else under PREFIX
SYSTEMDUNITDIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),$(PREFIX)/lib/systemd/system)

CC ?= cc
CLANG ?= clang-19
BPFTOOL ?= bpftool
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wno-unused-parameter
# -fms-extensions: 7.x kernel types embed anonymous structs by tag name
BPF_CFLAGS := -target bpf -O2 -g -mcpu=v3 -D__TARGET_ARCH_x86 $(WARN) \
	-fms-extensions -Wno-microsoft-anon-tag \
	-DBPF_NO_KFUNC_PROTOTYPES -Ibpf

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' '$(1)' '$(2)';
MAKEFLAGS += --no-print-directory
endif

B := build
LIB_SO := $(B)/lib/libshinjuku.so
LIB_SONAME := libshinjuku.so.$(VERSION_MAJOR)
LIB_REAL := $(B)/lib/libshinjuku.so.$(VERSION)
SKEL := $(B)/bpf/shinjuku.skel.h

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

DAEMON_OBJS := $(addprefix $(B)/obj/shinjukud/,shinjukud.o server.o tasks.o notify.o) $(B)/obj/proto/proto.o
LIB_OBJS := $(addprefix $(B)/obj/libshinjuku/,shinjuku.o conn.o proto.o)
EXAMPLES := $(B)/bin/echo-server $(B)/bin/echo-client $(B)/bin/loadgen \
	$(B)/bin/rocksdb-server $(B)/bin/rocksdb-client
UNIT_TESTS := $(B)/tests/test_proto $(B)/tests/test_lib $(B)/tests/test_tasks \
	$(B)/tests/test_server $(B)/tests/test_workers $(B)/tests/test_notify
TEST_TOOLS := $(B)/tests/shj-spin $(B)/tests/shj-try $(B)/tests/ctl-speed $(B)/tests/ctl-scale $(B)/tests/handover \
	$(B)/tests/shj-notify-listen
PROGS := $(B)/bin/shinjukud $(B)/bin/shjctl $(LIB_SO) $(EXAMPLES) $(UNIT_TESTS) $(TEST_TOOLS)

.PHONY: all deps check check-unit check-install check-man check-ctl check-fuzz check-asan asan-build check-rocksdb check-vm check-kernels check-deb deb demo bench bench-rocksdb bench-dispatch bench-ctl bench-handover install uninstall clean vmlinux
all: $(PROGS)

deps:
	$(Q)scripts/deps

# --- BPF scheduler and its skeleton ---------------------------------------
$(B)/bpf/shinjuku.bpf.o: bpf/shinjuku.bpf.c bpf/shj_shared.h bpf/scx.bpf.h bpf/compat.bpf.h bpf/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

# bpftool 7.5 writes map->link for struct_ops maps, a field libbpf 1.4's
# struct bpf_map_skeleton lacks; shinjukud attaches the struct_ops itself.
$(SKEL): $(B)/bpf/shinjuku.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name shinjuku_bpf | sed '/map->link = /d' > $@

# Regenerate bpf/vmlinux.h: make vmlinux [KERNEL=/path/to/bzImage]
vmlinux:
	scripts/gen-vmlinux-h $(KERNEL) > bpf/vmlinux.h.tmp && mv bpf/vmlinux.h.tmp bpf/vmlinux.h

# --- daemon -----------------------------------------------------------------
$(B)/obj/shinjukud/%.o: shinjukud/%.c $(wildcard shinjukud/*.h) proto/proto.h bpf/shj_shared.h | $(SKEL)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 -I$(B)/bpf -c $< -o $@

$(B)/obj/shinjukud/shinjukud.o: $(SKEL)

# the wire protocol: both sides link it (the library its own PIC copy)
$(B)/obj/proto/proto.o: proto/proto.c proto/proto.h bpf/shj_shared.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 -c $< -o $@

$(B)/bin/shinjukud: $(DAEMON_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -lbpf -lelf -lz -lrt -o $@

# shjctl: a client of the daemon, like the library (its session code, linked
# statically)
$(B)/bin/shjctl: tools/shjctl.c libshinjuku/conn.h bpf/shj_shared.h $(B)/obj/libshinjuku/conn.o $(B)/obj/libshinjuku/proto.o
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 $(LDFLAGS) $< $(B)/obj/libshinjuku/conn.o \
		$(B)/obj/libshinjuku/proto.o -lrt -o $@

# --- library ----------------------------------------------------------------
$(B)/obj/libshinjuku/proto.o: proto/proto.c proto/proto.h bpf/shj_shared.h
$(B)/obj/libshinjuku/shinjuku.o: libshinjuku/shinjuku.c libshinjuku/shinjuku.h libshinjuku/conn.h proto/proto.h
$(B)/obj/libshinjuku/conn.o: libshinjuku/conn.c libshinjuku/conn.h proto/proto.h
$(LIB_OBJS):
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 -fPIC -fvisibility=hidden -c $< -o $@

$(LIB_REAL): $(LIB_OBJS) libshinjuku/libshinjuku.map
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(LIB_SONAME) \
		-Wl,--version-script=libshinjuku/libshinjuku.map -Wl,--no-undefined \
		$(LIB_OBJS) -lpthread -lrt -o $@

$(B)/lib/$(LIB_SONAME) $(LIB_SO): $(LIB_REAL)
	$(Q)ln -sf $(notdir $<) $@

# Files that name install paths (shinjuku.pc, the unit) are written by
# `make install` itself, with that command's PREFIX, LIBDIR...: never stale.
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

# --- examples and tests (run from the tree: rpath to build/lib) -----------
LINK_LIB = -L$(B)/lib -lshinjuku -Wl,-rpath,'$$ORIGIN/../lib'

$(B)/bin/loadgen: examples/loadgen.c examples/workers.c examples/workers.h examples/rocks.c examples/rocks.h libshinjuku/shinjuku.h $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku examples/loadgen.c examples/workers.c \
		examples/rocks.c $(LINK_LIB) -lrocksdb -pthread -lm -o $@

$(B)/bin/echo-server: examples/echo-server.c examples/workers.c examples/workers.h libshinjuku/shinjuku.h $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku examples/echo-server.c examples/workers.c \
		$(LINK_LIB) -pthread -o $@

$(B)/bin/rocksdb-server: examples/rocksdb-server.c examples/rocks.c examples/rocks.h examples/workers.c examples/workers.h libshinjuku/shinjuku.h $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku examples/rocksdb-server.c examples/rocks.c \
		examples/workers.c $(LINK_LIB) -lrocksdb -pthread -o $@

$(B)/bin/rocksdb-client: examples/rocksdb-client.c examples/rocks.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 $< -o $@

$(B)/bin/%: examples/%.c libshinjuku/shinjuku.h $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku $< $(LINK_LIB) -pthread -o $@

$(B)/tests/shj-spin: tests/shj-spin.c libshinjuku/shinjuku.h $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku $< $(LINK_LIB) -pthread -o $@

$(B)/tests/shj-try: tests/shj-try.c libshinjuku/shinjuku.h libshinjuku/conn.h $(B)/obj/libshinjuku/conn.o $(B)/obj/libshinjuku/proto.o $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku $< $(B)/obj/libshinjuku/conn.o \
		$(B)/obj/libshinjuku/proto.o $(LINK_LIB) -pthread -lrt -o $@

$(B)/tests/ctl-speed: tests/bench/ctl-speed.c libshinjuku/shinjuku.h bpf/shj_shared.h $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku $< $(LINK_LIB) -lbpf -pthread -o $@

$(B)/tests/ctl-scale: tests/ctl/scale.c libshinjuku/shinjuku.h $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku $< $(LINK_LIB) -pthread -o $@

$(B)/tests/handover: tests/bench/handover.c libshinjuku/shinjuku.h $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku $< $(LINK_LIB) -pthread -o $@

$(B)/tests/test_proto: tests/unit/test_proto.c $(B)/obj/libshinjuku/proto.o
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 $(CHECK_CFLAGS) $^ $(CHECK_LIBS) -o $@

$(B)/tests/test_lib: tests/unit/test_lib.c $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilibshinjuku $(CHECK_CFLAGS) $< \
		-L$(B)/lib -lshinjuku -Wl,-rpath,'$$ORIGIN/../lib' $(CHECK_LIBS) -o $@

$(B)/tests/test_workers: tests/unit/test_workers.c examples/workers.c examples/workers.h $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Iexamples -Ilibshinjuku $(CHECK_CFLAGS) $< examples/workers.c \
		-L$(B)/lib -lshinjuku -Wl,-rpath,'$$ORIGIN/../lib' -pthread $(CHECK_LIBS) -o $@

$(B)/tests/test_notify: tests/unit/test_notify.c shinjukud/notify.c shinjukud/notify.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 $(CHECK_CFLAGS) $< shinjukud/notify.c $(CHECK_LIBS) -o $@

$(B)/tests/shj-notify-listen: tests/shj-notify-listen.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 $< -o $@

$(B)/tests/test_tasks: tests/unit/test_tasks.c tests/unit/maps_only.h $(B)/obj/shinjukud/tasks.o $(SKEL)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -I$(B)/bpf $(CHECK_CFLAGS) $< \
		$(B)/obj/shinjukud/tasks.o -lbpf -lelf -lz $(CHECK_LIBS) -o $@

# the server unit test drives shj-try clients
$(B)/tests/test_server: tests/unit/test_server.c tests/unit/maps_only.h $(addprefix $(B)/obj/shinjukud/,server.o tasks.o) $(B)/obj/proto/proto.o $(SKEL) | $(B)/tests/shj-try
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -I$(B)/bpf -Ilibshinjuku $(CHECK_CFLAGS) $< \
		$(addprefix $(B)/obj/shinjukud/,server.o tasks.o) $(B)/obj/proto/proto.o -lbpf -lelf -lz -lrt \
		$(CHECK_LIBS) -o $@

# --- fuzzing: libFuzzer with ASan and UBSan (clang-19, libclang-rt-19-dev) --
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	$(WARN) -std=gnu11
FUZZERS := $(B)/fuzz/fuzz_req $(B)/fuzz/fuzz_rep $(B)/fuzz/fuzz_server

$(B)/fuzz/fuzz_req $(B)/fuzz/fuzz_rep: $(B)/fuzz/%: tests/fuzz/%.c proto/proto.c proto/proto.h bpf/shj_shared.h
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< proto/proto.c -o $@

$(B)/fuzz/fuzz_server: tests/fuzz/fuzz_server.c tests/unit/maps_only.h shinjukud/server.c shinjukud/tasks.c proto/proto.c proto/proto.h $(wildcard shinjukud/*.h) bpf/shj_shared.h $(SKEL)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -I$(B)/bpf $< shinjukud/server.c shinjukud/tasks.c \
		proto/proto.c -lbpf -lelf -lz -lrt -o $@

$(B)/fuzz/seeds: tests/fuzz/seeds.c proto/proto.c proto/proto.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 $< proto/proto.c -o $@

# --- running ----------------------------------------------------------------
# The integration tests need sched_ext: natively where the host kernel has it,
# otherwise in a VM booting a kernel that has (tests/vm/run).
check: deps
	$(Q)$(MAKE) all
	$(Q)$(MAKE) check-unit
	$(Q)$(MAKE) check-install
	$(Q)$(MAKE) check-man
	$(Q)$(MAKE) check-ctl
	$(Q)$(MAKE) check-fuzz
	$(Q)$(MAKE) check-asan
	$(Q)$(MAKE) check-rocksdb
	$(Q)$(MAKE) check-deb
	$(Q)$(MAKE) check-vm

check-unit: $(UNIT_TESTS) $(B)/tests/shj-try
	$(Q)tests/unit/run.sh $(UNIT_TESTS)

check-install: all
	$(Q)tests/install/run.sh

check-man: all
	$(Q)tests/man/run.sh

# shjctl and readiness against shinjukud --dry-run on the host
check-ctl: all
	$(Q)tests/ctl/run.sh

# each fuzzer for a bounded time (FUZZ_SECS each, default 20)
check-fuzz: $(FUZZERS) $(B)/fuzz/seeds
	$(Q)tests/fuzz/run.sh

# the unit suites and a dry-run daemon under a client flood, built with ASan
# and UBSan in $(B)/asan: no report, no leak
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
check-asan:
	$(Q)$(MAKE) B=$(B)/asan CFLAGS="$(ASAN_CFLAGS)" asan-build
	$(Q)tests/asan/run.sh $(B)/asan
asan-build: $(UNIT_TESTS) $(B)/tests/shj-try $(B)/bin/shinjukud $(B)/bin/shjctl

# Under the newest kernel and the oldest (6.12 LTS); check-kernels: every
# series scripts/fetch-kernel knows. Natively, once, where the host has
# sched_ext (its kernel is the one there is).
CHECK_KERNELS ?= 7.3 6.12
ALL_KERNELS = $(shell scripts/fetch-kernel --list)

# rocksdb-server through its UDP front end, on the host (the kernel's own
# scheduler; check-vm runs it under shinjuku)
check-rocksdb: all
	$(Q)tests/rocksdb/run.sh

check-vm: all
	$(Q)scripts/check-kernels $(CHECK_KERNELS)

check-kernels: all
	$(Q)scripts/check-kernels $(ALL_KERNELS)

# Benchmarks (not tests): timing figures, reported, never asserted.
# The tail-latency sweep beside the kernel's scx_simple and scx_central, then
# cyclictest beside hackbench, in one VM boot (BENCH_* variables:
# tests/bench/tail.sh, tests/bench/cyclictest.sh, tests/bench/run.sh)
bench: deps
	$(Q)$(MAKE) all
	$(Q)tests/bench/run.sh

# RocksDB GETs and SCANs (issue 12): EEVDF, EEVDF with SCANs at nice 19 or
# SCHED_IDLE, shinjuku without and with QoS and --switch-all, in one VM boot
# (BENCH_* variables: tests/bench/rocksdb.sh) -> results/rocksdb.md
bench-rocksdb: deps
	$(Q)$(MAKE) all
	$(Q)tests/bench/rocksdb-run.sh

bench-dispatch: all
	$(Q)tests/vm/run --native-ok -- tests/bench/dispatch-cost.sh

# a higher level marked runnable while a lower one holds its CPU
bench-handover: all
	$(Q)tests/vm/run --native-ok -- tests/bench/handover.sh

# the control plane: on the host (--dry-run where it has no sched_ext), a
# 16-tid batch with 16 and 65,536 threads registered (--dry-run: on the host
# as many as its open-file limit allows, then in a VM of 4 GiB), then in the
# VM with the scheduler attached
bench-ctl: all
	$(Q)tests/bench/ctl-speed.sh
	$(Q)tests/ctl/scale.sh
	$(Q)tests/vm/run --mem 4G -- tests/ctl/scale.sh
	$(Q)tests/vm/run -- tests/bench/ctl-speed.sh

demo: deps
	$(Q)$(MAKE) all
	$(Q)tests/vm/run --native-ok -- examples/demo.sh

# only what it installs: a package build needs no test tools (nor check)
install: $(B)/bin/shinjukud $(B)/bin/shjctl $(LIB_SO) $(B)/lib/$(LIB_SONAME)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(B)/bin/shinjukud $(DESTDIR)$(SBINDIR)/shinjukud
	install -m 755 $(B)/bin/shjctl $(DESTDIR)$(BINDIR)/shjctl
	install -m 755 $(LIB_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_REAL)) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libshinjuku.so
	install -m 644 libshinjuku/shinjuku.h $(DESTDIR)$(INCLUDEDIR)/shinjuku.h
	$(SUBST) shinjuku.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/shinjuku.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/shinjuku.pc
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/default
	$(SUBST) systemd/shinjukud.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/shinjukud.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/shinjukud.service
	@# the options file is the administrator's: never overwritten
	test -e $(DESTDIR)$(SYSCONFDIR)/default/shinjukud || \
		install -m 644 systemd/shinjukud.default $(DESTDIR)$(SYSCONFDIR)/default/shinjukud
	install -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man8
	install -m 644 $(wildcard man/*.3) $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(wildcard man/*.8) $(DESTDIR)$(MANDIR)/man8/

# Debian packages (debian/): libshinjuku0, libshinjuku-dev, shinjukud, built
# from a copy of the tree in $(B)/deb, where the .debs land
DEB_SRC := $(B)/deb/shinjuku-$(VERSION)
deb: deps
	$(Q)rm -rf $(B)/deb && mkdir -p $(DEB_SRC)
	$(Q)tar -c --exclude=./build --exclude=./.cache --exclude=./.git --exclude=./results . | tar -x -C $(DEB_SRC)
	$(Q)cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b
	$(Q)ls $(B)/deb/*.deb

# the packages installed in a pristine Debian 12 chroot (debootstrap)
check-deb: deb
	$(Q)tests/deb/run.sh $(B)/deb

# leaves $(SYSCONFDIR)/default/shinjukud, the administrator's
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/shinjukud $(DESTDIR)$(BINDIR)/shjctl $(DESTDIR)$(LIBDIR)/libshinjuku.so* \
		$(DESTDIR)$(INCLUDEDIR)/shinjuku.h $(DESTDIR)$(PKGCONFIGDIR)/shinjuku.pc \
		$(DESTDIR)$(SYSTEMDUNITDIR)/shinjukud.service \
		$(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(wildcard man/*.3))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(wildcard man/*.8)))

clean:
	rm -rf $(B)
