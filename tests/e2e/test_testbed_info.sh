# test_testbed_info.sh - the info services and the front node's limits as
# the throughput, cost and differentiation objectives use them, with the
# default demands (info1 1.9 ms, info2 6.6 ms of CPU, cv 0.3): at one unit
# per node the throughput bounds (info1 0.035-0.05 s, info2 0.110-0.113 s)
# are met at 5 + 5 req/s and missed at 20 + 20 without blocking; the
# blocking fraction refuses that share of a service's requests; the
# freemium rate limit admits its rate.
. "$(dirname "$0")/lib.sh"
R=$TMP/run
trap 'testbed down --run-dir "$R" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

check "testbed up (default demands)" testbed up --run-dir "$R" --port 0 \
	--control-port 0 --node1-port 0 --node2-port 0 --units2 1 --timeout 5
. "$R/env"
collect() {
	out=$1; shift
	trace-collect --env "$R/env" -q --timeout 8 "$@" -o "$TMP/$out"
}

# ---- the bounds bind: p11 = p21 = 0.4, no blocking, one unit per node
check "info grid: loads 5 and 20 per service" collect b.csv --schema info2 \
	--apply rate.info1=-1 --apply rate.info2=-1 \
	--grid 'max_l1=5,20;max_l2=5,20;p11=0.4;p21=0.4;b1=0;b2=0;c1=1;c2=1' \
	-w 2 -n 2 --settle 2
# per load pair: the slower node's mean delay per service (s), as the
# objectives' slow1 and slow2
slow() {
	awk -F, -v a="$1" -v b="$2" 'NR > 1 && $1 == a && $2 == b {
		s11 += $15; s12 += $16; s21 += $17; s22 += $18; n++ }
	END { x = s11 > s12 ? s11 : s12; y = s21 > s22 ? s21 : s22
	      printf "%.4f %.4f", x / n, y / n }' "$TMP/b.csv"
}
lo=$(slow 5 5)
hi=$(slow 20 20)
echo "$lo" | awk '{ exit !($1 <= 0.035 && $2 <= 0.110) }' &&
	ok "5 + 5 req/s: both bounds met (info1 info2: $lo s)" ||
	notok "5 + 5 req/s: $lo s (want <= 0.035 and <= 0.110)"
echo "$hi" | awk '{ exit !($1 > 0.05 && $2 > 0.113) }' &&
	ok "20 + 20 req/s: both bounds missed (info1 info2: $hi s)" ||
	notok "20 + 20 req/s: $hi s (want > 0.05 and > 0.113)"

# ---- blocking: half of info1 refused at the front, info2 untouched
check "blocking b1 = 0.5" collect k.csv --schema info2 \
	--apply rate.info1=-1 --apply rate.info2=-1 \
	--grid 'max_l1=40;max_l2=5;p11=0.4;p21=0.4;b1=0.5;b2=0;c1=5;c2=5' \
	-w 3 -n 2 --settle 1
share=$(awk -F, 'NR > 1 { l1 += $3; c1 += $5; l2 += $4; c2 += $6 }
	END { printf "%.3f %.3f", c1 / l1, c2 / l2 }' "$TMP/k.csv")
# ~240 info1 requests: the share's sd is ~0.03
echo "$share" | awk '{ exit !($1 > 0.35 && $1 < 0.65 && $2 == 1) }' &&
	ok "b1 = 0.5: info1 answered share ~0.5, info2 all ($share)" ||
	notok "blocking: answered shares $share"

# ---- freemium rate limit: 2 req/s of 8 offered
check "rate limit b1f = 2" collect r.csv --schema classes \
	--apply rate.compute=-1 --apply rate.compute.premium=-1 \
	--grid 'max_l1p=2;max_l1f=8;p1p=100;p1f=100;b1f=2;c1=5' \
	-w 3 -n 2 --settle 2
adm=$(awk -F, 'NR > 1 { f += $6; p += $5; lp += $3; n++ }
	END { printf "%.2f %.2f", f / (3 * n), p / lp }' "$TMP/r.csv")
echo "$adm" | awk '{ exit !($1 > 1.4 && $1 < 2.7 && $2 == 1) }' &&
	ok "b1f = 2: freemium answered ~2 req/s, premium all ($adm)" ||
	notok "rate limit: freemium req/s, premium share: $adm"
