#!/bin/sh
# test_multihost.sh - `HOSTS=FILE make experiments` over ssh, with hosts
# that die. Two sshd "hosts" on loopback, each in its own PID and mount
# namespace (throwaway keys and config in $TMP, high ports, a private /run
# for /run/sshd, and its own remote out/ folder bind-mounted over the
# shared work folder: the build is shared, the results are not). Killing a
# host is killing its namespace's init (every process on it dies). The
# hosts file has the README's form (N/ssh -i key -p port user@host).
#
#   1. host B killed mid-run: its runs go to host A (RETRIES) and the
#      fan-out completes, its summary byte-identical to a local run's;
#   2. with B down from the start (left out with a warning), results that
#      never come back (an ssh that drops the fetch of one run): that run
#      is not counted as done; the same command resumes, redoes it and
#      only it, and the summary is the local run's again;
#   3. every host down: named, exit, nothing written.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	skip "multihost: needs root (PID namespaces for the hosts: unshare -p)"
	exit 0
fi
if ! unshare -p -f -m true 2>/dev/null; then
	skip "multihost: no PID namespaces here (unshare -p -f -m true fails)"
	exit 0
fi
# Remote hosts build with the default flags; bit-identical results need the
# local side built the same way, so under `make asan` the local runs use
# the ordinary build (make builds it if absent).
[ -n "${MESHRL_ASAN:-}" ] && BUILD_DIR=$MESHRL_ROOT/build

S=$TMP/ssh W=$TMP/work
mkdir -p "$S" "$W/out"
ssh-keygen -q -t ed25519 -N '' -f "$S/hostkey" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$S/id" </dev/null
cp "$S/id.pub" "$S/authorized_keys"
port_a=$(( 20000 + $$ % 20000 )) port_b=$(( 20001 + $$ % 20000 ))
inits=""
ssh_opts="-i $S/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
# ssh_to PORT CMD...: CMD on the host listening on PORT.
ssh_to() {
	p=$1; shift
	ssh $ssh_opts -o BatchMode=yes -p "$p" "$(id -un)@127.0.0.1" "$@"
}

# start_host NAME PORT: sshd -D as the init of new PID and mount
# namespaces, $TMP/NAME as its $W/out. Sets init (its PID out here).
start_host() {
	mkdir -p "$TMP/$1"
	cat >"$S/sshd_config.$1" <<-CONF
	Port $2
	ListenAddress 127.0.0.1
	HostKey $S/hostkey
	AuthorizedKeysFile $S/authorized_keys
	PidFile none
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes no
	PermitRootLogin prohibit-password
	AllowUsers $(id -un)
	CONF
	unshare -p -f -m sh -c 'mount -t tmpfs tmpfs /run &&
		mkdir -m 755 /run/sshd && mount --bind "$1" "$2" &&
		exec /usr/sbin/sshd -D -f "$3" -E "$4"' sh \
		"$TMP/$1" "$W/out" "$S/sshd_config.$1" "$S/sshd.$1.log" \
		2>>"$S/unshare.log" &
	u=$!
	init=""
	i=0
	while [ -z "$init" ] && [ $i -lt 50 ]; do
		init=$(cat "/proc/$u/task/$u/children" 2>/dev/null | tr -d ' ')
		[ -n "$init" ] || sleep 0.1
		i=$((i + 1))
	done
	inits="$inits $init"
	i=0
	until ssh_to "$2" true 2>/dev/null || [ $i -ge 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
}
stop_hosts() {
	for p in $inits; do kill -KILL "$p" 2>/dev/null; done
	wait
	rm -rf "$TMP"
}
trap stop_hosts EXIT
trap 'stop_hosts; exit 1' INT TERM HUP PIPE

# kill_mid_run HOST INIT PID: once HOST has a run past its fit (and not
# finished), kill the host; prints the run's folder. Gives up when the
# process PID (the fan-out) has ended.
kill_mid_run() {
	while kill -0 "$3" 2>/dev/null; do
		for m in "$TMP/$1"/models/delay/seed-*/system.msgpack; do
			[ -f "$m" ] || continue
			run=${m%/system.msgpack}
			[ -f "$run/policy.msgpack" ] && continue
			kill -KILL "$2"
			echo "$TMP/$1/results/${run#"$TMP/$1"/models/}"
			return 0
		done
		sleep 0.05
	done
	return 1
}

start_host a "$port_a"; init_a=$init
start_host b "$port_b"; init_b=$init
check "host A answers" ssh_to "$port_a" true
check "host B answers" ssh_to "$port_b" true
printf '%s\n' "# the README's form" \
	"1/ssh $ssh_opts -p $port_a $(id -un)@127.0.0.1" \
	"1/ssh $ssh_opts -p $port_b $(id -un)@127.0.0.1" >"$S/hosts"
SEEDS="1 2 3"

# The clean run, here.
R=$TMP/local/results M=$TMP/local/models
check "local: make experiments OBJS=delay SEEDS='$SEEDS'" \
	mk experiments OBJS=delay SEEDS="$SEEDS" JOBS=2

# same_as_local DIR: DIR's summary and runs equal the clean run's.
same_as_local() {
	check "$2: summary.csv byte-identical to the local run" \
		cmp "$TMP/local/results/summary.csv" "$1/results/summary.csv"
	for s in $SEEDS; do
		check "$2: seed $s policy and evaluation identical to the local run" sh -c "
		cmp '$TMP/local/models/delay/seed-$s/policy.msgpack' '$1/models/delay/seed-$s/policy.msgpack' &&
		cmp '$TMP/local/results/delay/seed-$s/eval-seen/summary.csv' '$1/results/delay/seed-$s/eval-seen/summary.csv' &&
		cmp '$TMP/local/results/delay/seed-$s/eval-unseen/summary.csv' '$1/results/delay/seed-$s/eval-unseen/summary.csv'"
	done
}

# 1. B dies mid-run; its runs go to A (RETRIES, default 2).
R=$TMP/r1/results M=$TMP/r1/models
mk experiments OBJS=delay SEEDS="$SEEDS" HOSTS="$S/hosts" REMOTE_DIR="$W" \
	>"$TMP/r1.log" 2>&1 &
fan=$!
killed=$(kill_mid_run b "$init_b" "$fan")
wait $fan
rc=$?
check "host B was killed mid-run (${killed#"$TMP"/})" \
	sh -c "[ -n '$killed' ] && [ -d '$killed' ] && [ ! -f '$killed/.complete' ]"
check "with retries the fan-out completes (exit $rc)" test "$rc" -eq 0
check "every run finished on host A" sh -c \
	"awk -F'\t' 'NR > 1 && (\$7 != 0 || \$2 !~ / -p $port_a /)' '$R/.experiments-last.joblog' | grep -q . && exit 1; \
	 [ \$(awk 'NR > 1' '$R/.experiments-last.joblog' | wc -l) -eq 3 ]"
same_as_local "$TMP/r1" "host B killed mid-run"

# 2. An ssh to A (two job slots) that drops the fetch of seed 2's results
# (rsync --sender), beside the dead B.
cat >"$S/lossy-ssh" <<'EOF'
#!/bin/sh
case "$*" in *--sender*seed-2*) [ -f "$0.lose" ] && exit 255 ;; esac
exec ssh "$@"
EOF
chmod +x "$S/lossy-ssh"
touch "$S/lossy-ssh.lose"
{ echo "2/$S/lossy-ssh $ssh_opts -p $port_a $(id -un)@127.0.0.1"
  echo "1/ssh $ssh_opts -p $port_b $(id -un)@127.0.0.1"; } >"$S/lossy-hosts"
