#!/usr/bin/env bash
# Turn the RESULT lines of tests/bench/tail.sh and the CYCLIC lines of
# tests/bench/cyclictest.sh (stdin) into Markdown on stdout:
#  - the knee: per policy, variant and seed, the highest offered load at
#    which short-request p99 <= 20x the short service time (a failed or
#    ejected run counts as over), and the lowest load over it;
#  - every run: short-request p50/p99/p99.9, p99 over the ideal's (same
#    seed), the p99 of each part of the latency (late: the dispatcher's
#    wake-up after the arrival time; wait: submission until a worker begins;
#    run: begin to done), context switches and interrupts per request, the
#    busy CPU time per request over the mean service time (loadgen), BPF
#    ns per request (the run time of the scheduler's BPF programs, over all
#    requests: shinjukud --prog-stats, or the kernel's stats for a peer's
#    programs), the batch job's CPU time;
#  - cyclictest's wake-up latency beside hackbench, per policy.
# With PLOT=file.png (and gnuplot), also plots of short-request p99 against
# load, one line per policy, in three panels: blocking workers, spinning
# workers, with the batch job (the worst of the seeds).
set -euo pipefail
raw=$(cat)
BLOCK="ideal ideal+overhead eevdf scx_simple scx_central shj-fcfs shj shj-all"
SPIN="eevdf scx_simple scx_central shj shj-mq"
BATCH="eevdf shj shj-all"

# every RESULT line as "variant policy key=value..." (variant: block, spin,
# batch); of a run repeated (a resumed sweep), the last
results() {
  awk '/^RESULT / {
         delete kv
         for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
         v = kv["batch"] == "yes" ? "batch" : kv["wait"]
         k = v " " kv["policy"] " " kv["load"] + 0 " " kv["rep"]
         if (!(k in line)) order[++n] = k
         line[k] = v " " kv["policy"]
         for (i = 2; i <= NF; i++) line[k] = line[k] " " $i
       }
       END { for (i = 1; i <= n; i++) print line[order[i]] }' <<<"$raw"
}

