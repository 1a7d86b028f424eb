#!/bin/sh
# bench_rf.sh - rf-fit against scikit-learn on the published traces, both
# measured in this run, interleaved, median of 3 (lines
# name,value,unit,reference,ratio,reference_kind on stdout, every reference
# "measured"; notes on stderr).
#
#   fit (in-process, no CSV/saving inside the timing; rf_speed.c vs
#   rf_sklearn.py, RandomForestRegressor 120 trees n_jobs=1):
#     CNSM 4 targets, 1 thread (ratio ours/sklearn, want <= 0.35)
#     CNSM 4 targets, 2 threads (reference: our 1 thread; ratio = speed-up)
#     TNSM d1, 1 thread (want <= 0.15 s)
#   the whole `rf-fit fit` command on CNSM (read, split, fit, OOB, save)
#   predict, one thread: single row (us per call) and a batch of 100k rows
#     (rows/s; ratio ours/sklearn, want >= 4), TNSM and CNSM; the batch's
#     0.9-quantile across trees of every target (rows/s; the reference is
#     our mean's rows/s in the same run, ratio = its cost over the mean's,
#     want <= 1.5)
#   scaling: rows/s (mean and quantile) and single-row time against trees
#     (30..480) and max_depth (8, 16, unlimited), both traces, ours only:
#     results/bench/rf_scaling.csv, and rf_scaling.png when gnuplot is
#     installed (tests/bench/rf_scaling.gp); not CSV lines on stdout
#   accuracy (rf-fit's own output): TNSM test R2 mean over seeds 1..5, CNSM
#     test R2 per target, random and grouped 80/20 splits; the reference is
#     sklearn trained and tested on exactly the same rows (rf_sklearn.py
#     mirrors rf-fit's RNG and split)
#
# Rows: rf-fit's default rule (a row is dropped when cl<i> of a target's
# service is 0): TNSM keeps 2511 of 2700 rows, CNSM all 45343 (cl1, cl2 are
# never 0). Fits in the timing lines use all kept rows.
# Skips (exit 0, note on stderr) when the traces or scikit-learn are absent.
set -u
: "${MESHRL_BIN:?run through tests/bench/run.sh}"
ROOT=${MESHRL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PY:-/usr/bin/python3}
KTH=${KTH_TRACES:-$ROOT/../shared/traces/kth}
TN=$KTH/data_TNSM_2024.csv CN=$KTH/data_CNSM_2022.csv
TNF=max_l1,l1,cl1,p1,b1,c1 CNF=p11,p21,b1,b2,l1,l2 CNT=d11,d12,d21,d22
REF=$ROOT/tests/bench/rf_sklearn.py

note() { echo "bench_rf: $*" >&2; }
if [ ! -f "$TN" ] || [ ! -f "$CN" ]; then
	note "skipped: traces not found in $KTH"; exit 0
fi
if ! "$PY" -c 'import sklearn, numpy' 2>/dev/null; then
	note "skipped: $PY has no scikit-learn (Debian python3-sklearn)"; exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LIB=$(cd "$MESHRL_BIN/.." && pwd)/lib
cc -O2 -D_GNU_SOURCE -I"$ROOT/tools/lib" -I"$ROOT/tools/rf-fit/include" -o "$TMP/rf_speed" \
	"$ROOT/tests/bench/rf_speed.c" "$LIB/librf-fit.a" "$LIB/libcore.a" -lcsv -lmsgpackc -lm -pthread || {
	note "cannot build rf_speed"; exit 1; }
SPEED=$TMP/rf_speed
note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (timings are noisy when other jobs run)"

median() { sort -g | sed -n 2p; }
field() { tr ' ' '\n' | grep -A1 -x "$1" | tail -n 1; }
# line NAME VALUE UNIT REFERENCE v/r|r/v: one CSV line; the ratio is
# value/reference, or reference/value for a speed-up from times; every
# reference here is measured in this run.
line() {
	awk -v n="$1" -v v="$2" -v u="$3" -v r="$4" -v k="$5" 'BEGIN {
		ratio = (k == "r/v") ? r / v : v / r
		printf "%s,%.6g,%s,%.6g,%.3f,measured\n", n, v, u, r, ratio }'
}

