#!/bin/sh
# experiments.sh - the fan-out behind `make experiments`: one
# `make experiment OBJ=o SEED=s` per objective x seed, run by GNU parallel
# on this machine (JOBS at a time, default: the number of cores) or over ssh
# hosts (HOSTS=FILE, GNU parallel's --sshloginfile format), then the
# aggregation across seeds into $RESULTS/summary.csv.
#
# Resumable: after an interruption or a failure the same command skips the
# finished runs and reruns the rest. Here, a joblog keyed by the set of runs
# records finished runs (--resume-failed); it is removed once everything
# succeeded, so the next invocation starts afresh (and make's own
# dependencies make finished runs no-ops anyway).
#
# Remote runs: the source tree (tracked and untracked-but-not-ignored files)
# goes over as one tarball with pipelines/remote-run.sh (--basefile); each
# host extracts and builds it once, runs the same make target, and the run's
# results/ and models/ folders come back (--return) into a staging folder
# keyed like the joblog. A run counts as done only when both folders are
# back whole (remote-run.sh's .complete marker, checked here): then they
# are moved into $RESULTS and $MODELS and the stage records the run as done.
# GNU parallel's exit status and joblog do not decide that (its --return
# does not fail a job, and it cannot read back a joblog whose host lines
# hold spaces, as `ssh -i key user@host` does).
# Host failures: a host that does not answer at the start is left out with
# a warning (all of them: exit 5). A failed run is tried again up to RETRIES
# times, on another host where there is one (GNU parallel's --retries), so
# a host that dies mid-way costs only its runs in progress. A run that
# finished but whose results did not come back is run once more on the
# hosts that still answer (when RETRIES > 0).
#
# What it does not do: install anything on the hosts (they need the build
# packages: pipelines/deps.sh build), or balance load beyond GNU parallel's
# job slots.
#
# MODE=aggregate: only the summary of what is there (after a Slurm array);
# runs without results are named and the exit status is 1.
#
# Environment (set by pipelines/experiment.mk): MAKE OBJS SEEDS JOBS HOSTS
# RETRIES MODELS RESULTS OBJDIR TRACE BIN REMOTE_DIR FIT_ARGS PPO_ARGS
# BASELINES PPO_SELECT (checkpoint selection too: here only, not over HOSTS)
set -eu

die() { echo "experiments: $*" >&2; exit "${code:-2}"; }

: "${MAKE:=make}" "${OBJS:=delay}" "${SEEDS:=1}" "${MODELS:=models}"
: "${RESULTS:=results}" "${OBJDIR:=pipelines/objectives}" "${BIN:=build/bin}"
: "${REMOTE_DIR:=meshrl-remote}" "${HOSTS:=}" "${TRACE:=}" "${RETRIES:=2}"
: "${FIT_ARGS:=}" "${PPO_ARGS:=}" "${BASELINES:=optimal,noop,hpa50,hpa80,random}"
: "${PPO_SELECT:=}"
export PPO_SELECT # make experiment reads it from the environment
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 1)}
MODE=${MODE:-run} # aggregate: only the summary of finished runs

[ -n "$OBJS" ] || die "OBJS is empty"
[ -n "$SEEDS" ] || die "SEEDS is empty"
# Every objective and seed is checked before anything runs or is written.
for o in $OBJS; do
	if [ ! -f "$OBJDIR/$o.obj" ]; then
		known=$(cd "$OBJDIR" 2>/dev/null && ls *.obj 2>/dev/null | sed 's/\.obj$//' | tr '\n' ' ')
		die "unknown objective '$o': no $OBJDIR/$o.obj (known: ${known:-none})"
	fi
done
for s in $SEEDS; do
	case $s in *[!0-9]*|'') die "seed '$s' is not a non-negative integer" ;; esac
done
case $RETRIES in *[!0-9]*|'') die "RETRIES '$RETRIES' is not a non-negative integer" ;; esac
case $PPO_SELECT in
''|0|1) ;;
*) die "PPO_SELECT '$PPO_SELECT': 1 or empty" ;;
esac
# remote-run.sh takes a fixed list of arguments, without it
[ -z "$HOSTS" ] || [ "$PPO_SELECT" != 1 ] ||
	die "PPO_SELECT=1 runs here only (not over HOSTS)"
if [ -n "$TRACE" ] && [ ! -f "$TRACE" ]; then
	die "trace '$TRACE' not found"
fi

# The joblog (and the remote stage) depends on what is being run: resuming
# another set of runs from it would skip the wrong ones (GNU parallel
# matches by job number).
key=$(printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s' "$OBJS" "$SEEDS" "$HOSTS" \
	"$MODELS" "$RESULTS" "$TRACE" "$FIT_ARGS" "$PPO_ARGS" "$BASELINES" \
	"$PPO_SELECT" |
	cksum | cut -d' ' -f1)
joblog="$RESULTS/.experiments-$key.joblog"

# ------------------------------------------------------------------------
# Hosts: one that does not answer is left out (GNU parallel's own
# --filter-hosts says nothing about which and why).
host_lines() { # the host lines of FILE, without comments and blank lines
	sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$1" |
		grep -v '^$' || true
}

