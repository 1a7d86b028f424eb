# eval.gp - the evaluation time series of a policy beside the baselines:
# offered load; cores (or another setting); response time on a log scale
# against the bound. One PNG, three stacked panels sharing the step axis.
#
#   gnuplot -e "dir='results/delay/eval-seen'; out='eval-seen.png'" \
#           -e "policies='ppo optimal noop hpa50 hpa80'; bound=0.6" \
#           [-e "mid='cores'; title='delay, seen pattern'"] \
#           pipelines/eval.gp
#
# Reads dir/steps-<policy>.csv (policy-eval's per-step CSV: step, load,
# one column per action component, cores, d1.., carried, cost, reward,
# bound_met). mid is the middle panel's column (cores, or carried when the
# objective sets no cores).
# bound may be NaN (no line). The caller makes the output atomic.
if (!exists("dir") || !exists("out") || !exists("policies")) {
	print "eval.gp: set dir, out and policies with -e"; exit status 2
}
if (!exists("bound")) bound = NaN
if (!exists("mid")) mid = "cores"
if (!exists("midlabel")) midlabel = mid eq "cores" ? "cores" : mid eq "carried" ? "carried load (req/s)" : mid eq "cost" ? "cost (objective's units)" : mid
if (!exists("title")) title = ""
if (!exists("dcol")) dcol = "d1"

f(p) = sprintf("%s/steps-%s.csv", dir, p)
n = words(policies)
# The policy in thick blue, the optimum dashed red, baselines in muted hues.
color(p) = p eq "ppo" ? "#1f77b4" : p eq "optimal" ? "#d62728" : \
           p eq "noop" ? "#7f7f7f" : p eq "hpa50" ? "#2ca02c" : \
           p eq "hpa80" ? "#9467bd" : p eq "random" ? "#ff7f0e" : "#8c564b"
width(p) = p eq "ppo" ? 2.5 : 1.5
dash(p) = p eq "optimal" ? 2 : 1

set terminal pngcairo size 1100,900 font "DejaVu Sans,11" noenhanced
set output out
set datafile separator comma
set datafile columnheaders
set grid lc rgb "#dddddd"
set lmargin 12
set rmargin 16
set multiplot layout 3,1 title title

set key outside right top
set ylabel "offered load (req/s)"
set format x ""
unset xlabel
plot f(word(policies, 1)) using "step":"load" with steps lw 2 lc rgb "black" title "load"

set ylabel midlabel
set autoscale y
if (mid eq "cores") { set ytics 1 } else { set ytics autofreq }
set offsets 0, 0, 0.3, 0.3
plot for [i=1:n] f(word(policies, i)) using "step":mid with steps \
	lw width(word(policies, i)) dt dash(word(policies, i)) \
	lc rgb color(word(policies, i)) title word(policies, i)

set offsets 0, 0, 0, 0
set ytics autofreq
set logscale y
set ylabel "response time (s)"
set xlabel "control period (step)"
set format x "%g"
if (bound == bound) {
	plot for [i=1:n] f(word(policies, i)) using "step":(column(dcol) > 0 ? column(dcol) : NaN) with steps \
		lw width(word(policies, i)) dt dash(word(policies, i)) \
		lc rgb color(word(policies, i)) title word(policies, i), \
	     bound with lines lw 2 dt 3 lc rgb "black" title sprintf("bound %g s", bound)
} else {
	plot for [i=1:n] f(word(policies, i)) using "step":(column(dcol) > 0 ? column(dcol) : NaN) with steps \
		lw width(word(policies, i)) dt dash(word(policies, i)) \
		lc rgb color(word(policies, i)) title word(policies, i)
}
unset multiplot
