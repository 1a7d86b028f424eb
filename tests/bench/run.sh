#!/bin/sh
# run.sh BUILD - runs every tests/bench/bench_*.sh. Each prints CSV lines
# name,value,unit,reference,ratio,reference_kind on stdout (notes go to
# stderr). reference_kind: "measured" = the reference was run here in the
# same run (scikit-learn, wrk, our own 1-thread figure, stable-baselines3
# when importable); "recorded" = a figure measured elsewhere or earlier,
# each one's source in tests/bench/RECORDED.md; empty when the line has no
# reference. The ratio is value/reference unless the line's note says
# otherwise. A benchmark whose inputs are absent prints a "skipped" note
# (stderr) instead of its lines, never a substitute under the same name.
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export MESHRL_BIN="$(cd "$BUILD/bin" && pwd)" MESHRL_ROOT="$ROOT"
export PATH="$MESHRL_BIN:$PATH"
# Debian's python3 carries the reference libraries (python3-sklearn).
export PY=/usr/bin/python3
# The published traces, when present beside the project (never required).
export KTH_TRACES=${KTH_TRACES:-$ROOT/../shared/traces/kth}
echo "name,value,unit,reference,ratio,reference_kind"
status=0
for b in "$ROOT"/tests/bench/bench_*.sh; do
	[ -f "$b" ] || continue
	sh "$b" || { echo "bench: $(basename "$b") failed" >&2; status=1; }
done
exit $status
