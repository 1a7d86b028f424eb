#!/bin/sh
# experiments.sh - the fan-out behind `make experiments`: one
# `make experiment OBJ=o SEED=s` per objective x seed, run by GNU parallel
# on this machine (JOBS at a time, default: the number of cores) or over ssh
# hosts (HOSTS=FILE, GNU parallel's --sshloginfile format), then the
# aggregation across seeds into $RESULTS/summary.csv.
#
# Resumable: a joblog keyed by the set of runs records finished runs; after
# an interruption the same command skips them (--resume-failed) and reruns
# the rest. The joblog is removed once everything succeeded, so the next
# invocation starts afresh (and make's own dependencies make finished runs
# no-ops anyway).
#
# Remote runs: the source tree (tracked and untracked-but-not-ignored files)
# goes over as one tarball with pipelines/remote-run.sh (--basefile); each
# host extracts and builds it once, runs the same make target, and the run's
# results/ and models/ folders come back (--return) into a staging folder.
# They are moved into $RESULTS and $MODELS only when the run succeeded.
#
# What it does not do: install anything on the hosts (they need the build
# packages: pipelines/deps.sh build), or balance load beyond GNU parallel's
# job slots.
#
# Environment (set by pipelines/experiment.mk): MAKE OBJS SEEDS JOBS HOSTS
# MODELS RESULTS OBJDIR TRACE BIN REMOTE_DIR FIT_ARGS PPO_ARGS BASELINES
# PPO_SELECT (checkpoint selection too: here only, not over HOSTS)
set -eu

die() { echo "experiments: $*" >&2; exit "${code:-2}"; }

: "${MAKE:=make}" "${OBJS:=delay}" "${SEEDS:=1}" "${MODELS:=models}"
: "${RESULTS:=results}" "${OBJDIR:=pipelines/objectives}" "${BIN:=build/bin}"
: "${REMOTE_DIR:=meshrl-remote}" "${HOSTS:=}" "${TRACE:=}"
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

# The joblog depends on what is being run: resuming another set of runs
# from it would skip the wrong ones (GNU parallel matches by job number).
key=$(printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s' "$OBJS" "$SEEDS" "$HOSTS" \
	"$MODELS" "$RESULTS" "$TRACE" "$FIT_ARGS" "$PPO_ARGS" "$BASELINES" \
	"$PPO_SELECT" |
	cksum | cut -d' ' -f1)
joblog="$RESULTS/.experiments-$key.joblog"

# ------------------------------------------------------------------------
# Hosts: every one must answer before any work starts.
sshlogins() { # prints one sshlogin per line, without "N/" and comments
	sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' \
	    -e 's,^[0-9][0-9]*/,,' "$1" | grep -v '^$' || true
}

check_host() { # check_host SSHLOGIN
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
		code=5 die "host '$login' is unreachable: $(echo "$out" | tail -n 1)"
	fi
}

if [ -n "$HOSTS" ]; then
	[ -f "$HOSTS" ] || die "HOSTS file '$HOSTS' not found"
	logins=$(sshlogins "$HOSTS")
	[ -n "$logins" ] || die "HOSTS file '$HOSTS' names no host"
	# a here-document, not a pipe: die must end this shell
	while IFS= read -r login; do
		check_host "$login"
	done <<EOF
$logins
EOF
fi

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
	mkdir -p "$stage/in/pipelines"
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
	hosts_abs=$(cd "$(dirname "$HOSTS")" && pwd)/$(basename "$HOSTS")
	joblog_abs=$(cd "$(dirname "$joblog")" && pwd)/$(basename "$joblog")
	(
		cd "$stage"
		set -- --basefile in/src.tgz --basefile in/pipelines/remote-run.sh
		[ -n "$trace_arg" ] && set -- "$@" --basefile "$trace_arg"
		parallel --will-cite --sshloginfile "$hosts_abs" \
			--workdir "$REMOTE_DIR" "$@" \
			--return "out/results/{1}/seed-{2}" \
			--return "out/models/{1}/seed-{2}" \
			--joblog "$joblog_abs" --resume-failed --halt never --tag -q \
			sh in/pipelines/remote-run.sh {1} {2} "$trace_arg" \
			"$FIT_ARGS" "$PPO_ARGS" "$BASELINES" \
			::: $OBJS ::: $SEEDS
	) || status=$?
	# Move back what succeeded (also runs finished before an interruption).
	for o in $OBJS; do for s in $SEEDS; do
		ok=$(awk -F'\t' -v o="$o" -v s="$s" \
			'NR > 1 && $7 == 0 && $9 ~ ("remote-run.sh " o " " s "( |$)") { print 1 }' \
			"$joblog" | head -n 1)
		[ "$ok" = 1 ] || continue
		for kind in results models; do
			src="$stage/out/$kind/$o/seed-$s"
			[ -d "$src" ] || continue
			dst_root=$RESULTS; [ $kind = models ] && dst_root=$MODELS
			mkdir -p "$dst_root/$o"
			rm -rf "$dst_root/$o/seed-$s.new"
			cp -R "$src" "$dst_root/$o/seed-$s.new"
			rm -rf "$dst_root/$o/seed-$s"
			mv "$dst_root/$o/seed-$s.new" "$dst_root/$o/seed-$s"
		done
	done; done
fi

if [ "$status" -ne 0 ]; then
	echo "experiments: some runs failed (joblog $joblog; rerun the same command to resume):" >&2
	# the last attempt of each run decides (the joblog keeps them all)
	awk -F'\t' 'NR > 1 { last[$9] = $7 } END { for (c in last) if (last[c] != 0) print "  exit " last[c] ": " c }' \
		"$joblog" | sort >&2
	exit 1
fi

# ------------------------------------------------------------------------
# Aggregate across seeds.
set --
for o in $OBJS; do for s in $SEEDS; do
	for f in "$RESULTS/$o/seed-$s"/eval-*/summary.csv; do
		[ -f "$f" ] || die "run $o seed $s left no $RESULTS/$o/seed-$s/eval-*/summary.csv"
		set -- "$@" "$f"
	done
done; done
"$BIN/policy-eval" aggregate -q -o "$RESULTS/summary.csv" "$@"
# Kept for inspection (which runs ran in which attempt); a new fan-out
# starts from an empty joblog.
[ -f "$joblog" ] && mv "$joblog" "$RESULTS/.experiments-last.joblog"
[ -z "$HOSTS" ] || rm -rf "$RESULTS/.remote-$key"
echo "experiments: $RESULTS/summary.csv ($(($(wc -l <"$RESULTS/summary.csv") - 1)) rows)" >&2
