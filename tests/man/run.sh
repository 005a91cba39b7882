#!/usr/bin/env bash
# The man pages, as `make install` installs them: each renders with
# `man --warnings -l` without a warning; every symbol libshinjuku.so exports
# has a page (in a NAME section, and `man` finds it by that name); the pages
# and shinjuku.h agree on errors (errors.py); every option in the --help of
# shinjukud and shjctl is in its page. Output ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
D=$(mktemp -d /tmp/shj-man.XXXXXX)
trap 'rm -rf "$D"' EXIT
# shellcheck source=tests/lib.sh
. tests/lib.sh
for tool in man nm; do
  command -v $tool >/dev/null || { echo "SKIP man pages: no $tool (scripts/deps installs it)"; exit 1; }
done

root=$D/root
t "make install DESTDIR" make -s install DESTDIR="$root" PREFIX=/usr
mandir=$root/usr/share/man
# renders, in the installed tree (.so links resolve from there), no warning
renders() {
  local err
  err=$(cd "$mandir" && man --warnings -l "$1" 2>&1 >"$D/page")
  [[ -z $err && -s $D/page ]] || { echo "${err:-renders empty}"; return 1; }
}
pages=0
for p in "$mandir"/man3/*.3 "$mandir"/man8/*.8; do
  pages=$((pages + 1))
  t "$(basename "$p") renders without warnings" renders "${p#"$mandir"/}"
done
t "pages installed ($pages)" test "$pages" -ge 10
# the check is real: a page with an unknown request warns
bad_page_warns() {
  mkdir -p "$D/bad/man3"
  printf '.TH X 3\n.SH NAME\nx \\- y\n.BOGUS\n' >"$D/bad/man3/x.3"
  (cd "$D/bad" && man --warnings -l man3/x.3 2>&1 >/dev/null) | grep .
}
t "a page with an unknown macro is caught" bad_page_warns

names() { # every name in the NAME sections of the section 3 pages
  awk '/^\.SH NAME/ { getline; sub(/ \\-.*/, ""); gsub(/,/, " "); print }' "$mandir"/man3/*.3 | tr ' ' '\n' | sed '/^$/d'
}
lib=$root/usr/lib/libshinjuku.so
symbols=$(nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "D" || $2 == "B" { print $3 }' | sed 's/@.*//')
t "libshinjuku exports symbols ($(echo $symbols))" test -n "$symbols"
for s in $symbols; do
  t "$s has a page (NAME section, man -w)" bash -c \
    "grep -qx '$s' <<<'$(names)' && MANPATH='$mandir' man -w '$s' | grep -q ."
done
t "errors: header and pages agree" /usr/bin/python3 tests/man/errors.py libshinjuku/shinjuku.h "$mandir/man3"

documents_help() { # documents_help PROGRAM PAGE: each --option of PROGRAM --help is in PAGE
  local o missing=
  for o in $("$1" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "\\-\\-${o#--}" "$2" || grep -qF -- "${o//-/\\-}" "$2" || missing+=" $o"
  done
  [[ -z $missing ]] || { echo "not in $(basename "$2"):$missing"; return 1; }
}
t "shinjukud(8) has every option of shinjukud --help" documents_help build/bin/shinjukud "$mandir/man8/shinjukud.8"
t "shjctl(8) has every option of shjctl --help" documents_help build/bin/shjctl "$mandir/man8/shjctl.8"

results
