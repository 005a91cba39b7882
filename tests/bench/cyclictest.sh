#!/usr/bin/env bash
# A check no one here wrote: the wake-up latency of ordinary tasks, by
# rt-tests' cyclictest (2 SCHED_OTHER threads, both every 1 ms), beside
# hackbench (2 groups, restarted until cyclictest is done), under EEVDF,
# scx_simple and shinjukud --switch-all with no registered work (the
# preset's daemon arguments, without --prog-stats). Needs sched_ext and
# root; `make bench` (tests/bench/run.sh) runs it in the VM, in the same boot
# as tests/bench/tail.sh, with cyclictest, hackbench and their libraries
# copied in. Prints one CYCLIC line per run (tests/bench/report.sh).
#
# Environment: BENCH_CYCLIC_SECS (per run, default 10), BENCH_REPS (runs per
# policy, default 2), BENCH_ONLY (policy filter, a regex), BENCH_HACKBENCH_LOOPS
# (hackbench -l, default 10000), BENCH_PRESET, BENCH_DAEMON_ARGS, SHJ_PEERS.
set -u
BENCH_PROG_STATS=0
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
SECS=${BENCH_CYCLIC_SECS:-10}
REPS=${BENCH_REPS:-2}
ONLY=${BENCH_ONLY:-.}
LOOPS=${BENCH_HACKBENCH_LOOPS:-10000}
for t in cyclictest hackbench setsid; do
  command -v $t >/dev/null || { echo "cyclictest.sh: no $t here (rt-tests: scripts/deps; tests/vm/run --include)" >&2; exit 1; }
done
CT=(cyclictest --threads=2 --policy=other --interval=1000 --distance=0 --duration="$SECS" --quiet)

echo "# cyclictest: ${CT[*]}, beside hackbench -g 2 -l $LOOPS (restarted until then); shj-all: shinjukud --switch-all ${DARGS[*]}; $(uname -r), $(nproc) CPUs"
for rep in $(seq "$REPS"); do
  for p in eevdf scx_simple shj-all; do
    [[ $p =~ $ONLY ]] && has_policy "$p" || continue
    echo "bench: cyclictest under $p, run $rep" >&2
    start_sched "$p" || continue
    # its own session, so that the loop and every hackbench process stop together
    setsid bash -c "while :; do hackbench -g 2 -l $LOOPS >/dev/null 2>&1; done" &
    hb=$!
    sleep 1
    out=$("${CT[@]}" 2>&1)
    kill -TERM -- -"$hb" 2>/dev/null
    wait "$hb" 2>/dev/null
    stop_sched
    # "T: 0 ( 234) P: 0 I:1000 C:   2863 Min:     62 Act:  145 Avg:  208 Max:   12404"
    stats=$(sed -n 's/: */:/g; /^T:/p' <<<"$out" | awk '
      { for (i = 1; i <= NF; i++) { split($i, a, ":"); v[a[1]] = a[2] }
        c += v["C"]; s += v["C"] * v["Avg"]; if (v["Max"] > mx) mx = v["Max"]
        if (mn == "" || v["Min"] < mn) mn = v["Min"]; t++ }
      END { if (t && c) printf "avg_us=%.0f max_us=%d min_us=%d samples=%d", s / c, mx, mn, c }')
    if [[ -z $stats ]]; then
      echo "cyclictest.sh: no result under $p: $out" >&2
      continue
    fi
    echo "CYCLIC policy=$p rep=$rep secs=$SECS ejected=$EJECTED $stats"
  done
done
