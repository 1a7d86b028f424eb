#!/bin/sh
# test_rf_fit.sh - rf-fit end to end on small synthetic traces: fit output
# and accuracy, empty-row rule, multi-target, grouped split, determinism
# across seeds and threads, predict (file and pipe), the model read back by
# Python's msgpack, lost requests (--ratio, --empty-delay), grouped
# cross-validation (--cv), and every rejected input (exit code and message).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# A trace shaped like the published one: 5 rows per configuration
# (max_l1, p1, b1, c1); d1 depends on load, routing and cores; rows with
# cl1 = 0 carry d1 = 0 (nothing succeeded).
awk 'BEGIN {
	print "max_l1,l1,cl1,p1,b1,c1,d1,d11"
	srand(1)
	for (l = 4; l <= 12; l += 4) for (p = 0; p <= 100; p += 50)
	for (c = 1; c <= 3; c++) for (r = 0; r < 5; r++) {
		off = l * 5 + r - 2
		cl = (l == 12 && c == 1 && r == 0) ? 0 : off
		d = cl ? 0.1 + l * (1 + p / 100) / (c * 10) + rand() * 0.01 : 0
		printf "%d,%d,%d,%d,%d,%d,%.6f,%.6f\n", l, off, cl, p, l, c, d, d / 2
	}
}' >"$TMP/t.csv"
rows=$(($(wc -l <"$TMP/t.csv") - 1))
F=max_l1,l1,cl1,p1,b1,c1

# --- fit: output, accuracy, empty rows ------------------------------------
rf-fit fit -q --features $F --target d1 --trees 40 --seed 3 -o "$TMP/m1" \
	"$TMP/t.csv" >"$TMP/fit.out" 2>"$TMP/fit.err"
check "fit exits 0 and writes the model" test -s "$TMP/m1"
check "fit prints the CSV header" grep -qx 'target,split,rows,r2,nmae' "$TMP/fit.out"
check "fit prints train, test and oob lines" \
	sh -c "grep -c '^d1,\(train\|test\|oob\),' '$TMP/fit.out' | grep -qx 3"
test_r2=$(awk -F, '$2 == "test" { print $4 }' "$TMP/fit.out")
check "test R2 > 0.9 on a learnable trace (got $test_r2)" \
	awk -v r="$test_r2" 'BEGIN { exit !(r > 0.9) }'
check "the 3 rows with cl1 = 0 are dropped and reported" \
	grep -q "dropped 3 of $rows rows with no successful responses (cl1 = 0)" "$TMP/fit.err"
kept=$(awk -F, '$2 != "oob" && NR > 1 { s += $3 } END { print s }' "$TMP/fit.out")
check "train + test rows = rows kept ($kept = $rows - 3)" test "$kept" -eq $((rows - 3))

rf-fit fit -q --keep-empty --features $F --target d1 --trees 10 -o "$TMP/m2" \
	"$TMP/t.csv" >"$TMP/fit2.out" 2>"$TMP/fit2.err"
kept=$(awk -F, '$2 != "oob" && NR > 1 { s += $3 } END { print s }' "$TMP/fit2.out")
check "--keep-empty keeps every row ($kept of $rows)" test "$kept" -eq "$rows"
check "--keep-empty reports no drop" sh -c "! grep -q dropped '$TMP/fit2.err'"

# d11 is service 1 via node 1: the same cl1 rule applies.
rf-fit fit -q --features $F --target d1 --target d11 --trees 10 \
	--test-frac 0 -o "$TMP/m3" "$TMP/t.csv" >"$TMP/fit3.out" 2>"$TMP/fit3.err"
check "two targets: one forest, lines for both" \
	sh -c "grep -q '^d1,train,' '$TMP/fit3.out' && grep -q '^d11,train,' '$TMP/fit3.out'"
check "--test-frac 0 trains on all rows and prints no test line" \
	sh -c "! grep -q ',test,' '$TMP/fit3.out' && grep -q '^d1,train,$((rows - 3)),' '$TMP/fit3.out'"
