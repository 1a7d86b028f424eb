# test_actuate.sh - actuate's Kubernetes requests, checked by a loopback
# server (k8s_mock.py) for method, path, Authorization, Content-Type and
# body; retries on 503; errors name the host and its answer; TLS is
# verified (a self-signed server is refused unless its CA is given); stdin
# vectors, CSV form and bad lines. Credentials: the token goes to the API
# server only and never over plain http:// without --insecure-http, the
# control secret to the control URL only; an answer that echoes them is
# shown truncated with them blanked out; a token file with a NUL byte is
# refused.
. "$(dirname "$0")/lib.sh"
unset TB_SECRET
PY=/usr/bin/python3
MOCK="$MESHRL_ROOT/tests/e2e/k8s_mock.py"
PIDS=
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; rm -rf "$TMP"' EXIT
echo "s3cret-token" >"$TMP/token"

start_mock() { # NAME ARGS... -> sets PORT
	rm -f "$TMP/$1.port"
	name=$1; shift
	$PY "$MOCK" --port-file "$TMP/$name.port" --log "$TMP/$name.log" "$@" &
	PIDS="$PIDS $!"
	for _ in $(seq 50); do [ -s "$TMP/$name.port" ] && break; sleep 0.1; done
	PORT=$(cat "$TMP/$name.port")
}

SECRET=c0ntrol-secret-0123456789
start_mock k --token s3cret-token --secret $SECRET --ns mesh
KPORT=$PORT
K="actuate -t k8s --insecure-http --api http://127.0.0.1:$PORT --namespace mesh --token-file $TMP/token -c http://127.0.0.1:$PORT"
export TB_SECRET=$SECRET

check "k8s: compute vector applied" $K --schema compute max_l1=12 p1=60 c1=3 b1=8
grep -qx 'OK PATCH /apis/networking.istio.io/v1beta1/namespaces/mesh/virtualservices/compute application/merge-patch+json {"spec":{"http":\[{"route":\[{"destination":{"host":"compute","subset":"node1"},"weight":60},{"destination":{"host":"compute","subset":"node2"},"weight":40}\]}\]}}' "$TMP/k.log" &&
	ok "VirtualService weights by JSON merge patch" ||
	notok "VS patch: $(grep virtualservices "$TMP/k.log")"
grep -qx 'OK PATCH /apis/apps/v1/namespaces/mesh/deployments/node1 application/merge-patch+json {"spec":{"replicas":3}}' "$TMP/k.log" &&
	ok "Deployment replicas by merge patch" ||
	notok "replicas: $(grep deployments "$TMP/k.log")"
grep -qx 'OK PUT /config application/json {"rate.compute":8}' "$TMP/k.log" &&
	ok "rate limit to the front node's control API, with the secret and not the token" ||
	notok "rate: $(grep config "$TMP/k.log")"
! grep -q '^BAD' "$TMP/k.log" && ok "every request passed the server's checks" ||
	notok "$(grep BAD "$TMP/k.log")"

: >"$TMP/k.log"
check "k8s: per-class weights, CPU limits, custom names" $K --scale cpu \
	--cpu-unit 0.5 --vs compute=compute-vs --host compute=compute.mesh.svc \
	--subset node1=v1 --subset node2=v2 --deployment node1=worker-a \
	--container node1=app weight.compute.premium=80 \
	weight.compute.freemium=20 units.node1=3
grep -q '^OK PATCH .*/virtualservices/compute-vs .*"match":\[{"headers":{"x-user-class":{"exact":"premium"}}}\],"route":\[{"destination":{"host":"compute.mesh.svc","subset":"v1"},"weight":80}' "$TMP/k.log" &&
	grep -q '"exact":"freemium"' "$TMP/k.log" &&
	ok "a route per class, matching X-User-Class" ||
	notok "class routes: $(cat "$TMP/k.log")"
grep -qx 'OK PATCH /apis/apps/v1/namespaces/mesh/deployments/worker-a application/strategic-merge-patch+json {"spec":{"template":{"spec":{"containers":\[{"name":"app","resources":{"limits":{"cpu":"1500m"}}}\]}}}}' "$TMP/k.log" &&
	ok "CPU limit by strategic merge patch (3 x 0.5 core = 1500m)" ||
	notok "cpu: $(grep deployments "$TMP/k.log")"

expect_fail "k8s: fault injection is refused" 2 "only on the local testbed" \
	$K stopped.node1=1

echo "wrong-token" >"$TMP/bad-token"
expect_fail "k8s: 401 named with the URL, not retried" 5 \
	"PATCH http://127.0.0.1:$PORT/apis/apps/v1/namespaces/mesh/deployments/node2: host answered 401: .*Unauthorized" \
	actuate -t k8s --insecure-http --api "http://127.0.0.1:$PORT" --namespace mesh \
	--token-file "$TMP/bad-token" units.node2=2
[ "$(grep -c unauthorized "$TMP/k.log")" -eq 1 ] && ok "401: one attempt only" ||
	notok "401 attempts: $(grep -c unauthorized "$TMP/k.log")"
expect_fail "k8s: missing token file" 4 "nonexistent" \
	actuate -t k8s --api https://127.0.0.1:1 --namespace mesh \
	--token-file "$TMP/nonexistent" units.node1=1
expect_fail "k8s: fractional replicas refused" 3 "replicas must be whole" \
	$K units.node1=1.5
expect_fail "k8s: needs --api and --namespace" 2 "needs --api" \
	actuate -t k8s units.node1=1

