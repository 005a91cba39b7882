#!/usr/bin/env bash
# `make bench`: build the peer schedulers (scripts/build-peers), boot the VM
# once (tests/vm/run) and run there the tail-latency sweep
# (tests/bench/tail.sh) and then cyclictest beside hackbench
# (tests/bench/cyclictest.sh); write results/tail-raw.txt (everything they
# printed), results/tail.md and results/tail-p99.png (tests/bench/report.sh).
# BENCH_RESULTS=DIR writes them into DIR instead (a quick run). Should the VM
# die (QEMU's TCG can crash a guest that patches its kernel text, as each
# scheduler attach and detach does), it boots again, up to twice, and goes on
# with the run that was under way (BENCH_START, BENCH_OVERHEAD_US: tail.sh);
# the report takes the last result of a run that was repeated.
#
# Usage: tests/bench/run.sh [--help]
# Environment: every BENCH_* variable is passed into the VM (see tail.sh and
# cyclictest.sh); BENCH_CYCLICTEST=0 skips cyclictest; SHJ_* as for
# tests/vm/run.
set -euo pipefail
case ${1:-} in
  -h|--help) sed -n '2,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  '') ;;
  *) echo "bench: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../.."

SHJ_PEERS=$(scripts/build-peers) || { echo "bench: scripts/build-peers failed" >&2; exit 1; }
export SHJ_PEERS
incl=(--include "$SHJ_PEERS")
cmd='tests/bench/tail.sh'
if [[ ${BENCH_CYCLICTEST:-1} != 0 ]]; then
  for t in cyclictest hackbench; do
    p=$(command -v $t) || { echo "bench: no $t (scripts/deps installs rt-tests)" >&2; exit 1; }
    incl+=(--include "$p")
  done
  cmd+='; s=$?; tests/bench/cyclictest.sh || s=$?; exit $s'
fi
benv=()
while read -r v; do benv+=("$v=${!v}"); done < <(compgen -e | grep '^BENCH_' | grep -v '^BENCH_START$\|^BENCH_OVERHEAD_US$' || true)

out=${BENCH_RESULTS:-results}
mkdir -p "$out"
# the host's load: other work on it slows an emulated guest's CPUs
hostload() { echo "# host, $1: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"; }
raw=$out/tail-raw.txt
: >"$raw"
resume=()
for boot in 1 2 3; do
  status=0
  {
    hostload before
    s=0
    tests/vm/run --timeout 3600 --native-ok "${incl[@]}" -- env "${benv[@]}" "${resume[@]}" bash -c "$cmd" || s=$?
    hostload after
    exit "$s"
  } | tee -a "$raw" || status=$?
  ((status == 125)) || break
  # where it stopped: the last run begun, or past the plan once tail.sh was done
  last=$(sed -n 's/^bench: \[\([0-9]*\)\/\([0-9]*\)\].*/\1 \2/p; s/^bench: done.*/done/p' "$raw" | tail -n 1)
  case $last in
    '') start=1 ;;
    done) start=$(sed -n 's/^bench: \[[0-9]*\/\([0-9]*\)\].*/\1/p' "$raw" | tail -n 1); start=$((${start:-0} + 1)) ;;
    *) start=${last% *} ;;
  esac
  ovh=$(sed -n 's/^# overhead //p' "$raw" | xargs)
  resume=("BENCH_START=$start" "BENCH_OVERHEAD_US=$ovh")
  if ((boot < 3)); then
    echo "bench: the VM died; booting again, from run $start of the sweep" | tee -a "$raw" >&2
  fi
done
PLOT=$out/tail-p99.png tests/bench/report.sh <"$raw" >"$out/tail.md"
echo "$out/tail.md $out/tail-p99.png $raw"
exit "$status"
