# adapt.mk - online adaptation on the simulator (issue 16), included by the
# Makefile:
#
#   make adapt OBJ=adapt-one [SEED=1] [TRACE=before.csv]
#        [TRACE_AFTER=after.csv] [CHANGE_AT=n] [ADAPT_BASE=ppo|noop]
#        [ADAPT_VARIANTS="rollout:l=1 ..."] [RETRAIN=1] [ADAPT_EPISODES=10]
#        [ADAPT_ARGS=--realtime 50]
#
# The system before the change is the objective's [model] trace, the one
# after it [pipeline] trace_after, the change comes at step [pipeline]
# change_at of every episode (TRACE, TRACE_AFTER, CHANGE_AT override).
# Fits both models, trains the base policy on the one before (ADAPT_BASE=
# noop: the objective's no-op configuration instead, no training), runs
# policy-eval sim --adapt with every variant beside optimal (the new
# optimum after the change), the base and random, and writes
#   $(RESULTS)/OBJ/adapt/adapt.csv  per controller: normalised score after
#       the change, periods to recover (reward within 5 % of the
#       optimum-random span of the optimum's at every later step), decision
#       time (wall and CPU: mean, p99, max) and work (model callbacks: the
#       plan's bound and the most one decision made), detection and refit
#       figures (policy-eval --help)
#   $(RESULTS)/OBJ/adapt/adapt.png  reward per period of the first episode
# RETRAIN=1 also trains PPO on the model after the change (its wall time in
# retrain.csv beside its score on the changed system). LIVE=1 also runs
# the base policy and the rollout live on a local testbed (pipelines/
# live.sh) whose node 2 the fault injection slows LIVE_SLOW (3) times from
# period CHANGE_AT on: $(RESULTS)/OBJ/adapt/live/ (LIVE_ADAPT: the
# rollout's spec; model=refit: it finds the change in the measured windows
# and refits from them and the old trace; LIVE_WINDOW, LIVE_SEED, TB_ARGS
# as in live.sh).

OBJ            ?= delay
OBJDIR         ?= pipelines/objectives
MODELS         ?= models
RESULTS        ?= results
ADAPT_BASE     ?= ppo
ADAPT_EPISODES ?= 10
TRACE_AFTER    ?=
CHANGE_AT      ?=
RETRAIN        ?=
# extra policy-eval sim options, e.g. --realtime 50 (decision times are
# wall clock: at real-time priority other jobs cannot stretch them)
ADAPT_ARGS     ?=
LIVE           ?=
LIVE_SLOW      ?= 3
LIVE_WINDOW    ?= 2

.PHONY: adapt adapt-run

ADP_OBJF := $(OBJDIR)/$(OBJ).obj
ADP_SEED := $(if $(SEED),$(SEED),1)
ADP_M    := $(MODELS)/$(OBJ)/adapt
ADP_R    := $(RESULTS)/$(OBJ)/adapt
ADP_TOOLS := $(addprefix $(BUILD)/bin/,rf-fit sim-env ppo-train policy-eval \
	$(if $(LIVE),testbed trace-collect actuate))
ADP_GET = $(shell $(BUILD)/bin/sim-env describe $(ADP_OBJF) --get $(1) 2>/dev/null)

ifneq ($(filter adapt,$(MAKECMDGOALS)),)
ifeq ($(wildcard $(ADP_OBJF)),)
$(error unknown objective '$(OBJ)': no $(ADP_OBJF))
endif
endif

# The tools first, the objective checked (describe refuses values a shell
# would interpret), then the run in a sub-make that can ask sim-env.
adapt:
	@$(MAKE) -s --no-print-directory -j$$(nproc 2>/dev/null || echo 1) $(ADP_TOOLS)
	@$(BUILD)/bin/sim-env describe $(ADP_OBJF) --get name >/dev/null
	@$(MAKE) --no-print-directory adapt-run

