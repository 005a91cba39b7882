#!/usr/bin/env bash
# Benchmark: how soon a higher level runs once marked runnable while a lower
# one spins on its only CPU (tests/bench/handover.c), with shinjukud
# attached; `make bench-handover` runs it in the VM. Reported, never asserted.
set -u
cd "$(dirname "$0")/../.." || exit 1
[[ -d /sys/kernel/sched_ext ]] || { echo "handover: needs sched_ext (run it through tests/vm/run)" >&2; exit 2; }
log=$(mktemp /tmp/shj-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
build/bin/shinjukud "$@" 2>"$log" &
d=$!
for _ in $(seq 100); do grep -q serving "$log" && break; sleep 0.1; done
echo "# $(uname -r), $(nproc) CPUs, shinjukud $*"
build/tests/handover; rc=$?
kill -TERM "$d"; wait "$d"
grep -o "preempt_qos=[0-9]* .*kick_preempt=[0-9]*" "$log"
exit $rc
