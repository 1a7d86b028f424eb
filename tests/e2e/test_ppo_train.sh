#!/bin/sh
# test_ppo_train.sh - ppo-train end to end on the built-in contextual
# bandit: it reaches the optimum, writes a policy Python can read and a
# curve with the published columns, stops at --target-score (exit 1 when
# it is not reached), is deterministic for a seed, checkpoints on SIGTERM
# (exit 130) and resumes, and refuses nonsense with clear messages.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

check "bandit: trains and reaches the target" \
	ppo-train --env bandit -o "$TMP/p.msgpack" --curve "$TMP/c.csv" \
	--target-score 1 --timesteps 100000 -q
check "curve has the published header and the score" \
	grep -qx 'timesteps,avg_r,std_r,lower_r,upper_r,avg_optimal_r,score' "$TMP/c.csv"
check "last curve row: avg_r = avg_optimal_r = 1" \
	sh -c "tail -n 1 '$TMP/c.csv' | awk -F, '\$2 == 1 && \$6 == 1 { ok = 1 } END { exit !ok }'"

# exit 0 with --target-score: the target was reached (else exit 1)
check "factored heads: trains and reaches the target" \
	ppo-train --env bandit --heads factored -o "$TMP/pf.msgpack" \
	--curve "$TMP/cf.csv" --target-score 1 --timesteps 100000 -q
check "factored heads: last curve row avg_r = avg_optimal_r = 1" \
	sh -c "tail -n 1 '$TMP/cf.csv' | awk -F, '\$2 == 1 && \$6 == 1 { ok = 1 } END { exit !ok }'"

if [ -x "$PY" ] && "$PY" -c 'import msgpack' 2>/dev/null; then
	for f in p pf; do
	check "policy $f readable with Python msgpack (schema as documented)" \
		"$PY" - "$TMP/$f.msgpack" <<'PYEOF'
import msgpack, struct, sys
d = msgpack.unpackb(open(sys.argv[1], 'rb').read(), raw=False)
assert d['format'] == 'ppo-policy' and d['version'] == 1
assert d['obs_dim'] == 4 and d['nchoices'] == [5, 5]
assert d['activation'] == 'tanh' and d['shared'] == 0
heads = d.get('heads', 'factored')
prev = d['obs_dim']
for L in d['actor']:
    assert L['in'] == prev and len(L['w']) == 4 * L['in'] * L['out']
    assert len(L['b']) == 4 * L['out']
    prev = L['out']
# auto picks a joint head here: 5 x 5 = 25 combinations
assert prev == {'joint': 25, 'factored': 10}[heads], (heads, prev)
assert d['critic'][-1]['out'] == 1
assert len(d['obs_mean']) == 8 * d['obs_dim']
# act with it in Python: same answer as the C policy on context 0
import math
def fwd(x, layers):
    for i, L in enumerate(layers):
        w = struct.unpack('<%df' % (L['in'] * L['out']), L['w'])
        b = struct.unpack('<%df' % L['out'], L['b'])
        y = [b[o] + sum(w[o * L['in'] + k] * x[k] for k in range(L['in']))
             for o in range(L['out'])]
        x = [math.tanh(v) for v in y] if i < len(layers) - 1 else y
    return x
m = struct.unpack('<4d', d['obs_mean']); v = struct.unpack('<4d', d['obs_var'])
c = d['obs_clip']
x = [max(-c, min(c, (o - mm) / math.sqrt(vv + d['obs_eps'])))
     for o, mm, vv in zip([1, 0, 0, 0], m, v)]
