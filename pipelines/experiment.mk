# experiment.mk - the experiment pipeline (included by the Makefile).
#
#   make experiment OBJ=delay [SEED=1] [TRACE=file.csv] [LIVE=1]
#       trace -> rf-fit -> sim-env optimal -> ppo-train -> policy-eval
#       (simulator: seen and unseen load pattern) -> plots, into
#       $(MODELS)/OBJ[/seed-S]/ and $(RESULTS)/OBJ[/seed-S]/. Incremental:
#       every step is a file with its real inputs as prerequisites.
#   make experiments OBJS="delay throughput" SEEDS="1 2 3" [JOBS=n] [HOSTS=file]
#       [RETRIES=n]
#       one `make experiment` per objective x seed with GNU parallel (here,
#       or over ssh hosts), resumable, then $(RESULTS)/summary.csv.
#
# Objectives are pipelines/objectives/OBJ.obj (sim-env's format). Only
# sim-env's parser reads them: this file asks `sim-env describe` for
# [model] trace, rf-fit's arguments, [eval] unseen (the unseen load
# pattern), whether actions are incremental, and [reward] bound1.
#
# An objective is data, and its values never reach a shell as code.
# `sim-env describe` refuses (exit 3, file:line) an objective with a value
# make or sh could interpret: paths are letters, digits and ._/+-, fit_args
# words of those and ,=%@, other values also : ; and blanks; expressions
# are handed out only as the numbers they fold to. `experiment` and
# `fidelity` run that check first, with its message shown, before any
# value is looked up ($(shell ... 2>/dev/null) below). A value that may hold
# ';' or blanks (eval.unseen) is passed in single quotes, which no value
# can hold. tests/e2e/test_objective_safety.sh puts $(touch F), backticks
# and ;touch F into every field of an objective and runs this pipeline.

OBJ       ?= delay
OBJS      ?= delay throughput cost differentiation
SEEDS     ?= 1 2 3
SEED      ?=
OBJDIR    ?= pipelines/objectives
MODELS    ?= models
RESULTS   ?= results
TRACE     ?=
LIVE      ?=
JOBS      ?=
HOSTS     ?=
# Remote runs: a failed run is tried again this many times, on another host
# where there is one (pipelines/experiments.sh).
RETRIES   ?= 2
# 0: `make experiment` does not check the Debian packages (a Slurm task:
# the nodes need only the build and gnuplot, whatever their distribution).
CHECK_DEPS ?= 1
BASELINES ?= optimal,noop,hpa50,hpa80,random
REMOTE_DIR ?= meshrl-remote
# Extra arguments for the tools, e.g. quick runs in tests:
# FIT_ARGS="--trees 20" PPO_ARGS="--timesteps 20000"
FIT_ARGS  ?=
PPO_ARGS  ?=
# An early stop: training stops once the deterministic policy's normalised
# score on ppo-train's validation episodes reaches this (--target-score).
# Empty (the default): the objective's whole budget of timesteps, so the
# reported figures are the final policy's (README, Evaluation protocol).
PPO_STOP  ?=
# Checkpoint selection (PPO_SELECT=1): ppo-train also keeps the policy
# with the best score on its validation episodes (--select-best), and
# policy-eval scores it on the same test episodes as the final one, in
# eval-selected/ (pattern seen-selected in summary.csv). The final
# policy's figures stay the ones reported.
PPO_SELECT ?=
# Test episodes per load pattern in policy-eval (seen and unseen).
EVAL_EPISODES ?= 10

.PHONY: experiment experiment-run experiment-tools experiments experiments-summary \
	fidelity fidelity-run validate validate-run

EXP_BIN  := $(BUILD)/bin
EXP_OBJF := $(OBJDIR)/$(OBJ).obj
EXP_RUN  := $(OBJ)$(if $(SEED),/seed-$(SEED))
EXP_M    := $(MODELS)/$(EXP_RUN)
EXP_R    := $(RESULTS)/$(EXP_RUN)
EXP_SEED := $(if $(SEED),$(SEED),1)
comma := ,
EXP_TOOLS := $(addprefix $(EXP_BIN)/,rf-fit sim-env ppo-train policy-eval \
	$(if $(LIVE),testbed trace-collect actuate))
EXP_DESCRIBE = $(shell $(EXP_BIN)/sim-env describe $(EXP_OBJF) --get $(1) 2>/dev/null)

