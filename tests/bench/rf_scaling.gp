# rf_scaling.gp - forest prediction speed against forest size: batch rows/s
# (the mean, solid; the 0.9-quantile across trees, dashed) and one row's
# time, against trees, one line per trace and max_depth. The data is
# bench_rf.sh's results/bench/rf_scaling.csv (one thread).
#
#   gnuplot -e "csv='results/bench/rf_scaling.csv'; out='rf_scaling.png'" \
#           tests/bench/rf_scaling.gp
#
# The caller makes the output atomic.
if (!exists("csv") || !exists("out")) {
	print "rf_scaling.gp: set csv and out with -e"; exit status 2
}
set datafile separator ","
set datafile columnheaders
set terminal pngcairo size 1100,460 font ",10" noenhanced
set output out
set multiplot layout 1,2 title "rf-fit prediction, one thread (make bench)"
set logscale xy
set xtics (30, 60, 120, 240, 480)
set xrange [25:560]
set grid xtics ytics mytics
set key bottom left
set xlabel "trees"
# only the rows of one trace and depth
pick(col, tr, d) = (strcol(1) eq tr && column(3) == d) ? column(col) : NaN
depth_name(d) = d == 0 ? "unlimited" : sprintf("%d", d)
set title "batch rows/s (mean solid, 0.9-quantile dashed)"
set ylabel "rows/s"
plot for [tr in "tnsm cnsm"] for [d in "8 16 0"] \
	csv using 2:(pick(5, tr, d + 0)) with linespoints \
	lc (tr eq "tnsm" ? 1 : 2) pt (d + 0 == 0 ? 7 : d + 0 == 16 ? 5 : 9) \
	title sprintf("%s, depth %s", tr, depth_name(d + 0)), \
     for [tr in "tnsm cnsm"] for [d in "8 16 0"] \
	csv using 2:(pick(6, tr, d + 0)) with linespoints dt 2 \
	lc (tr eq "tnsm" ? 1 : 2) pt (d + 0 == 0 ? 7 : d + 0 == 16 ? 5 : 9) \
	notitle
set title "one row (mr_forest_predict)"
set ylabel "microseconds per row"
set key top left
plot for [tr in "tnsm cnsm"] for [d in "8 16 0"] \
	csv using 2:(pick(7, tr, d + 0)) with linespoints \
	lc (tr eq "tnsm" ? 1 : 2) pt (d + 0 == 0 ? 7 : d + 0 == 16 ? 5 : 9) \
	title sprintf("%s, depth %s", tr, depth_name(d + 0))
unset multiplot
