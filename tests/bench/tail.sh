#!/usr/bin/env bash
# The tail-latency benchmark: one trace, swept over offered load, through
# every policy, in one boot. Needs sched_ext and root; `make bench`
# (tests/bench/run.sh) runs it in the VM and turns its RESULT lines into a
# table and plots (tests/bench/report.sh).
#
# Policies (tests/bench/lib.sh): ideal (loadgen --simulate: centralized
# preemptive FCFS, zero overhead); ideal+overhead (the same, each request
# charged X us of CPU: X is EEVDF's short p50 at 5 % load minus the short
# service time, per seed; needs 0.05 among the loads); eevdf (the kernel's
# scheduler); scx_simple and scx_central (the kernel's example sched_ext
# schedulers, defaults); shj-fcfs (shinjuku, slice 1 s: run to completion);
# shj (defaults); shj-all (--switch-all; the dispatcher registered one level
# above the workers). Workers are registered only under shinjuku
# (loadgen --no-shinjuku otherwise); shinjukud runs with --prog-stats.
# Variants: block (blocking idle workers, 16 on 2 CPUs: every policy), spin
# (spinning idle workers: eevdf, the peers, shj, and shj-mq: marks through
# the daemon) and batch (a CPU-bound
# SCHED_NORMAL job on both CPUs beside the server, whose progress is the CPU
# time it got: eevdf, shj, shj-all).
#
# Environment: BENCH_PRESET (tcg or hw: tests/bench/lib.sh), BENCH_SECS
# (trace length, default 5), BENCH_LOADS (default
# "0.05 0.3 0.4 0.5 0.6 0.7 0.75 0.8 0.85 0.9"), BENCH_REPS (seeds 1..N,
# default 2), BENCH_VARIANTS (default "block spin batch"), BENCH_ONLY
# (policy filter, a regex), BENCH_DAEMON_ARGS (extra shinjukud options),
# BENCH_PROG_STATS=0 (shinjukud without --prog-stats), SHJ_PEERS (where
# scripts/build-peers put scx_simple and scx_central). To resume after the VM
# died (tests/bench/run.sh does): BENCH_START=N (begin with the Nth run of
# the plan) and BENCH_OVERHEAD_US="SEED=X ..." (the "# overhead" lines so far).
set -u
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
SECS=${BENCH_SECS:-5}
LOADS=${BENCH_LOADS:-"0.05 0.3 0.4 0.5 0.6 0.7 0.75 0.8 0.85 0.9"}
REPS=${BENCH_REPS:-2}
ONLY=${BENCH_ONLY:-.}
VARIANTS=${BENCH_VARIANTS:-"block spin batch"}
TRACE=(--dist bimodal --short-us "$SHORT" --long-us "$LONG" --long-frac 0.005 --cpus 2
       --secs "$SECS" --quantum-us "$SLICE")
