# shellcheck shell=bash
# Sourced by tests/bench/tail.sh and tests/bench/cyclictest.sh (in the VM,
# as root): the trace preset, shinjukud's arguments, and attaching and
# detaching the scheduler of a policy:
#   eevdf, ideal, ideal+overhead  nothing (the kernel's own scheduler)
#   shj-fcfs, shj, shj-all        shinjukud: slice 1 s; the preset; --switch-all
#   shj-mq                        shinjukud --no-direct-marks: marks through
#                                 the daemon's queues (spinning workers)
#   scx_simple, scx_central       the kernel's example schedulers, defaults
#                                 (built by scripts/build-peers; $SHJ_PEERS)
# Environment: BENCH_PRESET, BENCH_DAEMON_ARGS, BENCH_PROG_STATS (tail.sh;
# also whether a peer's BPF programs are timed).
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
B=build/bin
# BENCH_PRESET=tcg (default): 500 us / 50 ms requests, 500 us quantum for
# the ideal and 1 ms for shinjuku (below) -- the
# scale at which an emulated VM measures the policy, not the emulator.
# BENCH_PRESET=hw: 4 us / 10 ms, 30 us slice (ghOSt's RocksDB experiment),
# for real hardware.
case ${BENCH_PRESET:-tcg} in
  tcg) SHORT=500 LONG=50000 SLICE=500 SHJ_SLICE=1000 ;;
  hw) SHORT=4 LONG=10000 SLICE=30 SHJ_SLICE=30 ;;
  *) echo "bench: BENCH_PRESET is tcg or hw" >&2; exit 2 ;;
esac
# shinjukud: BENCH_DAEMON_ARGS (default none), the preset's slice, and
# --prog-stats (the kernel times each BPF program) unless BENCH_PROG_STATS=0.
read -r -a DARGS <<<"${BENCH_DAEMON_ARGS:-}"
# shinjuku's slice is what a request may use before it counts as long: on
# TCG twice the short service time, so that a short request and its
# emulated overheads stay fresh (BENCH_SHJ_SLICE_US to choose); the ideal's
# quantum stays SLICE
DARGS+=(--slice-us "${BENCH_SHJ_SLICE_US:-$SHJ_SLICE}")
[[ ${BENCH_PROG_STATS:-1} == 0 ]] || DARGS+=(--prog-stats)
PEERS=${SHJ_PEERS:-}

log=$(mktemp /tmp/shj-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -f "$log" "$log".*' EXIT

sched=''	# the pid of shinjukud or of a peer scheduler
sched_kind=''
EJECTED=0 BPF_NS='' SHJ_STATS=''

# has_policy POLICY: can it run here? (says why not, once, on stderr)
declare -A told=()
has_policy() {
  [[ $1 != scx_* || -x $PEERS/$1 ]] && return 0
  [[ -n ${told[$1]:-} ]] || echo "bench: no $1 (SHJ_PEERS=${PEERS:-unset}; scripts/build-peers builds it): skipped" >&2
  told[$1]=1
  return 1
}

# start_sched POLICY
start_sched() {
  local p=$1 i ops
  EJECTED=0 BPF_NS='' SHJ_STATS=''
  case $p in
    ideal|ideal+overhead|eevdf) return 0 ;;
    shj-fcfs) set -- "${DARGS[@]}" --slice-us 1000000 ;;
    shj) set -- "${DARGS[@]}" ;;
    shj-mq) set -- "${DARGS[@]}" --no-direct-marks ;;
    shj-all) set -- --switch-all "${DARGS[@]}" ;;
    scx_*) set -- ;;
    *) echo "bench: unknown policy $p" >&2; return 1 ;;
  esac
  if [[ $p == shj* ]]; then
    $B/shinjukud "$@" 2>"$log" &
    sched=$! sched_kind=shinjukud
    for i in $(seq 200); do grep -q serving "$log" && return 0; sleep 0.1; done
    echo "bench: shinjukud did not start: $(cat "$log")" >&2
    stop_sched; return 1
  fi
  # a peer: attached once sched_ext is enabled and its root scheduler is it;
  # libbpf reads the kernel's config from /boot (scripts/build-peers)
  if [[ ! -e /boot/config-$(uname -r) && ! -e /proc/config.gz && -f $PEERS/config ]]; then
    mkdir -p /boot && cp "$PEERS/config" "/boot/config-$(uname -r)"
  fi
  # its BPF programs timed as shinjukud's are (--prog-stats), unless
  # BENCH_PROG_STATS=0: the kernel-wide switch, for as long as it runs
  if [[ ${BENCH_PROG_STATS:-1} != 0 ]]; then
    echo 1 >/proc/sys/kernel/bpf_stats_enabled || echo "bench: cannot time $p's BPF programs" >&2
  fi
  "$PEERS/$p" >"$log" 2>&1 &
  sched=$! sched_kind=$p ops=${p#scx_}
  for i in $(seq 200); do
    [[ $(cat /sys/kernel/sched_ext/state) == enabled &&
       $(cat /sys/kernel/sched_ext/root/ops 2>/dev/null) == "$ops" ]] && return 0
    kill -0 "$sched" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: $p did not attach: $(tail -n 5 "$log")" >&2
  stop_sched; return 1
}

