#!/usr/bin/env bash
# rocksdb-server on the host, through its UDP front end, with the kernel's
# own scheduler (no sched_ext needed; the integration suite runs it under
# shinjuku): a database made at start, a few hundred GETs and SCANs of
# known keys with every value checked (rocksdb-client), the same database
# opened again, bad requests answered with an error while the server keeps
# serving, bad options and bad database directories refused at start with
# a clear message, SIGTERM. Output ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
B=build/bin
D=$(mktemp -d /tmp/shj-rocks.XXXXXX)
# shellcheck source=tests/lib.sh
. tests/lib.sh
server=
trap '[[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$D"' EXIT
DB=$D/db
KEYS=(--keys 5000 --value-size 60 --scan-keys 200)

refused() { # refused STATUS WHAT ARGS...: rocksdb-server ARGS exits STATUS saying WHAT
  local want=$1 what=$2 rc; shift 2
  timeout 60 $B/rocksdb-server -n -p 0 "$@" >"$D/o" 2>"$D/e"; rc=$?
  cat "$D/e"
  [[ $rc == "$want" ]] && grep -q -- "$what" "$D/e"
}
t "--help: exit 0, usage on stdout" bash -c "$B/rocksdb-server --help | grep -q '^Usage:'"
t "--workers 0 refused" refused 1 "bad value '0' for --workers" -w 0
t "--keys x refused" refused 1 "bad value 'x' for --keys" --keys x
t "--value-size 5 refused" refused 1 "bad value '5' for --value-size" --value-size 5
t "--scan-class bogus refused" refused 1 "bad value 'bogus' for --scan-class" --scan-class bogus
t "--scan-class qos without registering refused" refused 1 'needs registered workers' --scan-class qos
t "a stray argument refused" refused 1 "unexpected argument 'extra'" extra
t "a database under a missing directory" refused 4 "$D/none/db: No such file or directory" --db "$D/none/db"
mkdir "$D/junk" && echo hello >"$D/junk/notes"
t "a directory that is no database" refused 4 'not a RocksDB database (no CURRENT file)' --db "$D/junk"
mkdir "$D/corrupt" && echo MANIFEST-000099 >"$D/corrupt/CURRENT" && head -c 4096 /dev/urandom >"$D/corrupt/MANIFEST-000099"
t "a corrupt database" refused 4 "$D/corrupt: cannot open the database" --db "$D/corrupt"
echo x >"$D/file"
t "a file, not a directory" refused 4 "$D/file: not a directory" --db "$D/file"

start_server() { # start_server ARGS...: sets server, port
  $B/rocksdb-server -n -p 0 "$@" >"$D/s.log" 2>"$D/s.err" &
  server=$!
  wait_for 120 grep -q '^listening on' "$D/s.log" || { cat "$D/s.log" "$D/s.err"; return 1; }
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$D/s.log")
  cat "$D/s.log"
}
stop_server() {
  local rc
  kill -TERM "$server"; wait "$server"; rc=$?
  server=
  cat "$D/s.err"
  [[ $rc == 0 ]] && grep -q 'stopping' "$D/s.err"
}
client() { $B/rocksdb-client -p "$port" "${KEYS[@]}" "$@"; }

t "a new database made and filled at start" start_server --db "$DB" "${KEYS[@]}" --get-us 50 --scan-us 500
t "300 GETs and SCANs, every reply right" client 300
raw_err() { # raw_err TEXT WHAT: the reply to TEXT is an ERR saying WHAT
  local r
  r=$($B/rocksdb-client -p "$port" --raw "$1") || return 1
  echo "$r"
  [[ " $r" == *" ERR "* && $r == *"$2"* ]]
}
t "an empty datagram: ERR" raw_err '' 'empty request'
t "one word: ERR" raw_err '7' 'no operation'
t "an unknown operation: ERR with its ID" raw_err '7 PUT k000000001' '7 ERR unknown operation'
t "GET without a key: ERR" raw_err '8 GET' 'GET needs a key'
t "too many words: ERR" raw_err '9 GET k000000001 k000000002' 'too many words'
t "a key too long: ERR" raw_err "10 GET $(printf 'k%.0s' {1..100})" 'key too long'
t "an ID too long: ERR" raw_err "$(printf '1%.0s' {1..40}) GET k000000001" 'ID too long'
t "a request of 2000 bytes: ERR" raw_err "11 GET $(printf 'x%.0s' {1..2000})" 'request too long (2007 bytes'
t "control characters: ERR" raw_err $'12 GET k0\n' 'not a text request'
t "still serving after bad requests: 100 right" client --seed 2 100
t "SIGTERM: exit 0" stop_server
t "the same database opened again" start_server --db "$DB" --workers 2 --value-size 60 --scan-keys 200
t "  its replies" client --seed 3 100
t "  SIGTERM: exit 0" stop_server
t "an existing database with another key count refused" refused 4 'holds 5000 keys of 60 bytes, not 4000' \
  --db "$DB" --keys 4000 --value-size 60
# the workers lower themselves for a SCAN (nice 19, SCHED_IDLE) and back
for c in nice idle; do
  t "--scan-class $c: a database opened" start_server --db "$DB" "${KEYS[@]}" --scan-class $c
  t "  --scan-class $c: 200 right" client --seed 4 --scan-every 3 200
  t "  --scan-class $c: no error lowering or raising a worker" bash -c "! grep -q 'lowering\|raising' '$D/s.err'"
  t "  --scan-class $c: SIGTERM, exit 0" stop_server
done
results
