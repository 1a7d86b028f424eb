#!/bin/sh
# test_ppo_stability.sh - the learner stays at the optimum once it gets
# there. On the delay objective (a synthetic trace: deterministic rewards
# per state and action), a policy near-deterministic at the optimum makes
# tiny advantages; scaled per minibatch to unit size (norm_adv 1, the
# published setting) they push it off the optimum again and again; with
# the minibatch's spread floored at 0.1 x the spread of every advantage so
# far (norm_adv 2, the default) it stays. Measured on the curve: of the evaluations from the
# first one within 2 % of the optimum to the end, the share within 2 %.
# (Without delay.obj's training jitter, which steadies learning too.)
# And on cost (traces/info2.csv): its shipped settings (the entropy
# bonus decayed to 0, a head per component) keep the policy there; the
# earlier ones (bonus held, one joint head) do not.
. "$(dirname "$0")/lib.sh"

synth_compute_trace 3 5 >"$TMP/compute.csv"
mkdir -p "$TMP/obj"
sed -e 's|^file = delay.load|file = seq.load|' -e '/^jitter/d' "$MESHRL_ROOT/pipelines/objectives/delay.obj" >"$TMP/obj/delay.obj"
cp "$MESHRL_ROOT/pipelines/objectives/delay.load" "$TMP/obj/seq.load"
OBJ=$TMP/obj/delay.obj
rf-fit fit -q $(sim-env describe "$OBJ" --model-args) --trees 40 --seed 2 \
	-o "$TMP/m.msgpack" "$TMP/compute.csv" >/dev/null 2>&1 ||
	notok "fit the model"

# stable CURVE: "first_hit stable_share final/optimum" of a learning curve
stable() {
	awk -F, 'NR > 1 { hit = ($2 >= $6 - 0.02 * ($6 < 0 ? -$6 : $6))
		if (hit && !first) first = $1; if (first) { m++; ok += hit }
		last = $2; opt = $6 }
	END { printf "%s %.3f %s/%s\n", first, m ? ok / m : 0, last, opt }' "$1"
}
train() { # NAME ARGS...: 100k timesteps, seed 2, one thread
	name=$1; shift
	ppo-train -q --model "$TMP/m.msgpack" --seed 2 --threads 1 \
		--timesteps 100000 --curve "$TMP/$name.csv" -o "$TMP/$name.msgpack" \
		"$@" "$OBJ"
}
train run
set -- $(stable "$TMP/run.csv")
awk -v s="$2" 'BEGIN { exit !(s >= 0.95) }' && [ -n "$1" ] &&
	ok "norm_adv 2 (default): from the first hit (${1} timesteps) $2 of the evaluations stay within 2 % of the optimum" ||
	notok "the default learner leaves the optimum: first hit ${1:-never}, stable share $2"
f=${3%/*} o=${3#*/}
[ "$f" = "$o" ] && ok "  and the final policy is at the optimum ($3)" || notok "final $3"

if [ -n "${MESHRL_ASAN:-}" ]; then
	skip "norm_adv 1's drift: shown in the plain build (make test), not under ASan (slow)"
else
	train mb --norm-adv 1
	set -- $(stable "$TMP/mb.csv")
	awk -v s="$2" 'BEGIN { exit !(s < 0.95) }' &&
		ok "norm_adv 1 (per minibatch, published) leaves it: stable share $2 (the check above can fail)" ||
		notok "norm_adv 1 did not drift here (stable share $2): this test no longer shows the difference"
fi