# peer_bpf_ns PID: the run time of the BPF programs PID holds, summed over
# them (each once: its fdinfo has prog_id, run_time_ns), or nothing
peer_bpf_ns() {
  local f
  for f in /proc/"$1"/fdinfo/*; do
    awk '/^prog_id:/ { id = $2 } /^run_time_ns:/ { t = $2 } END { if (id != "") print id, t }' "$f" 2>/dev/null
  done | sort -u -k1,1 | awk '{ s += $2; n++ } END { if (n) printf "%.0f", s }'
}

# stop_sched: SIGTERM to shinjukud, SIGINT to a peer; sets EJECTED (1 if the
# kernel ejected the scheduler before), BPF_NS (the sum over the
# scheduler's programs of their run time: shinjukud --prog-stats, or the
# kernel's stats of a peer's programs, read before it stops) and, for
# shinjukud, SHJ_STATS (some of its final counters, as shj_NAME=N).
stop_sched() {
  local i
  [[ -n $sched ]] || return 0
  if ! kill -0 "$sched" 2>/dev/null; then EJECTED=1; fi	# gone by itself
  if [[ $sched_kind == shinjukud ]]; then
    kill -TERM "$sched" 2>/dev/null; wait "$sched"
    grep -q ejected "$log" && EJECTED=1
    BPF_NS=$(sed -n 's/^shinjukud: prog_mean_ns://p' "$log" | tail -n 1 |
      awk '{ for (i = 1; i <= NF; i++) { split($i, a, "="); split(a[2], b, "/"); s += b[1] * b[2] }; seen = 1 }
           END { if (seen) printf "%.0f", s }')
    # where a run's switches came from: the counters that tell a good run
    # from one whose workers were all held (README's stats table)
    SHJ_STATS=$(sed -n 's/^shinjukud: stats: //p' "$log" | tail -n 1 | tr ' ' '\n' |
      grep -E '^(prio_boost|preempt_qos|preempt_slice|preempt_idle|yields|went_long|starvation_runs|keep_running|direct_dispatch|migrations)=' |
      sed 's/^/shj_/' | paste -sd ' ' -)
  else
    [[ ${BENCH_PROG_STATS:-1} == 0 ]] || BPF_NS=$(peer_bpf_ns "$sched")
    kill -INT "$sched" 2>/dev/null; wait "$sched"
    [[ ${BENCH_PROG_STATS:-1} == 0 ]] || echo 0 >/proc/sys/kernel/bpf_stats_enabled
    # a clean stop reports "EXIT: unregistered from user space"
    grep -q '^EXIT: unregistered from user space' "$log" || EJECTED=1
  fi
  for i in $(seq 100); do
    [[ $(cat /sys/kernel/sched_ext/state) == disabled ]] && break
    sleep 0.1
  done
  [[ $(cat /sys/kernel/sched_ext/state) == disabled ]] ||
    echo "bench: $sched_kind did not detach: sched_ext is $(cat /sys/kernel/sched_ext/state)" >&2
  ((EJECTED == 0)) || echo "bench: EJECTED ($sched_kind): $(grep -E 'ejected|^EXIT' "$log" | tail -n 3)" >&2
  sched='' sched_kind=''
}
