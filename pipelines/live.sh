#!/bin/sh
# live.sh OBJECTIVE POLICY MODEL OUTDIR - the live evaluation on the local
# testbed (`make experiment LIVE=1`): each controller in turn (the policy,
# the no-op, the HPA-like autoscaler where an action sets cores, the
# simulator's optimum) drives a freshly started testbed (free ports, a
# run folder of its own, stopped by its pid files whatever happens)
# through the same loads, one control period per monitoring window:
#
#   trace-collect --follow | policy-eval live --schedule | actuate
#
# The loads are the objective's seen load pattern: its test episode 0 for
# LIVE_SEED (policy-eval live --write-loads gives trace-collect the rate
# of each window; period k is that episode's step k, loads and [param]s,
# as in the simulator). Every service of the objective has its stream
# (compute; info1 and info2; premium and freemium compute users).
#
# Per controller NAME, OUTDIR/NAME/ holds steps-NAME.csv and summary.csv
# (rewritten after every period: a failure keeps the periods measured),
# periods-NAME.csv (each period measured beside the simulator's
# prediction for the same state and action), gap-NAME.csv (MAE and bias
# per load level), steps-sim-NAME.csv and summary-sim.csv (the same
# controller on the simulator, same loads), compare.csv, and with
# LIVE_FAULT phases-NAME.csv. OUTDIR/ gets them side by side:
# summary.csv (live), summary-sim.csv, compare.csv (live vs simulated per
# controller), gap.csv, phases.csv, and live-NAME.png (load, action,
# delay measured and predicted over time; with gnuplot).
#
# Exit status: the first failure's (a controller that fails does not stop
# the next; within one, the stage that failed first in the order
# trace-collect, actuate, policy-eval, not the EPIPE its neighbours saw).
#
# Environment: LIVE_CONTROLLERS (default "ppo noop hpa80 optimal"; ppo
# only with a POLICY, hpaNN only where an action sets cores; others:
# random, hpaNN, adapt: the POLICY improved by rollout each period,
# --act POLICY --adapt LIVE_ADAPT (rollout:l=1; `make adapt LIVE=1`),
# and validate: `make validate`, policy-eval live
# --validate LIVE_STATES (12) --repeat LIVE_REPEAT (3): in each state of
# the load and [param] grid, a sample when larger, the simulator's choice
# and its two runners-up, LIVE_REPEAT periods each: validate.csv and
# validate-summary.csv), LIVE_PERIODS (default: the episode's length),
# LIVE_WINDOW (s, 2), LIVE_SKIP (windows discarded after each action, 0),
# LIVE_SEED (1), LIVE_TIMEOUT (trace-collect's per-request timeout, s;
# default the front's --timeout in TB_ARGS, else half the window),
# LIVE_FAULT (e.g. 't=60 node2 slow=4; t=120 node2 stop; t=180 restore':
# policy-eval --fault, applied through actuate), LIVE_SCHEMA and
# LIVE_STREAMS (default from the objective's services), TB_ARGS (extra
# testbed options), LIVE_ARGS (extra policy-eval live options),
# LIVE_HPA_ARGS (the HPA's only, e.g. --hpa-window 60; live, its
# utilisation is node 1's CPU use over its allotment, trace-collect
# --util's util1),
# LIVE_TRACE (keep each controller's windows as OUTDIR/NAME/trace.csv
# when set to 1), BIN (build/bin).
# For a Kubernetes + Istio cluster, run the same pipe by hand with
# trace-collect -u FRONT_URL and actuate --target k8s --api ... (README).
set -eu
[ $# -eq 4 ] || { echo "usage: live.sh OBJECTIVE POLICY MODEL OUTDIR" >&2; exit 2; }
obj=$1 policy=$2 model=$3 out=$4
: "${BIN:=build/bin}" "${LIVE_WINDOW:=2}" "${LIVE_SKIP:=0}" "${LIVE_SEED:=1}"
: "${LIVE_PERIODS:=}" "${LIVE_FAULT:=}" "${TB_ARGS:=}" "${LIVE_ARGS:=}"
: "${LIVE_TRACE:=}" "${LIVE_HPA_ARGS:=}" "${LIVE_ADAPT:=rollout:l=1}"
# The client waits for an answer as long as the front node does (its
# --timeout in TB_ARGS, the objective's testbed): a request counts as lost
# where the trace counted it. Measured: with the client at 1 s and the
# front at 2 s, delay's policy at 12 req/s lost 7-28 % of a window's
# requests that the trace's windows (client 8 s) answered, and met the
# bound in 68 % of those periods.
front_timeout() {
	t=
	# shellcheck disable=SC2086
	set -- $TB_ARGS
	while [ $# -gt 0 ]; do
		case $1 in
		--timeout) t=${2:-}; [ $# -gt 1 ] && shift ;;
		--timeout=*) t=${1#--timeout=} ;;
		esac
		shift
	done
	echo "$t"
}
: "${LIVE_TIMEOUT:=$(front_timeout)}"
: "${LIVE_TIMEOUT:=$(awk -v w="$LIVE_WINDOW" 'BEGIN { print w / 2 }')}"
: "${LIVE_CONTROLLERS:=ppo noop hpa80 optimal}"
: "${LIVE_STATES:=12}" "${LIVE_REPEAT:=3}"

# The objective's services name the schema and the streams.
services=$("$BIN/sim-env" describe "$obj" --get .services)
case $services in
compute) schema=compute streams=compute ;;
"info1, info2") schema=info2 streams="info1 info2" ;;
"premium, freemium") schema=classes
	streams="compute:premium compute:freemium" ;;
