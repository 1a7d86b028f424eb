#!/bin/sh
# test_sim_env.sh - sim-env end to end on a synthetic trace: the optimum
# agrees with a brute force through `rf-fit predict`, run with fixed /
# random / table policies, describe, bad objectives and models, the raw
# protocol driven by Debian's python3 + msgpack (each step its own check; a
# crash fails it), the raw Python client, and the gymnasium wrapper
# (skipped when gymnasium is absent).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

synth_compute_trace 3 5 >"$TMP/compute.csv"
mkdir -p "$TMP/obj"
# the mean forest (the brute force below averages the trees; test_bruteforce
# checks the shipped [model] risk)
sed -e 's|^file = delay.load|file = seq.load|' -e '/^\(risk\|upper\|lower\) =/d' \
	"$MESHRL_ROOT/pipelines/objectives/delay.obj" >"$TMP/obj/delay.obj"
printf '4\n8\n12\n12\n8\n' >"$TMP/obj/seq.load"
OBJ=$TMP/obj/delay.obj

check "rf-fit fits the objective's model from describe --model-args" \
	sh -c "rf-fit fit -q \$(sim-env describe '$OBJ' --model-args) --test-frac 0 --trees 40 --seed 2 -o '$TMP/m.msgpack' '$TMP/compute.csv'"
check "optimal writes the table and the summary" \
	sim-env optimal "$OBJ" --model "$TMP/m.msgpack" -o "$TMP/opt.csv" --summary "$TMP/sum.csv"

# brute force: every (load, p, c) through rf-fit predict, reward by hand
[ "$(sim-env describe "$OBJ" --get features)" = "max_l1,p1,b1,c1" ] &&
	ok "delay features: rates and settings only (no per-window counts)" || notok "delay features changed"
awk 'BEGIN { print "max_l1,p1,b1,c1"
  for (l = 4; l <= 12; l += 4) for (p = 0; p <= 100; p += 20) for (c = 1; c <= 5; c++)
    printf "%d,%d,%d,%d\n", l, p, l, c }' >"$TMP/grid.csv"
rf-fit predict -q -o "$TMP/pred.csv" "$TMP/m.msgpack" "$TMP/grid.csv"
awk -F, 'NR > 1 { d = $5; r = d <= 0.6 ? 6 - $4 : 0.6 - d
  if (!($1 in best) || r > best[$1] + 1e-12) { best[$1] = r; bp[$1] = $2; bc[$1] = $4; bd[$1] = d } }
  END { for (l in best) printf "%s,%s,%s,%.9f,%.9f\n", l, bp[l], bc[l], best[l], bd[l] }' \
	"$TMP/pred.csv" | sort -n >"$TMP/brute.csv"
awk -F, 'NR > 1 { printf "%s,%s,%s,%.9f,%.9f\n", $1, $2, $3, $4, $5 }' "$TMP/opt.csv" | sort -n >"$TMP/mine.csv"
if cmp -s "$TMP/brute.csv" "$TMP/mine.csv" && [ "$(wc -l <"$TMP/mine.csv")" -eq 3 ]; then
	ok "optimal table = brute force through rf-fit predict ($(tr '\n' ' ' <"$TMP/mine.csv"))"
else
	notok "optimal table differs from brute force"; diff "$TMP/brute.csv" "$TMP/mine.csv" | sed 's/^/    # /'
fi
# the mean over the sequence from the brute force
want=$(awk -F, 'NR == FNR { r[$1] = $4; next } { s += r[$1]; n++ } END { printf "%.6f", s / n }' \
	"$TMP/brute.csv" "$TMP/obj/seq.load")
got=$(awk -F, 'NR == 2 { printf "%.6f", $4 }' "$TMP/sum.csv")
[ "$want" = "$got" ] && ok "optimal mean over the load sequence = $got" || notok "optimal mean $got, brute force $want"

# run: the optimal table replayed, a fixed baseline, random
check "run --actions table: replays the optimum" \
	sim-env run "$OBJ" --model "$TMP/m.msgpack" --eval --actions "table:$TMP/opt.csv" -o "$TMP/run_tab.csv"
