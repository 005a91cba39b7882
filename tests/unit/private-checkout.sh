#!/usr/bin/env bash
# The unit tests that run clients as other uids (test_server runs shj-try as
# 1001 and 1002) must pass from a checkout those uids cannot read, such as
# one in root's home (mode 0700 on Debian). This runs test_server from a copy
# of the build outputs it uses inside a directory of mode 0700.
set -u
cd "$(dirname "$0")/../.." || exit 1
if ((EUID != 0)); then
  echo "SKIP private checkout: test_server needs root"
  exit 0
fi
# its own message queues and /run (the daemon's lock): another test's
# daemon on this machine cannot make it skip
# shellcheck source=tests/lib.sh
. tests/lib.sh
private_ns "$@"
D=$(mktemp -d /tmp/shj-private.XXXXXX)	# mode 0700
trap 'rm -rf "$D"' EXIT
mkdir -p "$D/build/tests" "$D/build/lib"
cp build/tests/test_server build/tests/shj-try "$D/build/tests/"
cp -P build/lib/libshinjuku.so* "$D/build/lib/"
echo "== test_server from $D (mode $(stat -c %a "$D"))"
"$D/build/tests/test_server" >"$D/out" 2>&1; rc=$?
cat "$D/out"
if ((rc)) || grep -q '^SKIP' "$D/out"; then
  echo "FAIL test_server from a directory other uids cannot read (exit $rc)"
  exit 1
fi
