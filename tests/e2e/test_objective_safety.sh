#!/bin/sh
# test_objective_safety.sh - objective files are data (issue 15).
#
# 1. Shell code in a value never runs: every key of every section of an
#    objective (the shipped delay.obj with [const], [vars], [optimal] and
#    [pipeline] added) gets $(touch F), `touch F` and ;touch F appended in
#    turn, and each variant goes through `make experiment` (rf-fit,
#    sim-env, ppo-train, policy-eval, gnuplot): it must fail naming the
#    objective file (file:line for the parser and sim-env describe) or run
#    to the end, and F must never exist.
# 2. Limits of the expression reader, through sim-env, ppo-train and
#    policy-eval: 30,000 nested '(' and 100,000 unary '-' are refused with
#    file:line (they overflowed the C stack); log(0) as a delay and 1/0 are
#    errors naming the expression's file:line (log(0) counted as a met
#    bound); an episode of 0 steps is refused at parse time (it wrote -nan
#    with exit 0); 300,000 [vars] or [ppo] lines take linear time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"

# ------------------------------------------------------------------------
# 1. Injection
F=$TMP/pwned
mkdir -p "$TMP/objs"
cp "$MESHRL_ROOT/pipelines/objectives/delay.load" "$TMP/objs/"
{
	cat "$MESHRL_ROOT/pipelines/objectives/delay.obj"
	printf '[const]\nk = 1\n[vars]\nv = k * c\n[optimal]\ngamma = 0\n'
	printf '[pipeline]\ntrace_absent = not shipped\n'
} >"$TMP/objs/base.obj"
# the key lines (not comments, not headers), by line number
keys=$(awk '{ sub(/#.*/, "") } /^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=/ { print NR }' "$TMP/objs/base.obj")
nkeys=$(echo $keys | wc -w)
[ "$nkeys" -ge 35 ] && ok "the objective under test has $nkeys keys" ||
	notok "only $nkeys keys found"

n=0 refused=0 ran=0 bad=0
for line in $keys; do
	for kind in dollar backtick semicolon; do
		case $kind in
		dollar) payload="\$(touch $F)" ;;
		backtick) payload="\`touch $F\`" ;;
		semicolon) payload=";touch $F" ;;
		esac
		n=$((n + 1))
		name=v$line$kind
		awk -v l="$line" -v p="$payload" \
			'NR == l { sub(/[ \t]*#.*/, ""); $0 = $0 p } { print }' \
			"$TMP/objs/base.obj" >"$TMP/objs/$name.obj"
		PPO="--timesteps 1024" mk experiment OBJ=$name OBJDIR="$TMP/objs" \
			EVAL_EPISODES=1 BASELINES=noop FIT_ARGS="--trees 5" \
			>"$TMP/$name.out" 2>&1
		rc=$?
		if [ -e "$F" ]; then
			bad=$((bad + 1))
			notok "$name: line $line with $kind ran the payload"
			rm -f "$F"
		elif [ $rc -eq 0 ]; then
			ran=$((ran + 1))
			ran_keys="${ran_keys:-} $(sed -n "${line}s/ *=.*//p" "$TMP/objs/base.obj")"
		elif grep -q "$name\.obj" "$TMP/$name.out"; then
			refused=$((refused + 1))
		else
			bad=$((bad + 1))
			notok "$name: line $line with $kind failed without naming the objective:"
			tail -n 5 "$TMP/$name.out" | sed 's/^/    # /'
		fi
	done
done
[ $bad -eq 0 ] && ok "$n variants through make experiment: $refused refused naming the objective, $ran ran to the end (${ran_keys# }), no payload ran" ||
	notok "$bad of $n variants ran a payload or failed without naming the objective"
# the parser and describe refuse with file:line (the first check the
# pipeline makes, its message shown)
l=$(grep -n '^fit_args' "$TMP/objs/base.obj" | cut -d: -f1)
expect_fail "make experiment: fit_args with \$(...) refused at its line" 2 \
	"v${l}dollar\.obj:$l: \[model\] fit_args: '\\$'" \
	mk experiment OBJ=v${l}dollar OBJDIR="$TMP/objs"
