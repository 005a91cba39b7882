#!/usr/bin/env bash
# Benchmark: the control plane's speed (tests/bench/ctl-speed.c) against a
# running shinjukud: attached where the kernel has sched_ext, --dry-run (maps
# only) where it has not. Root. `make bench-ctl` runs it on the host and in
# the VM. SHJ_BUSY_POLL=1: the daemon spins (--busy-poll). Timings are
# reported, never asserted.
set -u
cd "$(dirname "$0")/../.." || exit 1
log=$(mktemp /tmp/shj-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
args=()
[[ -d /sys/kernel/sched_ext ]] || args=(--dry-run)
[[ ${SHJ_BUSY_POLL:-} ]] && args+=(--busy-poll)
build/bin/shinjukud "${args[@]}" 2>"$log" &
d=$!
for _ in $(seq 100); do grep -q serving "$log" && break; sleep 0.1; done
echo "# $(uname -r), $(nproc) CPUs, shinjukud ${args[*]:-(attached)}"
build/tests/ctl-speed "$@"; rc=$?
kill -TERM "$d"; wait "$d"
[[ $rc == 0 ]] || grep -o "requests=[0-9]* errors=[0-9]* dropped=[0-9]* sessions=[0-9]* marks=[0-9]*" "$log"
exit $rc