check_host() { # check_host SSHLOGIN: 0 when it answers, else a warning
	login=$1
	[ "$login" = ":" ] && return 0
	set -f
	case $login in
	ssh\ *|/*) set -- $login ;;
	*) set -- ssh $login ;;
	esac
	set +f
	cmd=$1; shift
	if ! out=$("$cmd" -o BatchMode=yes -o ConnectTimeout=10 "$@" true 2>&1 </dev/null); then
		echo "experiments: host '$login' is unreachable, left out: $(echo "$out" | tail -n 1)" >&2
		return 1
	fi
}

hosts_up() { # the lines of $HOSTS whose host answers (as they are: "N/login")
	host_lines "$HOSTS" | while IFS= read -r line; do
		if check_host "$(echo "$line" | sed 's,^[0-9][0-9]*/,,')"; then
			echo "$line"
		fi
	done
}

if [ -n "$HOSTS" ] && [ "$MODE" != aggregate ]; then
	[ -f "$HOSTS" ] || die "HOSTS file '$HOSTS' not found"
	[ -n "$(host_lines "$HOSTS")" ] || die "HOSTS file '$HOSTS' names no host"
	up=$(hosts_up)
	[ -n "$up" ] || code=5 die "no host in '$HOSTS' answers"
fi

# ------------------------------------------------------------------------
# Remote runs. The stage ($RESULTS/.remote-KEY) holds what goes over (in/),
# what comes back (out/), done/OBJ.SEED for each run whose results are in
# place, and why/OBJ.SEED for each that failed in this invocation.

pending() { # the runs not done yet, "OBJ SEED" a line
	for o in $OBJS; do for s in $SEEDS; do
		[ -f "$stage/done/$o.$s" ] || echo "$o $s"
	done; done
}

# collect RUNS [JOBLOG]: each run of the file RUNS whose two folders came
# back whole is moved into place and recorded as done; the others' staged
# folders are dropped (a partial fetch must not mix with the next one).
# With JOBLOG (GNU parallel's, job N = line N of RUNS), why/ says what
# happened to each run not done.
collect() {
	n=0
	while read -r o s; do
		n=$((n + 1))
		if verified "$o" "$s"; then
			for kind in results models; do
				dst=$RESULTS/$o/seed-$s
				[ $kind = models ] && dst=$MODELS/$o/seed-$s
				mkdir -p "${dst%/*}"
				rm -rf "$dst.new"
				cp -R "$stage/out/$kind/$o/seed-$s" "$dst.new"
				rm -f "$dst.new/.complete"
				rm -rf "$dst"
				mv "$dst.new" "$dst"
			done
			touch "$stage/done/$o.$s"
			rm -f "$stage/why/$o.$s"
		elif [ -n "${2:-}" ]; then
			awk -F'\t' -v n="$n" 'NR > 1 && $1 == n {
				if ($7 == 0)
					print "finished on " $2 ", but its results did not come back"
				else
					print "exit " $7 " on " $2 }' "$2" >"$stage/why/$o.$s"
			[ -s "$stage/why/$o.$s" ] || rm -f "$stage/why/$o.$s"
		fi
		rm -rf "$stage/out/results/$o/seed-$s" "$stage/out/models/$o/seed-$s"
	done <"$1"
}

verified() { # verified OBJ SEED: both folders of the run are back whole
	for kind in results models; do
		sh pipelines/remote-run.sh --verify \
			"$stage/out/$kind/$1/seed-$2" "$token" </dev/null || return 1
	done
}

# remote_pass: one GNU parallel over the runs in $stage/runs, on the hosts
# in $stage/hosts; its joblog is $stage/pass.joblog, kept in $joblog too.
remote_pass() {
	rm -f "$stage/pass.joblog"
	(
		cd "$stage"
		set -- --basefile in/src.tgz --basefile in/pipelines/remote-run.sh
		[ -n "$trace_arg" ] && set -- "$@" --basefile "$trace_arg"
		MESHRL_RUN_TOKEN=$token parallel --will-cite --sshloginfile hosts \
			--env MESHRL_RUN_TOKEN --workdir "$REMOTE_DIR" "$@" \
			--retries $((RETRIES + 1)) \
			--return "out/results/{1}/seed-{2}" \
			--return "out/models/{1}/seed-{2}" \
			--joblog pass.joblog --halt never --tag -q \
			--colsep ' ' -a runs \
			sh in/pipelines/remote-run.sh {1} {2} "$trace_arg" \
			"$FIT_ARGS" "$PPO_ARGS" "$BASELINES"
	) || true
	[ -f "$stage/pass.joblog" ] || return 0
	if [ -f "$joblog" ]; then
		tail -n +2 "$stage/pass.joblog" >>"$joblog"
	else
		cp "$stage/pass.joblog" "$joblog"
	fi
}

# ------------------------------------------------------------------------
# The runs.
mkdir -p "$RESULTS"
status=0
if [ "$MODE" = aggregate ]; then
	:
