#!/bin/sh
# quality.sh - the fan-out behind `make quality`: PPO's quality over
# objectives x model seeds x PPO seeds, one row per run of
# $RESULTS/quality.csv:
#
#   objective,heads,model_seed,ppo_seed,timesteps,final_score,
#   final_score_unseen,stable_frac,first_hit_timesteps,wall_s
#
# A run: the objective's model fitted with rf-fit --seed MODEL_SEED (once
# per objective and model seed, shared by its PPO seeds), ppo-train with the
# objective's whole budget (no early stop) and its curve on validation
# episodes, then policy-eval of the FINAL policy on 10 test episodes of the
# seen and the unseen load pattern (README, Evaluation protocol).
# final_score(_unseen): the policy's normalised score there (the mean over
# the test episodes). From the curve: first_hit_timesteps, the first
# evaluation scoring >= 0.98, and stable_frac, the share of evaluations
# from it to the end scoring >= 0.98 (both empty when never reached).
# wall_s: ppo-train's wall seconds (one thread).
#
# PPO_SELECT=1 also asks for checkpoint selection (ppo-train --select-best:
# the policy with the best score on the validation episodes, never on test
# ones) and adds three columns after those, beside the final policy's:
# selected_score, selected_score_unseen (that policy on the same 10 test
# episodes) and selected_timesteps (where it was trained to). A run done
# without selection is redone when selection is asked for; quality.csv has
# the three columns when any of its rows has them (empty in the others).
#
# Runs go through GNU parallel, JOBS at a time (default: the cores). Each
# writes its row into its own folder atomically; quality.csv is rewritten
# (temp file + rename) from the rows after every batch. Resumable: a run
# whose row is in its folder is not redone, nor a fitted model refitted,
# while the trace, objective file and arguments they were made from are
# the same (else they are redone); a row in quality.csv whose run has no
# folder is kept (to start afresh, remove $RESULTS/quality.csv,
# $RESULTS/quality/ and $MODELS/quality/). Then a summary per objective:
# $RESULTS/quality-summary.csv, also printed.
#
# Usage (environment, set by pipelines/quality.mk): OBJS MODEL_SEEDS
# PPO_SEEDS JOBS MODELS RESULTS OBJDIR TRACE BIN FIT_ARGS PPO_ARGS
# PPO_SELECT; or, as
# GNU parallel calls it: quality.sh fit OBJ MODEL_SEED, quality.sh row OBJ
# MODEL_SEED PPO_SEED.
set -eu

die() { echo "quality: $*" >&2; exit "${code:-2}"; }

: "${MODELS:=models}" "${RESULTS:=results}" "${OBJDIR:=pipelines/objectives}"
: "${BIN:=build/bin}" "${TRACE:=}" "${FIT_ARGS:=}" "${PPO_ARGS:=}"
: "${MODEL_SEEDS:=1 2 3}" "${PPO_SEEDS:=1 2}" "${OBJS:=}" "${PPO_SELECT:=}"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 1)}
HEADER=objective,heads,model_seed,ppo_seed,timesteps,final_score,final_score_unseen,stable_frac,first_hit_timesteps,wall_s
SELECTED=selected_score,selected_score_unseen,selected_timesteps
QM=$MODELS/quality
QR=$RESULTS/quality
THRESHOLD=0.98

describe() { "$BIN/sim-env" describe "$OBJDIR/$1.obj" --get "$2"; }
trace_of() { if [ -n "$TRACE" ]; then echo "$TRACE"; else describe "$1" trace; fi; }
now() { date +%s.%N; }

# ------------------------------------------------------------------------
# What a model and a run are made from, one line each: a fitted model is
# kept, and a run's row, only while their inputs are the same (a new trace,
# objective file or argument redoes them; kept in a file "inputs" beside
# them). The trace and objective file by their checksum (cksum, POSIX).
model_args() { "$BIN/sim-env" describe "$OBJDIR/$1.obj" --model-args; }
model_inputs() { # model_inputs OBJ MODEL_SEED [MODEL_ARGS]
	printf 'trace %s; model-args %s; FIT_ARGS %s; seed %s\n' \
		"$(cksum <"$(trace_of "$1")")" "${3-$(model_args "$1")}" "$FIT_ARGS" "$2"
}
run_inputs() { # run_inputs OBJ PPO_SEED MODEL_INPUTS
	printf '%s; objective %s; PPO_ARGS %s; ppo seed %s\n' \
		"$3" "$(cksum <"$OBJDIR/$1.obj")" "$PPO_ARGS" "$2"
}
same_inputs() { # same_inputs FILE LINE
	[ -f "$1" ] && [ "$(cat "$1")" = "$2" ]
}

