#!/bin/sh
# test_tc_sender.sh - trace-collect's own HTTP/1.1 sender (tc_http.c)
# against a server with every framing and fault it must survive
# (http_quirks.py): chunked answers with Connection: close every 5th,
# lengths split across writes, bodies until close, bad status lines; with
# pipelining (4 per connection, 2 connections; a 20 ms send tick where
# several requests must share a write). The rows must read as libcurl's do.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
SRV_PID=
trap '[ -n "$SRV_PID" ] && kill $SRV_PID 2>/dev/null; rm -rf "$TMP"' EXIT
$PY "$MESHRL_ROOT/tests/e2e/http_quirks.py" --port-file "$TMP/port" \
	--log "$TMP/log" &
SRV_PID=$!
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
	[ -s "$TMP/port" ] && break; sleep 0.2; done
U=http://127.0.0.1:$(cat "$TMP/port")

# run NAME PATH SENDER [OPTIONS]: 1 s at 400 req/s into $TMP/NAME.csv
run() {
	name=$1 path=$2 sender=$3; shift 3
	trace-collect -u "$U" -s "$path=constant:400" -w 0.5 -d 1 \
		--timeout 2 --connections 2 --sender "$sender" \
		"$@" -o "$TMP/$name.csv" 2>"$TMP/$name.err"
}
# rows NAME: "rows offered answered drops d11>0 d12>0" over the windows
rows() {
	awk -F, 'NR > 1 { n++; l += $2; c += $3; d += $10
		a += ($8 > 0); b += ($9 > 0) }
		END { print n + 0, l + 0, c + 0, d + 0, a + 0, b + 0 }' "$TMP/$1.csv"
}

run ch chunked own --pipeline 4 --send-tick 20000
r=$(rows ch)
echo "$r" | awk '{exit !($1 == 2 && $2 >= 380 && $3 == $2 && $4 == 0 && $5 == 2)}' &&
	grep -q "sender=own" "$TMP/ch.err" &&
	ok "chunked, pipelined, closed every 5th answer: all answered, node1 ($r)" ||
	notok "chunked pipelined: $r; $(cat "$TMP/ch.err")"
# the server closed with requests it had read behind the closing answer:
# they are answered above only because the sender sent them again
n=$(awk '$1 == "unanswered" {print $2}' "$TMP/log")
[ "${n:-0}" -gt 0 ] &&
	ok "requests left behind a closing answer ($n) were sent again" ||
	notok "no pipelined request was left behind a close (${n:-0})"
run chc chunked curl
r2=$(rows chc)
[ "$(echo "$r2" | cut -d' ' -f1,4,5)" = "$(echo "$r" | cut -d' ' -f1,4,5)" ] &&
	grep -q "sender=curl" "$TMP/chc.err" &&
	ok "libcurl reads the same rows ($r2)" || notok "curl: $r2 vs own: $r"

run len length own --pipeline 4
r=$(rows len)
echo "$r" | awk '{exit !($3 == $2 && $2 >= 380 && $4 == 0 && $5 == 0 && $6 == 2)}' &&
	ok "Content-Length split across writes: all answered, node2 ($r)" ||
	notok "length: $r; $(cat "$TMP/len.err")"
run eof eof own --pipeline 4
r=$(rows eof)
echo "$r" | awk '{exit !($3 == $2 && $2 >= 380 && $4 == 0)}' &&
	ok "HTTP/1.0, body until close: all answered ($r)" ||
	notok "eof: $r; $(cat "$TMP/eof.err")"
run bad bad own --pipeline 4
r=$(rows bad)
echo "$r" | awk '{exit !($3 == 0 && $4 == $2 && $2 >= 380)}' &&
	grep -q "/bad: Weird server reply" "$TMP/bad.err" &&
	ok "bad status line: every request a drop, named ($r)" ||
	notok "bad: $r; $(cat "$TMP/bad.err")"

expect_fail "--sender own refuses https (usage, exit 2)" 2 "plain http" \
	trace-collect -u https://127.0.0.1:1 -s x=constant:1 -d 0.2 \
	--sender own -o "$TMP/x.csv"
expect_fail "--sender: unknown value (exit 2)" 2 "--sender" \
	trace-collect -u "$U" -s x=constant:1 -d 0.2 --sender h2 -o "$TMP/x.csv"
expect_fail "--pipeline 0 (exit 2)" 2 "--pipeline" \
	trace-collect -u "$U" -s x=constant:1 -d 0.2 --pipeline 0 -o "$TMP/x.csv"
expect_fail "--realtime 100 (1-99; exit 2)" 2 "--realtime" \
	trace-collect -u "$U" -s x=constant:1 -d 0.2 --realtime 100 -o "$TMP/x.csv"
# --realtime: FIFO where allowed (root here), a warning otherwise; the run
# itself is the same
run rt length own --realtime 10
r=$(rows rt)
if chrt -f 10 true 2>/dev/null; then
	want='! grep -q warning'
else
	want='grep -q "realtime 10: .*normal priority"'
fi
echo "$r" | awk '{exit !($3 == $2 && $2 >= 380)}' &&
	sh -c "$want '$TMP/rt.err'" &&
	ok "--realtime 10: all answered, priority as allowed ($r)" ||
	notok "rt: $r; $(cat "$TMP/rt.err")"