check "d11 uses cl1 to find empty rows" grep -q "dropped 3 of" "$TMP/fit3.err"

# --- grouped split: whole configurations go to one side ---------------------
rf-fit fit --keep-empty --group-by max_l1,p1,b1,c1 --features $F --target d1 \
	--trees 10 --seed 5 -o "$TMP/m4" "$TMP/t.csv" >"$TMP/fit4.out" 2>"$TMP/fit4.err"
ntest=$(awk -F, '$2 == "test" { print $3 }' "$TMP/fit4.out")
check "grouped split reports the groups" grep -q "$rows rows in $((rows / 5)) groups" "$TMP/fit4.err"
check "grouped test rows are whole groups of 5 ($ntest)" \
	sh -c "[ $ntest -gt 0 ] && [ $((ntest % 5)) -eq 0 ]"

# --- determinism -----------------------------------------------------------
rf-fit fit -q --features $F --target d1 --trees 40 --seed 3 --threads 3 \
	-o "$TMP/m1t" "$TMP/t.csv" >"$TMP/fit1t.out" 2>/dev/null
check "3 threads write a byte-identical model" cmp -s "$TMP/m1" "$TMP/m1t"
check "3 threads print identical figures" cmp -s "$TMP/fit.out" "$TMP/fit1t.out"
rf-fit fit -q --features $F --target d1 --trees 40 --seed 4 -o "$TMP/m1s" \
	"$TMP/t.csv" >/dev/null 2>&1
check "another seed gives another model" sh -c "! cmp -s '$TMP/m1' '$TMP/m1s'"

# --- predict ---------------------------------------------------------------
rf-fit predict "$TMP/m3" "$TMP/t.csv" >"$TMP/pred.csv" 2>"$TMP/pred.err"
check "predict exits 0" test -s "$TMP/pred.csv"
check "predict keeps the input columns and adds one per target" \
	grep -qx 'max_l1,l1,cl1,p1,b1,c1,d1,d11,d1_pred,d11_pred' "$TMP/pred.csv"
check "predict prints every row" test "$(($(wc -l <"$TMP/pred.csv") - 1))" -eq "$rows"
check "predict from a pipe gives the same output" \
	sh -c "cat '$TMP/t.csv' | rf-fit predict '$TMP/m3' - | cmp -s - '$TMP/pred.csv'"
# the model (fit on every kept row) reproduces the training data closely
check "predictions track the training targets" awk -F, 'NR > 1 && $3 > 0 {
	n++; e += ($9 - $7) ^ 2; v += $7 ^ 2 } END { exit !(n > 0 && e / v < 0.01) }' "$TMP/pred.csv"
printf 'c1,p1,b1,l1,cl1,max_l1\n9,0,4,20,20,4\n' >"$TMP/far.csv"
rf-fit predict "$TMP/m3" "$TMP/far.csv" >"$TMP/far.out" 2>"$TMP/far.err"
check "predict finds features by name in any column order" grep -qx 'c1,p1,b1,l1,cl1,max_l1,d1_pred,d11_pred' "$TMP/far.out"
check "predict warns about rows outside the training range" \
	grep -q "1 of 1 rows have a feature outside the training range" "$TMP/far.err"
check "info lists features with their ranges" \
	sh -c "rf-fit info '$TMP/m3' | grep -qx 'feature c1 1..3'"

