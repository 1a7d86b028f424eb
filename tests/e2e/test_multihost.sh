#!/bin/sh
# test_multihost.sh - `HOSTS=FILE make experiments` over ssh: an sshd on
# loopback started here (throwaway host and user keys and config in $TMP, a
# high port, its own mount namespace for /run/sshd so no system file is
# touched, stopped by pid at the end). The remote runs must equal a local
# run byte for byte; an unreachable host is named and nothing is written.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"
# Remote hosts build with the default flags; bit-identical results need the
# local side built the same way, so under `make asan` the local runs use
# the ordinary build (make builds it if absent).
[ -n "${MESHRL_ASAN:-}" ] && BUILD_DIR=$MESHRL_ROOT/build

S=$TMP/ssh
mkdir -p "$S"
ssh-keygen -q -t ed25519 -N '' -f "$S/hostkey" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$S/id" </dev/null
cp "$S/id.pub" "$S/authorized_keys"
port=$(( 20000 + $$ % 20000 ))
cat >"$S/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $S/hostkey
AuthorizedKeysFile $S/authorized_keys
PidFile $S/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowUsers $(id -un)
CONF
stop_sshd() {
	[ -f "$S/sshd.pid" ] && kill "$(cat "$S/sshd.pid")" 2>/dev/null
	rm -rf "$TMP"
}
trap stop_sshd EXIT
trap 'stop_sshd; exit 1' INT TERM HUP PIPE
# sshd as root wants /run/sshd: give it a private tmpfs /run instead of
# creating the directory on the system.
if [ "$(id -u)" -eq 0 ]; then
	unshare -m sh -c "mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -f '$S/sshd_config' -E '$S/sshd.log'"
else
	/usr/sbin/sshd -f "$S/sshd_config" -E "$S/sshd.log"
fi
i=0
while [ ! -s "$S/sshd.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "sshd on 127.0.0.1:$port is up" test -s "$S/sshd.pid"
login="ssh -i $S/id -p $port -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR $(id -un)@127.0.0.1"
echo "2/$login" >"$S/hosts"
check "ssh to the loopback host works" $login true

# The same two runs locally and over ssh.
R=$TMP/local/results M=$TMP/local/models
check "local: make experiments OBJS=delay SEEDS='1 2'" mk experiments OBJS=delay SEEDS="1 2"
R=$TMP/remote/results M=$TMP/remote/models
check "remote: HOSTS=... make experiments OBJS=delay SEEDS='1 2'" \
	mk experiments OBJS=delay SEEDS="1 2" HOSTS="$S/hosts" REMOTE_DIR="$TMP/remote-work"
check "the jobs ran in the remote work folder" test -d "$TMP/remote-work/out/results/delay/seed-2"
check "remote results came back" test -s "$TMP/remote/results/delay/seed-1/eval-seen/summary.csv"
for s in 1 2; do
	for f in eval-seen/summary.csv eval-unseen/summary.csv eval-seen/steps-ppo.csv learning.csv optimal.csv; do
		check "seed $s $f identical to the local run" \
			cmp "$TMP/local/results/delay/seed-$s/$f" "$TMP/remote/results/delay/seed-$s/$f"
	done
	check "seed $s policy identical to the local run" \
		cmp "$TMP/local/models/delay/seed-$s/policy.msgpack" "$TMP/remote/models/delay/seed-$s/policy.msgpack"
done
check "summary.csv identical to the local run" cmp "$TMP/local/results/summary.csv" "$TMP/remote/results/summary.csv"

# An unreachable host: named, nothing written.
echo "ssh -i $S/id -p 1 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@127.0.0.1" >"$S/bad-hosts"
R=$TMP/bad/results M=$TMP/bad/models
expect_fail "unreachable host is named" 2 "host 'ssh -i .* -p 1 .*127.0.0.1' is unreachable" \
	mk experiments OBJS=delay SEEDS=1 HOSTS="$S/bad-hosts"
check "nothing written for an unreachable host" test ! -e "$TMP/bad"
