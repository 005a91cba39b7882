#!/usr/bin/env bash
# Turn tests/bench/tail.sh's RESULT lines (stdin) into a Markdown table:
# short-request latency per policy and load, measured p99 over the ideal's,
# and the batch job's CPU time. Plots: to come.
set -euo pipefail
awk '
/^RESULT / {
  delete kv
  for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
  n++
  load[n] = kv["load"]; pol[n] = kv["policy"]; wt[n] = kv["wait"]; bt[n] = kv["batch"]
  p50[n] = kv["short_p50_us"]; p99[n] = kv["short_p99_us"]; p999[n] = kv["short_p999_us"]
  bcpu[n] = kv["batch_cpu_ms"]; rep[n] = kv["rep"]
  if (kv["policy"] == "ideal") ideal[kv["load"]] = kv["short_p99_us"]
}
END {
  print "| load | policy | idle workers | batch job | rep | short p50 ms | p99 ms | p99.9 ms | p99 / ideal | batch CPU ms |"
  print "|---|---|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++)
    printf "| %.0f%% | %s | %s | %s | %s | %.2f | %.2f | %.2f | %s | %s |\n",
      load[i] * 100, pol[i], wt[i], bt[i], rep[i], p50[i] / 1000, p99[i] / 1000,
      p999[i] / 1000, (ideal[load[i]] > 0 ? sprintf("%.1f", p99[i] / ideal[load[i]]) : "-"),
      (bt[i] == "yes" ? bcpu[i] : "-")
}'
