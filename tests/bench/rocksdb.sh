#!/usr/bin/env bash
# The RocksDB benchmark (issue 12): GETs and SCANs of a real database
# (examples/rocks.c, 100,000 keys on tmpfs, made at the start of the boot),
# replayed open-loop in-process (loadgen --app rocksdb: no network stack)
# into the worker pool of examples/workers.c (16 workers, 2 CPUs), one
# trace swept over offered load through every policy, in one boot. Needs
# sched_ext and root; `make bench-rocksdb` (tests/bench/rocksdb-run.sh)
# runs it in the VM and turns its RESULT lines into results/rocksdb.md
# (tests/bench/rocksdb-report.sh).
#
# The trace: Poisson arrivals, 99.5 % GETs of a random key padded to
# BENCH_GET_US of CPU (default 1000), 0.5 % SCANs of BENCH_SCAN_KEYS keys
# (1000) from a random one padded to BENCH_SCAN_US (100000): a GET whose
# real work takes longer keeps its own time (over_pad counts them).
# Policies, one pool whose workers serve both classes (a worker takes the
# rank of the request it serves and gives it back when done):
#   ideal       loadgen --simulate (centralized preemptive FCFS, zero
#               overhead, quantum BENCH_GET_US), the same trace's service times
#   eevdf       the kernel's scheduler, workers unregistered, one class
#   eevdf-nice  the same, a worker at nice 19 while it serves a SCAN
#   eevdf-idle  the same, a worker in SCHED_IDLE while it serves a SCAN
#   shj-noqos   shinjuku, every request at level 0
#   shj-qos     shinjuku, GETs at level 1, a SCAN's worker at level 0
#               (shj_set_qos, synchronous: two calls per SCAN)
#   shj-all     shj-qos under --switch-all (the dispatcher at level 2)
# shinjukud runs with --slice-us BENCH_SHJ_SLICE_US (default 2000: twice
# the GET) and --prog-stats (tests/bench/lib.sh).
#
# Environment: BENCH_SECS (trace length, default 5), BENCH_LOADS (default
# "0.2 0.35 0.5 0.65 0.75 0.85 0.9"), BENCH_REPS (seeds 1..N, default 2),
# BENCH_ONLY (policy filter, a regex), BENCH_KEYS (default 100000: each run
# reads every value once before its trace, outside the measurement, so
# that GETs do not fault pages in; 1 M keys would take ~10x as long),
# BENCH_GET_US, BENCH_SCAN_US, BENCH_SCAN_KEYS, BENCH_DAEMON_ARGS,
# BENCH_PROG_STATS=0; BENCH_START=N begins with the Nth run of the plan
# (tests/bench/rocksdb-run.sh resumes with it after the VM died).
set -u
BENCH_SHJ_SLICE_US=${BENCH_SHJ_SLICE_US:-2000}
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
SECS=${BENCH_SECS:-5}
LOADS=${BENCH_LOADS:-"0.2 0.35 0.5 0.65 0.75 0.85 0.9"}
REPS=${BENCH_REPS:-2}
ONLY=${BENCH_ONLY:-.}
GET_US=${BENCH_GET_US:-1000} SCAN_US=${BENCH_SCAN_US:-100000}
KEYS=${BENCH_KEYS:-100000} SCAN_KEYS=${BENCH_SCAN_KEYS:-1000}
DB=/dev/shm/shj-bench-rocksdb
POLICIES="ideal eevdf eevdf-nice eevdf-idle shj-noqos shj-qos shj-all"
TRACE=(--dist bimodal --short-us "$GET_US" --long-us "$SCAN_US" --long-frac 0.005 --cpus 2
       --secs "$SECS" --quantum-us "$GET_US" --workers 16)
APP=(--app rocksdb --db "$DB" --keys "$KEYS" --scan-keys "$SCAN_KEYS")

# run POLICY LOAD REP
run() {
  local policy=$1 load=$2 rep=$3 kind=eevdf args=() out extra=""
  case $policy in
    ideal) args=(--simulate --no-shinjuku) ;;
    eevdf) args=("${APP[@]}" --no-shinjuku) ;;
    eevdf-nice) args=("${APP[@]}" --no-shinjuku --scan-class nice) ;;
    eevdf-idle) args=("${APP[@]}" --no-shinjuku --scan-class idle) ;;
    shj-noqos) kind=shj args=("${APP[@]}") ;;
    shj-qos) kind=shj args=("${APP[@]}" --qos 1 --scan-class qos --scan-qos 0) ;;
    shj-all) kind=shj-all args=("${APP[@]}" --qos 1 --scan-class qos --scan-qos 0 --dispatcher-qos 2) ;;
    *) echo "bench: unknown policy $policy" >&2; return 1 ;;
  esac
  start_sched "$kind" || return
  if ! out=$($B/loadgen "${TRACE[@]}" --load "$load" --seed "$rep" --label "$policy" "${args[@]}" 2>&1); then
    echo "bench: loadgen failed ($policy, load $load, seed $rep): $out" >&2
    out="label=$policy load=$load failed=1"
  fi
  stop_sched
  [[ -n $BPF_NS ]] && extra+=" bpf_ns=$BPF_NS"
  echo "RESULT policy=$policy rep=$rep get_us=$GET_US scan_us=$SCAN_US ejected=$EJECTED$extra $out"
}

plan=()
for load in $LOADS; do
  for rep in $(seq "$REPS"); do
    for p in $POLICIES; do
      [[ $p =~ $ONLY ]] && plan+=("$p $load $rep")
    done
  done
done

echo "# $(uname -r), $(nproc) CPUs; trace: 99.5% GET padded to $GET_US us / 0.5% SCAN of $SCAN_KEYS keys padded to $SCAN_US us, $SECS s, 16 workers; $KEYS keys; shinjukud ${DARGS[*]}; loads: $LOADS; reps: $REPS"
# the database, once per boot (a resumed boot makes it again)
t=$SECONDS
if ! out=$($B/loadgen "${APP[@]}" --no-shinjuku --load 0.05 --secs 0.1 2>&1); then
  echo "bench: cannot make the database: $out" >&2
  exit 1
fi
echo "# database: $KEYS keys in $DB, $(du -sm "$DB" | cut -f1) MB, ready in $((SECONDS - t)) s"
start=$SECONDS
timed=0 ntimed=0
for ((i = ${BENCH_START:-1} - 1; i < ${#plan[@]}; i++)); do
  read -r p load rep <<<"${plan[i]}"
  left=0
  for ((j = i; j < ${#plan[@]}; j++)); do [[ ${plan[j]} == ideal* ]] || ((left++)); done
  eta=''
  ((ntimed)) && eta=", ~$(( timed * left / ntimed / 60 + 1 )) min left"
  echo "bench: [$((i + 1))/${#plan[@]}] $p load $load seed $rep ($(( (SECONDS - start) / 60 )) min$eta)" >&2
  t=$SECONDS
  run "$p" "$load" "$rep"
  [[ $p == ideal ]] || { ((timed += SECONDS - t)); ((ntimed++)); }
done
echo "bench: done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s" >&2
