#!/bin/sh
# test_ppo_train_envcmd.sh - ppo-train on an external simulator through
# --env-cmd ('sim-env serve' on a small synthetic model, over the sim-env
# protocol): it reaches the optimum, trains exactly as on the in-process
# simulator (same seed: the same policy bit for bit), policy-eval scores
# the policy on episodes other than the one that stopped training, and a missing, dying or mismatched simulator is a clear error.
. "$(dirname "$0")/lib.sh"

synth_delay 5 2 4 8 12 12 8 4

# small, quick settings (the published ones need ~20k steps here)
H="--net 32,32 --n-steps 32 --nenvs 4 --batch 32 --epochs 4 --lr 3e-3 --gamma 0 -q --checkpoint-every 0"

check "--env-cmd 'sim-env serve': trains to the optimum (--target-score 1)" \
	ppo-train --env-cmd "sim-env serve '$OBJ' --model '$M'" --objective "$OBJ" \
	--model "$M" $H --timesteps 100000 --target-score 1 -o "$TMP/pipe.msgpack" \
	--curve "$TMP/pipe.csv"
check "curve: last row at the optimum" \
	sh -c "tail -n 1 '$TMP/pipe.csv' | awk -F, '\$2 == \$6 && \$6 != \"\" { ok = 1 } END { exit !ok }'"
# not the episode that stopped training (the objective's load sequence):
# episodes of one load drawn per seed, on other seeds
: >"$TMP/ev.txt"
for s in 2 3 4 5 6 7 8; do
	mkdir -p "$TMP/ev$s"
	policy-eval sim -q --policy "$TMP/pipe.msgpack" --model "$M" -b optimal \
		--pattern levels:4,8,12 --seed "$s" -o "$TMP/ev$s" "$OBJ" &&
		awk -F, -v s="$s" '$4 == "ppo" { print s, $14, $8 }' "$TMP/ev$s/summary.csv" >>"$TMP/ev.txt"
done
check "policy-eval, 7 other seeds (loads $(cut -d' ' -f2 "$TMP/ev.txt" | sort -nu | paste -sd' ' -)): the pipe-trained policy scores 1 on each" \
	awk '$3 >= 0.999 { n++; if (!($2 in l)) nl++; l[$2] } END { exit !(n == 7 && nl >= 3) }' "$TMP/ev.txt"

# the same seed and settings over the pipe and in process: one policy
ppo-train --env-cmd "sim-env serve '$OBJ' --model '$M'" --objective "$OBJ" \
	--model "$M" $H --timesteps 2048 --seed 4 -o "$TMP/a.msgpack"
ppo-train "$OBJ" --model "$M" $H --timesteps 2048 --seed 4 -o "$TMP/b.msgpack"
check "same policy bit for bit over the pipe and in process" \
	cmp -s "$TMP/a.msgpack" "$TMP/b.msgpack"
check "2 threads over the pipe (one simulator per thread)" \
	ppo-train --env-cmd "sim-env serve '$OBJ' --model '$M'" $H --timesteps 2048 \
	--threads 2 -o "$TMP/c.msgpack"
check "without --objective: trains, curve has no optimum column value" \
	sh -c "ppo-train --env-cmd \"sim-env serve '$OBJ' --model '$M'\" $H --timesteps 1024 \
		-o '$TMP/d.msgpack' --curve '$TMP/d.csv' && tail -n 1 '$TMP/d.csv' | grep -q ',\$'"

# failures: clear messages, no policy written
expect_fail "a simulator that cannot be started" 5 "no-such-simulator" \
	ppo-train --env-cmd "no-such-simulator --serve" $H -o "$TMP/x.msgpack"
expect_fail "a simulator that exits at once" 5 "simulator 'sh' exited" \
	ppo-train --env-cmd "sh -c 'exit 0'" $H -o "$TMP/x.msgpack"
expect_fail "a simulator that answers with an error" 5 "simulator 'sim-env'.*nope" \
	ppo-train --env-cmd "sim-env serve '$OBJ' --model '$TMP/nope.msgpack'" $H -o "$TMP/x.msgpack"
# the same model and loads, one core level fewer: 4 choices, not 5
sed -e 's|^values = 1\.\.5|values = 1..4|' "$OBJ" >"$TMP/obj/four.obj"
expect_fail "--objective that does not describe the simulator" 3 "differ from the simulator" \
	ppo-train --env-cmd "sim-env serve '$OBJ' --model '$M'" \
	--objective "$TMP/obj/four.obj" --model "$M" $H -o "$TMP/x.msgpack"
check "no policy left by the failures" test ! -e "$TMP/x.msgpack"