# `experiment` builds the tools, checks the objective, then runs the chain
# in a sub-make (which can ask sim-env about the objective while it reads
# this file). Lookups happen only when an experiment is asked for. An
# objective whose trace is not shipped says why in [pipeline] trace_absent:
# without that trace (and no TRACE=) the run is skipped with that note.
ifneq ($(filter experiment fidelity validate,$(MAKECMDGOALS)),)
ifeq ($(wildcard $(EXP_OBJF)),)
$(error unknown objective '$(OBJ)': no $(EXP_OBJF) (known: $(patsubst $(OBJDIR)/%.obj,%,$(wildcard $(OBJDIR)/*.obj))))
endif
endif
# The tools are built with every core (a fresh clone builds them here).
# One run needs gnuplot besides the build (deps.sh run).
EXP_DEPS := $(if $(filter 0,$(CHECK_DEPS)),:,sh pipelines/deps.sh run)
EXP_NPROC := $(shell nproc 2>/dev/null || echo 1)
# make fidelity OBJ=x [TRACE=...] [SEED=s]: the model's optimal choices
# against the trace's own windows (sim-env fidelity), CSV and plot.
fidelity:
	@$(EXP_DEPS)
	@$(MAKE) -s --no-print-directory -j$(EXP_NPROC) $(EXP_TOOLS)
	@$(EXP_BIN)/sim-env describe $(EXP_OBJF) --get name >/dev/null
	@$(MAKE) --no-print-directory fidelity-run

experiment:
	@$(EXP_DEPS)
	@$(MAKE) -s --no-print-directory -j$(EXP_NPROC) $(EXP_TOOLS)
	@$(EXP_BIN)/sim-env describe $(EXP_OBJF) --get name >/dev/null
ifeq ($(TRACE),)
	@t=$$($(EXP_BIN)/sim-env describe $(EXP_OBJF) --get trace); \
	why=$$($(EXP_BIN)/sim-env describe $(EXP_OBJF) --get pipeline.trace_absent); \
	if [ -n "$$why" ] && [ ! -e "$$t" ]; then \
		echo "experiment $(OBJ): skipped: no $$t ($$why)"; \
	else $(MAKE) --no-print-directory experiment-run; fi
else
	@$(MAKE) --no-print-directory experiment-run
endif

ifneq ($(filter experiment-run fidelity-run validate-run,$(MAKECMDGOALS)),)
EXP_TRACE := $(or $(TRACE),$(call EXP_DESCRIBE,trace))
ifeq ($(EXP_TRACE),)
$(error $(EXP_OBJF): no [model] trace, and no TRACE= given)
endif
ifeq ($(wildcard $(EXP_TRACE)),)
$(error trace '$(EXP_TRACE)' not found$(if $(TRACE),, (named by $(EXP_OBJF))))
endif
EXP_FIT    := $(shell $(EXP_BIN)/sim-env describe $(EXP_OBJF) --model-args 2>/dev/null)
EXP_UNSEEN := $(call EXP_DESCRIBE,eval.unseen)
# The plots' middle panel: cores when an action sets them, the cost (e.g.
# c1 + c2) when actions are incremental steps, else the carried load.
EXP_INCR   := $(filter incremental,$(call EXP_DESCRIBE,action-kind))
EXP_MID    := $(if $(EXP_INCR),cost,$(if $(filter c c1,$(subst $(comma), ,$(call EXP_DESCRIBE,actions))),cores,carried))
# The delay bound line of the plots: [reward] bound1 when it is a number
# (it may name a parameter that varies: then NaN, no line).
EXP_BOUND  := $(or $(call EXP_DESCRIBE,reward.bound1),NaN)
endif

# A failed step leaves no empty folders behind (outputs are atomic already).
define exp_cleanup
{ rmdir -p --ignore-fail-on-non-empty $(1) 2>/dev/null; exit 1; }
endef

EXP_OUTPUTS := $(EXP_M)/system.msgpack $(EXP_R)/fit.csv $(EXP_R)/optimal.csv \
	$(EXP_M)/policy.msgpack $(EXP_R)/learning.csv \
	$(EXP_R)/eval-seen/summary.csv $(EXP_R)/eval-unseen/summary.csv \
	$(EXP_R)/learning.png $(EXP_R)/eval-seen.png $(EXP_R)/eval-unseen.png \
	$(if $(LIVE),$(EXP_R)/live/summary.csv) \
	$(if $(filter 1,$(PPO_SELECT)),$(EXP_R)/eval-selected/summary.csv)

experiment-run: $(EXP_OUTPUTS)
	@:

# The tools a run needs, all a remote host builds (pipelines/remote-run.sh).
experiment-tools: $(EXP_TOOLS)
	@:

# 1. System model. rf-fit's report (R2, NMAE per split) is kept beside.
$(EXP_M)/system.msgpack $(EXP_R)/fit.csv &: $(EXP_TRACE) $(EXP_OBJF) $(EXP_BIN)/rf-fit
	@mkdir -p $(EXP_M) $(EXP_R)
	$(EXP_BIN)/rf-fit fit -q $(EXP_FIT) $(FIT_ARGS) --seed $(EXP_SEED) \
		-o $(EXP_M)/system.msgpack $(EXP_TRACE) >$(EXP_R)/.fit.csv.tmp \
		|| { rm -f $(EXP_R)/.fit.csv.tmp; $(call exp_cleanup,$(EXP_M) $(EXP_R)); }
	@mv $(EXP_R)/.fit.csv.tmp $(EXP_R)/fit.csv

# Fidelity: the optimum's choices against the trace (absolute actions).
fidelity-run: $(EXP_R)/fidelity.csv $(EXP_R)/fidelity.png
	@:
$(EXP_R)/fidelity.csv: $(EXP_M)/system.msgpack $(EXP_OBJF) $(EXP_BIN)/sim-env
	$(EXP_BIN)/sim-env fidelity --model $< --trace $(EXP_TRACE) -o $@ $(EXP_OBJF)
$(EXP_R)/fidelity.png: $(EXP_R)/fidelity.csv pipelines/fidelity.gp
	gnuplot -e "csv='$<'; out='$@.tmp'; title='$(OBJ)'; bound=$(EXP_BOUND); nstate=$(call EXP_DESCRIBE,obs-dim)" \
		-e "target='$(firstword $(subst $(comma), ,$(call EXP_DESCRIBE,targets)))'" pipelines/fidelity.gp \
		&& mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }

# 2. The exact optimum on the simulator.
$(EXP_R)/optimal.csv: $(EXP_M)/system.msgpack $(EXP_OBJF) $(EXP_BIN)/sim-env
	$(EXP_BIN)/sim-env optimal -q --model $< --trace $(EXP_TRACE) -o $@ \
		--summary $(EXP_R)/optimal-summary.csv $(EXP_OBJF)

# 3. PPO on the simulator, its curve on validation episodes. PPO_STOP is
# an early stop only: a run that does not reach it has trained its whole
# budget and counts (ppo-train's exit 1, accepted here and only for that).
# An interrupted run (Ctrl-C, a killed job) leaves its checkpoint beside
# the policy; the next run resumes from it when it is newer than the model
# and the objective, else drops it (ppo-train itself refuses a checkpoint
# of another model, objective or hyper-parameters). A finished run removes
# it.
EXP_CKPT := $(EXP_M)/policy.msgpack.ckpt
$(EXP_M)/policy.msgpack $(EXP_R)/learning.csv &: $(EXP_M)/system.msgpack $(EXP_OBJF) $(EXP_BIN)/ppo-train
	@if [ -f $(EXP_CKPT) ] && [ $(EXP_CKPT) -nt $(EXP_M)/system.msgpack ] && \
		[ $(EXP_CKPT) -nt $(EXP_OBJF) ]; then echo "resuming from $(EXP_CKPT)"; \
	else rm -f $(EXP_CKPT); fi
	$(EXP_BIN)/ppo-train -q --model $(EXP_M)/system.msgpack --seed $(EXP_SEED) \
		--threads 1 $(if $(PPO_STOP),--target-score $(PPO_STOP)) \
		$(if $(filter 1,$(PPO_SELECT)),--select-best) $(PPO_ARGS) \
		-o $(EXP_M)/policy.msgpack --curve $(EXP_R)/learning.csv \
		$$([ -f $(EXP_CKPT) ] && echo --resume) $(EXP_OBJF) \
		$(if $(PPO_STOP),|| [ $$? -eq 1 ])
	@rm -f $(EXP_CKPT)

# 4. Evaluation of the final policy on the simulator's test episodes
# (disjoint from training and validation), seen and unseen load patterns.
EXP_EVAL_IN := $(EXP_M)/policy.msgpack $(EXP_M)/system.msgpack $(EXP_OBJF) $(EXP_BIN)/policy-eval
$(EXP_R)/eval-seen/summary.csv: $(EXP_EVAL_IN)
	@mkdir -p $(@D)
	$(EXP_BIN)/policy-eval sim -q --policy $(EXP_M)/policy.msgpack \
		--model $(EXP_M)/system.msgpack --seed $(EXP_SEED) \
		--episodes $(EVAL_EPISODES) --baselines $(BASELINES) -o $(@D) $(EXP_OBJF) \
		|| $(call exp_cleanup,$(@D))
$(EXP_R)/eval-unseen/summary.csv: $(EXP_EVAL_IN)
	@mkdir -p $(@D)
	$(EXP_BIN)/policy-eval sim -q --policy $(EXP_M)/policy.msgpack \
		--model $(EXP_M)/system.msgpack --seed $(EXP_SEED) \
		--episodes $(EVAL_EPISODES) --baselines $(BASELINES) $(if $(EXP_UNSEEN),--pattern '$(EXP_UNSEEN)') \
		--label unseen -o $(@D) $(EXP_OBJF) \
		|| $(call exp_cleanup,$(@D))

# The selected policy (PPO_SELECT=1) on the seen pattern's test episodes.
$(EXP_R)/eval-selected/summary.csv: $(EXP_EVAL_IN)
	@test -f $(EXP_M)/policy.msgpack.best || { \
		echo "no $(EXP_M)/policy.msgpack.best: trained without" \
		"PPO_SELECT=1 (remove policy.msgpack to retrain)" >&2; exit 1; }
	@mkdir -p $(@D)
	$(EXP_BIN)/policy-eval sim -q --policy $(EXP_M)/policy.msgpack.best \
		--model $(EXP_M)/system.msgpack --seed $(EXP_SEED) \
		--episodes $(EVAL_EPISODES) --baselines optimal \
		--label seen-selected -o $(@D) $(EXP_OBJF) \
		|| $(call exp_cleanup,$(@D))

# 5. Plots (gnuplot writes a temporary file that is renamed into place).
# The optimum's line is the curve's avg_optimal_r: the optimum on the same
# validation episodes, the one the score is normalised by.
$(EXP_R)/learning.png: $(EXP_R)/learning.csv pipelines/learning.gp
	gnuplot -e "curve='$<'; out='$@.tmp'; title='$(OBJ)$(if $(SEED), seed $(SEED)): PPO learning curve'" \
		pipelines/learning.gp && mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }
$(EXP_R)/eval-%.png: $(EXP_R)/eval-%/summary.csv pipelines/eval.gp
	@pols=$$(for p in ppo optimal noop hpa50 hpa80; do \
		[ -f $(<D)/steps-$$p.csv ] && printf '%s ' $$p; done); \
	echo "gnuplot ... pipelines/eval.gp > $@"; \
	gnuplot -e "dir='$(<D)'; out='$@.tmp'; policies='$$pols'" \
		-e "bound=$(EXP_BOUND); mid='$(EXP_MID)'; title='$(OBJ)$(if $(SEED), seed $(SEED)): $* load pattern'" \
		pipelines/eval.gp && mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }

# 6. Live evaluation on the local testbed (LIVE=1): pipelines/live.sh runs
# each of LIVE_CONTROLLERS (default: the policy, noop, hpa80 where an
# action sets cores, the simulator's optimum) in turn on a freshly started
# testbed through the objective's seen loads, one period per LIVE_WINDOW
# (2 s), into live/NAME/, with the simulator's predictions beside and the
# same controllers on the simulator; live/summary.csv, summary-sim.csv,
# compare.csv, gap.csv and live-NAME.png side by side. LIVE_PERIODS,
# LIVE_SKIP, LIVE_SEED, LIVE_FAULT, LIVE_ARGS, TB_ARGS: see
# pipelines/live.sh. A run that fails keeps the periods it measured
# (summary.csv becomes summary-partial.csv: summary.csv would look
# finished to make) and make stops with the run's status.
LIVE_DEPS := $(EXP_M)/system.msgpack $(EXP_M)/policy.msgpack $(EXP_OBJF) \
	pipelines/live.sh pipelines/live.gp $(EXP_BIN)/sim-env \
	$(EXP_BIN)/policy-eval $(EXP_BIN)/testbed $(EXP_BIN)/trace-collect \
	$(EXP_BIN)/actuate
# The live testbed: the objective's (TB_OBJ_<obj>, pipelines/testbed.mk,
# the one its trace was made on), then TB_ARGS.
EXP_TB_ARGS = $(TB_OBJ_$(OBJ)) $(TB_ARGS)
# First a warning when the live testbed (TB_ARGS) would charge other CPU
# per request than the trace's nodes did (its sidecar, TRACE.meta): then
# the model's delays describe another system.
live_calibration = if [ -f $(EXP_TRACE).meta ]; then \
	$(EXP_BIN)/testbed calibrate $(EXP_TB_ARGS) --compare $(EXP_TRACE).meta >/dev/null || true; \
	else echo "experiment $(OBJ): warning: no $(EXP_TRACE).meta: how the trace was made is unknown, so the live testbed's calibration cannot be checked against it" >&2; fi
$(EXP_R)/live/summary.csv: $(LIVE_DEPS)
	@$(live_calibration)
	@mkdir -p $(@D)
	BIN=$(EXP_BIN) TB_ARGS="$(EXP_TB_ARGS)" sh pipelines/live.sh \
		$(EXP_OBJF) $(EXP_M)/policy.msgpack \
		$(EXP_M)/system.msgpack $(@D) || { s=$$?; \
		mv -f $@ $(@D)/summary-partial.csv 2>/dev/null; exit $$s; }

# 7. make validate OBJ=x: the simulator's choices live. In each state of
# the objective's load and [param] grid (LIVE_STATES of them at most, 12),
# its optimal action and its two runners-up each run LIVE_REPEAT (3)
# periods on the testbed (LIVE_SKIP 1: a settling window after each
# action): validate/validate.csv (per state and action, the measured and
# predicted reward) and validate/validate-summary.csv (how often the
# choice met the bound live, its live regret: the best measured of the
# three less the choice's). Incremental actions: the three configurations
# predicted best at that load, each set directly and held.
validate:
	@$(EXP_DEPS)
	@$(MAKE) -s --no-print-directory -j$(EXP_NPROC) $(EXP_TOOLS) \
		$(addprefix $(EXP_BIN)/,testbed trace-collect actuate)
	@$(EXP_BIN)/sim-env describe $(EXP_OBJF) --get name >/dev/null
	@$(MAKE) --no-print-directory validate-run
validate-run: $(EXP_R)/validate/validate-summary.csv
	@cat $<
$(EXP_R)/validate/validate-summary.csv: $(EXP_M)/system.msgpack $(EXP_OBJF) \
		pipelines/live.sh $(EXP_BIN)/sim-env $(EXP_BIN)/policy-eval \
		$(EXP_BIN)/testbed $(EXP_BIN)/trace-collect $(EXP_BIN)/actuate
	@$(live_calibration)
	@mkdir -p $(@D)
	BIN=$(EXP_BIN) TB_ARGS="$(EXP_TB_ARGS)" LIVE_CONTROLLERS=validate \
		LIVE_SKIP=$(or $(LIVE_SKIP),1) \
		sh pipelines/live.sh $(EXP_OBJF) - $(EXP_M)/system.msgpack $(@D) \
		|| { s=$$?; mv -f $@ $(@D)/validate-summary-partial.csv \
		2>/dev/null; exit $$s; }

# ------------------------------------------------------------------------
# The fan-out. Tools are built once here, before any parallel run.
experiments: $(EXP_TOOLS)
	@sh pipelines/deps.sh experiment
	@MAKE="$(MAKE)" OBJS="$(OBJS)" SEEDS="$(SEEDS)" JOBS="$(JOBS)" \
		HOSTS="$(HOSTS)" MODELS="$(MODELS)" RESULTS="$(RESULTS)" \
		OBJDIR="$(OBJDIR)" TRACE="$(TRACE)" BIN="$(EXP_BIN)" \
		REMOTE_DIR="$(REMOTE_DIR)" RETRIES="$(RETRIES)" \
		FIT_ARGS="$(FIT_ARGS)" \
		PPO_ARGS="$(PPO_ARGS)" BASELINES="$(BASELINES)" \
		PPO_SELECT="$(PPO_SELECT)" sh pipelines/experiments.sh

# Only the aggregation of finished runs (after a Slurm array, for example).
experiments-summary: $(EXP_BIN)/policy-eval
	@OBJS="$(OBJS)" SEEDS="$(SEEDS)" RESULTS="$(RESULTS)" OBJDIR="$(OBJDIR)" \
		BIN="$(EXP_BIN)" MODE=aggregate sh pipelines/experiments.sh
