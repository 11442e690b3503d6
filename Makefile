# hone: `make deps` (Debian packages, once), `make`, `make test`, `make bench`.
# `make test SAN=1` builds and tests an ASan+UBSan binary (hone-san) instead.
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

.PHONY: all deps test bench lint clean valgrind

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