# --- fit timings, interleaved ---------------------------------------------
: >"$TMP/c1"; : >"$TMP/c2"; : >"$TMP/cs"; : >"$TMP/t1"; : >"$TMP/ts"; : >"$TMP/cmd"
for i in 1 2 3; do
	"$SPEED" fit "$CN" $CNF $CNT 1 $i | field fit_s >>"$TMP/c1"
	"$PY" "$REF" fit "$CN" $CNF $CNT $i | field fit_s >>"$TMP/cs"
	"$SPEED" fit "$CN" $CNF $CNT 2 $i | field fit_s >>"$TMP/c2"
	EMPTY=cl1 "$SPEED" fit "$TN" $TNF d1 1 $i | field fit_s >>"$TMP/t1"
	EMPTY=cl1 "$PY" "$REF" fit "$TN" $TNF d1 $i | field fit_s >>"$TMP/ts"
	t0=$(date +%s.%N)
	rf-fit fit -q --features $CNF --target $CNT --seed $i -o "$TMP/cn.rf" "$CN" >/dev/null
	awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }' >>"$TMP/cmd"
done
c1=$(median <"$TMP/c1") c2=$(median <"$TMP/c2") cs=$(median <"$TMP/cs")
t1=$(median <"$TMP/t1") ts=$(median <"$TMP/ts") cmd=$(median <"$TMP/cmd")
line rf_fit_cnsm_4targets_1thread "$c1" s "$cs" v/r
line rf_fit_cnsm_4targets_2threads "$c2" s "$c1" r/v
line rf_fit_tnsm_d1_1thread "$t1" s "$ts" v/r
line rf_fit_cnsm_command_1thread "$cmd" s "$cs" v/r
note "fit ratios are ours/sklearn (want <= 0.35); the 2-thread ratio is the speed-up over our 1 thread (want >= 1.8); the command line includes CSV reading, OOB, figures and writing the $(du -m "$TMP/cn.rf" | cut -f1) MB model"

# --- predict, interleaved --------------------------------------------------
for set in tnsm cnsm; do
	if [ $set = tnsm ]; then args="$TN $TNF d1"; export EMPTY=cl1; else args="$CN $CNF $CNT"; unset EMPTY; fi
	: >"$TMP/pb"; : >"$TMP/pq"; : >"$TMP/ps"; : >"$TMP/sb"; : >"$TMP/ss"
	for i in 1 2 3; do
		"$SPEED" predict $args 100000 >"$TMP/o"
		field batch_rows_per_s <"$TMP/o" >>"$TMP/pb"; field single_us <"$TMP/o" >>"$TMP/ps"
		field quantile_rows_per_s <"$TMP/o" >>"$TMP/pq"
		"$PY" "$REF" predict $args 100000 >"$TMP/o"
		field batch_rows_per_s <"$TMP/o" >>"$TMP/sb"; field single_us <"$TMP/o" >>"$TMP/ss"
	done
	pb=$(median <"$TMP/pb")
	line rf_predict_batch_100k_${set} "$pb" rows/s "$(median <"$TMP/sb")" v/r
	line rf_predict_single_row_${set} "$(median <"$TMP/ps")" us "$(median <"$TMP/ss")" v/r
	line rf_predict_quantile90_batch_100k_${set} "$(median <"$TMP/pq")" rows/s "$pb" r/v
done
unset EMPTY
note "batch ratio is ours/sklearn rows/s (want >= 4); single-row ratio is ours/sklearn time (goal <= 20 us); quantile ratio is the cost of the 0.9-quantile of every target (TNSM 1, CNSM 4) over the mean's, both ours (want <= 1.5)"