if [[ -n ${PLOT:-} ]]; then
  dat=$(mktemp)
  trap 'rm -f "$dat"' EXIT
  # columns: variant:policy, load %, p99 ms (the worst seed's)
  results | awk '{ for (i = 3; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
                   if (kv["failed"] != 1) print $1 ":" $2, kv["load"] * 100, kv["short_p99_us"] / 1000 }' |
    sort -k1,1 -k2,2n -k3,3n |
    awk '{ k = $1 " " $2; v[k] = v[k] " " $3; n[k]++ }
         END { for (k in v) { split(v[k], a, " "); print k, a[n[k]] } }' |
    sort -k1,1 -k2,2n >"$dat"
  # panel VARIANT "POLICY...": a plot of those the data has, and the threshold
  panel() {
    local p have=''
    for p in $2; do grep -q "^$1:$p " "$dat" && have+=" $p"; done
    if [[ -n $have ]]; then
      echo "plot for [p in \"${have# }\"] \"< grep '^$1:\".p.\" ' $dat\" using 2:3 with linespoints lc rgb col(p) title p, \\"
      echo "  thr with lines dt 2 lc rgb \"gray\" notitle"
    else
      echo "plot thr with lines dt 2 lc rgb \"gray\" title \"no runs\""
    fi
  }
  thr=$(results | awk '{ for (i = 3; i <= NF; i++) if ($i ~ /^short_us=/) { split($i, a, "="); t = 20 * a[2] / 1000 } }
                       END { print t }')
  gnuplot <<GP
set terminal pngcairo size 1500,560 noenhanced
set output "$PLOT"
set multiplot layout 1,3 title "Short-request p99, the worse of two seeds, vs offered load (bimodal 500 us / 50 ms, 16 workers, QEMU TCG, 2 vCPUs; dashed: 20x the short service time)"
set xlabel "offered load (% of 2 CPUs)"
set ylabel "short-request p99 (ms)"
set logscale y
set yrange [0.3:5000]
set xrange [0:100]
set key top left
set grid
col(p) = p eq "ideal" ? "#9400d3" : p eq "ideal+overhead" ? "#b08cd8" : p eq "eevdf" ? "#009e73" : \
  p eq "scx_simple" ? "#d55e00" : p eq "scx_central" ? "#cc79a7" : p eq "shj-fcfs" ? "#56b4e9" : \
  p eq "shj" ? "#e69f00" : "#0072b2"
thr = ${thr:-10}
set title "blocking workers"
$(panel block "$BLOCK")
set title "spinning workers"
$(panel spin "$SPIN")
set title "with a CPU-bound batch job"
$(panel batch "$BATCH")
unset multiplot
GP
fi

sed -n '/^# .*CPUs; trace: /{s/^# /- setup: /p;q}' <<<"$raw"
sed -n 's/^# \(host, .*\)/- \1 (other work on the host slows the emulated CPUs)/p' <<<"$raw"
echo
# rows sorted by variant, policy (in the order above), seed, load
results | awk -v order="block $BLOCK spin $SPIN batch $BATCH" '
BEGIN { n = split(order, o, " "); v = ""
        for (i = 1; i <= n; i++)
          if (o[i] == "block" || o[i] == "spin" || o[i] == "batch") v = o[i]
          else rank[v " " o[i]] = i }
{ k = $1 " " $2; r = (k in rank) ? rank[k] : 99
  for (i = 3; i <= NF; i++) { split($i, a, "="); if (a[1] == "rep") s = a[2]; if (a[1] == "load") l = a[2] }
  printf "%02d %02d %06.3f %s\n", r, s, l, $0 }' | sort | cut -d' ' -f4- |
awk '
function f(x) { return x == "" ? "-" : sprintf("%.2f", x / 1000) }
{
  delete kv
  for (i = 3; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
  n++
  var[n] = $1; pol[n] = $2; load[n] = kv["load"]; rep[n] = kv["rep"]
  bad[n] = kv["failed"] == 1 ? "failed" : kv["ejected"] == 1 ? "ejected" : ""
  p50[n] = kv["short_p50_us"]; p99[n] = kv["short_p99_us"]; p999[n] = kv["short_p999_us"]
  late[n] = kv["short_late_p99_us"]; wq[n] = kv["short_wait_p99_us"]; run[n] = kv["short_run_p99_us"]
  sw[n] = kv["switches_per_req"]; irq[n] = kv["irqs_per_req"]; bcpu[n] = kv["batch_cpu_ms"]; bt[n] = kv["batch"]
  ovc[n] = kv["cpu_over_service_us"] != "" ? sprintf("%.0f", kv["cpu_over_service_us"]) : "-"
  reqs = kv["short_n"] + kv["long_n"]
  bpf[n] = kv["bpf_ns"] != "" && reqs ? sprintf("%.0f", kv["bpf_ns"] / reqs) : "-"
  ovh[n] = kv["overhead_us"]
  if (kv["short_us"] != "") thr = 20 * kv["short_us"]
  if ($2 == "ideal") ideal[kv["load"] " " kv["rep"]] = kv["short_p99_us"]
  # the knee: the highest load within the threshold (loads ascend here)
  k = $1 " " $2
  if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
  if (!(kv["rep"] in seeds)) { seeds[kv["rep"]] = 1; if (kv["rep"] > nseed) nseed = kv["rep"] }
  k = k " " kv["rep"]
  if (bad[n] != "" || kv["short_p99_us"] > thr) { if (!(k in first)) first[k] = kv["load"] }
  else knee[k] = kv["load"]
}
END {
  printf "## The knee: highest load with short p99 <= %.0f ms (20x the short service time)\n\n", thr / 1000
  print "In brackets the lowest load swept above that p99, if any."
  print ""
  hdr = "| variant | policy |"; sep = "|---|---|"
  for (r = 1; r <= nseed; r++) { hdr = hdr " seed " r " |"; sep = sep "---|" }
  print hdr; print sep
  for (i = 1; i <= nk; i++) {
    split(keys[i], a, " ")
    line = "| " a[1] " | " a[2] " |"
    for (r = 1; r <= nseed; r++) {
      k = keys[i] " " r
      c = k in knee ? sprintf("%.0f%%", knee[k] * 100) : (k in first ? "none" : "")
      if (k in first) c = c sprintf(" (%.0f%%)", first[k] * 100)
      line = line " " c " |"
    }
    print line
  }
  print ""
  print "## Every run\n"
  print "BPF ns per request: the run time of the BPF programs of the scheduler (shinjukud --prog-stats: the sum over its programs of runs x mean ns; scx_simple, scx_central: the kernel stats of their programs, kernel.bpf_stats_enabled), over all requests. CPU over service: the busy CPU time of the whole machine per request (/proc/stat) less the mean service time -- what the dispatcher, the scheduler (BPF included) and the kernel cost per request, plus the background of the machine spread over the requests (alike for every policy at one load: compare policies at the same load; spinning workers: their spinning too; with the batch job: the batch job too)."
  print ""
  print "| variant | policy | seed | load | short p50 ms | p99 ms | p99.9 ms | p99 / ideal | late / wait / run p99 ms | switches / irqs per request | CPU over service µs per request | BPF ns per request | batch CPU ms |"
  print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++) {
    il = ideal[load[i] " " rep[i]]
    if (bad[i] != "" && p99[i] == "") {
      printf "| %s | %s | %s | %.0f%% | %s | | | | | | | | |\n", var[i], pol[i], rep[i], load[i] * 100, bad[i]
      continue
    }
    printf "| %s | %s%s%s | %s | %.0f%% | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
      var[i], pol[i], (ovh[i] != "" ? sprintf(" (%.0f us)", ovh[i]) : ""), (bad[i] != "" ? " **" bad[i] "**" : ""),
      rep[i], load[i] * 100, f(p50[i]), f(p99[i]), f(p999[i]),
      (il > 0 ? sprintf("%.1f", p99[i] / il) : "-"),
      (late[i] != "" ? f(late[i]) " / " f(wq[i]) " / " f(run[i]) : "-"),
      (sw[i] != "" ? sprintf("%.1f / %.1f", sw[i], irq[i]) : "-"), ovc[i], bpf[i],
      (bt[i] == "yes" ? bcpu[i] : "-")
  }
}'

if grep -q '^CYCLIC ' <<<"$raw"; then
  echo
  echo "## cyclictest beside hackbench: wake-up latency of ordinary tasks"
  echo
  sed -n '/^# cyclictest: /{s/^# //p;q}' <<<"$raw"; echo
  echo "| policy | run | avg µs | max µs | min µs | samples |"
  echo "|---|---|---|---|---|---|"
  awk '/^CYCLIC / { delete kv
         for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
         k = kv["policy"] " " kv["rep"]
         if (!(k in row)) order[++n] = k
         row[k] = sprintf("| %s%s | %s | %s | %s | %s | %s |", kv["policy"], (kv["ejected"] == 1 ? " **ejected**" : ""),
           kv["rep"], kv["avg_us"], kv["max_us"], kv["min_us"], kv["samples"]) }
       END { for (i = 1; i <= n; i++) print row[order[i]] }' <<<"$raw"
fi