*) schema=generic streams= ;;
esac
: "${LIVE_SCHEMA:=$schema}" "${LIVE_STREAMS:=$streams}"
[ -n "$LIVE_STREAMS" ] || {
	echo "live.sh: $obj: services '$services': set LIVE_SCHEMA and" \
		"LIVE_STREAMS (one trace-collect SERVICE[:CLASS] per service)" >&2
	exit 2; }
# An HPA scales cores: only where an absolute action sets them.
kind=$("$BIN/sim-env" describe "$obj" --get action-kind)
actions=$("$BIN/sim-env" describe "$obj" --get actions)
has_cores=0
case ",$actions," in *,c,*|*,c1,*) [ "$kind" = incremental ] || has_cores=1 ;; esac

mkdir -p "$out"
first_fail=0
run=
stop() {
	if [ -n "$run" ]; then
		"$BIN/testbed" down --run-dir "$run/tb" >/dev/null 2>&1 || true
		rm -rf "$run"
	fi
	run=
}
trap stop EXIT
trap 'stop; exit 130' INT TERM HUP

# One controller on a fresh testbed: live_one NAME CTL_OPTION CTL_ARG.
live_one() {
	name=$1 dir=$out/$1 ctl_opt=$2 ctl_arg=$3
	rm -rf "$dir"
	mkdir -p "$dir"
	run=$(mktemp -d "${TMPDIR:-/tmp}/meshrl-live.XXXXXX")
	# shellcheck disable=SC2086
	"$BIN/testbed" up --run-dir "$run/tb" --port 0 --control-port 0 \
		--node1-port 0 --node2-port 0 $TB_ARGS >&2
	node1=$(sed -n 's/^TB_NODE1=//p' "$run/tb/env")
	node2=$(sed -n 's/^TB_NODE2=//p' "$run/tb/env")
	sched= repeat=
	[ "$name" != validate ] || {
		sched="--validate $LIVE_STATES --repeat $LIVE_REPEAT"
		repeat="--repeat $LIVE_REPEAT"; }
	# shellcheck disable=SC2086
	"$BIN/policy-eval" live --write-loads "$run" --model "$model" $sched \
		--seed "$LIVE_SEED" --skip "$LIVE_SKIP" \
		${LIVE_PERIODS:+--periods "$LIVE_PERIODS"} "$obj"
	set --
	j=1
	for s in $LIVE_STREAMS; do
		set -- "$@" -s "$s=file:$run/load$j,$LIVE_WINDOW"
		j=$((j + 1))
	done
	trace=/dev/null
	[ "$LIVE_TRACE" != 1 ] || trace=$dir/trace.csv
	util=
	case $name in
	hpa*) util="--util-column util1 $LIVE_HPA_ARGS" ;;
	adapt) util="--adapt $LIVE_ADAPT" ;;
	esac
	# Each stage records its exit status in the run folder (sh has no
	# pipefail). A stage that ends because the next one did ends
	# cleanly: trace-collect --follow exits 0 when its reader closes
	# the pipe, policy-eval exits 5 when actuate does. The status that
	# explains the run is the first non-zero one in the order
	# trace-collect, actuate, policy-eval.
	{ s=0; "$BIN/trace-collect" -q --env "$run/tb/env" \
		--schema "$LIVE_SCHEMA" "$@" -w "$LIVE_WINDOW" \
		--timeout "$LIVE_TIMEOUT" --give-up 0 --follow \
		--util --node "$node1" --node "$node2" \
		|| s=$?; echo "$s" >"$run/rc.collect"; } |
		{ tee "$trace" || :; } |
		{ s=0
		# shellcheck disable=SC2086
		"$BIN/policy-eval" live "$ctl_opt" "$ctl_arg" $repeat $util $LIVE_ARGS \
			--model "$model" --schedule --seed "$LIVE_SEED" \
			${LIVE_PERIODS:+--periods "$LIVE_PERIODS"} \
			--skip "$LIVE_SKIP" --window "$LIVE_WINDOW" \
			${LIVE_FAULT:+--fault "$LIVE_FAULT"} \
			-o "$dir" "$obj" || s=$?
		echo "$s" >"$run/rc.eval"; } |
		{ s=0; "$BIN/actuate" --env "$run/tb/env" \
			--schema "$LIVE_SCHEMA" || s=$?
		echo "$s" >"$run/rc.actuate"; }
	rc=0
	for stage in collect actuate eval; do
		s=$(cat "$run/rc.$stage" 2>/dev/null) || s=1
		if [ "$s" -ne 0 ]; then
			echo "live.sh: $name: $stage exited $s" >&2
			rc=$s
			break
		fi
	done
	stop
	return "$rc"
}

