# meshrl - build, test, benchmark and run the experiment pipeline.
#
#   make                 build every tool into build/bin
#   make test            unit + end-to-end tests; last line "N passed, N failed, N skipped"
#   make asan            the same tests on an ASan+UBSan build (build/asan)
#   make bench           benchmarks, one CSV line per figure
#   make fuzz FUZZ=csv FUZZ_SECONDS=600   run one fuzz target (tests/fuzz)
#   make experiment OBJ=delay             the whole pipeline for one objective
#   make trace OBJ=delay                  that objective's trace on this machine's testbed
#   make quality [OBJS=...] [MODEL_SEEDS=...] [PPO_SEEDS=...]   PPO's quality table (results/quality.csv)
#   make install PREFIX=/usr/local DESTDIR=
#
# How the code is organised into tools and modules: see "Modules" below
# and the README.

CC      ?= cc
BUILD   ?= build
# One spelling of the build folder: the compiler's dependency files (.d)
# name their targets by path, so BUILD=$PWD/build (as the e2e tests call
# make) must mean the same targets as BUILD=build, or a header change
# would not rebuild what such a run compiled.
override BUILD := $(patsubst $(CURDIR)/%,%,$(abspath $(BUILD)))
OPT     ?= -O3 -march=native
PREFIX  ?= /usr/local
SAN     ?=

# ---------------------------------------------------------------------------
# Modules. Every folder tools/F/ is a unit:
#   - tools/lib/ is the core library every unit stands on;
#   - a folder with a main.c is a tool (build/bin/F);
#   - a folder with an include/ folder exports a module: those headers are
#     its public interface, everything else in F/ is private to F;
#   - the .c files of F other than main.c form F's library (libF.a).
# USES_F lists the modules F's code may use. Each unit compiles with the
# include path tools/lib, tools/F (and tools/F/include), and the include/
# folders of its USES, nothing else, and links only those libraries: a reach
# into another folder's private header, or a call into a module not listed,
# fails the build. UNITS is ordered by pipeline stage, lowest first; a unit
# may only use units before it (checked below), so there are no cycles.
UNITS := meshapi testbed actuate rf-fit trace-collect sim-env policy \
	evaluate ppo-train adapt policy-eval
USES_meshapi       :=
USES_testbed       := meshapi
USES_actuate       := meshapi
USES_trace-collect := actuate meshapi rf-fit
USES_rf-fit        :=
USES_sim-env       := rf-fit
USES_policy        :=
USES_evaluate      := sim-env
USES_ppo-train     := policy evaluate sim-env
USES_adapt         := rf-fit
USES_policy-eval   := policy evaluate sim-env adapt rf-fit

# Every module a unit needs at link time (its uses, theirs, and so on).
uses_all = $(sort $(foreach m,$(USES_$(1)),$(m) $(call uses_all,$(m))))
# A unit may use only units that come before it in UNITS.
before = $(if $(filter $(1),$(firstword $(2))),,$(firstword $(2)) $(call before,$(1),$(wordlist 2,$(words $(2)),$(2))))
$(foreach u,$(UNITS),$(foreach m,$(USES_$(u)),$(if $(filter $(m),$(call before,$(u),$(UNITS))),,\
	$(error Makefile: $(u) uses $(m), which is not below it in UNITS))))

TOOLS     := $(patsubst tools/%/main.c,%,$(wildcard tools/*/main.c))
unit_src   = $(filter-out %/main.c,$(wildcard tools/$(1)/*.c))
unit_lib   = $(if $(call unit_src,$(1)),$(BUILD)/lib/lib$(1).a)
# Libraries in link order: the unit itself, then its modules from the
# highest stage down, then the core.
link_libs  = $(call unit_lib,$(1)) $(foreach m,$(call reverse,$(filter $(call uses_all,$(1)),$(UNITS))),$(call unit_lib,$(m))) $(BUILD)/lib/libcore.a
reverse    = $(if $(1),$(call reverse,$(wordlist 2,$(words $(1)),$(1))) $(firstword $(1)))
unit_inc   = -Itools/lib -Itools/$(1) $(if $(wildcard tools/$(1)/include),-Itools/$(1)/include) \
	$(foreach m,$(USES_$(1)),-Itools/$(m)/include)

CPPFLAGS += -D_GNU_SOURCE
CFLAGS   += -std=c11 -Wall -Wextra -Werror -g $(OPT) $(SAN) -MMD -MP -pthread
LDFLAGS  += $(SAN) -pthread -Wl,--as-needed
LDLIBS   += -lcsv -lmsgpackc -lcurl -lmicrohttpd -lsqlite3 -lm

CORE_SRC  := $(wildcard tools/lib/*.c)
BINS      := $(addprefix $(BUILD)/bin/,$(TOOLS))
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
ALL_LIBS  := $(BUILD)/lib/libcore.a $(foreach u,$(UNITS),$(call unit_lib,$(u)))
DEPS_OK   := $(BUILD)/.deps-build

.PHONY: all test asan bench fuzz install clean modules
.SECONDARY:
.DEFAULT_GOAL := all

all: $(BINS) $(UNIT_BINS)

# Missing Debian packages are installed when run as root, otherwise the
# exact apt-get line is printed (pipelines/deps.sh).
$(DEPS_OK): pipelines/deps.sh
	@sh pipelines/deps.sh build
	@mkdir -p $(@D) && touch $@

$(BUILD)/obj/tools/lib/%.o: tools/lib/%.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itools/lib $(CFLAGS) -c -o $@ $<

# One rule per unit: its own include path.
define unit_rules
$(BUILD)/obj/tools/$(1)/%.o: tools/$(1)/%.c | $$(DEPS_OK)
	@mkdir -p $$(@D)
	$$(CC) $$(CPPFLAGS) $(call unit_inc,$(1)) $$(CFLAGS) -c -o $$@ $$<
$(BUILD)/lib/lib$(1).a: $(patsubst %.c,$(BUILD)/obj/%.o,$(call unit_src,$(1)))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach u,$(UNITS),$(eval $(call unit_rules,$(u))))

$(BUILD)/lib/libcore.a: $(patsubst %.c,$(BUILD)/obj/%.o,$(CORE_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

define tool_rule
$(BUILD)/bin/$(1): $(BUILD)/obj/tools/$(1)/main.o $(call link_libs,$(1))
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$< $(call link_libs,$(1)) $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

# Unit tests are white-box: they see every folder and link every library.
TEST_INC := -Itests/unit -Itools/lib $(foreach u,$(UNITS),-Itools/$(u) \
	$(if $(wildcard tools/$(u)/include),-Itools/$(u)/include))
$(BUILD)/obj/tests/unit/%.o: tests/unit/%.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(TEST_INC) $(CFLAGS) -c -o $@ $<
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(ALL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(LDLIBS)

test: all
	@sh pipelines/deps.sh test
	@sh tests/run.sh $(BUILD)

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -march=native -fno-omit-frame-pointer" \
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

# One line per unit, "unit|uses|include flags", for tests/e2e/test_modules.sh.
modules:
	@$(foreach u,$(UNITS),echo '$(u)|$(USES_$(u))|$(strip $(call unit_inc,$(u)))';)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
-include $(wildcard pipelines/*.mk)
