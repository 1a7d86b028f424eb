#!/bin/sh
# test_signals.sh - every tool, sent SIGINT or SIGTERM in the middle of
# long work: exit 130, no temp file (.NAME.tmp.XXXXXX) left beside its
# outputs, and an output that existed before left as it was. ppo-train
# also writes its checkpoint; `make experiment` resumes from it.
. "$(dirname "$0")/lib.sh"

# start CMD...: runs CMD in the background as a terminal would (SIGINT
# not ignored, which a non-interactive shell does for background jobs)
# under a watcher that tells an exit from a death by a signal (the shell's
# $? says 130 for both); PID is CMD's process id. stdin is start's (fd 4:
# a background job's own stdin is /dev/null); stderr goes to $TMP/sig.err.
WATCH='import os, signal, subprocess, sys
def child():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgid(0, 0)  # a group of its own, like a terminal job
p = subprocess.Popen(sys.argv[3:], preexec_fn=child)
open(sys.argv[2], "w").write(str(p.pid))
rc = p.wait()
open(sys.argv[1], "w").write("signal %d" % -rc if rc < 0 else "exit %d" % rc)'
start() {
	rm -f "$TMP/status" "$TMP/pid"
	/usr/bin/python3 -c "$WATCH" "$TMP/status" "$TMP/pid" "$@" <&4 \
		>/dev/null 2>"$TMP/sig.err" &
	WATCHER=$!
	settle "[ -s '$TMP/pid' ]"
	PID=$(cat "$TMP/pid")
} 4<&0

# settle COND: waits (20 s at most) until the shell condition COND holds.
settle() {
	i=0
	while [ $i -lt 200 ]; do
		sh -c "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# has_temp DIR: a temp file of an atomic output is in DIR.
has_temp() { ls -a "$1" | grep -q '\.tmp\.'; }

# stop_and_check NAME SIG DIR OLD: sends SIG to PID, then checks exit 130,
# no temp file in DIR, and that OLD still holds "old".
stop_and_check() {
	name=$1 sig=$2 dir=$3 old=$4
	kill -s "$sig" -- "$PID"
	wait "$WATCHER"
	why=
	status=$(cat "$TMP/status")
	[ "$status" = "exit 130" ] || why=$status
	has_temp "$dir" && why="$why; left $(ls -a "$dir" | grep '\.tmp\.')"
	[ -z "$old" ] || [ "$(cat "$old")" = old ] || why="$why; $old changed"
	if [ -z "$why" ]; then
		ok "$name: $sig: exit 130, no temp file${old:+, old output untouched}"
	else
		notok "$name: $sig: $why"
		sed 's/^/    # /' "$TMP/sig.err" | head -n 5
	fi
}

# rf-fit: the model file is open (its temp exists) during the fit.
awk 'BEGIN { srand(1); print "a,b,c,d1"
  for (i = 0; i < 20000; i++) printf "%d,%d,%.3f,%.4f\n", i % 97, i % 13, rand(), rand() }' \
	>"$TMP/big.csv"
mkdir -p "$TMP/fit"
for sig in INT TERM; do
	echo old >"$TMP/fit/model.msgpack"
	start rf-fit fit -q -f a,b,c -t d1 --trees 5000 --min-leaf 50 \
		-o "$TMP/fit/model.msgpack" "$TMP/big.csv"
	settle "ls -a '$TMP/fit' | grep -q '\.tmp\.'" && sleep 0.3
	stop_and_check "rf-fit fit" "$sig" "$TMP/fit" "$TMP/fit/model.msgpack"
done

synth_delay 1 1 4 8 12
# sim-env run: a long per-step CSV, its temp growing.
mkdir -p "$TMP/run"
for sig in INT TERM; do
	echo old >"$TMP/run/steps.csv"
	start sim-env run --model "$M" --actions random --steps 1000000000 \
		-o "$TMP/run/steps.csv" "$OBJ"
	settle "[ \$(cat '$TMP'/run/.steps.csv.tmp.* 2>/dev/null | wc -c) -gt 100000 ]"
	stop_and_check "sim-env run" "$sig" "$TMP/run" "$TMP/run/steps.csv"
done
# sim-env serve: waiting for a request on a pipe that stays open (this
# shell holds its writing end).
mkfifo "$TMP/fifo"
exec 3<>"$TMP/fifo"
for sig in INT TERM; do
	start sim-env serve --model "$M" "$OBJ" <"$TMP/fifo"
	sleep 0.5
	stop_and_check "sim-env serve" "$sig" "$TMP" ""
done

# ppo-train: the checkpoint, then exit 130; the old policy untouched.
mkdir -p "$TMP/ppo"
for sig in INT TERM; do
	echo old >"$TMP/ppo/p.msgpack"
	rm -f "$TMP/ppo/learn.csv"
	start ppo-train --model "$M" --timesteps 100000000 --n-steps 64 \
		--checkpoint-every 0 -o "$TMP/ppo/p.msgpack" \
		--curve "$TMP/ppo/learn.csv" "$OBJ"
	settle "[ -s '$TMP/ppo/learn.csv' ]"
	stop_and_check "ppo-train" "$sig" "$TMP/ppo" "$TMP/ppo/p.msgpack"
	check "ppo-train: $sig: checkpoint written" test -s "$TMP/ppo/p.msgpack.ckpt"
done