# One model: rf-fit with the objective's arguments and the model seed.
fit() { # fit OBJ MODEL_SEED
	obj=$1 ms=$2
	out=$QM/$obj/seed-$ms/system.msgpack
	margs=$(model_args "$obj")
	inputs=$(model_inputs "$obj" "$ms" "$margs")
	[ -s "$out" ] && same_inputs "$QM/$obj/seed-$ms/inputs" "$inputs" && return 0
	mkdir -p "$QM/$obj/seed-$ms"
	rm -f "$QM/$obj/seed-$ms/inputs"
	set -f # the arguments are words, never patterns
	# shellcheck disable=SC2086
	"$BIN/rf-fit" fit -q $margs \
		$FIT_ARGS --seed "$ms" \
		-o "$out" "$(trace_of "$obj")" >"$QM/$obj/seed-$ms/.fit.csv.tmp"
	set +f
	mv "$QM/$obj/seed-$ms/.fit.csv.tmp" "$QM/$obj/seed-$ms/fit.csv"
	echo "$inputs" >"$QM/$obj/seed-$ms/.inputs.tmp"
	mv "$QM/$obj/seed-$ms/.inputs.tmp" "$QM/$obj/seed-$ms/inputs"
}

# The ppo row's norm_score of a policy-eval summary.
ppo_score() {
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$c["policy"] == "ppo" { print $c["norm_score"] }' "$1"
}

# first_hit_timesteps,stable_frac of a curve (column score).
curve_figures() {
	awk -F, -v th="$THRESHOLD" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ n++; ts[n] = $c["timesteps"]; s[n] = $c["score"] }
		END {
			for (i = 1; i <= n; i++) if (s[i] != "" && s[i] + 0 >= th) break
			if (i > n) { print ","; exit }
			k = 0; for (j = i; j <= n; j++) if (s[j] != "" && s[j] + 0 >= th) k++
			printf "%s,%.4f\n", ts[i], k / (n - i + 1)
		}' "$1"
}

# A policy's normalised scores on 10 test episodes of the seen and the
# unseen load pattern (empty when the objective has none), into $scores
# as "seen,unseen"; policy-eval's outputs go to DIR/seen and DIR/unseen.
test_scores() { # test_scores POLICY DIR
	mkdir -p "$2/seen"
	"$BIN/policy-eval" sim -q --policy "$1" --model "$model" \
		--seed "$ps" --episodes 10 -b optimal -o "$2/seen" "$objf"
	unseen=$(describe "$obj" eval.unseen)
	su=
	if [ -n "$unseen" ]; then
		mkdir -p "$2/unseen"
		"$BIN/policy-eval" sim -q --policy "$1" --model "$model" \
			--seed "$ps" --episodes 10 -b optimal --pattern "$unseen" \
			--label unseen -o "$2/unseen" "$objf"
		su=$(ppo_score "$2/unseen/summary.csv")
	fi
	scores=$(ppo_score "$2/seen/summary.csv"),$su
}

