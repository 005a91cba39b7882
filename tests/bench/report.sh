#!/usr/bin/env bash
# Turn tests/bench/tail.sh's RESULT lines (stdin) into a Markdown table on
# stdout: short-request latency per policy and load, measured p99 over the
# ideal's, the p99 of each part of the latency (late: the dispatcher's
# wake-up after the arrival time; wait: submission until a worker begins;
# run: begin to done), and the batch job's CPU time. With PLOT=file.png (and gnuplot),
# also a plot of short-request p99 against load, one line per policy
# (blocking workers, no batch job; the median of the repetitions -- of
# two, the lower).
set -euo pipefail
raw=$(cat)
if [[ -n ${PLOT:-} ]]; then
  dat=$(mktemp)
  trap 'rm -f "$dat"' EXIT
  # columns: load, then p99 ms per policy (median over reps)
  awk '/^RESULT / && / wait=block / && / batch=no / {
         for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
         print kv["policy"], kv["load"] * 100, kv["short_p99_us"] / 1000 }' <<<"$raw" |
    sort -k1,1 -k2,2n -k3,3n |
    awk '{ k = $1 " " $2; v[k] = v[k] " " $3; n[k]++ }
         END { for (k in v) { split(v[k], a, " "); m = int((n[k] + 1) / 2); print k, a[m] } }' |
    sort -k1,1 -k2,2n >"$dat"
  gnuplot <<GP
set terminal pngcairo size 900,560
set output "$PLOT"
set title "Short-request p99 vs offered load (bimodal 500 us / 50 ms, QEMU TCG, 2 vCPUs)"
set xlabel "offered load (% of 2 CPUs)"
set ylabel "short-request p99 (ms)"
set logscale y
set key top left
set grid
plot for [p in "ideal eevdf shj-fcfs shj shj-all"] "< grep '^".p." ' $dat" using 2:3 with linespoints title p
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
  late[n] = kv["short_late_p99_us"]; wq[n] = kv["short_wait_p99_us"]; run[n] = kv["short_run_p99_us"]
  if (kv["policy"] == "ideal") ideal[kv["load"]] = kv["short_p99_us"]
}
END {
  print "| load | policy | idle workers | batch job | rep | short p50 ms | p99 ms | p99.9 ms | p99 / ideal | late / wait / run p99 ms | batch CPU ms |"
  print "|---|---|---|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++)
    printf "| %.0f%% | %s | %s | %s | %s | %.2f | %.2f | %.2f | %s | %s | %s |\n",
      load[i] * 100, pol[i], wt[i], bt[i], rep[i], p50[i] / 1000, p99[i] / 1000,
      p999[i] / 1000, (ideal[load[i]] > 0 ? sprintf("%.1f", p99[i] / ideal[load[i]]) : "-"),
      (late[i] != "" ? sprintf("%.2f / %.2f / %.2f", late[i] / 1000, wq[i] / 1000, run[i] / 1000) : "-"),
      (bt[i] == "yes" ? bcpu[i] : "-")
}' <<<"$raw"