# --- the model read by Python's msgpack, one prediction recomputed ----------
cat >"$TMP/check.py" <<'EOF'
import struct, sys
import msgpack
m = msgpack.unpackb(open(sys.argv[1], "rb").read())
assert m["format"] == "rf-forest" and m["version"] == 1
def arr(key, code):
    b = m[key]
    return struct.unpack("<%d%s" % (len(b) // struct.calcsize(code), code), b)
feat, thr = arr("feature", "i"), arr("threshold", "d")
left, right, value = arr("left", "i"), arr("right", "i"), arr("value", "d")
off, T = arr("tree_offset", "i"), len(m["targets"])
assert len(feat) == m["nnodes"] and len(off) == m["ntrees"] + 1
with open(sys.argv[2]) as f:
    head = f.readline().strip().split(",")
    row = dict(zip(head, map(float, f.readline().split(","))))
x = [row[name] for name in m["features"]]
y = [0.0] * T
for t in range(m["ntrees"]):
    i = off[t]
    while feat[i] >= 0:
        i = left[i] if x[feat[i]] <= thr[i] else right[i]
    for j in range(T):
        y[j] += value[left[i] * T + j]
pred = [v / m["ntrees"] for v in y]
want = [row[name + "_pred"] for name in m["targets"]]
assert all(abs(a - b) <= 1e-12 * max(1.0, abs(b)) for a, b in zip(pred, want)), (pred, want)
print("ok")
EOF
check "Python msgpack reads the model and recomputes a prediction" \
	$PY "$TMP/check.py" "$TMP/m3" "$TMP/pred.csv"

# --- lost requests: --ratio and --empty-delay -------------------------------
# 27 configurations x 5 windows. One, (12, 100, 12, 1), is overloaded: of
# its 60 requests per window only 20-32 are answered, quickly (d1 = 0.2 s
# over the successes), and one window answers none (cl1 = 0, d1 = 0). One
# window of (4, 0, 4, 1) offered nothing (l1 = cl1 = 0). Elsewhere every
# request is answered and d1 grows with the load per core (up to 2.5 s).
awk 'BEGIN {
	print "max_l1,l1,cl1,p1,b1,c1,d1"
	srand(2)
	for (l = 4; l <= 12; l += 4) for (p = 0; p <= 100; p += 50)
	for (c = 1; c <= 3; c++) for (r = 0; r < 5; r++) {
		off = 5 * l; cl = off
		d = 0.1 + l * (1 + p / 100) / (c * 10) + rand() * 0.01
		if (l == 12 && p == 100 && c == 1) {
			cl = r ? 17 + 3 * r : 0; d = r ? 0.2 : 0
		}
		if (l == 4 && p == 0 && c == 1 && r == 0) { off = 0; cl = 0; d = 0 }
		printf "%d,%d,%d,%d,%d,%d,%.6f\n", l, off, cl, p, l, c, d
	}
}' >"$TMP/lossy.csv"
C=max_l1,p1,b1,c1
printf 'max_l1,p1,b1,c1\n12,100,12,1\n12,100,12,2\n12,50,12,1\n' >"$TMP/ask.csv"

rf-fit fit -q --features $C --target d1 --trees 60 --test-frac 0 \
	-o "$TMP/blind" "$TMP/lossy.csv" >/dev/null 2>&1
rf-fit predict "$TMP/blind" "$TMP/ask.csv" >"$TMP/blind.pred"
blind=$(awk -F, 'NR == 2 { print $5 }' "$TMP/blind.pred")
check "without them the overloaded configuration looks fast (d1 $blind s)" \
	awk -v d="$blind" 'BEGIN { exit !(d < 0.5) }'

rf-fit fit -q --features $C --target d1,served1 --ratio served1=cl1/l1 \
	--empty-delay 20 --trees 60 --test-frac 0 -o "$TMP/lossy.mp" \
	"$TMP/lossy.csv" >"$TMP/lossy.out" 2>"$TMP/lossy.err"
check "--empty-delay counts the rows it keeps" grep -q \
	"1 of 135 rows have no successful responses (cl1 = 0): their delay targets set to 20 s (--empty-delay)" \
	"$TMP/lossy.err"
check "--ratio drops and counts rows whose denominator is 0" grep -q \
	"dropped 1 of 135 rows where a --ratio denominator is 0 (l1 = 0)" "$TMP/lossy.err"
check "a --ratio target gets its figures" grep -q '^served1,train,134,' "$TMP/lossy.out"
rf-fit predict "$TMP/lossy.mp" "$TMP/ask.csv" >"$TMP/lossy.pred"
check "predict names the derived target" grep -qx 'max_l1,p1,b1,c1,d1_pred,served1_pred' "$TMP/lossy.pred"
check "the overloaded configuration: low served share, high delay" awk -F, \
	'NR == 2 { exit !($6 < 0.6 && $5 > 2.6) }' "$TMP/lossy.pred"
check "its healthy neighbours serve everything" awk -F, \
	'NR > 2 && $6 < 0.99 { bad = 1 } END { exit bad }' "$TMP/lossy.pred"
check "the share is cl1/l1 per row (mean of the overloaded windows)" awk -F, \
	'NR == 2 { want = (0 + 20 + 23 + 26 + 29) / 300; exit !($6 > want - 0.06 && $6 < want + 0.06) }' \
	"$TMP/lossy.pred"

rf-fit fit -q --features $C --target d1,served1 --ratio served1=cl1/l1 \
	--trees 10 --test-frac 0 -o "$TMP/lossy2.mp" "$TMP/lossy.csv" \
	>/dev/null 2>"$TMP/lossy2.err"
check "without --empty-delay rows with cl1 = 0 are dropped first" grep -q \
	"dropped 2 of 135 rows with no successful responses (cl1 = 0)" "$TMP/lossy2.err"
check "  and no row is left for the ratio rule" sh -c "! grep -q denominator '$TMP/lossy2.err'"
rf-fit fit -q --features $C --target served1 --ratio served1=cl1/l1 \
	--empty-delay 20 --trees 10 --test-frac 0 -o "$TMP/lossy3.mp" \
	"$TMP/lossy.csv" >/dev/null 2>"$TMP/lossy3.err"
check "--empty-delay without a delay target warns that it changes nothing" \
	grep -q "warning: --empty-delay: no target is a delay" "$TMP/lossy3.err"

# --- cross-validation: --cv -------------------------------------------------
G=--group-by=$C
rf-fit fit --features $C --target d1,served1 --ratio served1=cl1/l1 \
	--empty-delay 20 --trees 30 --test-frac 0 --cv 3 $G --seed 2 \
	-o "$TMP/cv.mp" "$TMP/lossy.csv" >"$TMP/cv.out" 2>"$TMP/cv.err"
check "--cv prints a cv line per target over every row" sh -c \
	"grep -q '^d1,cv,134,' '$TMP/cv.out' && grep -q '^served1,cv,134,' '$TMP/cv.out'"
check "--cv says how the groups were dealt" grep -q "cv: 27 groups in 3 folds" "$TMP/cv.err"
check "--cv comes after train and oob" sh -c \
	"cut -d, -f2 '$TMP/cv.out' | uniq | tr '\n' ' ' | grep -qx 'split train oob cv '"
rf-fit fit -q --features $C --target d1,served1 --ratio served1=cl1/l1 \
	--empty-delay 20 --trees 30 --test-frac 0 $G --seed 2 \
	-o "$TMP/nocv.mp" "$TMP/lossy.csv" >"$TMP/nocv.out" 2>/dev/null
check "--cv leaves the model alone (fitted on every row)" cmp -s "$TMP/cv.mp" "$TMP/nocv.mp"
check "without --cv no cv line" sh -c "! grep -q ',cv,' '$TMP/nocv.out'"
rf-fit fit -q --features $C --target d1,served1 --ratio served1=cl1/l1 \
	--empty-delay 20 --trees 30 --test-frac 0 --cv 3 $G --seed 2 --threads 3 \
	-o "$TMP/cv3.mp" "$TMP/lossy.csv" >"$TMP/cv3.out" 2>/dev/null
check "--cv figures do not depend on threads" cmp -s "$TMP/cv.out" "$TMP/cv3.out"
rf-fit fit --features $F --target d1 --trees 20 --test-frac 0 --cv 4 \
	-o "$TMP/cvr.mp" "$TMP/t.csv" >"$TMP/cvr.out" 2>"$TMP/cvr.err"
check "--cv without --group-by deals single rows" sh -c \
	"grep -q 'cv: $((rows - 3)) rows in 4 folds' '$TMP/cvr.err' && grep -q '^d1,cv,$((rows - 3)),' '$TMP/cvr.out'"
cv_r2=$(awk -F, '$2 == "cv" { print $4 }' "$TMP/cvr.out")
check "cv R2 > 0.9 on a learnable trace (got $cv_r2)" \
	awk -v r="$cv_r2" 'BEGIN { exit !(r > 0.9) }'
expect_fail "--cv with more folds than groups" 3 "lossy.csv: --cv 30: 27 groups, fewer than the 30 folds" \
	rf-fit fit --features $C --target d1 --test-frac 0 --cv 30 $G -o "$TMP/bad" "$TMP/lossy.csv"

# --- bad input: CSV --------------------------------------------------------
expect_fail "missing feature column" 3 "t.csv:1: no column 'zz' in the header" \
	rf-fit fit --features $F,zz --target d1 -o "$TMP/bad" "$TMP/t.csv"
expect_fail "missing target column" 3 "no column 'dd'" \
	rf-fit fit --features $F --target dd -o "$TMP/bad" "$TMP/t.csv"
sed '5s/^\([^,]*\),[^,]*,/\1,abc,/' "$TMP/t.csv" >"$TMP/nonnum.csv"
expect_fail "non-numeric value: file, line, column" 3 "nonnum.csv:5: column 'l1': 'abc' is not a number" \
	rf-fit fit --features $F --target d1 -o "$TMP/bad" "$TMP/nonnum.csv"
sed '7s/$/,1/' "$TMP/t.csv" >"$TMP/ragged.csv"
expect_fail "ragged row" 3 "ragged.csv:7: expected 8 fields as in the header, found 9" \
	rf-fit fit --features $F --target d1 -o "$TMP/bad" "$TMP/ragged.csv"
sed '9s/,[0-9.]*$/,/' "$TMP/nonnum.csv" >"$TMP/two.csv"
rf-fit fit -q --skip-bad --features $F --target d11 --trees 5 -o "$TMP/m5" \
	"$TMP/two.csv" >/dev/null 2>"$TMP/skip.err"
check "--skip-bad skips and counts bad rows" grep -q "skipped 2 bad rows" "$TMP/skip.err"
check "no model is left behind by a failed fit" test ! -e "$TMP/bad"
printf 'max_l1,l1,cl1,p1,b1,c1,d1\n' >"$TMP/header.csv"
expect_fail "a trace with no rows" 3 "no rows to fit" \
	rf-fit fit --features $F --target d1 -o "$TMP/bad" "$TMP/header.csv"
: >"$TMP/empty.csv"
expect_fail "an empty file" 3 "empty input" \
	rf-fit fit --features $F --target d1 -o "$TMP/bad" "$TMP/empty.csv"
expect_fail "a trace that does not exist" 4 "nosuch.csv: cannot open" \
	rf-fit fit --features $F --target d1 -o "$TMP/bad" "$TMP/nosuch.csv"
expect_fail "a --ratio named like a trace column" 3 "lossy.csv:1: --ratio d1=cl1/l1: the trace already has a column 'd1'" \
	rf-fit fit --features $C --target d1 --ratio d1=cl1/l1 -o "$TMP/bad" "$TMP/lossy.csv"
expect_fail "a --ratio of a column the trace lacks" 3 "lossy.csv:1: --ratio served1=cl1/zz: no column 'zz' in the header" \
	rf-fit fit --features $C --target served1 --ratio served1=cl1/zz -o "$TMP/bad" "$TMP/lossy.csv"

# --- bad command lines: exit 2 ---------------------------------------------
expect_fail "empty target set" 2 "target" \
	rf-fit fit --features $F --target "" -o "$TMP/bad" "$TMP/t.csv"
expect_fail "no --target" 2 "at least one --target" \
	rf-fit fit --features $F -o "$TMP/bad" "$TMP/t.csv"
expect_fail "no --features" 2 "--features is required" \
	rf-fit fit --target d1 -o "$TMP/bad" "$TMP/t.csv"
expect_fail "no -o" 2 "-o MODEL is required" \
	rf-fit fit --features $F --target d1 "$TMP/t.csv"
expect_fail "a target that is also a feature" 2 "both a feature and a target" \
	rf-fit fit --features $F,d1 --target d1 -o "$TMP/bad" "$TMP/t.csv"
expect_fail "--trees 0" 2 "--trees: '0' is not an integer in 1..100000" \
	rf-fit fit --features $F --target d1 --trees 0 -o "$TMP/bad" "$TMP/t.csv"
expect_fail "--max-features 1.5" 2 "not in \(0,1\]" \
	rf-fit fit --features $F --target d1 --max-features 1.5 -o "$TMP/bad" "$TMP/t.csv"
expect_fail "--test-frac 1" 2 "not in \[0,1\)" \
	rf-fit fit --features $F --target d1 --test-frac 1 -o "$TMP/bad" "$TMP/t.csv"
expect_fail "--seed -1" 2 "not a non-negative integer" \
	rf-fit fit --features $F --target d1 --seed -1 -o "$TMP/bad" "$TMP/t.csv"
expect_fail "--ratio without NUM/DEN" 2 "--ratio: 'served1=cl1': expected NAME=NUM/DEN" \
	rf-fit fit --features $C --target served1 --ratio served1=cl1 -o "$TMP/bad" "$TMP/lossy.csv"
expect_fail "--ratio given twice" 2 "--ratio: 'served1' given twice" \
	rf-fit fit --features $C --target served1 --ratio served1=cl1/l1 --ratio served1=cl1/max_l1 -o "$TMP/bad" "$TMP/lossy.csv"
expect_fail "--ratio not named as a target" 2 "--ratio: 'served1' is not among the --target columns" \
	rf-fit fit --features $C --target d1 --ratio served1=cl1/l1 -o "$TMP/bad" "$TMP/lossy.csv"
expect_fail "--ratio as a feature" 2 "--ratio: 'served1' is a derived target" \
	rf-fit fit --features $C,served1 --target d1 --ratio served1=cl1/l1 -o "$TMP/bad" "$TMP/lossy.csv"
expect_fail "--empty-delay 0" 2 "--empty-delay: '0' is not a positive number of seconds" \
	rf-fit fit --features $C --target d1 --empty-delay 0 -o "$TMP/bad" "$TMP/lossy.csv"
expect_fail "--empty-delay abc" 2 "--empty-delay: 'abc' is not" \
	rf-fit fit --features $C --target d1 --empty-delay abc -o "$TMP/bad" "$TMP/lossy.csv"
expect_fail "--empty-delay with --keep-empty" 2 "--keep-empty and --empty-delay exclude each other" \
	rf-fit fit --features $C --target d1 --empty-delay 20 --keep-empty -o "$TMP/bad" "$TMP/lossy.csv"
expect_fail "--cv without --test-frac 0" 2 "--cv: needs --test-frac 0" \
	rf-fit fit --features $C --target d1 --cv 5 -o "$TMP/bad" "$TMP/lossy.csv"
expect_fail "--cv 1" 2 "--cv: '1' is not an integer in 2..1000" \
	rf-fit fit --features $C --target d1 --cv 1 --test-frac 0 -o "$TMP/bad" "$TMP/lossy.csv"
check "--help describes --ratio, --empty-delay and --cv" sh -c \
	"rf-fit --help | grep -q -- '--ratio N=A/B' && rf-fit --help | grep -q -- '--empty-delay S' && rf-fit --help | grep -q -- '--cv K'"
expect_fail "unknown option" 2 "rf-fit --help" \
	rf-fit fit --bogus --features $F --target d1 -o "$TMP/bad" "$TMP/t.csv"
expect_fail "two trace files" 2 "exactly one trace file" \
	rf-fit fit --features $F --target d1 -o "$TMP/bad" "$TMP/t.csv" "$TMP/t.csv"
expect_fail "unknown command" 2 "unknown command 'fitt'" rf-fit fitt
expect_fail "predict without a model" 2 "expected MODEL" rf-fit predict
check "--help shows usage and an example" sh -c "rf-fit --help | grep -q '^example:'"
check "--version" sh -c "rf-fit --version | grep -q rf-fit"

# --- bad models: refused with a reason, exit 3, never a crash ---------------
head -c 1000 "$TMP/m3" >"$TMP/trunc.mp"
expect_fail "truncated model" 3 "trunc.mp: not valid msgpack: truncated" \
	rf-fit predict "$TMP/trunc.mp" "$TMP/t.csv"
printf 'max_l1\n4\n' >"$TMP/notmodel"
expect_fail "a file that is not a model" 3 "not valid msgpack|not a meshrl" \
	rf-fit predict "$TMP/notmodel" "$TMP/t.csv"
cat >"$TMP/damage.py" <<'EOF'
import struct, sys
import msgpack
m = msgpack.unpackb(open(sys.argv[1], "rb").read())
what = sys.argv[3]
def put(key, i, code, v):
    b = bytearray(m[key]); struct.pack_into("<" + code, b, i * struct.calcsize(code), v); m[key] = bytes(b)
if what == "format": m["format"] = "ppo-policy"
elif what == "version": m["version"] = 2
elif what == "node": put("left", 0, "i", 1 << 30)
elif what == "cycle": put("left", 1, "i", 0) if struct.unpack_from("<i", m["feature"], 4)[0] >= 0 else put("left", 0, "i", 0)
elif what == "feature": put("feature", 0, "i", 99)
elif what == "size": m["nnodes"] = m["nnodes"] + 1
elif what == "leaf": put("value", 0, "d", float("nan"))
open(sys.argv[2], "wb").write(msgpack.packb(m, use_bin_type=True))
EOF
for what in format version node cycle feature size leaf; do
	$PY "$TMP/damage.py" "$TMP/m3" "$TMP/bad_$what.mp" $what
done
expect_fail "model of another format" 3 "format is 'ppo-policy', expected 'rf-forest'" \
	rf-fit predict "$TMP/bad_format.mp" "$TMP/t.csv"
expect_fail "model of another version" 3 "rf-forest version 2, this build reads version 1" \
	rf-fit predict "$TMP/bad_version.mp" "$TMP/t.csv"
expect_fail "model with an out-of-range node index" 3 "child index 1073741824 out of range" \
	rf-fit predict "$TMP/bad_node.mp" "$TMP/t.csv"
expect_fail "model with a cycle" 3 "child index 0 out of range" \
	rf-fit predict "$TMP/bad_cycle.mp" "$TMP/t.csv"
expect_fail "model with an out-of-range feature index" 3 "feature index 99 out of range \(6 features\)" \
	rf-fit predict "$TMP/bad_feature.mp" "$TMP/t.csv"
expect_fail "model whose sizes do not match" 3 "key 'feature': [0-9]+ bytes, expected" \
	rf-fit predict "$TMP/bad_size.mp" "$TMP/t.csv"
expect_fail "model with a NaN leaf value" 3 "value 0 is not a finite number" \
	rf-fit predict "$TMP/bad_leaf.mp" "$TMP/t.csv"
expect_fail "predict input lacks a model feature" 3 "no column 'c1' in the header" \
	sh -c "cut -d, -f1-5 '$TMP/t.csv' | rf-fit predict '$TMP/m3' -"