z = fwd(x, d['actor'])
# context 0: best arms are (0*3+0*5+1)%5 = 1 and (0+5+1)%5 = 1; their lures
# (2 and 2) pay more but are masked
if heads == 'joint':  # row-major: index = a0 * 5 + a1
    allowed = [j for j in range(25) if j // 5 != 2 and j % 5 != 2]
    j = max(allowed, key=lambda j: z[j])
    best = [j // 5, j % 5]
else:
    ok = [0, 1, 3, 4]
    best = [max(ok, key=lambda j: z[j]), max(ok, key=lambda j: z[5 + j])]
assert best == [1, 1], best
PYEOF
	done
else
	skip "policies read from Python: $PY has no msgpack (Debian python3-msgpack)"
fi

# the trap bandit: its best action needs both components changed at once;
# a --target-score not reached within the budget is exit 1, the policy and
# curve still written
ppo-train --env bandit-trap --heads factored -o "$TMP/tf.msgpack" \
	--curve "$TMP/tf.csv" --timesteps 40000 --seed 2 --target-score 1 2>"$TMP/tf.err"
rc=$?
ppo-train --env bandit-trap --heads joint -o "$TMP/tj.msgpack" \
	--timesteps 40000 --seed 2 --target-score 1 2>"$TMP/tj.err"
rcj=$?
check "trap: factored heads stop at 0.7 of 1" \
	grep -q 'eval avg_r 0.7, optimal 1' "$TMP/tf.err"
check "trap: target 1 not reached: exit 1 (got $rc), said so" \
	sh -c "[ $rc -eq 1 ] && grep -q 'target score 1 not reached in 40448 timesteps' '$TMP/tf.err'"
check "trap: target not reached: policy and curve written" \
	sh -c "test -s '$TMP/tf.msgpack' && tail -n 1 '$TMP/tf.csv' | grep -q '^40448,0.69999'"
check "trap: a joint head reaches 1 (exit $rcj)" \
	sh -c "[ $rcj -eq 0 ] && grep -q 'eval avg_r 1, optimal 1,.*target reached' '$TMP/tj.err'"
ppo-train --env bandit -o "$TMP/q.msgpack" --timesteps 1024 --target-score 1 -q 2>"$TMP/q.err"
rc=$?
check "target not reached with -q: exit 1 (got $rc), one line why" \
	sh -c "[ $rc -eq 1 ] && [ \$(wc -l <'$TMP/q.err') -eq 1 ] && grep -q 'not reached' '$TMP/q.err'"
expect_fail "unknown --heads refused" 2 "heads: 'both' is not auto, factored or joint" \
	ppo-train --env bandit --heads both -o "$TMP/x.msgpack"

ppo-train --env bandit -o "$TMP/a.msgpack" --timesteps 4096 --seed 3 -q
ppo-train --env bandit -o "$TMP/b.msgpack" --timesteps 4096 --seed 3 -q
check "deterministic for a seed (1 thread)" cmp -s "$TMP/a.msgpack" "$TMP/b.msgpack"
ppo-train --env bandit -o "$TMP/a2.msgpack" --timesteps 4096 --seed 3 --threads 2 -q
ppo-train --env bandit -o "$TMP/b2.msgpack" --timesteps 4096 --seed 3 --threads 2 -q
check "deterministic for a seed (2 threads)" cmp -s "$TMP/a2.msgpack" "$TMP/b2.msgpack"

# interruption: SIGTERM -> checkpoint, exit 130; --resume finishes
ppo-train --env bandit -o "$TMP/r.msgpack" --curve "$TMP/r.csv" \
	--timesteps 100000000 -q &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM: exit 130" test "$rc" -eq 130
check "SIGTERM: checkpoint written" test -s "$TMP/r.msgpack.ckpt"
check "SIGTERM: no half policy" test ! -e "$TMP/r.msgpack"
n0=$(wc -l < "$TMP/r.csv")
steps=$(tail -n 1 "$TMP/r.csv" | cut -d, -f1)
check "--resume continues and finishes" \
	ppo-train --env bandit -o "$TMP/r.msgpack" --curve "$TMP/r.csv" \
	--timesteps $((steps + 2048)) -q --resume
check "--resume: policy written" test -s "$TMP/r.msgpack"
check "--resume: curve kept its earlier rows" \
	test "$(wc -l < "$TMP/r.csv")" -gt "$n0"
expect_fail "--resume with other hyper-parameters refused" 2 \
	"other hyper-parameters" \
	ppo-train --env bandit -o "$TMP/r.msgpack" --lr 0.5 --resume -q

# bad input
expect_fail "batch larger than the rollout" 2 "batch 4096 is larger than the rollout" \
	ppo-train --env bandit --batch 4096 -o "$TMP/x.msgpack"
expect_fail "negative learning rate" 2 "lr -1" \
	ppo-train --env bandit --lr -1 -o "$TMP/x.msgpack"
expect_fail "unknown hyper-parameter" 2 "unknown hyper-parameter 'bogus'" \
	ppo-train --env bandit --set bogus=1 -o "$TMP/x.msgpack"
expect_fail "bad --net" 2 "not a list of widths" \
	ppo-train --env bandit --net 64,x -o "$TMP/x.msgpack"
expect_fail "threads out of range" 2 "threads 99" \
	ppo-train --env bandit --threads 99 -o "$TMP/x.msgpack"
head -c 100 "$TMP/p.msgpack" > "$TMP/trunc.msgpack"
cp "$TMP/trunc.msgpack" "$TMP/trunc.msgpack.ckpt"
expect_fail "truncated checkpoint refused" 3 "trunc.msgpack.ckpt" \
	ppo-train --env bandit -o "$TMP/trunc.msgpack" --resume -q
expect_fail "missing objective file" 4 "nope.obj" \
	ppo-train "$TMP/nope.obj" -o "$TMP/x.msgpack"
expect_fail "unbalanced --env-cmd quote" 2 "unbalanced" \
	ppo-train --env-cmd "sim-env 'serve" -o "$TMP/x.msgpack"
check "--help documents exit 1 for a target not reached" \
	sh -c "ppo-train --help | grep -q '^exit: 0 done.*, 1 --target-score\$'"
check "--version" ppo-train --version

# --stats: a row per update; the entropy coefficient's schedule
check "--stats: a row per update with the update's figures" \
	sh -c "ppo-train --env bandit --timesteps 5120 --ent-coef 0.04 --lr-decay 1 \
		--ent-decay 1 -q -o '$TMP/s.msgpack' --stats '$TMP/s.csv' &&
	awk -F, 'NR == 1 { ok = \$0 == \"timesteps,lr,ent_coef,pg_loss,v_loss,entropy,approx_kl,clip_frac,grad_norm,adv_sd,steps\"; next }
		{ n++; if (\$1 != n * 512 || \$10 <= 0 || \$6 <= 0 || \$11 != 32) bad = 1 }
		END { exit !(ok && n == 10 && !bad) }' '$TMP/s.csv'"
check "--ent-decay 1: ent_coef falls linearly from 0.04, as lr does" \
	awk -F, 'NR > 1 { k = NR - 2
		if ($3 < 0.04 * (1 - k / 10) - 1e-12 || $3 > 0.04 * (1 - k / 10) + 1e-12) bad = 1
		if ($2 < 3e-3 * (1 - k / 10) - 1e-9 || $2 > 3e-3 * (1 - k / 10) + 1e-9) bad = 1 }
		END { exit !(NR == 11 && !bad) }' "$TMP/s.csv"
check "--ent-decay 0 (default): ent_coef stays" \
	sh -c "ppo-train --env bandit --timesteps 2048 --ent-coef 0.04 -q \
		-o '$TMP/s0.msgpack' --stats '$TMP/s0.csv' &&
	awk -F, 'NR > 1 && \$3 != 0.04 { bad = 1 } END { exit !(NR == 5 && !bad) }' '$TMP/s0.csv'"
check "--ent-decay 1 without an entropy bonus trains the same policy" \
	sh -c "ppo-train --env bandit --timesteps 2048 -q -o '$TMP/d0.msgpack' &&
		ppo-train --env bandit --timesteps 2048 -q --ent-decay 1 -o '$TMP/d1.msgpack' &&
		cmp -s '$TMP/d0.msgpack' '$TMP/d1.msgpack'"
expect_fail "ent_decay 2 refused" 2 "ent_decay: must be 0 or 1" \
	ppo-train --env bandit --ent-decay 2 -o "$TMP/x.msgpack"
expect_fail "--stats into a missing folder: an I/O error" 4 "no/such/s.csv" \
	ppo-train --env bandit --timesteps 1024 -q -o "$TMP/y.msgpack" --stats "$TMP/no/such/s.csv"

# --target-kl: the epochs stop at the first minibatch past 1.5 x the
# target (the first one is at the rollout's policy, KL 0: it steps)
for th in 1 2; do
check "--target-kl 1e-12, $th thread(s): one minibatch step per update" \
	sh -c "ppo-train --env bandit --timesteps 2048 --target-kl 1e-12 --threads $th -q \
		-o '$TMP/k.msgpack' --stats '$TMP/k$th.csv' &&
	awk -F, 'NR > 1 && \$11 != 1 { bad = 1 } END { exit !(NR == 5 && !bad) }' '$TMP/k$th.csv'"
done
check "--target-kl: 1 and 2 threads stop alike (separate networks)" \
	sh -c "cut -d, -f1,11 '$TMP/k2.csv' >'$TMP/k2.f' &&
		cut -d, -f1,11 '$TMP/k1.csv' | cmp -s - '$TMP/k2.f'"
check "--target-kl 0.05: some updates stop early, none takes more than 32" \
	sh -c "ppo-train --env bandit --timesteps 20480 --target-kl 0.05 -q \
		-o '$TMP/k.msgpack' --stats '$TMP/k5.csv' &&
	awk -F, 'NR > 1 { if (\$11 < 32) short++; if (\$11 > 32 || \$11 < 1) bad = 1 }
		END { exit !(short > 0 && !bad) }' '$TMP/k5.csv'"
check "--target-kl 0 (default): every update takes its 32 steps" \
	awk -F, 'NR > 1 && $11 != 32 { bad = 1 } END { exit !(NR > 1 && !bad) }' "$TMP/s0.csv"
