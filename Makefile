# hone: `make deps` (Debian packages, once), `make`, `make test`, `make bench`.
# `make test SAN=1` builds and tests an ASan+UBSan binary (hone-san) instead.
# `make fuzz` runs the libFuzzer targets in fuzz/ for FUZZ_SECONDS each (clang).
# `make valgrind` builds hone-vg (-O1 -g) and runs part of the suite under valgrind memcheck.

PKGS    := lua5.4 libcurl libcjson sqlite3 libseccomp
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_DEFAULT_SOURCE -Ikernel -Itasks/atari
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

ifeq ($(SAN),1)
BIN     := hone-san
OBJDIR  := build/san
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
export ASAN_OPTIONS := detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
else ifeq ($(VG),1)
BIN     := hone-vg
OBJDIR  := build/vg
CFLAGS  += -O1 -fno-omit-frame-pointer
else
BIN     := hone
OBJDIR  := build/release
endif

# The Atari engines and their binding live with their task; their objects are prefixed
# so a tasks/atari/x.c never collides with a kernel/x.c.
SRCS  := $(wildcard kernel/*.c)
ATARI := $(wildcard tasks/atari/*.c)
HDRS  := $(wildcard kernel/*.h tasks/atari/*.h)
OBJS  := $(SRCS:kernel/%.c=$(OBJDIR)/%.o) $(ATARI:tasks/atari/%.c=$(OBJDIR)/atari_%.o)

.PHONY: all deps test bench lint clean fuzz fuzz-build valgrind

all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(OBJDIR)/%.o: kernel/%.c $(HDRS) | $(OBJDIR)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJDIR)/atari_%.o: tasks/atari/%.c $(HDRS) | $(OBJDIR)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJDIR):
	mkdir -p $@

deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    $$(sed -e 's/#.*//' vendor/debian-packages.txt)

test: $(BIN)
	HONE_BIN=./$(BIN) ./$(BIN) lua tests/runner.lua $(TESTS)

valgrind:
	$(MAKE) VG=1
	tests/valgrind/run.sh

lint:
	luacheck -q lua recipes tasks tests bench

bench: $(BIN)
	./$(BIN) lua bench/run.lua

clean:
	rm -rf build hone hone-san hone-vg

# ---- fuzzing: clang + libFuzzer, ASan + UBSan; objects of their own in build/fuzz -------
# Targets are fuzz/NAME.c; seeds in fuzz/corpus/NAME, crashes fixed and kept as inputs in
# fuzz/regressions/NAME (both replayed by tests/test_fuzz.lua in `make test`), a dictionary
# in fuzz/NAME.dict when there is one. What a long run discovers goes to build/fuzz/corpus,
# crashes to build/fuzz/crashes.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= llm_reply proposal json_bridge
FUZZ_DIR     := build/fuzz
# clang, unlike gcc, flags libseccomp's own SCMP_A0 macro with -Wmissing-field-initializers.
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
                -std=c11 -Wall -Wextra -Werror -Wno-missing-field-initializers -D_DEFAULT_SOURCE \
                -Ikernel -Itasks/atari $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -DHONE_FUZZ_ROOT='"$(CURDIR)"'
FUZZ_OBJS    := $(filter-out $(FUZZ_DIR)/main.o,$(SRCS:kernel/%.c=$(FUZZ_DIR)/%.o)) \
                $(ATARI:tasks/atari/%.c=$(FUZZ_DIR)/atari_%.o)
.SECONDARY: $(FUZZ_OBJS)   # objects reached through a pattern rule: make must not delete them
FUZZ_FLAGS   := -timeout=10 -max_len=16384 -print_final_stats=1

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)

$(FUZZ_DIR)/%: fuzz/%.c $(FUZZ_OBJS) $(HDRS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

$(FUZZ_DIR)/%.o: kernel/%.c $(HDRS) | $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/atari_%.o: tasks/atari/%.c $(HDRS) | $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR):
	mkdir -p $@

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/crashes/$$t fuzz/regressions/$$t || exit 1; \
	    dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_DIR)/$$t $(FUZZ_FLAGS) $$dict -max_total_time=$(FUZZ_SECONDS) \
	        -artifact_prefix=$(FUZZ_DIR)/crashes/$$t/ \
	        $(FUZZ_DIR)/corpus/$$t fuzz/corpus/$$t fuzz/regressions/$$t || exit 1; \
	done