# --- scaling: rows/s against trees and depth (ours) --------------------------
OUT=$ROOT/results/bench
mkdir -p "$OUT" || { note "cannot create $OUT"; exit 1; }
{
	echo "trace,trees,max_depth,nodes,batch_rows_per_s,quantile_rows_per_s,single_us"
	EMPTY=cl1 "$SPEED" scale $TN $TNF d1 50000 | sed 1d | sed 's/^/tnsm,/'
	"$SPEED" scale $CN $CNF $CNT 50000 | sed 1d | sed 's/^/cnsm,/'
} >"$TMP/scaling.csv" && mv "$TMP/scaling.csv" "$OUT/rf_scaling.csv" ||
	{ note "scaling run failed"; exit 1; }
if command -v gnuplot >/dev/null 2>&1; then
	gnuplot -e "csv='$OUT/rf_scaling.csv'; out='$TMP/scaling.png'" \
		"$ROOT/tests/bench/rf_scaling.gp" && mv "$TMP/scaling.png" "$OUT/rf_scaling.png"
	note "scaling: results/bench/rf_scaling.csv and rf_scaling.png (50k-row batches, one thread, median of 3)"
else
	note "scaling: results/bench/rf_scaling.csv (50k-row batches, one thread, median of 3); no gnuplot, no plot"
fi

# --- accuracy --------------------------------------------------------------
r2s() { awk -F, -v t="$1" '$1 == t && $2 == "test" { print $4 }'; }
: >"$TMP/r2o"; : >"$TMP/r2s"
for s in 1 2 3 4 5; do
	o=$(rf-fit fit -q --features $TNF --target d1 --seed $s -o "$TMP/tn.rf" "$TN" | r2s d1)
	r=$(EMPTY=cl1 "$PY" "$REF" accuracy "$TN" $TNF d1 $s 0.2 | cut -d, -f2)
	note "TNSM seed $s: test R2 rf-fit $o, sklearn $r"
	echo "$o" >>"$TMP/r2o"; echo "$r" >>"$TMP/r2s"
done
mean() { awk '{ s += $1 } END { print s / NR }'; }
line rf_accuracy_tnsm_d1_test_r2_mean5 "$(mean <"$TMP/r2o")" r2 "$(mean <"$TMP/r2s")" v/r
o=$(rf-fit fit -q --features $TNF --target d1 --seed 1 --keep-empty -o "$TMP/tn.rf" "$TN" | r2s d1)
r=$("$PY" "$REF" accuracy "$TN" $TNF d1 1 0.2 | cut -d, -f2)
line rf_accuracy_tnsm_d1_test_r2_all_rows_seed1 "$o" r2 "$r" v/r
o=$(rf-fit fit -q --features $TNF --target d1 --seed 1 --group-by max_l1,p1,b1,c1 -o "$TMP/tn.rf" "$TN" | r2s d1)
r=$(EMPTY=cl1 "$PY" "$REF" accuracy "$TN" $TNF d1 1 0.2 max_l1,p1,b1,c1 | cut -d, -f2)
line rf_accuracy_tnsm_d1_test_r2_grouped_seed1 "$o" r2 "$r" v/r

rf-fit fit -q --features $CNF --target $CNT --seed 1 -o "$TMP/cn.rf" "$CN" >"$TMP/acc"
"$PY" "$REF" accuracy "$CN" $CNF $CNT 1 0.2 >"$TMP/accs"
rf-fit fit -q --features $CNF --target $CNT --seed 1 --group-by p11,p21,b1,b2 -o "$TMP/cn.rf" "$CN" >"$TMP/accg"
"$PY" "$REF" accuracy "$CN" $CNF $CNT 1 0.2 p11,p21,b1,b2 >"$TMP/accgs"
for t in d11 d12 d21 d22; do
	line rf_accuracy_cnsm_${t}_test_r2_seed1 "$(r2s $t <"$TMP/acc")" r2 "$(grep "^$t," "$TMP/accs" | cut -d, -f2)" v/r
	line rf_accuracy_cnsm_${t}_test_r2_grouped_seed1 "$(r2s $t <"$TMP/accg")" r2 "$(grep "^$t," "$TMP/accgs" | cut -d, -f2)" v/r
done
note "accuracy ratio is ours/sklearn R2, both on the same train/test rows"