expect_fail "sim-env describe: fit_args with ;touch refused at its line" 3 \
	"v${l}semicolon\.obj:$l: \[model\] fit_args: ';'" \
	sim-env describe "$TMP/objs/v${l}semicolon.obj" --model-args
l=$(grep -n '^trace =' "$TMP/objs/base.obj" | cut -d: -f1)
expect_fail "sim-env describe: a trace path with a backtick refused at its line" 3 \
	"v${l}backtick\.obj:$l: \[model\] trace: '\`'" \
	sim-env describe "$TMP/objs/v${l}backtick.obj" --get trace
l=$(grep -n '^unseen' "$TMP/objs/base.obj" | cut -d: -f1)
expect_fail "sim-env describe: [eval] unseen with \$(...) refused at its line" 3 \
	"v${l}dollar\.obj:$l: \[eval\] unseen: '\\$'" \
	sim-env describe "$TMP/objs/v${l}dollar.obj" --get eval.unseen
[ "$(sim-env describe "$TMP/objs/base.obj" --get pipeline.trace_absent)" = "not shipped" ] &&
	ok "describe --get: a plain text value still passes" || notok "describe --get pipeline.trace_absent"
expect_fail "objective name: only letters, digits, _ and -" 3 "x\.obj:1: bad name" \
	sh -c "printf 'name = a-\$(touch $F)\n' >'$TMP/x.obj'; sim-env describe '$TMP/x.obj'"
[ -e "$F" ] && notok "a payload ran in the checks above" || ok "no payload ran in the checks above"

# ------------------------------------------------------------------------
# 2. Limits, through sim-env, ppo-train and policy-eval
toy_objective "$TMP/toy.obj" toy 9 3
# variant NAME LINE [TEXT]: toy.obj with line LINE replaced by TEXT (or
# by the lines of $TMP/line: some are too long for an argument)
variant() {
	[ $# -ge 3 ] && printf '%s\n' "$3" >"$TMP/line"
	awk -v l="$2" -v f="$TMP/line" \
		'NR == l { while ((getline t < f) > 0) print t; next } { print }' \
		"$TMP/toy.obj" >"$TMP/$1.obj"
}
# nest N OPEN INNER CLOSE: "cost = " and N x OPEN, INNER, N x CLOSE in $TMP/line
nest() {
	awk -v n="$1" -v o="$2" -v x="$3" -v c="$4" 'BEGIN { printf "cost = "
		for (i = 0; i < n; i++) printf "%s", o; printf "%s", x
		for (i = 0; i < n; i++) printf "%s", c; print "" }' >"$TMP/line"
}
# refused NAME CODE PATTERN: every tool refuses $TMP/NAME.obj with CODE
refused() {
	mkdir -p "$TMP/ev"
	expect_fail "sim-env optimal: $1" "$2" "$3" \
		sim-env optimal -q "$TMP/$1.obj" -o "$TMP/o.csv" --summary "$TMP/s.csv"
	expect_fail "ppo-train: $1" "$2" "$3" \
		ppo-train -q "$TMP/$1.obj" -o "$TMP/p.msgpack" --timesteps 2048
	expect_fail "policy-eval sim: $1" "$2" "$3" \
		policy-eval sim -q --baselines noop -o "$TMP/ev" "$TMP/$1.obj"
}
check "the toy objective runs" sim-env optimal -q "$TMP/toy.obj" -o "$TMP/o.csv"

nest 30000 "(" p ")"; variant paren 22
refused paren 3 "paren\.obj:22: 'cost': expression nested too deeply \(more than 100 levels\)"
nest 100000 - p ""; variant neg 22
refused neg 3 "neg\.obj:22: 'cost': expression nested too deeply"
nest 30000 "abs(min(1," p "))"; variant call 22
refused call 3 "call\.obj:22: 'cost': expression (nested too deeply|too deeply nested)"
nest 30000 "p^" p ""; variant pow 22
refused pow 3 "pow\.obj:22: 'cost': expression (nested too deeply|too deeply nested)"
nest 30000 "p > 1 ? " p " : 0"; variant cond 22
refused cond 3 "cond\.obj:22: 'cost': expression (nested too deeply|too deeply nested)"
# just under the limit: still an expression
nest 98 "(" "p / 100" ")"; variant deep98 22
check "98 nested parentheses still compile and run" sim-env optimal -q "$TMP/deep98.obj" -o "$TMP/o.csv"
variant long 22 "cost = p$(awk 'BEGIN { for (i = 0; i < 5000; i++) printf " + p" }')"
refused long 3 "long\.obj:22: 'cost': expression too long \(more than 4096 operations\)"

