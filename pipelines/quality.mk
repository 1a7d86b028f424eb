# quality.mk - `make quality` (included by the Makefile): PPO's quality
# table, from scratch, into $(RESULTS)/quality.csv (one row per objective x
# model seed x PPO seed) and $(RESULTS)/quality-summary.csv.
#
#   make quality [OBJS="delay cost"] [MODEL_SEEDS="1 2 3"] [PPO_SEEDS="1 2"] [JOBS=n]
#                [PPO_SELECT=1]
#
# Every run trains the objective's whole budget (no early stop) and reports
# the final policy on policy-eval's test episodes (README, Evaluation
# protocol); pipelines/quality.sh says what each column is. OBJS given on
# the command line (or in the environment) replaces the default: delay,
# throughput, cost, differentiation, and delay-tnsm and throughput-cnsm when
# their traces are here. TRACE= replaces every objective's trace (tests);
# QUALITY_FIT_ARGS and QUALITY_PPO_ARGS are added to rf-fit's and
# ppo-train's arguments (e.g. QUALITY_PPO_ARGS="--timesteps 20000").
# PPO_SELECT=1 adds checkpoint selection on the validation episodes
# (ppo-train --select-best): the selected policy's test scores and
# timesteps in three more columns, beside the final policy's.
#
# The default grid fits 30 minutes on 2 free cores: 3 model seeds x 2 PPO
# seeds. One run of each of the six objectives took 434 CPU-seconds
# (throughput and throughput-cnsm 115-120 s of training each, delay 32,
# cost 16), so 6 runs each are ~21 minutes on two cores, and 5 PPO seeds
# would be ~52 (~28 without the published traces). PPO_SEEDS="1 2 3 4 5"
# gives 15 runs per objective.

MODEL_SEEDS      ?= 1 2 3
PPO_SEEDS        ?= 1 2
QUALITY_FIT_ARGS ?=
QUALITY_PPO_ARGS ?=
PPO_SELECT       ?=

.PHONY: quality

# Values reach the script through its environment, never pasted into a
# shell line.
quality: export OBJS := $(if $(filter command line environment override,$(origin OBJS)),$(OBJS))
quality: export MODEL_SEEDS := $(MODEL_SEEDS)
quality: export PPO_SEEDS := $(PPO_SEEDS)
quality: export JOBS := $(JOBS)
quality: export MODELS := $(MODELS)
quality: export RESULTS := $(RESULTS)
quality: export OBJDIR := $(OBJDIR)
quality: export TRACE := $(TRACE)
quality: export BIN := $(BUILD)/bin
quality: export FIT_ARGS := $(QUALITY_FIT_ARGS)
quality: export PPO_ARGS := $(QUALITY_PPO_ARGS)
quality: export PPO_SELECT := $(PPO_SELECT)
quality: $(addprefix $(BUILD)/bin/,rf-fit sim-env ppo-train policy-eval)
	@sh pipelines/deps.sh experiment
	@sh pipelines/quality.sh