# CSVs of every controller side by side: one header, then each one's rows.
merge() {
	what=$1 dest=$out/$2
	set --
	for c in $ran; do
		[ -f "$out/$c/$what" ] && set -- "$@" "$out/$c/$what"
	done
	[ $# -gt 0 ] || return 0
	{ head -n 1 "$1"; for f in "$@"; do tail -n +2 "$f"; done; } \
		>"$dest.tmp" && mv "$dest.tmp" "$dest"
}

# The plot of one controller's periods (pipelines/live.gp): gnuplot gets
# file names and column numbers only.
plot() {
	name=$1 csv=$out/$1/periods-$1.csv
	command -v gnuplot >/dev/null 2>&1 && [ -f "$csv" ] || return 0
	nserv=$("$BIN/sim-env" describe "$obj" --get .services | tr ',' '\n' | wc -l)
	bound=$("$BIN/sim-env" describe "$obj" --get reward.bound1)
	hdr=$(head -n 1 "$csv")
	col() { echo "$hdr" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }
	set1=$(($(col delay1) - 1))
	gnuplot -e "csv='$csv'; out='$out/live-$name.png.tmp'" \
		-e "nserv=$nserv; set1=$set1; bound=${bound:-NaN}" \
		-e "title='$(basename "$obj" .obj) live: $name'" \
		-e "setname='$(echo "$hdr" | cut -d, -f"$set1")'" \
		pipelines/live.gp &&
		mv "$out/live-$name.png.tmp" "$out/live-$name.png" ||
		{ rm -f "$out/live-$name.png.tmp"; echo "live.sh: plot of" \
			"$name failed" >&2; }
}

ran=
for c in $LIVE_CONTROLLERS; do
	case $c in
	ppo|adapt) [ "$policy" != - ] || continue; opt=--act arg=$policy ;;
	hpa[0-9]*) [ "$has_cores" = 1 ] || continue
		opt=--baseline arg=$c ;;
	noop|optimal|random) opt=--baseline arg=$c ;;
	validate) opt=--validate arg=$LIVE_STATES ;;
	*) echo "live.sh: unknown controller '$c' (ppo, adapt, noop, optimal," \
		"random, hpaNN, validate)" >&2; exit 2 ;;
	esac
	echo "live.sh: $c on a fresh testbed" >&2
	s=0
	live_one "$c" "$opt" "$arg" || s=$?
	[ "$first_fail" -ne 0 ] || first_fail=$s
	ran="$ran $c"
	plot "$c"
done
merge summary.csv summary.csv
merge summary-sim.csv summary-sim.csv
merge compare.csv compare.csv
merge validate.csv validate.csv
merge validate-summary.csv validate-summary.csv
for c in $ran; do
	for f in "$out/$c"/gap-*.csv "$out/$c"/phases-*.csv; do
		[ -f "$f" ] || continue
		base=$(basename "$f"); kindf=${base%%-*}
		if [ -f "$out/$kindf.csv.tmp" ]; then
			tail -n +2 "$f" >>"$out/$kindf.csv.tmp"
		else
			cp "$f" "$out/$kindf.csv.tmp"
		fi
	done
done
for k in gap phases; do
	[ ! -f "$out/$k.csv.tmp" ] || mv "$out/$k.csv.tmp" "$out/$k.csv"
done
exit "$first_fail"
