#!/bin/sh
# run.sh BUILD - runs every tests/bench/bench_*.sh. Each prints CSV lines
# name,value,unit[,reference,ratio] on stdout (notes go to stderr).
# References (scikit-learn, wrk, ...) are measured in the same run where the
# script can; a benchmark whose inputs are absent prints a "skipped" note.
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export MESHRL_BIN="$(cd "$BUILD/bin" && pwd)" MESHRL_ROOT="$ROOT"
export PATH="$MESHRL_BIN:$PATH"
# Debian's python3 carries the reference libraries (python3-sklearn).
export PY=/usr/bin/python3
# The published traces, when present beside the project (never required).
export KTH_TRACES=${KTH_TRACES:-$ROOT/../shared/traces/kth}
echo "name,value,unit,reference,ratio"
status=0
for b in "$ROOT"/tests/bench/bench_*.sh; do
	[ -f "$b" ] || continue
	sh "$b" || { echo "bench: $(basename "$b") failed" >&2; status=1; }
done
exit $status
