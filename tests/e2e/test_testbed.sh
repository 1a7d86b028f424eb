# test_testbed.sh - the local testbed: up with free ports, services answer
# and say who served them, the control API sets and refuses, a taken port
# and a second start are clear errors, down leaves no process.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
H="$PY $MESHRL_ROOT/tests/e2e/tb_http.py"
R=$TMP/run
trap 'testbed down --run-dir "$R" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

check "testbed up on free ports" testbed up --run-dir "$R" --port 0 \
	--control-port 0 --node1-port 0 --node2-port 0 --matrix 64
. "$R/env"
check "status says all three run" testbed status --run-dir "$R"
PIDS=$TB_PIDS

out=$($H GET "$TB_URL/compute" "X-User-Class: premium")
case "$out" in "200 node"[12]*) ok "compute answers 200 with X-Served-By";;
*) notok "compute answer: $out";; esac
out=$($H GET "$TB_URL/info2")
case "$out" in "200 node"[12]*) ok "info2 answers without a class header";;
*) notok "info2 answer: $out";; esac
out=$($H GET "$TB_URL/nosuch")
case "$out" in "404 front"*) ok "unknown service: 404";; *) notok "404: $out";; esac
out=$($H GET "$TB_URL/compute" "X-User-Class: gold")
case "$out" in "400 front"*gold*) ok "unknown class: 400 naming it";;
*) notok "bad class: $out";; esac

out=$($H PUT "$TB_CONTROL/config" '{"weight.compute":100,"units.node1":3}')
case "$out" in "200 front"*'"weight.compute.premium":100'*'"units.node1":3'*)
	ok "PUT /config applies and answers the configuration";;
*) notok "PUT config: $out";; esac
out=$($H GET "$TB_NODE1/health")
case "$out" in *'"units":3'*) ok "units reached node1";; *) notok "node1: $out";; esac
out=$($H count "$TB_URL/compute" 20 "X-User-Class: premium")
[ "$out" = "node1 20 node2 0 other 0" ] && ok "weight 100: all to node1" ||
	notok "weight 100: $out"
$H PUT "$TB_CONTROL/config" '{"weight.compute.freemium":0}' >/dev/null
out=$($H count "$TB_URL/compute" 20 "X-User-Class: freemium")
[ "$out" = "node1 0 node2 20 other 0" ] && ok "per-class weight: freemium to node2" ||
	notok "class weight: $out"
out=$($H PUT "$TB_CONTROL/config" '{"weight.compute":50,"rate.compute.premium":0}')
out=$($H GET "$TB_URL/compute" "X-User-Class: premium")
case "$out" in "429 front"*) ok "rate 0: 429 from the front";; *) notok "429: $out";; esac
out=$($H PUT "$TB_CONTROL/config" '{"weight.nosuch":1}')
case "$out" in "400 front"*weight.nosuch*) ok "unknown key: 400 naming it";;
*) notok "bad key: $out";; esac
out=$($H PUT "$TB_CONTROL/config" '{"weight.compute":20,"units.node1":-1}')
case "$out" in "400 front"*units.node1*) ok "bad value: 400 naming the key";;
*) notok "bad value: $out";; esac
out=$($H GET "$TB_CONTROL/config")
case "$out" in *'"weight.compute.premium":50'*) ok "a refused PUT changes nothing";;
*) notok "after refused PUT: $out";; esac
out=$($H PUT "$TB_CONTROL/config" '{"slow.node2":3,"stopped.node2":1}')
out=$($H GET "$TB_NODE2/health")
case "$out" in *'"slow":3'*'"paused":1'*) ok "fault injection reaches node2";;
*) notok "faults: $out";; esac
$H PUT "$TB_CONTROL/config" '{"stopped.node2":0}' >/dev/null
out=$($H GET "$TB_CONTROL/stats")
case "$out" in *'"compute.premium.refused":1'*) ok "stats count refusals";;
*) notok "stats: $out";; esac

expect_fail "a second up in the same run dir is refused" 1 "already runs" \
	testbed up --run-dir "$R" --port 0 --control-port 0 --node1-port 0 \
	--node2-port 0
FP=${TB_URL##*:}
expect_fail "a taken port is a clear error" 4 "port is taken" \
	testbed up --run-dir "$TMP/run2" --port "$FP" --control-port 0 \
	--node1-port 0 --node2-port 0 --matrix 64
left=0
for p in $(cat "$TMP/run2"/*.pid 2>/dev/null); do kill -0 "$p" 2>/dev/null && left=1; done
[ $left -eq 0 ] && ok "a failed up leaves nothing running" || notok "failed up left processes"

check "testbed down" testbed down --run-dir "$R"
alive=0
for p in $PIDS; do
	[ -d /proc/$p ] && ! grep -q '^[^)]*) Z' /proc/$p/stat 2>/dev/null && alive=1
done
[ $alive -eq 0 ] && ok "no process left after down" || notok "processes left: $PIDS"
[ ! -e "$R/front.pid" ] && [ ! -e "$R/node1.pid" ] && ok "pid files removed" ||
	notok "pid files remain"
check "down again is harmless" testbed down --run-dir "$R"
if grep -l "Sanitizer" "$R"/*.log "$TMP/run2"/*.log >/dev/null 2>&1; then
	notok "sanitizer reports in server logs"; grep -h -A5 Sanitizer "$R"/*.log | head -20
else ok "server logs have no sanitizer reports"; fi
expect_fail "unknown command" 2 "unknown command" testbed fly