declare -A POLICIES=(
  [block]="ideal eevdf scx_simple scx_central shj-fcfs shj shj-all"
  [spin]="eevdf scx_simple scx_central shj shj-mq"
  [batch]="eevdf shj shj-all"
)
declare -A overhead=()	# rep -> X, from EEVDF at 5 % load
for kv in ${BENCH_OVERHEAD_US:-}; do overhead[${kv%%=*}]=${kv#*=}; done

# run POLICY VARIANT LOAD REP
run() {
  local policy=$1 variant=$2 load=$3 rep=$4 args=(--no-shinjuku) bpids=() out b c
  local wait=block batch=no extra=''
  [[ $variant == spin ]] && wait=spin
  [[ $variant == batch ]] && batch=yes
  if [[ $policy == ideal+overhead && -z ${overhead[$rep]:-} ]]; then
    echo "bench: ideal+overhead, seed $rep: no EEVDF run at load 0.05 to take the overhead from; skipped" >&2
    return
  fi
  case $policy in
    ideal) args+=(--simulate) ;;
    ideal+overhead) args+=(--simulate --overhead-us "${overhead[$rep]}")
      extra=" overhead_us=${overhead[$rep]}" ;;
    shj-all) args=(--dispatcher-qos 1) ;;	# under --switch-all: above the workers
    shj*) args=() ;;
  esac
  [[ $wait == spin ]] && args+=(--spin)
  start_sched "$policy" || return
  if [[ $batch == yes ]]; then	# a spinner per CPU, SCHED_NORMAL
    for c in 0 1; do
      build/tests/shj-spin --cpu $c --windows 1 --window-ms $(( (SECS + 1) * 1000 )) \
        "batch$c:fair" >"$log.b$c" 2>&1 &
      bpids+=($!)
    done
    sleep 0.5
  fi
  if ! out=$($B/loadgen "${TRACE[@]}" --load "$load" --seed "$rep" --workers 16 \
             --label "$policy/$wait/batch=$batch" "${args[@]}" 2>&1); then
    echo "bench: loadgen failed ($policy/$variant, load $load, seed $rep): $out" >&2
    out="label=$policy/$wait/batch=$batch load=$load failed=1"
  fi
  b=0
  if [[ $batch == yes ]]; then
    wait "${bpids[@]}"
    b=$(cat "$log".b0 "$log".b1 | sed -n 's/.* w0=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
  fi
  stop_sched
  [[ -n $BPF_NS ]] && extra+=" bpf_ns=$BPF_NS"
  [[ -n $SHJ_STATS ]] && extra+=" $SHJ_STATS"
  echo "RESULT policy=$policy wait=$wait batch=$batch rep=$rep batch_cpu_ms=$b short_us=$SHORT ejected=$EJECTED$extra $out"
  if [[ $policy == eevdf && $variant == block && $load == 0.05 && $out =~ short_p50_us=([0-9.]+) ]]; then
    overhead[$rep]=$(awk -v p="${BASH_REMATCH[1]}" -v s="$SHORT" 'BEGIN { x = p - s; printf "%.1f", (x > 0 ? x : 0) }')
    echo "# overhead $rep=${overhead[$rep]}"
  fi
}

for v in $VARIANTS; do
  [[ -n ${POLICIES[$v]:-} ]] || { echo "bench: BENCH_VARIANTS: unknown variant $v (block, spin, batch)" >&2; exit 2; }
done
plan=()
for load in $LOADS; do
  for rep in $(seq "$REPS"); do
    for v in $VARIANTS; do
      for p in ${POLICIES[$v]}; do
        [[ $p =~ $ONLY ]] && has_policy "$p" && plan+=("$p $v $load $rep")
      done
    done
  done
done
# the honest limit: the ideal, each request charged EEVDF's low-load overhead
if [[ ideal+overhead =~ $ONLY && " $VARIANTS " == *" block "* ]]; then
  for rep in $(seq "$REPS"); do
    for load in $LOADS; do plan+=("ideal+overhead block $load $rep"); done
  done
fi

echo "# $(uname -r), $(nproc) CPUs; trace: bimodal 99.5% $SHORT us / 0.5% $LONG us, $SECS s, 16 workers, slice $SLICE us; shinjukud ${DARGS[*]}; loads: $LOADS; reps: $REPS; variants: $VARIANTS"
start=$SECONDS
timed=0 ntimed=0	# replays so far (the simulator takes no time)
for ((i = ${BENCH_START:-1} - 1; i < ${#plan[@]}; i++)); do
  read -r p v load rep <<<"${plan[i]}"
  left=0
  for ((j = i; j < ${#plan[@]}; j++)); do [[ ${plan[j]} == ideal* ]] || ((left++)); done
  eta=''
  ((ntimed)) && eta=", ~$(( timed * left / ntimed / 60 + 1 )) min left"
  echo "bench: [$((i + 1))/${#plan[@]}] $p $v load $load seed $rep ($(( (SECONDS - start) / 60 )) min$eta)" >&2
  t=$SECONDS
  run $p "$v" "$load" "$rep"
  [[ $p == ideal* ]] || { ((timed += SECONDS - t)); ((ntimed++)); }
done
echo "bench: done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s" >&2
