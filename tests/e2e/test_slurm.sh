#!/bin/sh
# test_slurm.sh - pipelines/slurm/submit.sh end to end on a real one-node
# Slurm: munged, slurmctld and slurmd started here (key, config, state,
# spool and logs in $TMP, high ports, munge on its own socket; no system
# file is read or written) and stopped by their PIDs at the end.
#
#   1. OBJS=delay SEEDS="1 2": the array's and the summary job's logs land
#      in results/slurm/, none in the project folder, and summary.csv is
#      byte-identical to a local `make experiments`;
#   2. SEEDS="1 2 3" with task 3 failing: the summary job still runs,
#      aggregates runs 1 and 2 and names the missing one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	skip "slurm: needs root (slurmd runs the jobs as SlurmUser=root)"
	exit 0
fi
for c in munged slurmctld slurmd sbatch squeue sinfo scancel; do
	if ! command -v "$c" >/dev/null 2>&1; then
		skip "slurm: no $c (apt-get install slurm-wlm munge)"
		exit 0
	fi
done
# Under `make asan` the jobs use the ordinary build (as the local runs).
[ -n "${MESHRL_ASAN:-}" ] && BUILD_DIR=$MESHRL_ROOT/build

D=$TMP/slurm
mkdir -p "$D/munge" "$D/state" "$D/spool" "$D/log"
chmod 700 "$D/munge"
head -c 1024 /dev/urandom >"$D/munge/munge.key"
chmod 400 "$D/munge/munge.key"
port=$(( 30000 + $$ % 20000 ))
export SLURM_CONF="$D/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=meshrltest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

stop_slurm() {
	ids=$(timeout 10 squeue -h -o %A 2>/dev/null)
	[ -n "$ids" ] && scancel $ids 2>/dev/null
	for f in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munge/munged.pid"; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
	done
	rm -rf "$TMP"
}
trap stop_slurm EXIT
trap 'stop_slurm; exit 1' INT TERM HUP PIPE

# wait_for SECONDS CMD...: until CMD succeeds; fails after SECONDS of wall
# time (a deadline, not a count of tries: a Slurm command that hangs for
# seconds must not stretch the wait).
wait_for() {
	deadline=$(($(date +%s) + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}
node_idle() { [ "$(timeout 10 sinfo -h -n localhost -o %t 2>/dev/null)" = idle ]; }
# empty only when squeue answered (a squeue that hangs or fails is not an
# empty queue)
queue_empty() { q=$(timeout 10 squeue -h -o %A 2>/dev/null) && [ -z "$q" ]; }

check "munged starts" munged -f --socket="$D/munge/munge.socket" \
	--key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" \
	--log-file="$D/log/munged.log" --seed-file="$D/munge/munged.seed"
check "slurmctld starts" slurmctld -f "$SLURM_CONF"
check "slurmd starts" slurmd -f "$SLURM_CONF" -N localhost
check "the node is idle" wait_for 30 node_idle

# The clean run, here.
R=$TMP/local/results M=$TMP/local/models
check "local: make experiments OBJS=delay SEEDS='1 2'" \
	mk experiments OBJS=delay SEEDS="1 2" JOBS=2

# What submit.sh passes to the jobs (--export=ALL).
export BUILD="$BUILD_DIR" MODELS="$TMP/models" RESULTS="$TMP/results" \
	TRACE="$TMP/trace.csv" FIT_ARGS="--trees 30" PPO_ARGS="--timesteps 20000"
R=$RESULTS
ls "$MESHRL_ROOT" >"$TMP/root-before"

# 1. Every task succeeds.
check "submit.sh OBJS=delay SEEDS='1 2'" sh -c \
	"OBJS=delay SEEDS='1 2' sh '$MESHRL_ROOT/pipelines/slurm/submit.sh' >'$TMP/submit1.out'"
array=$(sed -n 's/^submit.sh: array job \([0-9]*\) .*/\1/p' "$TMP/submit1.out")
agg=$(sed -n 's/^submit.sh: aggregation job \([0-9]*\) .*/\1/p' "$TMP/submit1.out")
check "the jobs end" wait_for 600 queue_empty
check "summary.csv byte-identical to the local run" \
	cmp "$TMP/local/results/summary.csv" "$R/summary.csv"
check "task logs in results/slurm/" \
	test -f "$R/slurm/meshrl-exp-${array}_0.out" -a -f "$R/slurm/meshrl-exp-${array}_1.out"
check "the summary job's log in results/slurm/" \
	grep -q "summary.csv (.* rows)" "$R/slurm/meshrl-summary-$agg.out"
ls "$MESHRL_ROOT" >"$TMP/root-after"
check "no log in the project folder" cmp "$TMP/root-before" "$TMP/root-after"

# 2. Task 3 fails (a make that refuses SEED=3; runs 1 and 2 are done).
cat >"$TMP/failmake" <<'EOF'
#!/bin/sh
case " $* " in *" SEED=3 "*) echo "failmake: fails on purpose" >&2; exit 1 ;; esac
exec make "$@"
EOF
chmod +x "$TMP/failmake"
check "submit.sh OBJS=delay SEEDS='1 2 3', task 3 failing" sh -c \
	"MAKE='$TMP/failmake' OBJS=delay SEEDS='1 2 3' sh '$MESHRL_ROOT/pipelines/slurm/submit.sh' >'$TMP/submit2.out'"
array=$(sed -n 's/^submit.sh: array job \([0-9]*\) .*/\1/p' "$TMP/submit2.out")
agg=$(sed -n 's/^submit.sh: aggregation job \([0-9]*\) .*/\1/p' "$TMP/submit2.out")
check "the jobs end, the summary job too" wait_for 300 queue_empty
check "task 3 failed" grep -q "failmake: fails on purpose" "$R/slurm/meshrl-exp-${array}_2.out"
check "the summary job ran and names the missing run" \
	grep -q "no results .* for: delay seed 3" "$R/slurm/meshrl-summary-$agg.out"
check "the summary job says the summary is partial and fails" sh -c \
	"grep -q 'has the other runs only' '$R/slurm/meshrl-summary-$agg.out' &&
	 grep -q 'Error 1' '$R/slurm/meshrl-summary-$agg.out'"
check "summary.csv aggregates the two runs with results" \
	grep -q '^delay,seen,ppo,2,' "$R/summary.csv"
