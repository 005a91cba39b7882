#!/usr/bin/env bash
# make check-asan: the unit suites, then a dry-run shinjukud under a client
# flood, all built with ASan and UBSan (in DIR, default build/asan): garbage
# on the public queue from uid 1002, clients of uid 1001 registering,
# marking (sync, one-way, batched, from many threads), exec'ing and killed,
# shjctl reading. Every process (the clients run as other uids) writes its
# reports into one directory: none may appear, leaks included, and the daemon
# must stop cleanly. Needs root (bpf, other uids); skipped otherwise.
# Output ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
A=${1:-build/asan}
if ((EUID != 0)); then
  echo "SKIP check-asan: the server tests and the daemon need root"
  exit 0
fi
# shellcheck source=tests/lib.sh
. tests/lib.sh
private_ns "$@"
D=$(mktemp -d /tmp/shj-asan.XXXXXX)
chmod 755 "$D"
trap 'rm -rf "$D"' EXIT
L=$D/reports
mkdir -m 1777 "$L"	# written by every uid's processes
export ASAN_OPTIONS="log_path=$L/asan:detect_leaks=1"
export UBSAN_OPTIONS="log_path=$L/ubsan:print_stacktrace=1"
# what other uids run, from where they can read it (rpath $ORIGIN/../lib)
U=$D/u
mkdir -p "$U/bin" "$U/lib"
cp "$A/tests/shj-try" "$A/bin/shjctl" "$U/bin/"
cp -P "$A"/lib/libshinjuku.so* "$U/lib/"
chmod -R a+rX "$U"
as_uid() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
no_reports() { # no_reports: none written since the last look (shows them, then
  local f n=0  # moves them aside: each check answers for its own)
  mkdir -p "$D/seen"
  for f in "$L"/*; do [[ -e $f ]] && { n=$((n + 1)); head -n 30 "$f"; mv "$f" "$D/seen/"; }; done
  ((n == 0))
}

for s in test_proto test_lib test_tasks test_server test_workers test_notify; do
  t "$s under ASan+UBSan" "$A/tests/$s"
  t "$s: no report" no_reports
done

no_threads() { [[ $("$U/bin/shjctl" list | wc -l) -le 1 ]]; }	# the header only
flood() {
  local d i rc ok=0 kids=()
  "$A/bin/shinjukud" --dry-run 2>"$D/d.log" &
  d=$!
  wait_for 30 grep -q serving "$D/d.log" || { echo "no daemon: $(cat "$D/d.log")"; return 1; }
  # setpriv execs the client: $! is its pid
  for i in 1 2; do
    setpriv --reuid=1002 --regid=1002 --clear-groups "$U/bin/shj-try" flood 20000 >/dev/null 2>&1 &
    kids+=($!)
  done
  setpriv --reuid=1001 --regid=1001 --clear-groups "$U/bin/shj-try" spawn 5 register all 1 hold \
    >"$D/k.log" 2>&1 &
  local killed=$!
  kids+=("$killed")
  for i in 1 2 3; do
    setpriv --reuid=1001 --regid=1001 --clear-groups "$U/bin/shj-try" spawn 16 register all 0 \
      idle-many runnable-many async 1 marks-parallel 50 idle-many sync async 0 register self 2 \
      exec qos self 3 unregister self bad-oneway 10 newer >"$D/c$i.log" 2>&1 &
    kids+=($!)
  done
  "$U/bin/shjctl" list >/dev/null 2>&1
  wait_for 30 grep -q holding "$D/k.log" && kill -KILL "$killed"
  for i in 1 2 3; do
    wait_for 120 grep -q '^newer' "$D/c$i.log" || echo "client $i: $(cat "$D/c$i.log")"
    grep -q '^sync -> 0$' "$D/c$i.log" && grep -q '^unregister self -> 0$' "$D/c$i.log" &&
      ok=$((ok + 1))
  done
  as_uid 1002 "$U/bin/shjctl" stats --json >/dev/null || echo "shjctl stats failed"
  "$U/bin/shjctl" list >/dev/null || echo "shjctl list failed"
  wait "${kids[@]}"
  wait_for 10 no_threads || echo "threads left: $("$U/bin/shjctl" list)"
  echo "     $("$U/bin/shjctl" stats | grep -E '^(requests|dropped|sessions|marks)=' | tr '\n' ' ')" \
    >"$D/figures"
  kill -TERM "$d"; wait "$d"; rc=$?
  echo "clients served: $ok of 3; daemon exit $rc"
  tail -n 2 "$D/d.log"
  [[ $ok == 3 && $rc == 0 ]]
}
t "dry-run shinjukud under a client flood" flood
cat "$D/figures" 2>/dev/null
t "daemon and clients: no report" no_reports
results
