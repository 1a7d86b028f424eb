# learning.gp - the learning curve of a PPO run with the optimum's mean
# reward as a horizontal line, as a PNG.
#
#   gnuplot -e "curve='learning.csv'; out='learning.png'" \
#           [-e "title='delay, seed 1'; xcol='timesteps'; ycol='avg_r'"] \
#           pipelines/learning.gp
#
# curve is ppo-train's --curve CSV (timesteps,avg_r,std_r,lower_r,upper_r,
# avg_optimal_r,score: x and y chosen by column name; the band
# lower_r..upper_r is drawn when present). The line is the curve's own
# avg_optimal_r: the optimum on the same validation episodes as avg_r,
# the one the score is normalised by (not the optimum of some other load
# sequence). -e "optimal=X" replaces it (NaN: no line). Writes out only;
# the caller makes it atomic (plot to a temporary name, then rename).
if (!exists("curve") || !exists("out")) {
	print "learning.gp: set curve and out with -e"; exit status 2
}
if (!exists("title")) title = ""
if (!exists("xcol")) xcol = "timesteps"
if (!exists("ycol")) ycol = "avg_r"

set datafile separator comma
set datafile columnheaders
# the validation optimum (the same on every row of the curve)
if (exists("optimal")) {
	optlabel = sprintf("optimal (%.3g)", optimal)
} else {
	stats curve using "avg_optimal_r" nooutput
	optimal = STATS_mean
	optlabel = sprintf("optimal, validation episodes (%.3g)", optimal)
}

set terminal pngcairo size 900,520 font "DejaVu Sans,11" noenhanced
set output out
set title title
set xlabel "training timesteps"
set ylabel "mean reward per step"
set grid lc rgb "#dddddd"
set key bottom right box opaque
set format x "%.0s%c"
set style fill transparent solid 0.2 noborder
if (optimal == optimal) {
	plot curve using xcol:"lower_r":"upper_r" with filledcurves lc rgb "#1f77b4" title "95% interval", \
	     curve using xcol:ycol with lines lw 2 lc rgb "#1f77b4" title "PPO (validation episodes)", \
	     optimal with lines lw 2 dt 2 lc rgb "#d62728" title optlabel
} else {
	plot curve using xcol:"lower_r":"upper_r" with filledcurves lc rgb "#1f77b4" title "95% interval", \
	     curve using xcol:ycol with lines lw 2 lc rgb "#1f77b4" title "PPO (validation episodes)"
}
