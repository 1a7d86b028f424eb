#!/bin/sh
# run.sh BUILD - runs every unit test binary and end-to-end script, counts
# "ok"/"not ok"/"skip" lines, and ends with "N passed, N failed, N skipped"
# (a skip is never a pass).
# A test program that exits non-zero without reporting a failure counts as
# one failure (a crash must never pass).
BUILD=${1:-build}
# Tests that run make themselves must not join the outer make's jobserver.
unset MAKEFLAGS MFLAGS MAKELEVEL
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BUILD/bin"; export MESHRL_BIN="$(cd "$BUILD/bin" && pwd)" MESHRL_ROOT="$ROOT"
export PATH="$MESHRL_BIN:$PATH"
case "$BUILD" in *asan*) export MESHRL_ASAN=1 ;; esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_one() {
	name=$1; shift
	"$@" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	s=$(grep -c '^skip ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
		f=1
		echo "not ok - $name reported no checks" >>"$log"
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	if [ "$f" -gt 0 ]; then
		echo "FAIL $name ($p ok, $f failed)"
		grep -v '^ok ' "$log" | tail -n 40 | sed 's/^/    /'
	else
		echo "pass $name ($p checks$([ "$s" -gt 0 ] && echo ", $s skipped"))"
		grep '^skip ' "$log" | sed 's/^/    /'
	fi
}
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "$(basename "$t")" "$t"
done
for t in "$ROOT"/tests/e2e/test_*.sh; do
	[ -f "$t" ] || continue
	run_one "e2e/$(basename "$t")" sh "$t"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