variant log0 19 "delay1 = log(d1 * 0)"
refused log0 3 "log0\.obj:19: \[reward\] delay1 = log\(d1 \* 0\) gives -inf, not a finite number, at load1 = 5, p = 0"
expect_fail "sim-env run: log(0) as a delay is an error, not a met bound" 3 "log0\.obj:19: " \
	sim-env run "$TMP/log0.obj" --actions fixed:p=3 --steps 5 -o "$TMP/run.csv"
variant logt 16 "d1 = log(0 * x)"
refused logt 3 "logt\.obj:16: \[targets\] d1 = log\(0 \* x\) gives -inf"
variant div0 22 "cost = 1/0"
refused div0 3 "div0\.obj:22: 'cost': gives inf, not a finite number, in every state"
variant divp 22 "cost = 1/(p - p)"
refused divp 3 "divp\.obj:22: \[reward\] cost = 1/\(p - p\) gives inf"
variant guard 22 "cost = p > 0 ? 1/p : 0"
check "a guarded division (p > 0 ? 1/p : 0) is fine" sim-env optimal -q "$TMP/guard.obj" -o "$TMP/o.csv"
# at run time, in a state the grid does not hold: a sin load
variant sin 5 "pattern = sin"
sed -i 's/^value = 5$/mean = 5\namplitude = 3\nperiod = 20/; s/^delay1 = d1$/delay1 = load1 > 7 ? log(d1 * 0) : d1/' "$TMP/sin.obj"
refused sin 3 "sin\.obj:21: \[reward\] delay1 = load1 > 7 \? log\(d1 \* 0\) : d1 gives -inf, not a finite number, at load1 = 7\."
[ -z "$(ls "$TMP/ev")" ] && ok "policy-eval left no output behind" || notok "policy-eval wrote $(ls "$TMP/ev")"

variant ep0 3 "episode_length = 0"
refused ep0 3 "ep0\.obj:3: 'episode_length' is 0 .* this load pattern has none"
variant noep 3 "# no episode_length"
refused noep 3 "noep\.obj:4: this load pattern has no length of its own"
[ ! -e "$TMP/s.csv" ] && ok "no summary written for an episode of 0 steps" ||
	notok "summary: $(cat "$TMP/s.csv")"

# size: 300,000 lines take linear time (they took minutes)
to=20
[ -n "${MESHRL_ASAN:-}" ] && to=120
{ cat "$TMP/toy.obj"; echo "[vars]"; awk 'BEGIN { for (i = 0; i < 300000; i++) printf "v%d = p + %d\n", i, i }'; } >"$TMP/vars.obj"
expect_fail "300,000 [vars] lines: refused at the 257th name, within ${to}s" 3 "vars\.obj:277: more than 256 names" \
	timeout $to sim-env describe "$TMP/vars.obj"
{ cat "$TMP/toy.obj"; echo "[vars]"; awk 'BEGIN { for (i = 0; i < 300000; i++) print "v = p" }'; } >"$TMP/same.obj"
expect_fail "300,000 [vars] lines of one key: refused within ${to}s" 3 "same\.obj:25: 'v' is set twice in this section \(first at line 24\)" \
	timeout $to ppo-train "$TMP/same.obj" -o "$TMP/p.msgpack"
{ cat "$TMP/toy.obj"; echo "[ppo]"; awk 'BEGIN { for (i = 0; i < 300000; i++) printf "k%d = %d\n", i, i }'; } >"$TMP/ppo.obj"
out=$(timeout $to sim-env describe "$TMP/ppo.obj" --get ppo.k299999)
[ "$out" = 299999 ] && ok "300,000 [ppo] keys parse within ${to}s" || notok "300,000 [ppo] keys: '$out'"