# cost (incremental, an entropy bonus): held at 0.05 to the end it keeps
# the policy spread out and the greedy action flips between near-equal
# choices; decayed with the learning rate (cost.obj's ent_decay 1) the
# policy settles, and a head per component (cost.obj's heads = factored)
# learns a component's move once for every combination of the others.
# Measured as issue 12 does: of the validation evaluations from the first
# scoring >= 0.98 to the end, the share >= 0.98, on the model of
# traces/info2.csv, where these settings were found (cost's trace until
# 2026-12-08; on its own trace since, traces/cost.csv, they do not hold
# the policy there: stable share 0.24 with these seeds, issue 12) (60
# trees, seeds 1; shipped 1.000, with 8 environments as before
# 0.982; the bonus held with a joint head and 8 environments 0.648, with
# 16 0.925; held with factored heads 0.972, so that is not the
# contrast). Its budget and bonus as they were then (200k timesteps, 0.05;
# cost.obj has 1M and 0.01 since 2026-12-08, for traces/cost.csv).
score_stable() { # CURVE: "first_hit share" on the score column
	awk -F, 'NR > 1 { n++; s[n] = $7; t[n] = $1 }
		END { for (i = 1; i <= n; i++) if (s[i] >= 0.98) break
			k = 0; for (j = i; j <= n; j++) if (s[j] >= 0.98) k++
			if (i > n) print "never 0"
			else printf "%s %.3f\n", t[i], k / (n - i + 1) }' "$1"
}
if [ -n "${MESHRL_ASAN:-}" ]; then
	skip "cost's entropy decay: shown in the plain build (make test), not under ASan (slow)"
else
	cobj=$MESHRL_ROOT/pipelines/objectives/cost.obj
	rf-fit fit -q $(sim-env describe "$cobj" --model-args) --trees 60 --seed 1 \
		-o "$TMP/cost.msgpack" "$MESHRL_ROOT/traces/info2.csv" \
		>/dev/null 2>&1 || notok "fit cost's model"
	for ed in 1 0; do
		heads=factored nenvs=
		[ $ed = 0 ] && heads=joint nenvs="--nenvs 8"
		# shellcheck disable=SC2086
		ppo-train -q --model "$TMP/cost.msgpack" --seed 1 --threads 1 \
			--timesteps 200000 --ent-coef 0.05 --ent-decay $ed --heads $heads $nenvs --curve "$TMP/cost$ed.csv" \
			-o "$TMP/cost$ed.msgpack" "$cobj" || notok "cost, ent_decay $ed: ppo-train"
	done
	set -- $(score_stable "$TMP/cost1.csv")
	awk -v s="$2" 'BEGIN { exit !(s >= 0.95) }' &&
		ok "cost (ent_decay 1, factored heads, as cost.obj has them): from the first >= 0.98 ($1 timesteps) $2 of the evaluations stay >= 0.98" ||
		notok "cost leaves the optimum: first >= 0.98 at $1, stable share $2"
	set -- $(score_stable "$TMP/cost0.csv")
	awk -v s="$2" 'BEGIN { exit !(s < 0.9) }' &&
		ok "cost with the bonus held, one joint head, 8 environments (before) leaves it: stable share $2 (the check above can fail)" ||
		notok "ent_decay 0 with a joint head and 8 environments did not leave the optimum here (stable share $2): this test no longer shows the difference"
fi

expect_fail "--norm-adv 3 refused" 2 "norm_adv: must be 0, 1 or 2" \
	ppo-train --env bandit --norm-adv 3 -o "$TMP/x.msgpack"
expect_fail "--adv-floor 2 refused" 2 "adv_floor 2: must be in 0..1" \
	ppo-train --env bandit --adv-floor 2 -o "$TMP/x.msgpack"
/usr/bin/python3 - "$TMP/run.msgpack.ckpt" >"$TMP/ck.out" 2>&1 <<'PY'
import struct, sys
try:
    import msgpack
except ImportError:
    print("skip"); sys.exit(0)
ck = msgpack.unpackb(open(sys.argv[1], "rb").read(), raw=False)
def find(o):
    if isinstance(o, dict):
        if "adv_stats" in o: return o["adv_stats"]
        for v in o.values():
            r = find(v)
            if r is not None: return r
n, mean, m2 = struct.unpack("<3d", find(ck))
print("ok" if n > 0 and n % 1024 == 0 and m2 > 0 else "bad %g %g %g" % (n, mean, m2))
PY
case $(cat "$TMP/ck.out") in
ok) ok "the checkpoint keeps the running advantage statistics (a whole number of rollouts counted)" ;;
skip) skip "python3-msgpack absent: checkpoint contents not read" ;;
*) notok "checkpoint adv_stats: $(cat "$TMP/ck.out")" ;;
esac
