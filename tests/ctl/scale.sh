#!/usr/bin/env bash
# Benchmark (make bench-ctl): a 16-tid batch with 16 and with 65,536
# threads registered (tests/ctl/scale.c) against shinjukud --dry-run, in an
# IPC namespace and /run of its own. Root. 65,536 threads need more pids
# than a default pid_max of 32768 and, in a VM of 4 GiB, more than its
# threads-max (memory / 128 KiB: 32,768): both are raised for the run and
# put back after. The daemon holds a pidfd per thread: where the open-file limit
# cannot be raised that far (no CAP_SYS_RESOURCE, as on the project's
# machines: 20,000), as many as it allows, said in the output; the VM run
# (tests/vm/run --mem 4G) has 65,536. Timings are reported, never asserted.
set -u
cd "$(dirname "$0")/../.." || exit 1
if ((EUID != 0)); then
  echo "SKIP ctl-scale: shinjukud --dry-run needs root (bpf)"
  exit 0
fi
# shellcheck source=tests/lib.sh
. tests/lib.sh
private_ns "$@"
D=$(mktemp -d /tmp/shj-scale.XXXXXX)
pid_max=$(cat /proc/sys/kernel/pid_max) threads_max=$(cat /proc/sys/kernel/threads-max)
want=$((65536 + 65536))
trap '[[ -n ${d:-} ]] && kill "$d" 2>/dev/null; echo "$pid_max" >/proc/sys/kernel/pid_max
      echo "$threads_max" >/proc/sys/kernel/threads-max; rm -rf "$D"' EXIT
((pid_max >= want)) || echo "$want" >/proc/sys/kernel/pid_max
((threads_max >= want)) || echo "$want" >/proc/sys/kernel/threads-max
max=65536 spare=1024	# shinjukud's descriptors besides the threads'
if ! (ulimit -Hn $((max + spare))) 2>/dev/null; then
  max=$(( $(ulimit -Hn) - spare ))
  echo "# the open-file limit ($(ulimit -Hn), hard) cannot be raised: $max threads at most"
fi
build/bin/shinjukud --dry-run --max-threads "$max" 2>"$D/d.log" &
d=$!
wait_for 30 grep -q serving "$D/d.log" || { cat "$D/d.log"; exit 1; }
echo "# $(uname -r), $(nproc) CPUs, shinjukud --dry-run --max-threads $max"
rc=0
for n in 16 "$max"; do
  build/tests/ctl-scale --registered "$n" --calls "${SHJ_SCALE_CALLS:-20000}" | { ((n == 16)) && cat || tail -n 1; } || rc=1
done
kill -TERM "$d"; wait "$d"; d=
exit $rc
