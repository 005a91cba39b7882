# shellcheck shell=bash
# What the host test scripts share. Source it after making $D, a scratch
# directory of the script's own.
#   t DESCRIPTION COMMAND...  run one check, count it, show its output if it fails
#   results                   the closing line "N passed, N failed"; its status
#   wait_for SECS COMMAND...  poll until COMMAND succeeds (bounded, not a timing check)
#   private_ns ARGS...        re-run the script in its own IPC namespace (message
#                             queues) and /run (the daemon's lock): a daemon it
#                             starts meets no other shinjukud on the machine
passed=0 failed=0

t() {
  local what=$1; shift
  if "$@" >"$D/out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $what"
  else
    failed=$((failed + 1)); echo "FAIL $what"; tail -n 40 "$D/out" | sed 's/^/     /'
  fi
}

results() {
  echo "$passed passed, $failed failed"
  [[ $failed == 0 ]]
}

wait_for() {
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    (( $(date +%s) < end )) || return 1
    sleep 0.1
  done
}

private_ns() {
  [[ -n ${SHJ_PRIVATE_NS:-} ]] && return
  exec env SHJ_PRIVATE_NS=1 unshare --ipc --mount --propagation private -- \
    bash -c 'mount -t tmpfs -o mode=755 tmpfs /run && exec "$0" "$@"' "$0" "$@"
}
