#!/usr/bin/env bash
# Turn the RESULT lines of tests/bench/rocksdb.sh (stdin) into Markdown on
# stdout: the knee per policy and seed (the highest offered load at which
# GET p99 <= 20x the GET service time; a failed or ejected run counts as
# over), GET p99 per load (seed 1 / seed 2), and every run: GET p50, p99,
# p99.9, SCAN p99, SCANs done within the trace per second and the CPU they
# got, context switches and interrupts per request, the workers' class
# changes per request and their mean time, GETs past their padded service
# time, BPF ns per request (shinjukud --prog-stats). With PLOT=file.png
# (and gnuplot), GET p99 and SCANs per second against load, one line per
# policy (of two seeds, the lower).
set -euo pipefail
raw=$(cat)
ORDER="ideal eevdf eevdf-nice eevdf-idle shj-noqos shj-qos shj-all"

# every RESULT line as "policy key=value..."; of a run repeated, the last
results() {
  awk -v order="$ORDER" '
    BEGIN { n = split(order, o, " "); for (i = 1; i <= n; i++) rank[o[i]] = i }
    /^RESULT / {
      delete kv
      for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
      k = sprintf("%02d %02d %06.3f", (kv["policy"] in rank) ? rank[kv["policy"]] : 99, kv["rep"], kv["load"])
      line[k] = kv["policy"]
      for (i = 2; i <= NF; i++) line[k] = line[k] " " $i
    }
    END { for (k in line) print k, line[k] }' <<<"$raw" | sort | cut -d' ' -f4-
}

if [[ -n ${PLOT:-} ]]; then
  dat=$(mktemp)
  trap 'rm -f "$dat"' EXIT
  # policy, load %, GET p99 ms, SCANs/s: of the seeds, the lower p99 (and its SCAN rate)
  results | awk '{ for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
                   if (kv["failed"] != 1) print $1, kv["load"] * 100, kv["short_p99_us"] / 1000, kv["scan_per_s"] + 0 }' |
    sort -k1,1 -k2,2n -k3,3n | awk '!seen[$1 " " $2]++' >"$dat"
  thr=$(results | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^get_us=/) { split($i, a, "="); t = 20 * a[2] / 1000 } } END { print t }')
  have=''
  for p in $ORDER; do grep -q "^$p " "$dat" && have+=" $p"; done
  have_real=${have/ ideal/}	# the simulator runs no SCANs
  gnuplot <<GP
set terminal pngcairo size 1200,520 noenhanced
set output "$PLOT"
set multiplot layout 1,2 title "RocksDB GET/SCAN, 16 workers, QEMU TCG, 2 vCPUs (of two seeds the lower GET p99; dashed: 20x the GET service time)"
set xlabel "offered load (% of 2 CPUs)"
set xrange [0:100]
set key top left
set grid
col(p) = p eq "ideal" ? "#9400d3" : p eq "eevdf" ? "#009e73" : p eq "eevdf-nice" ? "#56b4e9" : \
  p eq "eevdf-idle" ? "#cc79a7" : p eq "shj-noqos" ? "#d55e00" : p eq "shj-qos" ? "#e69f00" : "#0072b2"
set title "GET p99"
set ylabel "GET p99 (ms)"
set logscale y
set yrange [0.5:5000]
plot for [p in "${have# }"] "< grep '^".p." ' $dat" using 2:3 with linespoints lc rgb col(p) title p, \
  ${thr:-20} with lines dt 2 lc rgb "gray" notitle
set title "SCANs done within the trace, per second"
set ylabel "SCANs / s"
unset logscale y
set yrange [0:*]
plot for [p in "${have_real# }"] "< grep '^".p." ' $dat" using 2:4 with linespoints lc rgb col(p) title p
unset multiplot
GP
fi

