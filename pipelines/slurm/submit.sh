#!/bin/sh
# submit.sh - run `make experiments` on a Slurm cluster: build once here,
# queue one array task per objective x seed (experiment.sbatch), and queue
# the aggregation into results/summary.csv to start when all tasks succeed.
#
#   OBJS="delay throughput cost differentiation" SEEDS="1 2 3" \
#       sh pipelines/slurm/submit.sh [extra sbatch options]
#
# Run it from the project folder on a filesystem the nodes share.
set -eu
: "${OBJS:=delay throughput cost differentiation}" "${SEEDS:=1 2 3}"
export OBJS SEEDS
make -s all
for o in $OBJS; do
	[ -f "pipelines/objectives/$o.obj" ] || {
		echo "submit.sh: unknown objective '$o'" >&2; exit 2; }
done
n=$(($(echo $OBJS | wc -w) * $(echo $SEEDS | wc -w)))
array=$(sbatch --parsable --export=ALL --array=0-$((n - 1)) "$@" \
	pipelines/slurm/experiment.sbatch)
echo "submit.sh: array job $array ($n runs)"
agg=$(sbatch --parsable --export=ALL --dependency=afterok:"$array" \
	--job-name=meshrl-summary --output=slurm-%j.out "$@" \
	--wrap "make --no-print-directory experiments-summary OBJS='$OBJS' SEEDS='$SEEDS'")
echo "submit.sh: aggregation job $agg (after $array): results/summary.csv"
