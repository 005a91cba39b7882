#!/usr/bin/env bash
# Turn tests/bench/tail.sh's RESULT lines (stdin) into a Markdown table on
# stdout: short-request latency per policy and load, measured p99 over the
# ideal's, the p99 of each part of the latency (late: the dispatcher's
# wake-up after the arrival time; wait: submission until a worker begins;
# run: begin to done), context switches and interrupts per request, and the
# batch job's CPU time. With PLOT=file.png (and
# gnuplot), also plots of short-request p99 against load, one line per
# policy, in three panels: blocking workers, spinning workers, with the batch
# job (the median of the repetitions -- of two, the lower).
set -euo pipefail
raw=$(cat)
if [[ -n ${PLOT:-} ]]; then
  dat=$(mktemp)
  trap 'rm -f "$dat"' EXIT
  # columns: panel:policy, load %, p99 ms (median over reps); panels: block
  # (blocking workers), spin (spinning workers), batch (with the batch job)
  awk '/^RESULT / {
         for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
         panel = kv["batch"] == "yes" ? "batch" : kv["wait"]
         print panel ":" kv["policy"], kv["load"] * 100, kv["short_p99_us"] / 1000 }' <<<"$raw" |
    sort -k1,1 -k2,2n -k3,3n |
    awk '{ k = $1 " " $2; v[k] = v[k] " " $3; n[k]++ }
         END { for (k in v) { split(v[k], a, " "); m = int((n[k] + 1) / 2); print k, a[m] } }' |
    sort -k1,1 -k2,2n >"$dat"
  gnuplot <<GP
set terminal pngcairo size 1500,520
set output "$PLOT"
set multiplot layout 1,3 title "Short-request p99 vs offered load (bimodal 500 us / 50 ms, 16 workers, QEMU TCG, 2 vCPUs)"
set xlabel "offered load (% of 2 CPUs)"
set ylabel "short-request p99 (ms)"
set logscale y
set yrange [0.3:5000]
set key top left
set grid
col(p) = p eq "ideal" ? "#9400d3" : p eq "eevdf" ? "#009e73" : p eq "shj-fcfs" ? "#56b4e9" : p eq "shj" ? "#e69f00" : "#0072b2"
set title "blocking workers"
plot for [p in "ideal eevdf shj-fcfs shj shj-all"] "< grep '^block:".p." ' $dat" using 2:3 with linespoints lc rgb col(p) title p
set title "spinning workers"
plot for [p in "eevdf shj"] "< grep '^spin:".p." ' $dat" using 2:3 with linespoints lc rgb col(p) title p
set title "with a CPU-bound batch job"
plot for [p in "eevdf shj shj-all"] "< grep '^batch:".p." ' $dat" using 2:3 with linespoints lc rgb col(p) title p
unset multiplot
GP
fi
awk '
/^RESULT / {
  delete kv
  for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
  n++
  load[n] = kv["load"]; pol[n] = kv["policy"]; wt[n] = kv["wait"]; bt[n] = kv["batch"]
  p50[n] = kv["short_p50_us"]; p99[n] = kv["short_p99_us"]; p999[n] = kv["short_p999_us"]
  bcpu[n] = kv["batch_cpu_ms"]; rep[n] = kv["rep"]
  sw[n] = kv["switches_per_req"]; irq[n] = kv["irqs_per_req"]
  late[n] = kv["short_late_p99_us"]; wq[n] = kv["short_wait_p99_us"]; run[n] = kv["short_run_p99_us"]
  if (kv["policy"] == "ideal") ideal[kv["load"]] = kv["short_p99_us"]
}
END {
  print "| load | policy | idle workers | batch job | rep | short p50 ms | p99 ms | p99.9 ms | p99 / ideal | late / wait / run p99 ms | switches / irqs per request | batch CPU ms |"
  print "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++)
    printf "| %.0f%% | %s | %s | %s | %s | %.2f | %.2f | %.2f | %s | %s | %s | %s |\n",
      load[i] * 100, pol[i], wt[i], bt[i], rep[i], p50[i] / 1000, p99[i] / 1000,
      p999[i] / 1000, (ideal[load[i]] > 0 ? sprintf("%.1f", p99[i] / ideal[load[i]]) : "-"),
      (late[i] != "" ? sprintf("%.2f / %.2f / %.2f", late[i] / 1000, wq[i] / 1000, run[i] / 1000) : "-"),
      (sw[i] != "" ? sprintf("%.1f / %.1f", sw[i], irq[i]) : "-"),
      (bt[i] == "yes" ? bcpu[i] : "-")
}' <<<"$raw"
