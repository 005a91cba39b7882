#!/usr/bin/env bash
# The tail-latency benchmark (issue: echo server, load generator, benchmark):
# one trace, swept over offered load, through every policy, in one boot.
# Needs sched_ext and root; `make bench` runs it in the VM and turns its
# RESULT lines into a table and plots (tests/bench/report.sh).
#
# Policies: ideal (simulated centralized preemptive FCFS, zero overhead);
# eevdf (the kernel's scheduler, workers not registered); shj-fcfs (shinjuku,
# slice 1 s: run to completion); shj (defaults); shj-all (--switch-all).
# Variants: blocking or spinning idle workers (16 workers on 2 CPUs); and a
# CPU-bound SCHED_NORMAL batch job on both CPUs beside the server, whose
# progress is the CPU time it got.
#
# Environment: BENCH_PRESET (tcg or hw, below), BENCH_SECS (trace length,
# default 5), BENCH_LOADS (default
# "0.05 0.3 0.5 0.7 0.85"), BENCH_REPS (default 2), BENCH_ONLY (policy
# filter, a regex), BENCH_DAEMON_ARGS (default "--preempt-us 100").
set -u
cd "$(dirname "$0")/../.." || exit 1
B=build/bin
SECS=${BENCH_SECS:-5}
LOADS=${BENCH_LOADS:-"0.05 0.3 0.5 0.7 0.85"}
REPS=${BENCH_REPS:-2}
ONLY=${BENCH_ONLY:-.}
# BENCH_PRESET=tcg (default): 500 us / 50 ms requests, 500 us slice -- the
# scale at which an emulated VM measures the policy, not the emulator.
# BENCH_PRESET=hw: 4 us / 10 ms, 30 us slice (ghOSt's RocksDB experiment),
# for real hardware.
case ${BENCH_PRESET:-tcg} in
  tcg) SHORT=500 LONG=50000 SLICE=500 ;;
  hw) SHORT=4 LONG=10000 SLICE=30 ;;
  *) echo "bench: BENCH_PRESET is tcg or hw" >&2; exit 2 ;;
esac
TRACE=(--dist bimodal --short-us "$SHORT" --long-us "$LONG" --long-frac 0.005 --cpus 2
       --secs "$SECS" --quantum-us "$SLICE")
# shinjukud's check every 100 us: under TCG a timer fires no closer than
# ~120 us anyway, and each firing costs emulated CPU; the slice is the preset's
read -r -a DARGS <<<"${BENCH_DAEMON_ARGS:---preempt-us 100}"
DARGS+=(--slice-us "$SLICE")

log=$(mktemp /tmp/shj-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -f "$log"' EXIT

daemon=''
start_daemon() {
  $B/shinjukud "$@" 2>"$log" &
  daemon=$!
  for _ in $(seq 200); do grep -q serving "$log" && return 0; sleep 0.1; done
  echo "bench: shinjukud did not start: $(cat "$log")" >&2
  return 1
}
stop_daemon() {
  [[ -n $daemon ]] || return 0
  kill -TERM "$daemon"; wait "$daemon"; daemon=''
  grep -q ejected "$log" && { echo "bench: EJECTED: $(grep ejected "$log")" >&2; }
  return 0
}

# run POLICY WAIT BATCH LOAD REP
run() {
  local policy=$1 wait=$2 batch=$3 load=$4 rep=$5 args=() bpids=() out b
  [[ $policy =~ $ONLY ]] || return 0
  case $policy in
    ideal) ;;
    eevdf) args+=(--no-shinjuku) ;;
    shj-fcfs) start_daemon "${DARGS[@]}" --slice-us 1000000 || return ;;
    shj) start_daemon "${DARGS[@]}" || return ;;
    shj-all) start_daemon --switch-all "${DARGS[@]}" || return ;;
    *) echo "bench: unknown policy $policy" >&2; return 1 ;;
  esac
  [[ $wait == spin ]] && args+=(--spin)
  [[ $policy == ideal ]] && args+=(--simulate)
  if [[ $batch == yes ]]; then	# a spinner per CPU, SCHED_NORMAL
    for c in 0 1; do
      build/tests/shj-spin --cpu $c --windows 1 --window-ms $(( (SECS + 1) * 1000 )) \
        "batch$c:fair" >"$log.b$c" 2>&1 &
      bpids+=($!)
    done
    sleep 0.5
  fi
  # under --switch-all the dispatcher must be registered above the workers
  [[ $policy == shj-all ]] && args+=(--dispatcher-qos 1)
  out=$($B/loadgen "${TRACE[@]}" --load "$load" --seed "$rep" --workers 16 \
        --label "$policy/$wait/batch=$batch" "${args[@]}" 2>&1)
  b=0
  if [[ $batch == yes ]]; then
    wait "${bpids[@]}"
    b=$(cat "$log".b0 "$log".b1 | sed -n 's/.* w0=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
  fi
  stop_daemon
  echo "RESULT policy=$policy wait=$wait batch=$batch rep=$rep batch_cpu_ms=$b $out"
}

echo "# $(uname -r), $(nproc) CPUs; trace: bimodal 99.5% $SHORT us / 0.5% $LONG us, $SECS s, 16 workers, slice $SLICE us; shinjukud ${DARGS[*]}; loads: $LOADS; reps: $REPS"
for load in $LOADS; do
  for rep in $(seq "$REPS"); do
    for p in ideal eevdf shj-fcfs shj shj-all; do
      [[ $p == ideal && $rep != 1 ]] && continue	# deterministic
      run $p block no "$load" "$rep"
    done
    for p in eevdf shj; do run $p spin no "$load" "$rep"; done
    for p in eevdf shj shj-all; do run $p block yes "$load" "$rep"; done
  done
done
