# trace.mk - an objective's trace, collected on this machine's testbed.
#
#   make trace OBJ=delay [TRACE=file.csv] [TRACE_BUDGET=30m]
#       starts a testbed of its own (free ports, $(TRACE_RUN)), sweeps the
#       objective's own grid with trace-collect --adaptive within the
#       budget (progress bar with the time left on a terminal), writes
#       TRACE and TRACE.meta (the sidecar: testbed settings, what the nodes
#       charged per request, window, version), and stops the testbed, also
#       when interrupted. The same command again resumes: configurations in
#       the trace are kept and count against the budget. Then:
#         make experiment OBJ=delay TRACE=traces/local/delay.csv
#
# Objectives known here: those with a TRACE_GRID_<obj> below. Their grids
# are the objectives' loads (delay: the levels and their jitter) and
# actions, [const] values fixed; the bounds steer the adaptive sampling to
# where the objective decides (--bound; the middle of a bound's range).
# The testbed: TB_OBJ_<obj> (pipelines/testbed.mk), then TB_ARGS (extra
# options, e.g. --compute-cpu-ms 18). Everything is run with `nice`.

TRACE_OBJS   := delay throughput cost differentiation adapt-one adapt-two
TRACE_DIR    ?= traces/local
TRACE_BUDGET ?= 30m
TRACE_RUN    ?= $(BUILD)/run/trace-$(or $(TRACE_NAME_$(OBJ)),$(OBJ))
TRACE_SEED   ?= 1
# window, windows per configuration, settling: 2 x 2 s after 2 s and until
# the line stops growing (--steady, at most 10 s more)
TRACE_COLLECT ?= -w 2 -n 2 --settle 2 --steady 10 --timeout 8

TRACE_SCHEMA_delay := compute
TRACE_APPLY_delay  := --apply rate.compute=-1
TRACE_GRID_delay   := max_l1=2:14:2;p1=0:100:20;c1=1:5
TRACE_BOUND_delay  := --bound 'd1<=0.6'

TRACE_SCHEMA_throughput := info2
TRACE_APPLY_throughput  := --apply rate.info1=-1 --apply rate.info2=-1
TRACE_GRID_throughput   := max_l1=5,10,15,20;max_l2=5,10,15,20;p11=0:0.8:0.2;p21=0:0.8:0.2;b1=0:0.8:0.2;b2=0:0.8:0.2;c1=1;c2=1
TRACE_BOUND_throughput  := --bound 'd11<=0.0425' --bound 'd12<=0.0425' \
	--bound 'd21<=0.1115' --bound 'd22<=0.1115'

TRACE_SCHEMA_cost := info2
TRACE_APPLY_cost  := --apply rate.info1=-1 --apply rate.info2=-1
TRACE_GRID_cost   := max_l1=5,10,15;max_l2=5,10,15;p11=0:0.8:0.2;p21=0:0.8:0.2;b1=0;b2=0;c1=1:5;c2=1:5
TRACE_BOUND_cost  := --bound 'd11<=0.95' --bound 'd12<=0.95' \
	--bound 'd21<=0.115' --bound 'd22<=0.115'

TRACE_SCHEMA_differentiation := classes
TRACE_APPLY_differentiation  := --apply rate.compute=-1 \
	--apply rate.compute.premium=-1
TRACE_GRID_differentiation   := max_l1p=2,4,6;max_l1f=2,4,6;p1p=0:100:50;p1f=0:100:50;b1f=1,2,4,8;c1=1,3,5
TRACE_BOUND_differentiation  := --bound 'd1p<=0.6'

# Online adaptation's systems, before and after the change: TRACE_PHASE=
# after slows node 2 three times (the testbed's slow.node2, as make adapt
# LIVE=1 does live) and names the output OBJ-after.csv (before: OBJ-
# before.csv, node 2 at full speed).
TRACE_PHASE ?= before
ifeq ($(filter $(TRACE_PHASE),before after),)
$(error TRACE_PHASE is before or after, not '$(TRACE_PHASE)')
endif
TRACE_SLOW  := --apply slow.node2=$(if $(filter after,$(TRACE_PHASE)),3,1)
TRACE_SCHEMA_adapt-one := compute
TRACE_APPLY_adapt-one  := --apply rate.compute=-1 $(TRACE_SLOW)
TRACE_GRID_adapt-one   := max_l1=5,10,15;p1=0:100:20;c1=1:5
TRACE_BOUND_adapt-one  := --bound 'd1<=0.12'
TRACE_NAME_adapt-one   := adapt-one-$(TRACE_PHASE)

TRACE_SCHEMA_adapt-two := info2
TRACE_APPLY_adapt-two  := --apply rate.info1=-1 --apply rate.info2=-1 \
	$(TRACE_SLOW)
TRACE_GRID_adapt-two   := max_l1=5,10,15;max_l2=5,10,15;p11=0:0.8:0.2;p21=0:0.8:0.2;b1=0;b2=0;c1=1:5;c2=1:5
TRACE_BOUND_adapt-two  := --bound 'd11<=0.95' --bound 'd12<=0.95' \
	--bound 'd21<=0.115' --bound 'd22<=0.115'
TRACE_NAME_adapt-two   := adapt-two-$(TRACE_PHASE)

TRACE_OUT := $(or $(TRACE),$(TRACE_DIR)/$(or $(TRACE_NAME_$(OBJ)),$(OBJ)).csv)

.PHONY: trace
ifneq ($(filter trace,$(MAKECMDGOALS)),)
ifeq ($(filter $(OBJ),$(TRACE_OBJS)),)
$(error make trace: no grid for objective '$(OBJ)' (known: $(TRACE_OBJS)))
endif
endif

# The testbed is stopped on every way out (EXIT trap); an interrupt ends
# trace-collect with whole configurations written (exit 130).
trace: $(BUILD)/bin/testbed $(BUILD)/bin/trace-collect
	@mkdir -p -m 700 $(TRACE_RUN) && mkdir -p $(dir $(TRACE_OUT))
	@tb=$(BUILD)/bin/testbed; run=$(TRACE_RUN); \
	$$tb down --run-dir "$$run" >/dev/null 2>&1; \
	trap '$$tb down --run-dir "$$run" >/dev/null 2>&1' EXIT; \
	trap 'exit 130' INT TERM; \
	nice $$tb up --run-dir "$$run" --port 0 --control-port 0 \
		--node1-port 0 --node2-port 0 $(TB_OBJ_$(OBJ)) $(TB_ARGS) || exit $$?; \
	. "$$run/env"; \
	nice $(BUILD)/bin/trace-collect --env "$$run/env" \
		--schema $(TRACE_SCHEMA_$(OBJ)) $(TRACE_APPLY_$(OBJ)) \
		--grid '$(TRACE_GRID_$(OBJ))' $(TRACE_COLLECT) \
		--adaptive --budget $(TRACE_BUDGET) $(TRACE_BOUND_$(OBJ)) \
		--seed $(TRACE_SEED) --node "$$TB_NODE1" --node "$$TB_NODE2" \
		-o $(TRACE_OUT); rc=$$?; \
	[ $$rc -eq 0 ] && echo "trace $(OBJ): $(TRACE_OUT) (and .meta); next:" \
		"make experiment OBJ=$(OBJ) TRACE=$(TRACE_OUT)"; \
	[ $$rc -eq 130 ] && echo "trace $(OBJ): interrupted; the same" \
		"command resumes" >&2; \
	exit $$rc
