# learning.gp - the learning curve of a PPO run with the optimum's mean
# reward as a horizontal line, as a PNG.
#
#   gnuplot -e "curve='learning.csv'; optimal=4.93; out='learning.png'" \
#           [-e "title='delay, seed 1'; xcol='timesteps'; ycol='avg_r'"] \
#           pipelines/learning.gp
#
# curve is ppo-train's --curve CSV (timesteps,avg_r,std_r,lower_r,upper_r,
# avg_optimal_r: x and y chosen by column name; the band lower_r..upper_r
# is drawn when present). optimal may be NaN (no line). Writes out only; the caller makes it
# atomic (plot to a temporary name, then rename).
if (!exists("curve") || !exists("out")) {
	print "learning.gp: set curve and out with -e"; exit status 2
}
if (!exists("optimal")) optimal = NaN
if (!exists("title")) title = ""
if (!exists("xcol")) xcol = "timesteps"
if (!exists("ycol")) ycol = "avg_r"

set terminal pngcairo size 900,520 font "DejaVu Sans,11" noenhanced
set output out
set datafile separator comma
set datafile columnheaders
set title title
set xlabel "training timesteps"
set ylabel "mean reward per step"
set grid lc rgb "#dddddd"
set key bottom right box opaque
set format x "%.0s%c"
set style fill transparent solid 0.2 noborder
if (optimal == optimal) {
	plot curve using xcol:"lower_r":"upper_r" with filledcurves lc rgb "#1f77b4" title "95% interval", \
	     curve using xcol:ycol with lines lw 2 lc rgb "#1f77b4" title "PPO (evaluation episodes)", \
	     optimal with lines lw 2 dt 2 lc rgb "#d62728" title sprintf("optimal (%.3g)", optimal)
} else {
	plot curve using xcol:"lower_r":"upper_r" with filledcurves lc rgb "#1f77b4" title "95% interval", \
	     curve using xcol:ycol with lines lw 2 lc rgb "#1f77b4" title "PPO (evaluation episodes)"
}
