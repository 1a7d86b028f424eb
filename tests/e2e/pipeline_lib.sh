# pipeline_lib.sh - shared by the pipeline tests (sourced after lib.sh):
# a small synthetic compute trace and a `mk` that runs the project's make
# with quick settings, writing only under $TMP.

# gen_trace [drop_column]: the delay objective's columns over the grid
# max_l1 {4,8,12} x p1 {0..100 step 20} x c1 {1..5}, 3 windows each. Node 1
# (c1 cores of 4 req/s) takes p1 % of the load, node 2 (6 req/s) the rest;
# delay is the traffic-weighted 0.1 s / (1 - rho), 20 s when overloaded,
# with a small deterministic wobble.
gen_trace() {
	awk -v drop="${1:-}" 'BEGIN {
		n = split("max_l1,l1,cl1,p1,b1,c1,d1", h, ",")
		line = ""
		for (i = 1; i <= n; i++) if (h[i] != drop) line = line (line == "" ? "" : ",") h[i]
		print line
		k = 0
		for (li = 1; li <= 3; li++) for (p = 0; p <= 100; p += 20)
		for (c = 1; c <= 5; c++) for (w = 0; w < 3; w++) {
			l = 4 * li; f = p / 100
			r1 = l * f / (4 * c); r2 = l * (1 - f) / 6
			d1 = r1 < 1 ? 0.1 / (1 - r1) : 20; d2 = r2 < 1 ? 0.1 / (1 - r2) : 20
			d = f * d1 + (1 - f) * d2; if (d > 20) d = 20
			d = d * (1 + 0.02 * ((k++ % 7) - 3))
			v["max_l1"] = l; v["l1"] = 5 * l; v["cl1"] = 5 * l; v["p1"] = p
			v["b1"] = l; v["c1"] = c; v["d1"] = d
			line = ""
			for (i = 1; i <= n; i++) if (h[i] != drop) line = line (line == "" ? "" : ",") v[h[i]]
			print line
		}
	}'
}

BUILD_DIR=$(dirname "$MESHRL_BIN")
gen_trace >"$TMP/trace.csv"

# mk ARGS...: make in the project root, outputs under $TMP/models and
# $TMP/results unless MODELS/RESULTS are given.
mk() {
	make -C "$MESHRL_ROOT" --no-print-directory BUILD="$BUILD_DIR" \
		MODELS="${M:-$TMP/models}" RESULTS="${R:-$TMP/results}" \
		TRACE="${TR:-$TMP/trace.csv}" FIT_ARGS="--trees 30" \
		PPO_ARGS="${PPO:---timesteps 20000}" "$@"
}

# mtimes DIR: "path mtime" of every file under DIR, sorted.
mtimes() { find "$1" -type f -printf '%p %T@\n' | sort; }
