# adapt.gp - online adaptation: the reward per control period of each
# controller in the first test episode, the system change marked. One PNG.
#
#   gnuplot -e "dir='results/adapt-one/adapt/sim'; out='adapt.png'" \
#           -e "policies='optimal ppo random rollout-l1'; change=20" \
#           [-e "title='...'"] pipelines/adapt.gp
#
# Reads dir/steps-<policy>.csv (policy-eval's per-step CSV). The caller
# makes the output atomic.
if (!exists("dir") || !exists("out") || !exists("policies")) {
	print "adapt.gp: set dir, out and policies with -e"; exit status 2
}
if (!exists("change")) change = NaN
if (!exists("title")) title = ""

f(p) = sprintf("%s/steps-%s.csv", dir, p)
n = words(policies)
palette = "#1f77b4 #2ca02c #9467bd #8c564b #e377c2 #17becf #bcbd22 #393b79 #637939 #8c6d31 #843c39"
color(p, i) = p eq "optimal" ? "#d62728" : p eq "random" ? "#ff7f0e" : \
              (p eq "ppo" || p eq "noop") ? "#7f7f7f" : word(palette, i)
dash(p) = p eq "optimal" ? 2 : 1

set terminal pngcairo size 1100,600 font "DejaVu Sans,11" noenhanced
set output out
set datafile separator comma
set datafile columnheaders
set grid lc rgb "#dddddd"
set key outside right top
set title title
set xlabel "control period (step), first test episode"
set ylabel "reward"
if (change == change) set arrow from change, graph 0 to change, graph 1 nohead dt 3 lw 2 lc rgb "black"
plot for [i=1:n] f(word(policies, i)) \
	using (column("episode") == 0 ? column("step") : NaN):"reward" with steps \
	lw (i > 3 ? 2 : 1.5) dt dash(word(policies, i)) \
	lc rgb color(word(policies, i), i) \
	title word(policies, i)