# credentials and plain http
: >"$TMP/k.log"
expect_fail "k8s: a token with an http:// API is refused" 2 \
	"plain http://.*clear text.*--insecure-http" actuate -t k8s \
	--api "http://127.0.0.1:$PORT" --namespace mesh --token-file "$TMP/token" \
	units.node1=1
[ ! -s "$TMP/k.log" ] && ok "refused before any request" ||
	notok "requests made: $(cat "$TMP/k.log")"
# 0.0.0.0 reaches the mock on loopback, but is not a loopback name
expect_fail "the secret is not sent over http:// to a host that is not loopback" 5 \
	"answered 401.*secret was not sent.*--insecure-http sends it" \
	actuate --retries 0 -c "http://0.0.0.0:$KPORT" weight.compute=1
check "... and is with --insecure-http" actuate --insecure-http \
	-c "http://0.0.0.0:$KPORT" weight.compute=1
printf 'abc\000def\n' >"$TMP/nul-token"
expect_fail "k8s: a token file with a NUL byte is refused" 3 \
	"nul-token: byte 4 is a NUL byte" $K --token-file "$TMP/nul-token" units.node1=1
echo "$SECRET" >"$TMP/env-open" && chmod 644 "$TMP/env-open"
expect_fail "--env: an env file others can read is refused" 3 \
	"readable by others.*chmod 600" actuate --env "$TMP/env-open" p1=1
start_mock echo --echo-auth 403
expect_fail "an answer echoing the credentials: exit 5" 5 \
	"host answered 403: .*denied: you sent Bearer \*\*\* x+\.\.\.$" \
	actuate -t k8s --insecure-http --retries 0 --api "http://127.0.0.1:$PORT" \
	--namespace mesh --token-file "$TMP/token" units.node1=1
! grep -q s3cret-token "$TMP/.err" && [ "$(wc -c <"$TMP/.err")" -lt 600 ] &&
	ok "the token is not in the message, and the answer is cut short" ||
	notok "echo: $(wc -c <"$TMP/.err") bytes: $(head -c 300 "$TMP/.err")"
actuate --retries 0 -c "http://127.0.0.1:$PORT" weight.compute=1 2>"$TMP/e2"
! grep -q "$SECRET" "$TMP/e2" && grep -q 'Bearer \*\*\*' "$TMP/e2" &&
	ok "the control secret is blanked out the same way" ||
	notok "secret echo: $(head -c 300 "$TMP/e2")"

unset TB_SECRET
start_mock r --fail-first 2
check "503 twice, then applied (retries with backoff)" actuate --backoff 0.01 \
	-c "http://127.0.0.1:$PORT" weight.info1=30
[ "$(grep -c '^RETRY' "$TMP/r.log")" -eq 2 ] && grep -q '^OK PUT /config' "$TMP/r.log" &&
	ok "two retries, third attempt applied" || notok "retries: $(cat "$TMP/r.log")"

# TLS: verified by default
if command -v openssl >/dev/null 2>&1; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
		-addext "subjectAltName=IP:127.0.0.1" -keyout "$TMP/key.pem" \
		-out "$TMP/cert.pem" >/dev/null 2>&1
	start_mock t --tls "$TMP/cert.pem" "$TMP/key.pem" --ns mesh
	expect_fail "TLS: a self-signed server is refused by default" 5 \
		"https://127.0.0.1:$PORT.*(certificate|SSL)" actuate -t k8s \
		--retries 0 --api "https://127.0.0.1:$PORT" --namespace mesh units.node1=2
	check "TLS: accepted with --cacert" actuate -t k8s --api \
		"https://127.0.0.1:$PORT" --namespace mesh --cacert "$TMP/cert.pem" \
		units.node1=2
	grep -q '^OK PATCH /apis/apps/v1/namespaces/mesh/deployments/node1' "$TMP/t.log" &&
		ok "TLS request arrived" || notok "TLS log: $(cat "$TMP/t.log")"
else
	skip "TLS checks: no openssl"
fi

# stdin: one vector per line, CSV form, bad lines
start_mock s
printf 'p1=10 c1=2\n# comment\n\np1=20,c1=3\n' |
	actuate -c "http://127.0.0.1:$PORT" --schema compute >"$TMP/o" 2>"$TMP/e"
[ $? -eq 0 ] && [ "$(grep -c '^OK PUT /config' "$TMP/s.log")" -eq 2 ] &&
	grep -q '{"units.node1":3,"weight.compute":20}' "$TMP/s.log" &&
	ok "stdin: one vector per line" || notok "stdin: $(cat "$TMP/e" "$TMP/s.log")"
: >"$TMP/s.log"
printf 'p11,b2\n0.4,0.2\n1,0\n' | actuate -c "http://127.0.0.1:$PORT" --schema info2
grep -q '{"block.info2":0.2,"weight.info1":40}' "$TMP/s.log" &&
	[ "$(grep -c '^OK' "$TMP/s.log")" -eq 2 ] &&
	ok "stdin: CSV header and value lines" || notok "csv: $(cat "$TMP/s.log")"
: >"$TMP/s.log"
printf 'p1=10\np1=oops\np1=30\n' | actuate -c "http://127.0.0.1:$PORT" \
	--schema compute >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -eq 3 ] && grep -q "stdin:2: p1: 'oops'" "$TMP/e" &&
	[ "$(grep -c '^OK' "$TMP/s.log")" -eq 1 ] &&
	ok "bad stdin line: exit 3 naming the line; earlier line applied" ||
	notok "bad line: exit $rc $(cat "$TMP/e")"
expect_fail "unknown column" 3 "'q9' is neither" actuate \
	-c "http://127.0.0.1:$PORT" --schema compute q9=1
expect_fail "no control URL" 2 "control URL" actuate p1=1
