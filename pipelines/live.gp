# live.gp - one controller's live run, period by period: offered load (each
# service); one setting of the action (the column before delay1, e.g. the
# cores); the delay of service 1 measured and as the simulator predicted
# it for the same state and action, against the bound, with the share of
# requests served. One PNG, three stacked panels sharing the time axis.
#
#   gnuplot -e "csv='results/delay/live/ppo/periods-ppo.csv'" \
#           -e "out='live-ppo.png'; nserv=1; set1=7; setname='c1'" \
#           -e "bound=0.6; title='delay live: ppo'" pipelines/live.gp
#
# Reads policy-eval live's periods-NAME.csv (period, t_s, phase, measured,
# load1.., params, settings, delay<j>, delay<j>_pred, served, served_pred,
# reward, reward_pred, ...). set1 is the setting's column number. bound
# may be NaN (no line). The caller makes the output atomic.
if (!exists("csv") || !exists("out") || !exists("set1")) {
	print "live.gp: set csv, out and set1 with -e"; exit status 2
}
if (!exists("bound")) bound = NaN
if (!exists("nserv")) nserv = 1
if (!exists("setname")) setname = "setting"
if (!exists("title")) title = ""

set terminal pngcairo size 1100,900 font "DejaVu Sans,11" noenhanced
set output out
set datafile separator comma
set datafile columnheaders
set grid lc rgb "#dddddd"
set lmargin 12
set rmargin 22
set key outside right top
set multiplot layout 3,1 title title

# loads and settings from 0 (a constant one is a flat line, not a warning)
set yrange [0:*]
set ylabel "offered load (req/s)"
set format x ""
plot for [j=1:nserv] csv using "t_s":(column(sprintf("load%d", j))) \
	with steps lw 2 title sprintf("load%d", j)

set ylabel setname
plot csv using "t_s":set1 with steps lw 2 lc rgb "#1f77b4" title setname

set yrange [*:*]
set ylabel "delay 1 (s)"
set xlabel "time (s)"
set format x "%g"
set logscale y
set y2label "served share"
set y2range [0:1.05]
set y2tics
plot csv using "t_s":"delay1" with linespoints pt 7 ps 0.6 lw 2 \
	lc rgb "#1f77b4" title "measured", \
     csv using "t_s":"delay1_pred" with linespoints pt 6 ps 0.6 lw 1.5 \
	dt 2 lc rgb "#d62728" title "predicted", \
     csv using "t_s":"served" axes x1y2 with steps lw 1 \
	lc rgb "#2ca02c" title "served (right)", \
     (bound == bound ? bound : 1/0) with lines lw 1 lc rgb "#555555" \
	title "bound"
unset multiplot