# ------------------------------------------------------------------------
# One run: train, evaluate the final policy (and with PPO_SELECT=1 the
# selected one), write its row.
row() { # row OBJ MODEL_SEED PPO_SEED
	obj=$1 ms=$2 ps=$3
	dir=$QR/$obj/m$ms-p$ps
	model=$QM/$obj/seed-$ms/system.msgpack
	objf=$OBJDIR/$obj.obj
	select=
	[ "$PPO_SELECT" = 1 ] && select=1
	rm -rf "$dir"
	mkdir -p "$dir"
	run_inputs "$obj" "$ps" "$(model_inputs "$obj" "$ms")" >"$dir/inputs"
	t0=$(now)
	set -f
	# shellcheck disable=SC2086
	"$BIN/ppo-train" --model "$model" --seed "$ps" --threads 1 $PPO_ARGS \
		${select:+--select-best} \
		-o "$dir/policy.msgpack" --curve "$dir/learning.csv" "$objf" \
		2>"$dir/ppo-train.log" ||
		{ cat "$dir/ppo-train.log" >&2; code=1 die "$obj m$ms p$ps: ppo-train failed"; }
	set +f
	t1=$(now)
	test_scores "$dir/policy.msgpack" "$dir"
	fin=$scores
	sel=
	if [ -n "$select" ]; then
		test_scores "$dir/policy.msgpack.best" "$dir/selected"
		at=$(sed -n 's/.*best validation score .* at \([0-9]*\) timesteps.*/\1/p' \
			"$dir/ppo-train.log" | tail -n 1)
		sel=,$scores,$at
	fi
	heads=$(sed -n 's/.*one joint head.*/joint/p; s/.*factored head.*/factored/p' \
		"$dir/ppo-train.log" | head -n 1)
	ts=$(tail -n 1 "$dir/learning.csv" | cut -d, -f1)
	fig=$(curve_figures "$dir/learning.csv")
	hit=${fig%,*} frac=${fig#*,}
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	printf '%s,%s,%s,%s,%s,%s,%s,%s,%s%s\n' "$obj" "$heads" "$ms" "$ps" \
		"$ts" "$fin" "$frac" "$hit" "$wall" "$sel" >"$dir/.row.tmp"
	mv "$dir/.row.tmp" "$dir/row.csv"
}

# ------------------------------------------------------------------------
# quality.csv from every run's row and its old rows (a run's own row
# first: it may have been redone with selection): one row per run
# (objective, model seed, PPO seed), sorted, written atomically; with the
# selection columns when a row has them, empty in the rows without.
assemble() {
	out=$RESULTS/quality.csv
	{
		find "$QR" -name row.csv -exec cat {} + 2>/dev/null
		[ -f "$out" ] && tail -n +2 "$out"
	} | awk -F, '!seen[$1 FS $3 FS $4]++' |
		sort -t, -k1,1 -k3,3n -k4,4n >"$out.rows.tmp"
	hdr=$HEADER
	if awk -F, 'NF > 10 { f = 1 } END { exit !f }' "$out.rows.tmp"; then
		hdr=$HEADER,$SELECTED
		awk -F, -v OFS=, '{ while (NF < 13) $(NF + 1) = "" } 1' \
			"$out.rows.tmp" >"$out.pad.tmp"
		mv "$out.pad.tmp" "$out.rows.tmp"
	fi
	{ echo "$hdr"; cat "$out.rows.tmp"; } >"$out.tmp"
	rm -f "$out.rows.tmp"
	mv "$out.tmp" "$out"
}

# The summary per objective: runs, mean and worst final score, runs >=
# 0.98, median stable_frac (of the runs that reached 0.98), mean unseen
# score, median wall seconds; then the runs whose stable_frac is >= 0.95
# (issue 12's bar), and with selection the mean selected score and the
# runs whose selected score is >= 0.98 (empty without).
summary() {
	out=$RESULTS/quality-summary.csv
	for o in $(tail -n +2 "$RESULTS/quality.csv" | cut -d, -f1 | sort -u); do
		awk -F, -v o="$o" -v th="$THRESHOLD" '$1 == o {
				n++; s = $6 + 0; sum += s; if (n == 1 || s < worst) worst = s
				if (s >= th) good++
				if ($7 != "") { nu++; su += $7 }
				if ($8 != "") print "f", $8
				if ($8 != "" && $8 + 0 >= 0.95) stable++
				if ($11 != "") { ns++; ss += $11; if ($11 + 0 >= th) sgood++ }
				print "w", $10
				h = $2
			}
			END {
				printf "S %s,%s,%d,%.4f,%.4f,%d,%s\n", o, h, n, sum / n, worst,
					good, nu ? sprintf("%.4f", su / nu) : ""
				printf "T %d,%s,%s\n", stable, ns ? sprintf("%.4f", ss / ns) : "",
					ns ? sgood + 0 : ""
			}' "$RESULTS/quality.csv" >"$out.one.tmp"
		med_f=$(awk '$1 == "f" { print $2 }' "$out.one.tmp" | sort -g | awk '{ v[NR] = $1 }
			END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
		med_w=$(awk '$1 == "w" { print $2 }' "$out.one.tmp" | sort -g | awk '{ v[NR] = $1 }
			END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
		line=$(sed -n 's/^S //p' "$out.one.tmp")
		tail=$(sed -n 's/^T //p' "$out.one.tmp")
		echo "$line,$med_f,$med_w,$tail"
	done >"$out.rows.tmp"
	rm -f "$out.one.tmp"
	{
		printf '%s,%s\n' "objective,heads,runs,mean_score,worst_score,runs_ge_0.98,mean_score_unseen,median_stable_frac,median_wall_s" \
			"runs_stable_ge_0.95,mean_selected_score,runs_selected_ge_0.98"
		cat "$out.rows.tmp"
	} >"$out.tmp"
	rm -f "$out.rows.tmp"
	mv "$out.tmp" "$out"
	column -s, -t "$out" 2>/dev/null || cat "$out"
}

# ------------------------------------------------------------------------
case ${1:-} in
fit) shift; fit "$@"; exit 0 ;;
row) shift; row "$@"; exit 0 ;;
'') ;;
*) die "unknown mode '$1' (fit, row, or none)" ;;
esac

