# meshrl - build, test, benchmark and run the experiment pipeline.
#
#   make                 build every tool into build/bin
#   make test            unit + end-to-end tests; last line "N passed, N failed"
#   make asan            the same tests on an ASan+UBSan build (build/asan)
#   make bench           benchmarks, one CSV line per figure
#   make fuzz FUZZ=csv FUZZ_SECONDS=600   run one fuzz target (tests/fuzz)
#   make experiment OBJ=delay             the whole pipeline for one objective
#   make install PREFIX=/usr/local DESTDIR=
#
# Every tool is a directory tools/<name>/ with a main.c; all other .c files
# under tools/ form one static library, libmeshrl.a, that every tool links.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O3 -march=native
PREFIX  ?= /usr/local
SAN     ?=

TOOL_DIRS := $(sort $(dir $(wildcard tools/*/main.c)))
TOOLS     := $(patsubst tools/%/,%,$(TOOL_DIRS))
LIB_SRC   := $(filter-out %/main.c,$(wildcard tools/*/*.c))
INC_DIRS  := tools/lib $(patsubst %/,%,$(sort $(dir $(LIB_SRC))))

CPPFLAGS += -D_GNU_SOURCE $(addprefix -I,$(INC_DIRS))
CFLAGS   += -std=c11 -Wall -Wextra -Werror -g $(OPT) $(SAN) -MMD -MP -pthread
LDFLAGS  += $(SAN) -pthread -Wl,--as-needed
LDLIBS   += -lcsv -lmsgpackc -lcurl -lmicrohttpd -lsqlite3 -lm

LIB_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
LIB       := $(BUILD)/libmeshrl.a
BINS      := $(addprefix $(BUILD)/bin/,$(TOOLS))
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
DEPS_OK   := $(BUILD)/.deps-build

.PHONY: all test asan bench fuzz install clean
.SECONDARY:
.DEFAULT_GOAL := all

all: $(BINS) $(UNIT_BINS)

# Missing Debian packages are installed when run as root, otherwise the
# exact apt-get line is printed (pipelines/deps.sh).
$(DEPS_OK): pipelines/deps.sh
	@sh pipelines/deps.sh build
	@mkdir -p $(@D) && touch $@

$(BUILD)/obj/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/tools/%/main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/obj/tests/unit/%.o: CPPFLAGS += -Itests/unit

test: all
	@sh pipelines/deps.sh test
	@sh tests/run.sh $(BUILD)

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test

bench: all
	@sh pipelines/deps.sh bench
	@sh tests/bench/run.sh $(BUILD)

FUZZ ?= csv
FUZZ_SECONDS ?= 60
fuzz:
	@sh pipelines/deps.sh fuzz
	@sh tests/fuzz/run.sh $(FUZZ) $(FUZZ_SECONDS)

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
-include $(wildcard pipelines/*.mk)