tabmean=$(awk -F, 'NR > 1 { s += $(NF-2); n++ } END { printf "%.6f", s / n }' "$TMP/run_tab.csv")
[ "$tabmean" = "$want" ] && ok "table replay mean reward = optimal ($tabmean)" || notok "table replay $tabmean, optimal $want"
check "run fixed:p=80,c=1" sim-env run "$OBJ" --model "$TMP/m.msgpack" --eval --actions fixed:p=80,c=1 -o "$TMP/run_fix.csv"
hdr=$(head -n 1 "$TMP/run_fix.csv")
[ "$hdr" = "step,env,load1,p,c,delay1,offered,carried,cost,reward,bound_met,done" ] && ok "run CSV header" || notok "run header: $hdr"
awk -F, 'NR > 1 && ($4 != 80 || $5 != 1) { bad = 1 } END { exit bad }' "$TMP/run_fix.csv" && [ "$(wc -l <"$TMP/run_fix.csv")" -eq 6 ] &&
	ok "fixed policy: every step p=80,c=1, one episode" || notok "fixed policy rows"
check "run random, 3 envs, 40 steps" sim-env run "$OBJ" --model "$TMP/m.msgpack" --actions random --envs 3 --steps 40 --seed 4 -o "$TMP/r1.csv"
sim-env run "$OBJ" --model "$TMP/m.msgpack" --actions random --envs 3 --steps 40 --seed 4 -q -o "$TMP/r2.csv"
cmp -s "$TMP/r1.csv" "$TMP/r2.csv" && [ "$(wc -l <"$TMP/r1.csv")" -eq 121 ] && ok "random run deterministic for a seed" || notok "random run not deterministic"
[ "$(sim-env describe "$OBJ" --get nchoices)" = "6,5" ] && ok "describe --get nchoices" || notok "describe --get nchoices"

# describe --get SECTION.KEY: what experiment.mk asks (no awk on .obj files)
OBJS=$MESHRL_ROOT/pipelines/objectives
get() { sim-env describe "$1" --get "$2"; }
[ "$(get "$OBJ" eval.unseen)" = "sin:mean=8;amplitude=4;period=60" ] &&
	ok "describe --get eval.unseen: the key as written" || notok "--get eval.unseen: '$(get "$OBJ" eval.unseen)'"
[ "$(get "$OBJ" action-kind),$(get "$OBJS/cost.obj" action-kind)" = "absolute,incremental" ] &&
	ok "describe --get action-kind: absolute (default), incremental" || notok "--get action-kind"
[ "$(get "$OBJ" reward.bound1),$(get "$OBJS/cost.obj" reward.bound1)" = "0.6,0.95" ] &&
	ok "describe --get reward.bound1: a numeric bound" || notok "--get reward.bound1: '$(get "$OBJ" reward.bound1)'"
out=$(get "$OBJS/throughput.obj" reward.bound1; echo "rc=$?")
[ "$out" = "$(printf '\nrc=0')" ] && ok "describe --get reward.bound1: empty for a bound that is not a number (O1)" ||
	notok "--get reward.bound1 of throughput: '$out'"
out=$(get "$OBJ" eval.nope; get "$OBJ" reward.bound2; get "$OBJ" "param x.levels"; echo "rc=$?")
[ "$out" = "$(printf '\n\n\nrc=0')" ] && ok "describe --get: a missing key is an empty line, exit 0" ||
	notok "--get missing key: '$out'"
[ "$(get "$OBJS/throughput.obj" reward.family),$(get "$OBJS/throughput.obj" const.cores1),$(get "$OBJ" "action p.values"),$(get "$OBJ" .name)" = \
	"throughput-logistic,1,0..100 step 20,delay" ] &&
	ok "describe --get: reward.family as written, const, a named section, the top" || notok "--get other keys"
expect_fail "describe --get: not a section" 2 "'\\[evl\\]' is not a section" sim-env describe "$OBJ" --get evl.unseen
expect_fail "describe --get: unknown key" 2 "unknown --get key 'nope'" sim-env describe "$OBJ" --get nope

