# test_trace_steady.sh - trace-collect --steady against the local testbed:
# an overloaded configuration is settled until its line stops growing, so
# its two recorded windows measure the same steady state (waits at the
# front's timeout) instead of how long the load has been on; without
# --steady the same configuration's first window is still filling. The
# sidecar records the settling and the front's timeout; plain mode refuses
# the option.
. "$(dirname "$0")/lib.sh"
R=$TMP/run
trap 'testbed down --run-dir "$R" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

# node 2 at one unit serves 10 req/s of 10 ms requests: 2 req/s is light,
# 30 req/s three times its capacity (waits reach the 1 s timeout after
# about 1.5 s of load)
check "testbed up (10 ms per compute request, timeout 1 s)" testbed up \
	--run-dir "$R" --port 0 --control-port 0 --node1-port 0 --node2-port 0 \
	--compute-cpu-ms 10 --demand-cv 0 --units2 1 --timeout 1
. "$R/env"

collect() {
	out=$1; shift
	trace-collect --env "$R/env" --schema compute \
		--grid 'max_l1=2,30;p1=0;c1=1' -w 1 -n 2 --timeout 4 \
		--node "$TB_NODE1" --node "$TB_NODE2" -o "$TMP/$out.csv" "$@"
}
check "--settle 1 --steady 6: two configurations" collect s \
	--settle 1 --steady 6
m=$TMP/s.csv.meta
grep -qx 'steady_max_s=6' "$m" && grep -qx 'steady_configs=2' "$m" &&
	grep -qx 'front.timeout_s=1' "$m" && grep -qx 'status=done' "$m" &&
	ok "sidecar: steady_max_s, steady_configs=2, front.timeout_s=1" ||
	notok "sidecar: $(grep -E 'steady|front|status' "$m")"
# the light configuration stops at the first step (1 s), the loaded one
# settles longer: the mean added exceeds the minimum
added=$(sed -n 's/^steady_added_mean_s=//p' "$m")
awk -v a="${added:-0}" 'BEGIN { exit !(a > 1.2 && a <= 6) }' &&
	ok "settling added ${added} s on average (over the 1 s minimum)" ||
	notok "steady_added_mean_s '$added'"

# the loaded configuration's two windows, each as the delay judged over
# every offered request (an unanswered one at the 1 s timeout: under the
# sanitizers a window may answer none, d1 0)
windows() { awk -F, 'NR > 1 && $1 == 30 && $2 > 0 {
	printf "%.3f ", ($3 * $7 + ($2 - $3) * 1) / $2 }' "$1"; }
set -- $(windows "$TMP/s.csv")
s1=${1:-0} s2=${2:-0}
awk -v a="$s1" -v b="$s2" 'BEGIN {
	exit !(a > 0.6 && b > 0.6 && a > 0.8 * b && b > 0.8 * a) }' &&
	ok "steady: the loaded configuration's windows agree ($s1 $s2 s)" ||
	notok "steady: windows $*"

# the same without --steady: its first window is measured while the line
# still fills (what --steady is for; this also shows the check above can
# tell the two apart)
check "--settle 0.2 without --steady" collect n --settle 0.2
set -- $(windows "$TMP/n.csv")
awk -v a="${1:-9}" -v s1="$s1" -v s2="$s2" 'BEGIN {
	exit !(a < 0.8 * (s1 + s2) / 2) }' &&
	ok "without --steady the first window is still filling ($1 s against $s1 $s2)" ||
	notok "without --steady: windows $*"

expect_fail "--steady in plain mode: usage error" 2 "steady is for grid mode" \
	trace-collect -u "$TB_URL" -s compute=2 -w 0.2 -d 0.4 --steady 2
