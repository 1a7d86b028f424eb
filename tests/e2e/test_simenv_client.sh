#!/bin/sh
# test_simenv_client.sh - examples/meshrl_simenv.py without gymnasium (not
# packaged in Debian 12): SingleEnv's seeds and truncation, the protocol's
# final observation, closed pipes, the script runnable as documented.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! $PY -c 'import msgpack' 2>/dev/null; then
	skip "meshrl_simenv.py: $PY has no msgpack (Debian python3-msgpack)"
	exit 0
fi
# the delay objective on a synthetic model; its episode: loads 4, 8, 12
synth_delay 1 1 4 8 12

cat >"$TMP/client.py" <<'PYEOF'
import sys, pysteps
from meshrl_simenv import SimEnvClient, SingleEnv
obj, model = sys.argv[1], sys.argv[2]
s = {}
def seedless():
    env = s["env"] = SingleEnv(obj, model=model, eval=True)
    seeds = set()
    for k in range(4):
        env.reset()
        seeds.add(env.last_seed)
    return len(seeds) == 4 and 0 not in seeds
def seed_of(env, seed=None):
    env.reset(seed=seed)
    return env.last_seed
def seeded_then_seedless():
    runs = []
    for k in range(2):
        env = SingleEnv(obj, model=model)
        runs.append([seed_of(env, 7)] + [seed_of(env) for i in range(3)])
        env.close()
    return runs[0] == runs[1] and len(set(runs[0])) == 4
def truncation():
    env = s["env"]
    obs, info = env.reset(seed=1)
    seen = [obs]
    for t in range(3):
        obs, r, term, trunc, info = env.step([0, 0])
        seen.append(obs)
    # the episode's loads 4, 8, 12; the last step's observation is its
    # final one (12 held), not the next episode's first (4)
    return trunc and not term and [o[0] for o in seen] == [4, 8, 12, 12]
def protocol_final_obs():
    c = SimEnvClient(obj, model=model)
    c.reset(5, n=2, eval=True)
    a = c.step([[0, 0], [1, 1]])
    b = c.step([[0, 0], [1, 1]])
    d = c.step([[0, 0], [1, 1]])
    c.close()
    return ("final_obs" not in a and "final_obs" not in b and
            d["dones"] == [True, True] and d["final_obs"] == [[12.0], [12.0]] and
            d["obs"] == [[4.0], [4.0]])
def closed():
    env = s["env"]
    env.close()
    p = env.client.proc
    return p.returncode == 0 and p.stdin.closed and p.stdout.closed
sys.exit(pysteps.run([
    ("SingleEnv: a reset without a seed draws a fresh one (not 0)", seedless),
    ("SingleEnv: after a seeded reset, seedless ones are reproducible", seeded_then_seedless),
    ("SingleEnv: truncated at the episode's end, with its final observation", truncation),
    ("protocol: final_obs only when an episode ends, obs the next one's first", protocol_final_obs),
    ("SingleEnv.close: exit 0, both pipes closed", closed)]))
PYEOF
PYTHONPATH="$MESHRL_ROOT/tests/e2e:$MESHRL_ROOT/examples" \
	timeout 120 $PY "$TMP/client.py" "$OBJ" "$M" >"$TMP/py.out" 2>"$TMP/py.err"
rc=$?
cat "$TMP/py.out"
n=$(grep -Ec '^(not )?ok - ' "$TMP/py.out")
if [ "$rc" -ne 0 ] || [ "$n" -ne 5 ]; then
	notok "meshrl_simenv.py: python exited $rc after $n of 5 checks"
	tail -n 15 "$TMP/py.err" | sed 's/^/    # /'
fi

# The script as the docstring runs it: sim-env found through MESHRL_BIN
# with nothing on PATH.
env -i PATH=/usr/bin:/bin MESHRL_BIN="$MESHRL_BIN" \
	$PY "$MESHRL_ROOT/examples/meshrl_simenv.py" "$OBJ" "$M" >"$TMP/ex.out" 2>"$TMP/ex.err"
check "examples/meshrl_simenv.py OBJ MODEL runs one episode (sim-env from MESHRL_BIN)" \
	sh -c "[ \$(grep -c '^step ' '$TMP/ex.out') -eq 3 ]"
mkdir -p "$TMP/copy" && cp "$MESHRL_ROOT/examples/meshrl_simenv.py" "$TMP/copy/"
expect_fail "without MESHRL_BIN, PATH or a build/bin: a clear message" 1 \
	"sim-env not found: build it \(make\), set MESHRL_BIN, or pass exe=" \
	env -i PATH=/usr/bin:/bin $PY -c "import sys; sys.path.insert(0, '$TMP/copy'); import meshrl_simenv as m; m.SingleEnv('$OBJ', model='$M')"
