# fidelity.gp - the model's delay for its chosen action per state beside
# what the trace measured for that action (mean and p90 over its windows),
# the runner-up's trace mean, and the bound. States on the x axis, in the
# order of fidelity.csv; a contradicted choice is marked with a red cross.
#
#   gnuplot -e "csv='results/delay/fidelity.csv'; out='fidelity.png'" \
#           [-e "target='d1'; bound=0.6; title='delay'; nstate=1"] \
#           pipelines/fidelity.gp
#
# nstate: how many leading columns make the state (the x labels join them).
#
# The caller makes the output atomic.
if (!exists("csv") || !exists("out")) {
	print "fidelity.gp: set csv and out with -e"; exit status 2
}
if (!exists("target")) target = "d1"
if (!exists("bound")) bound = NaN
if (!exists("title")) title = ""
if (!exists("nstate")) nstate = 1
state(x) = nstate == 1 ? strcol(1) : nstate == 2 ? strcol(1)."/".strcol(2) : strcol(1)."/".strcol(2)."/".strcol(3)
set datafile separator ","
set datafile columnheaders
set terminal pngcairo size 900,480 font ",10"
set output out
set title title." - model vs trace, per state (chosen action)"
set xlabel "state (fidelity.csv's state columns, joined by /)"
set ylabel target." (s)"
set key top left opaque
set grid ytics
set offsets 0.5, 0.5, 0, 0
plot csv using 0:(column("model_".target)):xtic(state(0)) with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "model, chosen", \
     csv using 0:(column("mean_".target)):(column("mean_".target)):(column("p90_".target)) with yerrorbars pt 5 lc rgb "#2ca02c" title "trace mean .. p90, chosen", \
     csv using 0:(column("runner_mean_".target)) with points pt 4 lc rgb "#7f7f7f" title "trace mean, runner-up", \
     csv using 0:(column("contradicted") > 0 ? column("mean_".target) : NaN) with points pt 2 ps 3 lw 2 lc rgb "#d62728" title "contradicted", \
     bound with lines dt 2 lc rgb "#d62728" title "bound"