elif [ -z "$HOSTS" ]; then
	parallel --will-cite -j "$JOBS" --joblog "$joblog" --resume-failed \
		--halt never --tag \
		"$MAKE" --no-print-directory -s experiment OBJ={1} SEED={2} \
		::: $OBJS ::: $SEEDS || status=$?
else
	stage="$RESULTS/.remote-$key"
	mkdir -p "$stage/in/pipelines" "$stage/done" "$stage/why"
	root=$(pwd)
	# The source, as the user has it now (committed or not, not ignored).
	if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$root" ls-files -z -co --exclude-standard |
			tar -C "$root" --null -T - -czf "$stage/in/src.tgz.tmp"
	else
		set --
		for f in Makefile tools pipelines tests traces; do
			[ -e "$root/$f" ] && set -- "$@" "$f"
		done
		tar -C "$root" -czf "$stage/in/src.tgz.tmp" "$@"
	fi
	mv "$stage/in/src.tgz.tmp" "$stage/in/src.tgz"
	cp pipelines/remote-run.sh "$stage/in/pipelines/remote-run.sh"
	trace_arg=""
	if [ -n "$TRACE" ]; then
		cp "$TRACE" "$stage/in/trace.csv"
		trace_arg="in/trace.csv"
	fi
	# The marker a run's folders must carry: this stage's settings, source
	# and trace (a result with all three the same is the same result).
	token=$key.$(cat "$stage/in/src.tgz" ${trace_arg:+"$stage/$trace_arg"} |
		cksum | cut -d' ' -f1)
	rm -f "$stage"/why/*
	# Runs that came back before an interruption count; then the rest.
	pending >"$stage/runs"
	collect "$stage/runs"
	pending >"$stage/runs"
	if [ -s "$stage/runs" ]; then
		printf '%s\n' "$up" >"$stage/hosts"
		remote_pass
		collect "$stage/runs" "$stage/pass.joblog"
	fi
	# Finished, but the results did not come back (the host died before
	# GNU parallel fetched them): once more on the hosts that still answer.
	grep -l '^finished' "$stage"/why/* 2>/dev/null |
		sed 's,.*/,,; s/\.\([0-9]*\)$/ \1/' >"$stage/runs" || true
	if [ -s "$stage/runs" ] && [ "$RETRIES" -gt 0 ] && up=$(hosts_up) &&
	   [ -n "$up" ]; then
		echo "experiments: results lost in transit, running again:" \
			"$(awk '{ printf "%s%s seed %s", (NR > 1 ? ", " : ""), $1, $2 }' \
			"$stage/runs")" >&2
		printf '%s\n' "$up" >"$stage/hosts"
		remote_pass
		collect "$stage/runs" "$stage/pass.joblog"
	fi
	pending >"$stage/runs"
	if [ -s "$stage/runs" ]; then
		echo "experiments: some runs are not done (joblog $joblog;" \
			"rerun the same command to resume):" >&2
		while read -r o s; do
			printf '  %s seed %s: %s\n' "$o" "$s" \
				"$(cat "$stage/why/$o.$s" 2>/dev/null || echo 'did not run')"
		done <"$stage/runs" >&2
		exit 1
	fi
fi

if [ "$status" -ne 0 ]; then
	echo "experiments: some runs failed (joblog $joblog; rerun the same command to resume):" >&2
	# the last attempt of each run decides (the joblog keeps them all)
	awk -F'\t' 'NR > 1 { last[$9] = $7 } END { for (c in last) if (last[c] != 0) print "  exit " last[c] ": " c }' \
		"$joblog" | sort >&2
	exit 1
fi

# ------------------------------------------------------------------------
# Aggregate across seeds: every run with results. A run without them (its
# objective's trace absent, or a Slurm task that failed) is named, and the
# exit status says the summary is partial.
set --
missing=""
for o in $OBJS; do for s in $SEEDS; do
	found=""
	for f in "$RESULTS/$o/seed-$s"/eval-*/summary.csv; do
		[ -f "$f" ] && set -- "$@" "$f" && found=1
	done
	[ -n "$found" ] || missing="$missing, $o seed $s"
done; done
# Every run ran: the joblog is kept for inspection (which runs ran in which
# attempt) and a new fan-out starts afresh.
if [ "$MODE" != aggregate ]; then
	[ -f "$joblog" ] && mv "$joblog" "$RESULTS/.experiments-last.joblog"
	[ -z "$HOSTS" ] || rm -rf "$RESULTS/.remote-$key"
fi
if [ $# -gt 0 ]; then
	"$BIN/policy-eval" aggregate -q -o "$RESULTS/summary.csv" "$@"
else
	rm -f "$RESULTS/summary.csv"
fi
if [ -n "$missing" ]; then
	echo "experiments: no results (no $RESULTS/OBJ/seed-S/eval-*/summary.csv)" \
		"for: ${missing#, }" >&2
	if [ $# -gt 0 ]; then
		echo "experiments: $RESULTS/summary.csv has the other runs only" >&2
	else
		echo "experiments: no run has results, no summary.csv" >&2
	fi
	exit 1
fi
echo "experiments: $RESULTS/summary.csv ($(($(wc -l <"$RESULTS/summary.csv") - 1)) rows)" >&2
