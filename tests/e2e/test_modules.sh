#!/bin/sh
# test_modules.sh - the walls between folders hold.
#
# For every unit (a folder under tools/) and every header of every other
# unit, compiles a one-line probe `#include "H"` with the unit's own
# include flags (`make modules`) and checks that it compiles exactly when H
# is the unit's own header or a public header (include/) of a module the
# unit uses. Then checks that no header includes itself through others
# (no include cycles) and that the Makefile refuses a unit that uses one
# above it.
. "$(dirname "$0")/lib.sh"
cd "$MESHRL_ROOT" || exit 1
CC=${CC:-cc}

make -s --no-print-directory modules >"$TMP/units" 2>"$TMP/units.err" ||
	{ notok "make modules (exit $?): $(head -c 300 "$TMP/units.err")"; exit 1; }
check "make modules lists every tool folder" \
	sh -c "for d in tools/*/; do u=\${d#tools/}; u=\${u%/}; [ \"\$u\" = lib ] && continue; \
		grep -q \"^\$u|\" '$TMP/units' || exit 1; done"

headers=$(ls tools/*/*.h tools/*/include/*.h 2>/dev/null | grep -v '^tools/lib/')
bad=0 probes=0
while IFS='|' read -r unit uses flags; do
	for h in $headers; do
		name=${h##*/}
		owner=${h#tools/}; owner=${owner%%/*}
		want=no
		if [ "$owner" = "$unit" ]; then
			want=yes
		else
			case $h in
			tools/*/include/*)
				for m in $uses; do
					[ "$m" = "$owner" ] && want=yes
				done ;;
			esac
		fi
		printf '#include "%s"\n' "$name" >"$TMP/probe.c"
		# word splitting of $flags is wanted: it is a list of -I options
		# shellcheck disable=SC2086
		if $CC -std=c11 -D_GNU_SOURCE $flags -fsyntax-only "$TMP/probe.c" \
			>/dev/null 2>&1; then got=yes; else got=no; fi
		probes=$((probes + 1))
		if [ "$got" != "$want" ]; then
			bad=$((bad + 1))
			echo "    # $unit includes $h: compiles=$got, allowed=$want"
		fi
	done
done <"$TMP/units"
if [ "$bad" -eq 0 ] && [ "$probes" -gt 50 ]; then
	ok "every unit reaches exactly its own and its modules' public headers ($probes probes)"
else
	notok "include walls: $bad of $probes probes wrong"
fi

# Include cycles among the project's headers and sources.
/usr/bin/python3 - "$MESHRL_ROOT" >"$TMP/cycles" 2>&1 <<'EOF'
import glob, os, re, sys
root = sys.argv[1]
files = glob.glob(root + '/tools/**/*.[ch]', recursive=True)
byname = {}
for f in files:
    if f.endswith('.h'):
        byname.setdefault(os.path.basename(f), []).append(f)
dup = [n for n, v in byname.items() if len(v) > 1]
if dup:
    print('header names used twice:', ' '.join(sorted(dup)))
    sys.exit(1)
inc = {}
for f in files:
    with open(f) as fh:
        names = re.findall(r'^\s*#\s*include\s+"([^"]+)"', fh.read(), re.M)
    inc[os.path.basename(f)] = [n for n in names if n in byname]
state = {}
def visit(n, path):
    state[n] = 1
    for m in inc.get(n, []):
        if state.get(m) == 1:
            print('cycle:', ' -> '.join(path + [n, m]))
            sys.exit(1)
        if m not in state:
            visit(m, path + [n])
    state[n] = 2
for n in sorted(inc):
    if n not in state:
        visit(n, [])
print('no cycles among', len(inc), 'files')
EOF
if [ $? -eq 0 ]; then ok "$(cat "$TMP/cycles")"; else
	notok "include graph: $(cat "$TMP/cycles")"; fi

# The Makefile refuses a use that points up the pipeline.
expect_fail "make refuses a module that uses one above it" 2 \
	"rf-fit uses sim-env, which is not below it" \
	make -s --no-print-directory modules USES_rf-fit=sim-env

# Module code returns errors; only tools exit. In tools/lib (but for
# err.c and args.c, which define the exit helpers tools call) and in every
# file a module exports into its library, nothing calls exit, mr_die,
# mr_fatal, mr_usage_error or the mr_arg_* option parsers (which exit on a
# bad option). Running out of memory in the mr_x* allocators is the one
# exception (README); _exit in a forked child that could not exec ends the
# child, not the caller.
modules=$(cut -d'|' -f2 "$TMP/units" | tr ' ' '\n' | sort -u | grep .)
files=$(ls tools/lib/*.c | grep -v -e '/err\.c$' -e '/args\.c$')
for m in $modules; do
	files="$files $(ls tools/"$m"/*.c | grep -v '/main\.c$')"
done
# shellcheck disable=SC2086
grep -nE '\b(exit|abort|mr_die|mr_fatal|mr_usage_error|mr_arg_(double|int|u64))\s*\(' \
	$files >"$TMP/exits" 2>/dev/null
if [ -s "$TMP/exits" ]; then
	notok "module code that exits: $(head -n 5 "$TMP/exits" | tr '\n' ' ')"
else
	ok "no module code exits the process ($(echo $files | wc -w) files of $(echo $modules | wc -w) modules and the core)"
fi
