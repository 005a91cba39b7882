#!/usr/bin/env bash
# make check-unit: the Check suites given as arguments, then test_server from
# a directory other uids cannot read (private-checkout.sh). As root they run
# in an IPC namespace and a /run of their own (tests/lib.sh private_ns): a
# shinjukud, or another test's dry-run server, elsewhere on this machine
# cannot make them skip.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
((EUID != 0)) || private_ns "$@"
for t in "$@"; do
  echo "== $t"
  "$t" || exit 1
done
tests/unit/private-checkout.sh
