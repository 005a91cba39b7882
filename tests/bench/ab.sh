#!/usr/bin/env bash
# Benchmark, A/B: EEVDF and the shinjukud of each build tree given (a
# checkout of this project with `make all` done, e.g. main and main with one
# change), side by side in one boot on the tail benchmark's trace
# (tests/bench/lib.sh's preset, 16 blocking workers). Per load and seed: the
# key figures of each run and, for shinjukud, its non-zero counters and the
# mean run time of each BPF program. Needs sched_ext and root; in the VM:
#   tests/vm/run --include TREE... -- tests/bench/ab.sh TREE...
# Environment: BENCH_LOADS (default "0.7 0.85"), BENCH_SEEDS (default
# "1 2"), BENCH_SECS (default 5), BENCH_DAEMON_ARGS (extra shinjukud
# options), BENCH_PRESET (tests/bench/lib.sh).
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
(($#)) || { echo "usage: tests/bench/ab.sh TREE..." >&2; exit 2; }
for t in "$@"; do
  [[ -x $t/build/bin/shinjukud && -x $t/build/bin/loadgen ]] ||
    { echo "bench: $t: no build/bin/shinjukud or loadgen (make all there)" >&2; exit 2; }
done
TRACE=(--dist bimodal --short-us "$SHORT" --long-us "$LONG" --long-frac 0.005 --cpus 2
       --secs "${BENCH_SECS:-5}" --quantum-us "$SLICE" --workers 16)
KEYS='^(achieved_rps|switches_per_req|irqs_per_req|cpu_over_service_us|short_p50_us|short_p99_us|short_slow_pool_us|short_slow_run_us|long_p50_us)='
pick() { tr ' ' '\n' | grep -E "$KEYS" | tr '\n' ' '; echo; }
for load in ${BENCH_LOADS:-0.7 0.85}; do
  for seed in ${BENCH_SEEDS:-1 2}; do
    echo "== load $load seed $seed eevdf"
    "$B"/loadgen "${TRACE[@]}" --load "$load" --seed "$seed" --no-shinjuku | pick
    for t in "$@"; do
      echo "== load $load seed $seed $t"
      "$t/build/bin/shinjukud" "${DARGS[@]}" 2>"$log" &
      sched=$!
      for _ in $(seq 100); do grep -q serving "$log" && break; sleep 0.1; done
      "$t/build/bin/loadgen" "${TRACE[@]}" --load "$load" --seed "$seed" | pick
      kill -TERM "$sched"; wait "$sched"
      sed -n 's/^shinjukud: stats: //p' "$log" | tail -n 1 | tr ' ' '\n' |
        grep -Ev '=0$|^(wait_log2ns|queued_|version|sessions|mark_descriptors|qos_levels|slice_ns|requests)' |
        tr '\n' ' '; echo
      grep -h 'ejected\|^shinjukud: prog_mean_ns' "$log"
    done
  done
done
