#!/bin/sh
# live.sh OBJECTIVE POLICY MODEL OUTDIR - the live evaluation on the local
# testbed (`LIVE=1 make experiment`): starts a testbed of its own (free
# ports, a run folder under OUTDIR's parent), runs the control loop as a
# pipe of the tools,
#
#   trace-collect --follow | policy-eval live --act POLICY | actuate
#
# for LIVE_PERIODS control periods, writes OUTDIR/steps-ppo.csv and
# OUTDIR/summary.csv (rewritten after every period: a failure keeps the
# periods measured), and stops the testbed (by its pid files) whatever
# happens. Its exit status is the first failure's: the stage that failed
# first, not the EPIPE its neighbours saw (0 when all went well). trace-collect and actuate find the front, its control API and
# the run's control secret in the run folder's env file (--env), so the
# secret is on no command line.
#
# Environment: LIVE_PERIODS (10), LIVE_WINDOW (monitoring window, s; 5),
# LIVE_SKIP (windows discarded after each action while the system settles;
# 1: the window already running when the action lands), LIVE_STREAM
# (trace-collect's load, default compute=poisson:8), LIVE_SCHEMA (compute),
# TB_ARGS (extra testbed options), LIVE_TRACE (also keep the windows
# trace-collect measured, as a trace CSV), LIVE_BASELINE (run this
# baseline instead of POLICY, e.g. hpa80 or noop: OUTDIR/steps-hpa80.csv),
# LIVE_ARGS (extra policy-eval live options, e.g. --hpa-window 60),
# BIN (build/bin).
# For a Kubernetes + Istio cluster, run the same pipe by hand with
# trace-collect -u FRONT_URL and actuate --target k8s --api ... (README).
set -eu
[ $# -eq 4 ] || { echo "usage: live.sh OBJECTIVE POLICY MODEL OUTDIR" >&2; exit 2; }
obj=$1 policy=$2 model=$3 out=$4
: "${BIN:=build/bin}" "${LIVE_PERIODS:=10}" "${LIVE_WINDOW:=5}" "${LIVE_SKIP:=1}"
: "${LIVE_STREAM:=compute=poisson:8}" "${LIVE_SCHEMA:=compute}" "${TB_ARGS:=}"
: "${LIVE_TRACE:=/dev/null}" "${LIVE_BASELINE:=}" "${LIVE_ARGS:=}"
ctl=--act ctl_arg=$policy
[ -z "$LIVE_BASELINE" ] || ctl=--baseline ctl_arg=$LIVE_BASELINE
run=$(mktemp -d "${TMPDIR:-/tmp}/meshrl-live.XXXXXX")
stop() {
	"$BIN/testbed" down --run-dir "$run" >/dev/null 2>&1 || true
	rm -rf "$run"
}
trap stop EXIT
trap 'stop; exit 130' INT TERM HUP
# shellcheck disable=SC2086
"$BIN/testbed" up --run-dir "$run" --port 0 --control-port 0 \
	--node1-port 0 --node2-port 0 $TB_ARGS >&2
mkdir -p "$out"
# Each stage records its exit status in the run folder (sh has no
# pipefail). A stage that ends because the next one did ends cleanly:
# trace-collect --follow exits 0 when its reader closes the pipe, and
# policy-eval exits 5 when actuate does. So the status that explains the
# run is the first non-zero one in the order trace-collect, actuate,
# policy-eval (a policy-eval failure leaves the other two at 0).
rc() { echo "$1" >"$run/rc.$2"; }
{ s=0; "$BIN/trace-collect" -q --env "$run/env" \
	--schema "$LIVE_SCHEMA" -s "$LIVE_STREAM" -w "$LIVE_WINDOW" --follow \
	|| s=$?; rc "$s" collect; } | { tee "$LIVE_TRACE" || :; } |
	{ s=0
	# shellcheck disable=SC2086
	"$BIN/policy-eval" live "$ctl" "$ctl_arg" $LIVE_ARGS --model "$model" \
		--periods "$LIVE_PERIODS" --skip "$LIVE_SKIP" -o "$out" "$obj" \
		|| s=$?; rc "$s" eval; } |
	{ s=0; "$BIN/actuate" --env "$run/env" --schema "$LIVE_SCHEMA" \
		|| s=$?; rc "$s" actuate; }
for stage in collect actuate eval; do
	s=$(cat "$run/rc.$stage" 2>/dev/null) || s=1
	if [ "$s" -ne 0 ]; then
		echo "live.sh: $stage exited $s" >&2
		exit "$s"
	fi
done
