#!/bin/sh
# run.sh NAME SECONDS - builds tests/fuzz/fuzz_NAME.c with libFuzzer, ASan and
# UBSan against the library sources, and fuzzes for SECONDS seconds from the
# seed corpus tests/fuzz/seeds/NAME (copied to build/fuzz/corpus/NAME).
# Prints the exec count libFuzzer reports; a crash exits non-zero and leaves
# the reproducer in build/fuzz/.
set -eu
name=$1 secs=${2:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
out=build/fuzz
mkdir -p "$out/corpus/$name"
# Only the modules the target reaches (the Makefile's USES): others may
# use GCC builtins clang does not have (tools/policy).
case $name in
csv) units= ;;
forest) units=rf-fit ;;
objective|protocol) units="rf-fit sim-env" ;;
control) units=meshapi ;;
sidecar) units="meshapi testbed" ;;
http) units="meshapi actuate rf-fit trace-collect" ;;
# the spec reader alone: the rest of policy-eval reaches tools/policy
fault) units="rf-fit sim-env" extra=tools/policy-eval/evalrec.c ;;
*) echo "run.sh: unknown fuzz target '$name' (control, csv, fault, forest, http, objective, protocol, sidecar)" >&2; exit 2 ;;
esac
src="$(ls tools/lib/*.c) ${extra:-}"
incs=" -Itools/lib${extra:+ -I$(dirname "${extra:-.}")}"
for u in $units; do
	src="$src $(ls tools/$u/*.c | grep -v '/main\.c$')"
	incs="$incs -Itools/$u"
	[ -d "tools/$u/include" ] && incs="$incs -Itools/$u/include"
done
clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all $incs -o "$out/fuzz_$name" \
	"tests/fuzz/fuzz_$name.c" $src -lcsv -lmsgpackc -lcurl -lmicrohttpd \
	-lsqlite3 -lm -pthread
[ -d "tests/fuzz/seeds/$name" ] && cp -n tests/fuzz/seeds/"$name"/* "$out/corpus/$name/" 2>/dev/null || true
"$out/fuzz_$name" -max_total_time="$secs" -print_final_stats=1 \
	-artifact_prefix="$out/crash-$name-" -rss_limit_mb=2048 \
	"$out/corpus/$name" 2>"$out/fuzz_$name.log" || {
	tail -n 40 "$out/fuzz_$name.log" >&2; exit 1; }
grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' "$out/fuzz_$name.log" | tail -n 2
