#!/usr/bin/env bash
# `make bench-rocksdb`: boot the VM once (tests/vm/run) and run there the
# RocksDB benchmark (tests/bench/rocksdb.sh); write results/rocksdb-raw.txt
# (everything it printed), results/rocksdb.md and results/rocksdb-p99.png
# (tests/bench/rocksdb-report.sh). BENCH_RESULTS=DIR writes them into DIR
# instead. Should the VM die, it boots again, up to twice, and goes on with
# the run that was under way (as tests/bench/run.sh does).
#
# Usage: tests/bench/rocksdb-run.sh [--help]
# Environment: every BENCH_* variable is passed into the VM (see
# tests/bench/rocksdb.sh); SHJ_* as for tests/vm/run.
set -euo pipefail
case ${1:-} in
  -h|--help) sed -n '2,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  '') ;;
  *) echo "bench-rocksdb: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../.."
benv=()
while read -r v; do benv+=("$v=${!v}"); done < <(compgen -e | grep '^BENCH_' | grep -v '^BENCH_START$' || true)
out=${BENCH_RESULTS:-results}
mkdir -p "$out"
raw=$out/rocksdb-raw.txt
: >"$raw"
hostload() { echo "# host, $1: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"; }
resume=()
for boot in 1 2 3; do
  status=0
  {
    hostload before
    s=0
    tests/vm/run --timeout 2400 --native-ok -- env "${benv[@]}" "${resume[@]}" tests/bench/rocksdb.sh || s=$?
    hostload after
    exit "$s"
  } | tee -a "$raw" || status=$?
  ((status == 125)) || break
  start=$(sed -n 's/^bench: \[\([0-9]*\)\/.*/\1/p' "$raw" | tail -n 1)
  resume=("BENCH_START=${start:-1}")
  ((boot < 3)) && echo "bench-rocksdb: the VM died; booting again, from run ${start:-1}" | tee -a "$raw" >&2
done
PLOT=$out/rocksdb-p99.png tests/bench/rocksdb-report.sh <"$raw" >"$out/rocksdb.md"
echo "$out/rocksdb.md $out/rocksdb-p99.png $raw"
exit "$status"
