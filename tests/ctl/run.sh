#!/usr/bin/env bash
# shjctl and shinjukud's readiness on the host, against `shinjukud --dry-run`
# (maps and clients, no scheduler: no sched_ext needed): READY=1 on an
# abstract notify socket once the queue is served; stats --openmetrics read
# by a real parser and checked against stats --json (openmetrics.py); top
# without a terminal (N views, SIGINT) and on one (top-tty.py: q); every bad
# option refused. Needs root (bpf); skipped with the reason otherwise.
# Output ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
B=build/bin
PY=/usr/bin/python3	# Debian's, with python3-prometheus-client (not a python on PATH)
# shellcheck source=tests/lib.sh
. tests/lib.sh
sub() { # sub COMMAND...: a suite of its own; its counts are added to ours
  local out p f
  out=$("$@" 2>&1)
  sed 's/^/  /' <<<"$out"
  read -r p _ f _ < <(tail -n 1 <<<"$out")
  if [[ $p =~ ^[0-9]+$ && $f =~ ^[0-9]+$ ]]; then
    passed=$((passed + p)); failed=$((failed + f))
  else
    failed=$((failed + 1)); echo "FAIL $*: no result line"
  fi
}
if ((EUID != 0)); then
  echo "SKIP shjctl on the host: shinjukud --dry-run needs root (bpf)"
  exit 0
fi
private_ns "$@"
D=$(mktemp -d /tmp/shj-ctl.XXXXXX)
daemon=
trap '[[ -n $daemon ]] && kill "$daemon" 2>/dev/null; rm -rf "$D"' EXIT

# bad usage, no daemon needed
usage_error() { # usage_error WHAT ARGS...: exit 1 and a message saying WHAT
  local what=$1 rc; shift
  $B/shjctl "$@" >/dev/null 2>"$D/err"; rc=$?
  [[ $rc == 1 ]] && grep -q -- "$what" "$D/err" || { echo "exit $rc: $(cat "$D/err")"; return 1; }
}
t "no command" usage_error 'no command' 
t "unknown command" usage_error "unknown command 'frobnicate'" frobnicate
t "top --iterations 0" usage_error "'0' is not a number of views" top --iterations 0
t "top --iterations x" usage_error "'x' is not a number of views" top --iterations x
t "top --iterations (no value)" usage_error "is not a number of views" top --iterations
t "stats --json --openmetrics" usage_error 'exclude each other' stats --json --openmetrics
t "status --json" usage_error '--json is an option of stats only' status --json
t "top --openmetrics" usage_error '--openmetrics is an option of stats only' top --openmetrics
t "stats --iterations 2" usage_error '--iterations is an option of top only' stats --iterations 2
t "an unknown option" usage_error "unexpected argument '--frob'" stats --frob
not_running() { $B/shjctl "$@" >/dev/null 2>"$D/err"; [[ $? == 2 ]] && grep -q 'not running' "$D/err"; }
t "top with no daemon: exit 2, not running" not_running top --iterations 1

# a kernel without sched_ext (this host's, usually): exit 2, the reason and
# what to do, before anything is loaded or locked
no_sched_ext() {
  local rc
  $B/shinjukud 2>"$D/err"; rc=$?
  cat "$D/err"
  [[ $rc == 2 ]] && grep -q "kernel $(uname -r) has no sched_ext (CONFIG_SCHED_CLASS_EXT is not set); boot a kernel that has it" "$D/err"
}
if [[ -d /sys/kernel/sched_ext ]]; then
  echo "SKIP no-sched_ext refusal: this host's kernel has sched_ext"
else
  t "no sched_ext: shinjukud exits 2 with the reason" no_sched_ext
fi

# the daemon, and its readiness on an abstract socket
sock=@shj-ctl-test-$$
build/tests/shj-notify-listen "$sock" 60 >"$D/notify" 2>&1 &
listener=$!
wait_for 10 grep -q listening "$D/notify"
NOTIFY_SOCKET=$sock $B/shinjukud --dry-run -q 4 2>"$D/d.log" &
daemon=$!
t "READY=1 on \$NOTIFY_SOCKET ($sock)" wait "$listener"
t "READY=1 came once the queue was served" $B/shjctl status
wait_for 10 grep -q serving "$D/d.log"

sub $PY tests/ctl/openmetrics.py $B/shjctl "$daemon"

views() { # views N: shjctl top --iterations N without a terminal
  $B/shjctl top --iterations "$1" </dev/null >"$D/top" 2>&1 || { cat "$D/top"; return 1; }
  cat "$D/top"
  [[ $(grep -c '^LEVEL' "$D/top") == "$1" ]] &&
    [[ $(grep -cE '^ +[0-3] +[0-9]+ +[0-9]+ ' "$D/top") == $(( 4 * $1 )) ]] &&
    [[ $(grep -c 'totals since shinjukud started' "$D/top") == 1 ]] &&
    [[ $(grep -c 'per second over the last' "$D/top") == $(( $1 - 1 )) ]] &&
    ! grep -q $'\e' "$D/top"
}
t "top --iterations 3, no terminal: 3 plain views, one row per level" views 3
exited() { [[ ! -e /proc/$1 || $(awk '{ print $3 }' "/proc/$1/stat") == Z ]]; }
top_sigint() {
  local pid rc
  : >"$D/top-int"	# empty before it starts: the first view is its own
  $B/shjctl top </dev/null >"$D/top-int" 2>&1 &
  pid=$!
  wait_for 30 grep -q '^LEVEL' "$D/top-int" || { kill -KILL "$pid"; return 1; }
  kill -INT "$pid"
  if ! wait_for 30 exited "$pid"; then
    kill -KILL "$pid"; echo "still running after SIGINT"
  fi
  wait "$pid"; rc=$?
  echo "exit $rc"; [[ $rc == 0 ]]
}
t "top stops on SIGINT, exit 0" top_sigint
sub $PY tests/ctl/top-tty.py $B/shjctl

kill -TERM "$daemon"; wait "$daemon"; rc=$?
daemon=
t "dry-run daemon exit $rc after SIGTERM, want 0" test $rc = 0

results
