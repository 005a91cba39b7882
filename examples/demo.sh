#!/usr/bin/env bash
# The demo behind `make demo`: start shinjukud, run the echo server with its
# workers registered, send it requests, and show that the workers ran in the
# SCHED_EXT class under the shinjuku scheduler. Needs sched_ext and root (make
# demo boots a VM when the host kernel has no sched_ext).
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bin
log=$(mktemp -d /tmp/shj-demo.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$log"' EXIT

wait_for() { local n=$(( $1 * 10 )); shift; until "$@"; do ((n--)) || return 1; sleep 0.1; done; }

echo "# kernel $(uname -r), sched_ext state: $(cat /sys/kernel/sched_ext/state)"
echo "# starting shinjukud"
$B/shinjukud 2>"$log/shinjukud.log" &
daemon=$!
wait_for 60 grep -q 'serving' "$log/shinjukud.log" || { cat "$log/shinjukud.log"; exit 1; }
echo "# sched_ext state: $(cat /sys/kernel/sched_ext/state), scheduler: $(cat /sys/kernel/sched_ext/root/ops)"

$B/echo-server -p 0 -w 2 >"$log/echo.log" 2>&1 &
server=$!
workers_ready() { [[ $(grep -c '^worker' "$log/echo.log") -ge 2 ]]; }
wait_for 30 workers_ready || { cat "$log/echo.log"; exit 1; }
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log/echo.log")
echo "# echo-server pid $server on port $port"

$B/echo-client "$port" 500
sed -n 's/^worker [0-9]* tid //p' "$log/echo.log" | while read -r tid; do
  printf '# worker tid %s: ' "$tid"
  grep -E '^(policy|ext\.enabled) ' "/proc/$server/task/$tid/sched" | tr -s ' ' | tr '\n' ' '
  echo
done

kill -TERM "$daemon"; wait "$daemon" || true
cat "$log/shinjukud.log"
echo "# sched_ext state after stop: $(cat /sys/kernel/sched_ext/state)"
