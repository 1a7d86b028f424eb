#!/bin/sh
# live.sh OBJECTIVE POLICY MODEL OUTDIR - the live evaluation on the local
# testbed (`LIVE=1 make experiment`): starts a testbed of its own (free
# ports, a run folder under OUTDIR's parent), runs the control loop as a
# pipe of the tools,
#
#   trace-collect --follow | policy-eval live --act POLICY | actuate
#
# for LIVE_PERIODS control periods, writes OUTDIR/steps-ppo.csv and
# OUTDIR/summary.csv, and stops the testbed (by its pid files) whatever
# happens. trace-collect and actuate find the front, its control API and
# the run's control secret in the run folder's env file (--env), so the
# secret is on no command line.
#
# Environment: LIVE_PERIODS (10), LIVE_WINDOW (monitoring window, s; 5),
# LIVE_SKIP (windows discarded after each action while the system settles;
# 1: the window already running when the action lands), LIVE_STREAM
# (trace-collect's load, default compute=poisson:8), LIVE_SCHEMA (compute),
# TB_ARGS (extra testbed options), LIVE_TRACE (also keep the windows
# trace-collect measured, as a trace CSV), BIN (build/bin).
# For a Kubernetes + Istio cluster, run the same pipe by hand with
# trace-collect -u FRONT_URL and actuate --target k8s --api ... (README).
set -eu
[ $# -eq 4 ] || { echo "usage: live.sh OBJECTIVE POLICY MODEL OUTDIR" >&2; exit 2; }
obj=$1 policy=$2 model=$3 out=$4
: "${BIN:=build/bin}" "${LIVE_PERIODS:=10}" "${LIVE_WINDOW:=5}" "${LIVE_SKIP:=1}"
: "${LIVE_STREAM:=compute=poisson:8}" "${LIVE_SCHEMA:=compute}" "${TB_ARGS:=}"
: "${LIVE_TRACE:=/dev/null}"
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
# trace-collect ends on SIGPIPE once the loop has its periods.
{ "$BIN/trace-collect" -q --env "$run/env" \
	--schema "$LIVE_SCHEMA" -s "$LIVE_STREAM" -w "$LIVE_WINDOW" --follow \
	|| true; } | tee "$LIVE_TRACE" |
	"$BIN/policy-eval" live --act "$policy" --model "$model" \
		--periods "$LIVE_PERIODS" --skip "$LIVE_SKIP" -o "$out" "$obj" |
	"$BIN/actuate" --env "$run/env" --schema "$LIVE_SCHEMA"