ifneq ($(filter adapt-run,$(MAKECMDGOALS)),)
ADP_BEFORE := $(or $(TRACE),$(call ADP_GET,trace))
ADP_AFTER_W := $(call ADP_GET,pipeline.trace_after)
ADP_AFTER  := $(or $(TRACE_AFTER),$(if $(ADP_AFTER_W),$(OBJDIR)/$(ADP_AFTER_W)))
ADP_CHANGE := $(or $(CHANGE_AT),$(call ADP_GET,pipeline.change_at))
ADP_FIT    := $(shell $(BUILD)/bin/sim-env describe $(ADP_OBJF) --model-args 2>/dev/null)
ifeq ($(wildcard $(ADP_BEFORE)),)
$(error adapt: no trace before the change '$(ADP_BEFORE)' (TRACE=, or [model] trace; see traces/README.md))
endif
ifeq ($(wildcard $(ADP_AFTER)),)
$(error adapt: no trace after the change '$(ADP_AFTER)' (TRACE_AFTER=, or [pipeline] trace_after))
endif
ifeq ($(ADP_CHANGE),)
$(error adapt: no change step (CHANGE_AT=, or [pipeline] change_at))
endif
# The variants: the paper's one-step rollout (with the critic of a PPO
# base), two steps, component-wise, Monte-Carlo, the two-step search
# (d=2: both moves optimised; the base policy of the old system undoes a
# first move toward the new optimum), the same averaged over 16 draws of
# the load process (runs=16: one draw makes it move ahead of load changes
# that mostly do not come), and the two that find the change themselves.
# Every decision is bounded by the default work budget (budget=, adapt.h).
ADAPT_VARIANTS ?= rollout:l=1 rollout:l=2 rollout:l=1,cw \
	rollout:l=1,mc=10,h=10 rollout:l=2,d=2 rollout:l=2,d=2,runs=16 \
	rollout:l=2,d=2,runs=16,model=detect \
	rollout:l=2,d=2,runs=16,model=refit,trace=$(ADP_BEFORE)
ADP_POLICY := $(if $(filter ppo,$(ADAPT_BASE)),$(ADP_M)/policy.msgpack)
LIVE_ADAPT ?= rollout:l=2,d=2,runs=16,model=refit,trace=$(ADP_BEFORE)
ifneq ($(LIVE),)
ifeq ($(ADP_POLICY),)
$(error adapt LIVE=1: the live run needs the PPO base (ADAPT_BASE=ppo))
endif
endif
endif

adapt-run: $(ADP_R)/adapt.csv $(ADP_R)/adapt.png \
		$(if $(RETRAIN),$(ADP_R)/retrain.csv) \
		$(if $(LIVE),$(ADP_R)/live/summary.csv)
	@:

# 1. The models before and after the change.
$(ADP_M)/before.msgpack: $(ADP_BEFORE) $(ADP_OBJF) $(BUILD)/bin/rf-fit
	@mkdir -p $(@D)
	$(BUILD)/bin/rf-fit fit -q $(ADP_FIT) $(FIT_ARGS) --seed $(ADP_SEED) \
		-o $@ $(ADP_BEFORE) >/dev/null
$(ADP_M)/after.msgpack: $(ADP_AFTER) $(ADP_OBJF) $(BUILD)/bin/rf-fit
	@mkdir -p $(@D)
	$(BUILD)/bin/rf-fit fit -q $(ADP_FIT) $(FIT_ARGS) --seed $(ADP_SEED) \
		-o $@ $(ADP_AFTER) >/dev/null

# 2. The base policy, trained on the system before the change.
$(ADP_M)/policy.msgpack: $(ADP_M)/before.msgpack $(ADP_OBJF) $(BUILD)/bin/ppo-train
	$(BUILD)/bin/ppo-train -q --model $< --seed $(ADP_SEED) --threads 1 \
		$(PPO_ARGS) -o $@ $(ADP_OBJF)