sed -n '/^# .*CPUs; trace: /{s/^# /- setup: /p;q}' <<<"$raw"
sed -n 's/^# \(database: .*\)/- \1/p' <<<"$raw" | head -n 1
sed -n 's/^# \(host, .*\)/- \1 (other work on the host slows the emulated CPUs)/p' <<<"$raw"
echo
results | awk -v order="$ORDER" '
function f(x) { return x == "" ? "-" : sprintf("%.2f", x / 1000) }
BEGIN { np = split(order, o, " ") }
{
  delete kv
  for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
  n++; pol[n] = $1; load[n] = kv["load"]; rep[n] = kv["rep"]
  bad[n] = kv["failed"] == 1 ? "failed" : kv["ejected"] == 1 ? "ejected" : ""
  for (k in kv) v[n, k] = kv[k]
  if (kv["get_us"] != "") thr = 20 * kv["get_us"]
  if (!(kv["load"] in isload)) { isload[kv["load"]] = 1; loads[++nl] = kv["load"] }
  if (kv["rep"] > nseed) nseed = kv["rep"]
  p99[$1, kv["load"], kv["rep"]] = bad[n] != "" ? bad[n] : f(kv["short_p99_us"])
  k = $1 " " kv["rep"]
  if (bad[n] != "" || kv["short_p99_us"] > thr) { if (!(k in first)) first[k] = kv["load"] }
  else if (!(k in first)) knee[k] = kv["load"]
  seen[$1] = 1
}
END {
  # loads in ascending order
  for (i = 1; i <= nl; i++) for (j = i + 1; j <= nl; j++) if (loads[j] + 0 < loads[i] + 0) { t = loads[i]; loads[i] = loads[j]; loads[j] = t }
  printf "## The knee: highest load with GET p99 <= %.0f ms (20x the GET service time)\n\n", thr / 1000
  print "The highest load swept below which every load kept GET p99 within it; in brackets the first load over it."
  print ""
  hdr = "| policy |"; sep = "|---|"
  for (r = 1; r <= nseed; r++) { hdr = hdr " seed " r " |"; sep = sep "---|" }
  print hdr; print sep
  for (i = 1; i <= np; i++) {
    if (!(o[i] in seen)) continue
    line = "| " o[i] " |"
    for (r = 1; r <= nseed; r++) {
      k = o[i] " " r
      c = k in knee ? sprintf("%.0f%%", knee[k] * 100) : (k in first ? "none" : "")
      if (k in first) c = c sprintf(" (%.0f%%)", first[k] * 100)
      line = line " " c " |"
    }
    print line
  }
  print ""
  print "## GET p99, ms (seed 1 / seed 2)\n"
  hdr = "| policy |"; sep = "|---|"
  for (j = 1; j <= nl; j++) { hdr = hdr sprintf(" %.0f%% |", loads[j] * 100); sep = sep "---|" }
  print hdr; print sep
  for (i = 1; i <= np; i++) {
    if (!(o[i] in seen)) continue
    line = "| " o[i] " |"
    for (j = 1; j <= nl; j++) {
      c = ""
      for (r = 1; r <= nseed; r++) c = c (r > 1 ? " / " : "") (((o[i], loads[j], r) in p99) ? p99[o[i], loads[j], r] : "-")
      line = line " " c " |"
    }
    print line
  }
  print ""
  print "## Every run\n"
  print "SCAN/s: SCANs completed within the trace, per second of trace; SCAN CPU: the CPU time they used. class changes: a worker lowering itself for a SCAN or raising itself back (shj_set_qos, setpriority, sched_setscheduler), per request, and the mean wall time of a lowering (it returns once the worker has a CPU at its new rank: part of the wait of the SCAN) and of a raising. over pad: GETs whose real work took longer than their padded service time. BPF ns: shinjukud --prog-stats, the sum over its programs of runs x mean ns, per request."
  print ""
  print "| policy | seed | load | GET p50 ms | GET p99 ms | GET p99.9 ms | SCAN p99 ms | SCAN/s | SCAN CPU ms | switches / irqs per request | class changes per request (lower / raise us) | over pad | BPF ns per request |"
  print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++) {
    if (bad[i] != "" && v[i, "short_p99_us"] == "") {
      printf "| %s | %s | %.0f%% | %s | | | | | | | | | |\n", pol[i], rep[i], load[i] * 100, bad[i]
      continue
    }
    reqs = v[i, "short_n"] + v[i, "long_n"]
    printf "| %s%s | %s | %.0f%% | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
      pol[i], (bad[i] != "" ? " **" bad[i] "**" : ""), rep[i], load[i] * 100,
      f(v[i, "short_p50_us"]), f(v[i, "short_p99_us"]), f(v[i, "short_p999_us"]), f(v[i, "long_p99_us"]),
      (v[i, "scan_per_s"] != "" ? v[i, "scan_per_s"] : "-"), (v[i, "scan_cpu_ms"] != "" ? v[i, "scan_cpu_ms"] : "-"),
      (v[i, "switches_per_req"] != "" ? sprintf("%.1f / %.1f", v[i, "switches_per_req"], v[i, "irqs_per_req"]) : "-"),
      (v[i, "class_changes_per_req"] != "" ? sprintf("%.3f (%.0f / %.0f)", v[i, "class_changes_per_req"], v[i, "class_lower_us"], v[i, "class_raise_us"]) : "-"),
      (v[i, "over_pad"] != "" && v[i, "short_n"] > 0 ? sprintf("%.1f%%", 100 * v[i, "over_pad"] / v[i, "short_n"]) : "-"),
      (v[i, "bpf_ns"] != "" && reqs ? sprintf("%.0f", v[i, "bpf_ns"] / reqs) : "-")
  }
}'
