#!/bin/sh
# submit.sh - run `make experiments` on a Slurm cluster: build once here,
# queue one array task per objective x seed (experiment.sbatch), and queue
# the aggregation into $RESULTS/summary.csv to run once every task has
# ended, whatever their outcome: it aggregates the runs that have results,
# names those that have none, and then fails (its log says which).
# Logs: $RESULTS/slurm/meshrl-exp-ARRAY_TASK.out, meshrl-summary-JOB.out.
#
#   OBJS="delay throughput cost differentiation" SEEDS="1 2 3" \
#       sh pipelines/slurm/submit.sh [extra sbatch options]
#
# The project must be on a filesystem the nodes share. Make variables
# (RESULTS, MODELS, TRACE, FIT_ARGS, PPO_ARGS, BASELINES, BUILD) pass to the
# jobs through the environment.
set -eu
cd "$(dirname "$0")/../.."
: "${OBJS:=delay throughput cost differentiation}" "${SEEDS:=1 2 3}"
: "${RESULTS:=results}" "${OBJDIR:=pipelines/objectives}"
export OBJS SEEDS RESULTS OBJDIR
die() { echo "submit.sh: $*" >&2; exit 2; }
command -v sbatch >/dev/null 2>&1 ||
	die "no sbatch here: run it on a Slurm submit host"
for o in $OBJS; do
	[ -f "$OBJDIR/$o.obj" ] || die "unknown objective '$o': no $OBJDIR/$o.obj"
done
for s in $SEEDS; do
	case $s in *[!0-9]*|'') die "seed '$s' is not a non-negative integer" ;; esac
done
n=$(($(echo $OBJS | wc -w) * $(echo $SEEDS | wc -w)))
[ "$n" -gt 0 ] || die "OBJS or SEEDS is empty"
make -s all
logs=$RESULTS/slurm
mkdir -p "$logs"
# --parsable prints "jobid[;cluster]"
array=$(sbatch --parsable --export=ALL --array=0-$((n - 1)) \
	--output="$logs/%x-%A_%a.out" "$@" pipelines/slurm/experiment.sbatch)
array=${array%%;*}
echo "submit.sh: array job $array ($n runs), logs in $logs"
# OBJS, SEEDS and RESULTS reach make through the environment (--export).
agg=$(sbatch --parsable --export=ALL --dependency=afterany:"$array" \
	--job-name=meshrl-summary --output="$logs/%x-%j.out" "$@" \
	--wrap "make --no-print-directory experiments-summary")
agg=${agg%%;*}
echo "submit.sh: aggregation job $agg (after $array): $RESULTS/summary.csv"
