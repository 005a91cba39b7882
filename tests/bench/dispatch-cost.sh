#!/usr/bin/env bash
# Benchmark: does the cost of ops.dispatch grow with the number of
# idle-marked threads? Runs the same two runnable spinners with 0, 8 and 32
# idle-marked spinners beside them, under shinjukud --prog-stats, and prints
# the kernel's mean run time of each scheduler program. Needs sched_ext and
# root: `make bench-dispatch` runs it in the VM. Absolute ns under TCG are
# emulated; compare the rows with each other.
set -u
cd "$(dirname "$0")/../.." || exit 1
log=$(mktemp /tmp/shj-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
printf '%-14s %s\n' "idle-marked" "mean ns/run (runs) per program"
for n in 0 8 32; do
  build/bin/shinjukud --prog-stats 2>"$log" &
  d=$!
  for _ in $(seq 100); do grep -q serving "$log" && break; sleep 0.1; done
  specs=(r1:reg:0 r2:reg:0)
  for i in $(seq "$n"); do specs+=("i$i:idle:0"); done
  build/tests/shj-spin --windows 3 "${specs[@]}" >/dev/null || exit 1
  kill -TERM "$d"; wait "$d"
  printf '%-14s %s\n' "$n" "$(sed -n 's/^shinjukud: prog_mean_ns: //p' "$log")"
done