# 3. Every controller on the same test episodes with the change.
$(ADP_R)/adapt.csv: $(ADP_M)/before.msgpack $(ADP_M)/after.msgpack $(ADP_POLICY) \
		$(ADP_OBJF) $(BUILD)/bin/policy-eval
	@mkdir -p $(ADP_R)/sim
	$(BUILD)/bin/policy-eval sim -q --model $(ADP_M)/before.msgpack \
		--model-after $(ADP_M)/after.msgpack --change-at $(ADP_CHANGE) \
		$(if $(ADP_POLICY),--policy $(ADP_POLICY)) --seed $(ADP_SEED) \
		--episodes $(ADAPT_EPISODES) $(addprefix --adapt ,$(ADAPT_VARIANTS)) \
		$(ADAPT_ARGS) -o $(ADP_R)/sim $(ADP_OBJF)
	cp $(ADP_R)/sim/adapt.csv $@.tmp && mv $@.tmp $@

$(ADP_R)/adapt.png: $(ADP_R)/adapt.csv pipelines/adapt.gp
	p=$$(awk -F, 'NR > 1 && $$4 != "random" { printf "%s ", $$4 }' $<); \
	gnuplot -e "dir='$(ADP_R)/sim'; out='$@.tmp'; change=$(ADP_CHANGE)" \
		-e "title='$(OBJ): the system changes at step $(ADP_CHANGE)'" \
		-e "policies='$$p'" pipelines/adapt.gp \
		&& mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }

# 4. RETRAIN=1: PPO trained again on the changed system, timed, and its
# score there (no change: it starts on the new system).
$(ADP_R)/retrain.csv: $(ADP_M)/after.msgpack $(ADP_OBJF) $(BUILD)/bin/ppo-train $(BUILD)/bin/policy-eval
	@mkdir -p $(ADP_R)/retrain
	$(BUILD)/bin/ppo-train --model $< --seed $(ADP_SEED) \
		--threads 1 $(PPO_ARGS) -o $(ADP_M)/policy-after.msgpack \
		$(ADP_OBJF) 2>$(ADP_R)/retrain/train.log
	$(BUILD)/bin/policy-eval sim -q --model $< --policy $(ADP_M)/policy-after.msgpack \
		--seed $(ADP_SEED) --episodes $(ADAPT_EPISODES) -b optimal,random \
		-o $(ADP_R)/retrain $(ADP_OBJF)
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($$i == "norm_score") c = i } \
		NR == FNR && $$4 == "ppo" { s = $$c } \
		NR != FNR && match($$0, / in [0-9.]+ s /) { w = substr($$0, RSTART + 4, RLENGTH - 7) } \
		END { print "policy,train_wall_s,norm_score_new_system"; print "ppo-retrained," w "," s }' \
		$(ADP_R)/retrain/summary.csv $(ADP_R)/retrain/train.log >$@.tmp && mv $@.tmp $@

# 5. LIVE=1: the base policy, then the rollout, each on a fresh testbed
# through the objective's test episode 0, node 2 slowed LIVE_SLOW times
# from period CHANGE_AT on (--fault times are seconds: periods x window).
ADP_FAULT = t=$$(($(ADP_CHANGE) * $(LIVE_WINDOW))) node2 slow=$(LIVE_SLOW)
$(ADP_R)/live/summary.csv: $(ADP_M)/before.msgpack $(ADP_POLICY) $(ADP_OBJF) \
		pipelines/live.sh $(addprefix $(BUILD)/bin/,policy-eval testbed \
		trace-collect actuate)
	@mkdir -p $(@D)
	BIN=$(BUILD)/bin LIVE_CONTROLLERS="ppo adapt" \
		LIVE_ADAPT="$(LIVE_ADAPT)" LIVE_WINDOW=$(LIVE_WINDOW) \
		TB_ARGS="$(TB_OBJ_$(OBJ)) $(TB_ARGS)" \
		LIVE_FAULT="$(ADP_FAULT)" \
		sh pipelines/live.sh $(ADP_OBJF) $(ADP_POLICY) \
		$(ADP_M)/before.msgpack $(@D) || { s=$$?; \
		mv -f $@ $(@D)/summary-partial.csv 2>/dev/null; exit $$s; }
