# test_testbed.sh - the local testbed: up with free ports, services answer
# and say who served them, the control API sets and refuses, a taken port
# and a second start are clear errors, down leaves no process. The control
# plane: the per-run secret (env file 0600, never on a command line), 401 /
# 403 / 415 for a missing or wrong secret, a foreign Origin or a non-JSON
# body, on the front's control port and on a node's /admin; node settings
# through the front show in /config; --bind on another local address.
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

# the secret: random, in a 0600 env file, on no command line
[ "$(stat -c %a "$R/env")" = 600 ] && ok "env file is mode 0600" ||
	notok "env file mode $(stat -c %a "$R/env")"
echo "$TB_SECRET" | grep -Eqx '[0-9a-f]{64}' && ok "TB_SECRET: 64 hex digits" ||
	notok "TB_SECRET '$TB_SECRET'"
inargs=0
for p in $PIDS; do tr '\0' ' ' </proc/$p/cmdline | grep -q "$TB_SECRET" && inargs=1; done
[ $inargs -eq 0 ] && ok "the secret is on no server's command line" ||
	notok "the secret shows in ps"
NOAUTH=Authorization:
out=$($H GET "$TB_CONTROL/config" $NOAUTH)
case "$out" in "401 front"*Bearer*) ok "control: no secret is 401";;
*) notok "no secret: $out";; esac
case $TB_SECRET in *0) last=1;; *) last=0;; esac # its last digit changed
out=$($H GET "$TB_CONTROL/stats" "Authorization: Bearer ${TB_SECRET%?}$last")
case "$out" in "403 front"*"wrong secret"*) ok "control: a wrong secret is 403";;
*) notok "wrong secret: $out";; esac
out=$($H POST "$TB_CONTROL/config" '{"units.node1":5}' $NOAUTH \
	"Content-Type: text/plain" "Origin: http://evil.example")
case "$out" in "403 front"*Origin*) ok "control: a browser-style text/plain POST with a foreign Origin is 403";;
*) notok "browser POST: $out";; esac
out=$($H PUT "$TB_CONTROL/config" '{"units.node1":5}' "Origin: http://evil.example")
case "$out" in "403 front"*Origin*) ok "control: an Origin is 403 even with the secret";;
*) notok "Origin with secret: $out";; esac
out=$($H PUT "$TB_CONTROL/config" '{"units.node1":5}' "Content-Type: text/plain")
case "$out" in "415 front"*application/json*) ok "control: a text/plain body is 415";;
*) notok "text/plain: $out";; esac
out=$($H GET "$TB_CONTROL/health" $NOAUTH)
case "$out" in "200 front"*) ok "control: /health needs no secret";; *) notok "health: $out";; esac
out=$($H PUT "$TB_NODE1/admin" '{"units":5}' $NOAUTH)
case "$out" in "401 node1"*) ok "node /admin: no secret is 401";; *) notok "admin no secret: $out";; esac
out=$($H PUT "$TB_NODE1/admin" '{"units":5}' "Authorization: Bearer nope")
case "$out" in "403 node1"*) ok "node /admin: a wrong secret is 403";; *) notok "admin wrong: $out";; esac
out=$($H PUT "$TB_NODE1/admin" '{"units":5}' "Content-Type: text/plain")
case "$out" in "415 node1"*) ok "node /admin: a text/plain body is 415";; *) notok "admin 415: $out";; esac
out=$($H GET "$TB_NODE1/health")
case "$out" in *'"units":1,'*) ok "refused control calls changed nothing";;
*) notok "after refusals: $out";; esac

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
check "a node change through actuate --env" actuate --env "$R/env" units.node2=4
n2=$($H GET "$TB_NODE2/health") cfg=$($H GET "$TB_CONTROL/config")
case "$n2$cfg" in *'"units":4,'*'"units.node2":4,'*) ok "the node runs it and /config says so";;
*) notok "node2 / config: $n2 $cfg";; esac
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

# many kept-alive connections on the control port: each answers its second
# request too (libmicrohttpd 0.9.75's epoll mode left 128 connections
# stalled after one answer each)
out=$($PY - "$TB_CONTROL" <<'PYEOF'
import socket, sys
host, port = sys.argv[1].split("//")[1].rsplit(":", 1)
req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
conns = [socket.create_connection((host, int(port)), timeout=5)
         for _ in range(256)]
answered = 0
for rnd in range(2):
    for c in conns:
        c.sendall(req)
    for c in conns:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            n = int([l.split(b":")[1] for l in head.split(b"\r\n")
                     if l.lower().startswith(b"content-length")][0])
            while len(body) < n:
                body += c.recv(4096)
            answered += rnd == 1 and head.startswith(b"HTTP/1.1 200")
        except (OSError, IndexError, ValueError):
            break  # a stalled connection: do not wait for each of the rest
print(answered)
PYEOF
)
[ "$out" = 256 ] && ok "256 kept-alive control connections all answer twice" ||
	notok "second answers on 256 control connections: $out"

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

# --bind: another local address (127.0.0.2 is loopback too), and IPv6
for addr in 127.0.0.2 ::1; do
	B=$TMP/bind-$addr
	if [ "$addr" = ::1 ] && ! grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null; then
		skip "--bind ::1: no IPv6 loopback here"; continue
	fi
	if testbed up --run-dir "$B" --bind "$addr" --port 0 --control-port 0 \
		--node1-port 0 --node2-port 0 --matrix 64 >"$TMP/b.out" 2>&1; then
		out=$(. "$B/env" && $H GET "$TB_URL/compute" && actuate --env "$B/env" units.node1=2 &&
			$H GET "$TB_NODE1/health")
		case "$out" in "200 node"*'"units":2,'*) ok "--bind $addr: served, and node settings reach the node";;
		*) notok "--bind $addr: $out";; esac
		[ "$(. "$B/env"; echo "$TB_SECRET")" != "$TB_SECRET" ] &&
			ok "--bind $addr: a run of its own has a secret of its own" ||
			notok "two runs share a secret"
	else
		notok "--bind $addr: $(cat "$TMP/b.out")"
	fi
	testbed down --run-dir "$B" >/dev/null 2>&1
done

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
