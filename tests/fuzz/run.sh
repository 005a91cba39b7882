#!/usr/bin/env bash
# make check-fuzz: each libFuzzer harness of tests/fuzz/ for a bounded time
# (FUZZ_SECS each, default 20: one minute in all), from the seed corpus that
# build/fuzz/seeds writes and the corpus earlier runs left in
# build/fuzz/corpus/. Prints each one's executions and coverage; fails if
# one finds a crash, a leak or a broken invariant (its input is kept as
# build/fuzz/crash-*). fuzz_server needs root (bpf): skipped otherwise, with
# the reason. Output ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
F=build/fuzz
secs=${FUZZ_SECS:-20}
D=$(mktemp -d /tmp/shj-fuzz.XXXXXX)
trap 'rm -rf "$D"' EXIT
# shellcheck source=tests/lib.sh
. tests/lib.sh
$F/seeds $F/seed || exit 1
fuzz() { # fuzz NAME: run it, then its figures from libFuzzer's final stats
  local name=$1 rc
  mkdir -p "$F/corpus/$name"
  nice -n 19 "$F/fuzz_$name" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$F/crash-$name-" "$F/corpus/$name" "$F/seed/$name" >"$D/$name.log" 2>&1
  rc=$?
  echo "     $(sed -n 's/^stat::number_of_executed_units: *//p' "$D/$name.log") executions," \
    "$(grep -o 'cov: [0-9]* ft: [0-9]*' "$D/$name.log" | tail -n 1), corpus $(ls "$F/corpus/$name" | wc -l)" \
    >"$D/figures"
  [[ $rc == 0 ]] || { grep -E 'ERROR|SUMMARY|fuzz_server:|Test unit written' "$D/$name.log"; return 1; }
}
figures() { cat "$D/figures" 2>/dev/null; rm -f "$D/figures"; }
t "fuzz_req: request and HELLO validation (${secs} s)" fuzz req; figures
t "fuzz_rep: reply validation (${secs} s)" fuzz rep; figures
if ((EUID == 0)); then
  t "fuzz_server: the request handler on dry-run maps (${secs} s)" fuzz server; figures
else
  echo "SKIP fuzz_server: needs root (bpf)"
fi
results