R=$TMP/r2/results M=$TMP/r2/models
expect_fail "a run whose results did not come back is not done" 2 \
	"delay seed 2: finished on .*, but its results did not come back" \
	mk experiments OBJS=delay SEEDS="$SEEDS" HOSTS="$S/lossy-hosts" REMOTE_DIR="$W"
cp "$TMP/.err" "$TMP/lossy.err"
check "host B, down at the start, is left out with a warning" \
	grep -q "host 'ssh .* -p $port_b .*' is unreachable, left out" "$TMP/lossy.err"
check "it was run once more before giving up" \
	grep -q "results lost in transit, running again: delay seed 2" "$TMP/lossy.err"
check "nothing of it in results/ or models/, no summary.csv" \
	test ! -e "$R/delay/seed-2" -a ! -e "$M/delay/seed-2" -a ! -e "$R/summary.csv"
: >"$TMP/snap1"
for s in 1 3; do mtimes "$R/delay/seed-$s" >>"$TMP/snap1"; done
check "the other runs are in place" test -s "$TMP/snap1"
rm "$S/lossy-ssh.lose"
check "the same command resumes" \
	mk experiments OBJS=delay SEEDS="$SEEDS" HOSTS="$S/lossy-hosts" REMOTE_DIR="$W"
: >"$TMP/snap2"
for s in 1 3; do mtimes "$R/delay/seed-$s" >>"$TMP/snap2"; done
check "finished runs were not redone" cmp -s "$TMP/snap1" "$TMP/snap2"
same_as_local "$TMP/r2" "resumed"

# 3. No host answers: named, nothing written.
kill -KILL "$init_a"
R=$TMP/bad/results M=$TMP/bad/models
expect_fail "every host down: each named, exit" 2 \
	"host 'ssh .* -p $port_a .*' is unreachable" \
	mk experiments OBJS=delay SEEDS=1 HOSTS="$S/hosts"
cp "$TMP/.err" "$TMP/down.err"
check "every host down: the error names the hosts file" \
	grep -q "no host in '$S/hosts' answers" "$TMP/down.err"
check "nothing written when no host answers" test ! -e "$TMP/bad"