# bad input
sed 's/^pattern = sequence/pattern = sinus/' "$OBJ" >"$TMP/obj/bad.obj"
pline=$(grep -n '^pattern = sinus' "$TMP/obj/bad.obj" | cut -d: -f1)
expect_fail "objective error: file:line" 3 "bad.obj:$pline: unknown load pattern 'sinus'" sim-env describe "$TMP/obj/bad.obj"
printf 'name = x\nservices = s\n[action p]\nvalues = 3..1\n' >"$TMP/bad2.obj"
expect_fail "bad grid: file:line" 3 "bad2.obj:4: 'values'" sim-env describe "$TMP/bad2.obj"
rf-fit fit -q --features max_l1,l1,cl1,p1,b1 --target d1 --trees 5 -o "$TMP/m5.msgpack" "$TMP/compute.csv" >/dev/null
expect_fail "model features don't match" 3 "model feature|has no feature 'c1'|not set by" sim-env optimal "$OBJ" --model "$TMP/m5.msgpack"
expect_fail "missing model" 4 "nope.msgpack" sim-env optimal "$OBJ" --model "$TMP/nope.msgpack"
expect_fail "fixed action not on the grid" 2 "not one of the action's values" sim-env run "$OBJ" --model "$TMP/m.msgpack" --actions fixed:p=30,c=1
expect_fail "unknown command" 2 "unknown command" sim-env frobnicate "$OBJ"

# pyrun NAME NCHECKS SCRIPT ARGS...: a Python part (tests/e2e/pysteps.py
# numbers its checks); its lines are passed on, and a non-zero exit or a
# count of check lines other than NCHECKS is one more failure (a crash, a
# hang past 120 s or a lost line never passes).
pyrun() {
	name=$1 want=$2; shift 2
	PYTHONPATH="$MESHRL_ROOT/tests/e2e:$MESHRL_ROOT/examples" \
		timeout 120 $PY "$@" >"$TMP/py.out" 2>"$TMP/py.err"
	rc=$?
	cat "$TMP/py.out"
	n=$(grep -Ec '^(not )?ok - ' "$TMP/py.out")
	if [ "$rc" -ne 0 ] || [ "$n" -ne "$want" ]; then
		notok "$name: python exited $rc after $n of $want checks"
		tail -n 15 "$TMP/py.err" | sed 's/^/    # /'
	fi
}

# the raw protocol from Debian's python3 + msgpack
cat >"$TMP/proto.py" <<'PYEOF'
import struct, subprocess, sys, msgpack, pysteps
obj, model = sys.argv[1], sys.argv[2]
srv = {}
def start(**kw):
    srv["p"] = subprocess.Popen(["sim-env", "serve", obj, "--model", model],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, **kw)
def read_reply():
    p = srv["p"]
    head = p.stdout.read(4)
    if len(head) < 4:
        raise EOFError("sim-env closed the pipe (exit %s)" % p.wait())
    n, = struct.unpack(">I", head)
    body = p.stdout.read(n)
    if len(body) < n:
        raise EOFError("short reply: %d of %d bytes" % (len(body), n))
    return msgpack.unpackb(body, raw=False)
def send(raw):
    p = srv["p"]
    p.stdin.write(struct.pack(">I", len(raw)) + raw); p.stdin.flush()
    return read_reply()
def req(m): return send(msgpack.packb(m))

def spec():
    start()
    s = req({"cmd": "spec"})["spec"]
    return s["nchoices"] == [6, 5] and s["obs_dim"] == 1 and s["action_names"] == ["p", "c"]
def reset():
    r = req({"cmd": "reset", "seed": 1, "n": 4, "eval": True})
    return r["ok"] and [o[0] for o in r["state"]["obs"]] == [4, 4, 4, 4] and len(r["state"]["masks"][0]) == 11
last = {}
def step():
    r = req({"cmd": "step", "actions": [[0, 0], [1, 1], [2, 2], [5, 4]]})
    st = last["st"] = r["state"]
    return (r["ok"] and len(st["rewards"]) == 4 and st["info"]["cost"] == [1, 2, 3, 5]
            and st["dones"] == [False] * 4 and all(len(d) == 1 for d in st["info"]["delay"]))