# The default objectives: the shipped ones, and the published ones whose
# traces are here.
if [ -z "$OBJS" ]; then
	OBJS="delay throughput cost differentiation"
	for o in delay-tnsm throughput-cnsm; do
		t=$(trace_of "$o")
		[ -n "$t" ] && [ -f "$t" ] && OBJS="$OBJS $o"
	done
fi
for o in $OBJS; do
	[ -f "$OBJDIR/$o.obj" ] || die "unknown objective '$o': no $OBJDIR/$o.obj"
	t=$(trace_of "$o")
	[ -n "$t" ] && [ -f "$t" ] || die "$o: trace '$t' not found (TRACE= to give one)"
done
for s in $MODEL_SEEDS $PPO_SEEDS; do
	case $s in *[!0-9]*|'') die "seed '$s' is not a non-negative integer" ;; esac
done
[ -n "$MODEL_SEEDS" ] && [ -n "$PPO_SEEDS" ] || die "MODEL_SEEDS and PPO_SEEDS must not be empty"
mkdir -p "$QR" "$QM"
case $PPO_SELECT in
''|0|1) ;;
*) die "PPO_SELECT '$PPO_SELECT': 1 or empty" ;;
esac
export MODELS RESULTS OBJDIR BIN TRACE FIT_ARGS PPO_ARGS PPO_SELECT

# The runs still to do: no row of their own made from the same inputs
# (with PPO_SELECT=1: none with a selected score); a run with no folder at
# all is done when quality.csv has its row (rows kept from an earlier
# grid: remove quality.csv to redo them).
todo=$QR/.todo
: >"$todo"
done_row() { # done_row FILE OBJ MODEL_SEED PPO_SEED
	[ -f "$1" ] && awk -F, -v o="$2" -v m="$3" -v p="$4" -v sel="$PPO_SELECT" \
		'$1 == o && $3 == m && $4 == p && (sel != 1 || $11 != "") { f = 1 }
		END { exit !f }' "$1"
}
for o in $OBJS; do for ms in $MODEL_SEEDS; do
	mi=$(model_inputs "$o" "$ms") # one model's, shared by its PPO seeds
	for ps in $PPO_SEEDS; do
		d=$QR/$o/m$ms-p$ps
		if [ -d "$d" ]; then
			same_inputs "$d/inputs" "$(run_inputs "$o" "$ps" "$mi")" &&
				done_row "$d/row.csv" "$o" "$ms" "$ps" && continue
		else
			done_row "$RESULTS/quality.csv" "$o" "$ms" "$ps" && continue
		fi
		echo "$o $ms $ps" >>"$todo"
	done
done; done
n=$(wc -l <"$todo")
echo "quality: $n run(s) to do of $(echo $OBJS | wc -w) objective(s) x $(echo $MODEL_SEEDS | wc -w) model seed(s) x $(echo $PPO_SEEDS | wc -w) PPO seed(s), $JOBS at a time" >&2
start=$(now)
if [ "$n" -gt 0 ]; then
	# models first (each shared by its PPO seeds), then the runs
	cut -d' ' -f1,2 "$todo" | sort -u |
		parallel --will-cite --colsep ' ' --jobs "$JOBS" --halt now,fail=1 \
			sh "$0" fit
	rc=0
	parallel --will-cite --colsep ' ' --jobs "$JOBS" --halt soon,fail=1 \
		sh "$0" row <"$todo" || rc=$?
	assemble
	[ "$rc" -eq 0 ] || code=1 die "a run failed (finished rows are kept; rerun to resume)"
else
	assemble
fi
rm -f "$todo"
echo "quality: $(tail -n +2 "$RESULTS/quality.csv" | wc -l) row(s) in $RESULTS/quality.csv; $(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s" >&2
summary
