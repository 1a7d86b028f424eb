#!/bin/sh
# test_csv_outputs.sh - the CSVs a pipeline run writes hold numbers only:
# no empty field (cost's actions are moves, so no file may carry a cores
# column it cannot fill), float32 rewards printed as float32 (at most 9
# significant digits), and the aggregate's intervals clipped to their
# figure's range.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"

TR=$MESHRL_ROOT/traces/info2.csv
check "make experiment OBJ=cost (small budget)" mk experiment OBJ=cost SEED=1
out=$TMP/results/cost/seed-1
ncsv=$(find "$out" -name '*.csv' | wc -l)
check "the run wrote its CSVs ($ncsv)" sh -c \
	"[ $ncsv -ge 10 ] && [ -s '$out/eval-seen/steps-ppo.csv' ]"

# empty_fields FILE: prints the line numbers holding an empty field
empty_fields() { awk -F, '/(^,|,,|,$)/ { print FILENAME ":" NR }' "$1"; }
bad=
for f in $(find "$out" -name '*.csv'); do
	bad="$bad$(empty_fields "$f")"
done
check "no empty field in any CSV of the run${bad:+ (}${bad}${bad:+)}" \
	test -z "$bad"
check "summary without a cores column (no action sets cores)" \
	sh -c "! head -n 1 '$out/eval-seen/summary.csv' | grep -q mean_cores"

# rewards: float32, so never more than 9 significant digits
long=$(awk -F, 'NR == 1 && !/,reward,/ { print "no reward column"; exit }
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "reward") c = i; next }
	{ v = $c; sub(/^-/, "", v); sub(/e.*/, "", v); gsub(/[.]/, "", v);
	  sub(/^0+/, "", v); if (length(v) > 9) { print NR ": " $c; exit } }' \
	"$out/eval-seen/steps-ppo.csv")
check "steps-ppo.csv: rewards printed as float32${long:+ (line $long)}" \
	test -z "$long"

check "policy-eval aggregate of the seen and unseen summaries" \
	policy-eval aggregate -q -o "$TMP/agg.csv" \
	"$out/eval-seen/summary.csv" "$out/eval-unseen/summary.csv"
check "aggregate: no empty field" test -z "$(empty_fields "$TMP/agg.csv")"
check "aggregate: bound-met interval within 0..100" awk -F, '
	NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "bound_met_pct_lo") lo = i
		if ($i == "bound_met_pct_hi") hi = i }; next }
	$lo < 0 || $hi > 100 || lo == 0 || hi == 0 { bad = 1 }
	END { exit bad }' "$TMP/agg.csv"