# The checkpoint carries hashes of the objective and the model: --resume
# refuses another of either.
ck_args="--timesteps 100000000 --n-steps 64 --checkpoint-every 0 -o $TMP/ppo/p.msgpack"
rf-fit fit -q $(sim-env describe "$OBJ" --model-args) --test-frac 0 \
	--trees 20 --seed 3 -o "$TMP/m3.msgpack" "$TMP/compute.csv" >/dev/null
expect_fail "ppo-train --resume with another model: refused" 3 \
	"made with another system model" \
	timeout 60 ppo-train --model "$TMP/m3.msgpack" $ck_args --resume "$OBJ"
{ cat "$OBJ"; echo "# changed"; } >"$TMP/obj/other.obj"
expect_fail "ppo-train --resume with another objective file: refused" 3 \
	"made with another objective file" \
	timeout 60 ppo-train --model "$M" $ck_args --resume "$TMP/obj/other.obj"

# ppo-train --env-cmd, Ctrl-C as a terminal sends it (to the whole process
# group): the simulator child must outlive the signal, and the trainer's
# read of its reply must not fail with EINTR, so the checkpoint gets
# written. Three tries at different moments (a single one can miss the
# window: the old code failed 5 times in 8).
for pause in 0.1 0.3 0.5; do
	echo old >"$TMP/ppo/p.msgpack"
	rm -f "$TMP/ppo/learn.csv" "$TMP/ppo/p.msgpack.ckpt"
	start ppo-train --env-cmd "sim-env serve '$OBJ' --model '$M'" \
		--objective "$OBJ" --model "$M" --timesteps 100000000 \
		--n-steps 64 --checkpoint-every 0 -o "$TMP/ppo/p.msgpack" \
		--curve "$TMP/ppo/learn.csv"
	settle "[ -s '$TMP/ppo/learn.csv' ]" && sleep "$pause"
	PGID=$PID
	PID=-$PGID # stop_and_check's kill goes to the group
	stop_and_check "ppo-train --env-cmd (group, after ${pause} s)" INT \
		"$TMP/ppo" "$TMP/ppo/p.msgpack"
	check "ppo-train --env-cmd: INT to the group after ${pause} s: checkpoint written" \
		test -s "$TMP/ppo/p.msgpack.ckpt"
done

# policy-eval sim: many test episodes; the old summary untouched.
mkdir -p "$TMP/eval"
for sig in INT TERM; do
	echo old >"$TMP/eval/summary.csv"
	start policy-eval sim -q --model "$M" --episodes 100000 \
		--baselines optimal,noop,random -o "$TMP/eval" "$OBJ"
	sleep 1.5
	stop_and_check "policy-eval sim" "$sig" "$TMP/eval" "$TMP/eval/summary.csv"
done

# trace-collect (plain, against a port nobody listens on: every request
# a drop): exit 130, whole rows only.
mkdir -p "$TMP/tc"
for sig in INT TERM; do
	rm -f "$TMP/tc/t.csv"
	start trace-collect -q -u http://127.0.0.1:9 -s compute=constant:20 \
		-w 0.2 -d 600 -o "$TMP/tc/t.csv"
	settle "[ \$(wc -l <'$TMP/tc/t.csv' 2>/dev/null || echo 0) -ge 3 ]"
	stop_and_check "trace-collect" "$sig" "$TMP/tc" ""
	check "trace-collect: $sig: every row whole" awk -F, \
		'NR == 1 { n = NF } NF != n { exit 1 } END { exit NR < 3 }' \
		"$TMP/tc/t.csv"
done

# actuate: reading action vectors from the pipe that stays open.
for sig in INT TERM; do
	start actuate --schema compute --control http://127.0.0.1:9 <"$TMP/fifo"
	sleep 0.5
	stop_and_check "actuate" "$sig" "$TMP" ""
done
exec 3>&-

# make experiment, interrupted in training as by Ctrl-C (SIGINT to the
# whole process group), resumes from the checkpoint on the next run.
. "$(dirname "$0")/pipeline_lib.sh"
M= R= # mk: models and results under $TMP
PPO="--timesteps 60000 --checkpoint-every 1"
mod=$TMP/models/delay/seed-1
setsid sh -c 'echo $$ >"$0/pgid"; exec env --default-signal=INT "$@"' "$TMP" \
	make -C "$MESHRL_ROOT" --no-print-directory BUILD="$BUILD_DIR" \
	MODELS="$TMP/models" RESULTS="$TMP/results" TRACE="$TMP/trace.csv" \
	FIT_ARGS="--trees 30" PPO_ARGS="$PPO" experiment OBJ=delay SEED=1 \
	>"$TMP/first.log" 2>&1 &
first=$!
settle "[ -s '$mod/policy.msgpack.ckpt' ]"
/bin/kill -INT -- "-$(cat "$TMP/pgid")"
wait $first
check "make experiment interrupted in training: checkpoint, no policy" \
	sh -c "[ -s '$mod/policy.msgpack.ckpt' ] && [ ! -e '$mod/policy.msgpack' ]"
mk experiment OBJ=delay SEED=1 >"$TMP/second.log" 2>&1 ||
	sed "s/^/    # /" "$TMP/second.log" | tail -n 5
check "make experiment again: finishes" test -s "$mod/policy.msgpack"
check "make experiment again: resumed from the checkpoint" \
	grep -q "^resuming from $mod/policy.msgpack.ckpt" "$TMP/second.log"
check "make experiment again: the checkpoint removed" test ! -e "$mod/policy.msgpack.ckpt"

