# loadgen_scaling.gp - plots bench_loadgen.sh's loadgen_scaling.csv (run in
# the folder holding it): req/s and client CPU per request against TCP
# connections, trace-collect (open loop, highest rate held within 1 %; its
# own sender and --sender curl) beside wrk (closed loop).
set datafile separator ","
set terminal pngcairo size 900,400 noenhanced
set output "loadgen_scaling.png"
set multiplot layout 1,2
set logscale x 2
set xlabel "connections"
set grid
set key bottom left
set title "highest rate held (trace-collect) / closed-loop rate (wrk)"
set ylabel "req/s"
set yrange [0:*]
plot "loadgen_scaling.csv" skip 1 using 1:2 with linespoints title "trace-collect (open loop)", \
     "" skip 1 using 1:7 with linespoints title "trace-collect --sender curl", \
     "" skip 1 using 1:5 with linespoints title "wrk (closed loop)"
set key top left
set title "client CPU per request at that rate"
set ylabel "us"
plot "loadgen_scaling.csv" skip 1 using 1:3 with linespoints title "trace-collect", \
     "" skip 1 using 1:8 with linespoints title "trace-collect --sender curl", \
     "" skip 1 using 1:6 with linespoints title "wrk"
unset multiplot