def reward():
    st = last["st"]
    return all((rw == 6 - c) == bm for rw, c, bm in zip(st["rewards"], st["info"]["cost"], st["info"]["bound_met"]))
def batch():
    r = req({"cmd": "step", "actions": [[0, 0]]})
    return not r["ok"] and "array of 4 arrays" in r["error"]
def out_of_range():
    r = req({"cmd": "step", "actions": [[6, 0], [0, 0], [0, 0], [0, 0]]})
    return not r["ok"] and "outside 0..5" in r["error"]
def malformed():
    r = send(b"\xc1\x00")
    return not r["ok"] and "msgpack" in r["error"]
def goes_on():
    return req({"cmd": "step", "actions": [[0, 0]] * 4})["ok"]
def close():
    r = req({"cmd": "close"})
    return r["ok"] and srv["p"].wait(timeout=30) == 0
def oversize():
    start(stderr=subprocess.DEVNULL)
    p = srv["p"]
    p.stdin.write(b"\xff\xff\xff\xff"); p.stdin.flush(); p.stdin.close()
    r = read_reply()
    return not r["ok"] and "exceeds" in r["error"] and p.wait(timeout=30) == 3
sys.exit(pysteps.run([
    ("protocol: spec", spec),
    ("protocol: reset 4 envs, eval starts at load 4", reset),
    ("protocol: step replies rewards, dones, info", step),
    ("protocol: reward 6 - c exactly when the bound is met", reward),
    ("protocol: wrong batch size is an error reply", batch),
    ("protocol: out-of-range action is an error reply", out_of_range),
    ("protocol: malformed frame is an error reply", malformed),
    ("protocol: the session goes on after errors", goes_on),
    ("protocol: close ends the server with status 0", close),
    ("protocol: oversize frame: error reply, exit 3", oversize),
]))
PYEOF
if $PY -c 'import msgpack' 2>/dev/null; then
	pyrun "protocol" 10 "$TMP/proto.py" "$OBJ" "$TMP/m.msgpack"
else
	skip "protocol from Python: $PY has no msgpack (Debian python3-msgpack)"
fi

# examples/meshrl_simenv.py: the raw client (msgpack only), and the
# gymnasium wrapper where gymnasium is installed (Debian 12 has no
# package for it)
cat >"$TMP/client.py" <<'PYEOF'
import sys, pysteps
from meshrl_simenv import SimEnvClient
c = {}
def steps():
    c["c"] = SimEnvClient(sys.argv[1], model=sys.argv[2])
    c["c"].reset(3, n=2, eval=True)
    return len(c["c"].step([[0, 0], [1, 1]])["rewards"]) == 2
def close():
    c["c"].close()
    return c["c"].proc.wait(timeout=30) == 0
sys.exit(pysteps.run([("examples/meshrl_simenv.py raw client steps", steps),
                      ("examples/meshrl_simenv.py raw client closes (status 0)", close)]))
PYEOF
cat >"$TMP/gym.py" <<'PYEOF'
import sys, pysteps
from meshrl_simenv import MeshrlEnv
e = {}
def steps():
    env = e["env"] = MeshrlEnv(sys.argv[1], model=sys.argv[2])
    env.reset(seed=1)
    for t in range(5):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        if not env.observation_space.contains(obs):
            return False
    return env.action_masks().shape == (11,)
def close():
    e["env"].close()
    return True
sys.exit(pysteps.run([("gymnasium wrapper steps (observations in its space, masks)", steps),
                      ("gymnasium wrapper closes", close)]))
PYEOF
if $PY -c 'import msgpack' 2>/dev/null; then
	pyrun "raw client" 2 "$TMP/client.py" "$OBJ" "$TMP/m.msgpack"
else
	skip "examples/meshrl_simenv.py raw client: $PY has no msgpack (Debian python3-msgpack)"
fi
if $PY -c 'import gymnasium, msgpack' 2>/dev/null; then
	pyrun "gymnasium wrapper" 2 "$TMP/gym.py" "$OBJ" "$TMP/m.msgpack"
else
	skip "gymnasium wrapper: $PY has no gymnasium (no Debian 12 package)"
fi
