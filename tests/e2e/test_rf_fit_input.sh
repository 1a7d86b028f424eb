#!/bin/sh
# test_rf_fit_input.sh - rf-fit on inputs that once passed silently or did
# harm: a target too large for its statistics, negative delays, an output
# that is an input, a UTF-8 byte order mark before the header.
. "$(dirname "$0")/lib.sh"

fit() { rf-fit fit -q -f a -t d1 --test-frac 0 --trees 5 "$@"; }

printf 'a,d1\n1,0.1\n2,1e300\n3,0.3\n' >"$TMP/huge.csv"
expect_fail "a target of 1e300: bad data at its line, the cause named" 3 \
	"huge.csv:3: column 'd1': 1e\+300 is too large: the squares .* overflow" \
	fit -o "$TMP/m.msgpack" "$TMP/huge.csv"
check "a target of 1e300: no model, no temp file" sh -c \
	"[ ! -e '$TMP/m.msgpack' ] && ! ls -a '$TMP' | grep -q '\.tmp\.'"

printf 'a,d1\n1,0.1\n2,-0.2\n3,0.3\n4,0.4\n' >"$TMP/neg.csv"
expect_fail "a negative delay: bad data at file:line: column" 3 \
	"neg.csv:3: column 'd1': negative delay -0.2 \(--allow-negative" \
	fit -o "$TMP/m.msgpack" "$TMP/neg.csv"
fit --skip-bad -o "$TMP/m.msgpack" "$TMP/neg.csv" >"$TMP/out.csv" 2>"$TMP/err"
check "--skip-bad skips it and says so" sh -c \
	"grep -q 'skipped 1 row with a negative delay' '$TMP/err' && grep -q '^d1,train,3,' '$TMP/out.csv'"
fit --allow-negative -o "$TMP/m.msgpack" "$TMP/neg.csv" >"$TMP/out.csv"
check "--allow-negative keeps it" grep -q '^d1,train,4,' "$TMP/out.csv"
printf 'a,x1\n1,-0.1\n2,-0.2\n3,0.3\n' >"$TMP/negx.csv"
check "a negative target that is not a delay is data" \
	rf-fit fit -q -f a -t x1 --test-frac 0 --trees 5 -o "$TMP/m.msgpack" "$TMP/negx.csv"

cp "$TMP/neg.csv" "$TMP/trace.csv"
ln -s trace.csv "$TMP/link.csv"
for out in trace.csv link.csv; do
	expect_fail "fit -o $out, the trace itself: refused" 2 \
		"the same file as the input" \
		fit --allow-negative -o "$TMP/$out" "$TMP/trace.csv"
done
check "the trace is left as it was" cmp "$TMP/neg.csv" "$TMP/trace.csv"
expect_fail "predict -o MODEL: refused" 2 "the same file as the input" \
	rf-fit predict -o "$TMP/m.msgpack" "$TMP/m.msgpack" "$TMP/trace.csv"
expect_fail "predict -o TRACE: refused" 2 "the same file as the input" \
	rf-fit predict -o "$TMP/trace.csv" "$TMP/m.msgpack" "$TMP/trace.csv"
check "the model and trace are left as they were" sh -c \
	"cmp '$TMP/neg.csv' '$TMP/trace.csv' && rf-fit info '$TMP/m.msgpack' >/dev/null"

printf '\357\273\277a,d1\n1,0.1\n2,0.2\n3,0.3\n' >"$TMP/bom.csv"
check "a UTF-8 byte order mark before the header: fit reads column 'a'" \
	fit -o "$TMP/bom.msgpack" "$TMP/bom.csv"
check "... and predict finds the model's features in it" sh -c \
	"rf-fit predict '$TMP/bom.msgpack' '$TMP/bom.csv' | head -n 1 | grep -qx 'a,d1,d1_pred'"
