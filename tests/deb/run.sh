#!/usr/bin/env bash
# The Debian packages as a user gets them: a pristine Debian 12 chroot made
# with debootstrap (minbase, from the mirror this system uses), the three
# packages installed with apt (libbpf1 from bookworm-backports), then: a
# client compiled with `pkg-config --cflags --libs shinjuku` runs and gets
# -ECONNREFUSED (no daemon); the unit, the options file (a conffile), the
# man pages and `shjctl --help` are where they should be.
# Needs root. Downloads are cached in $SHJ_CACHE (debootstrap, apt).
# usage: tests/deb/run.sh DIR-WITH-DEBS     Output ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=scripts/apt-private.sh
. scripts/apt-private.sh	# debian_mirror, SHJ_CACHE
debs=$(cd "${1:?usage: tests/deb/run.sh DIR-WITH-DEBS}" && pwd)
if ((EUID != 0)); then
  echo "SKIP Debian packages: debootstrap and chroot need root"
  exit 0
fi
for p in libshinjuku0 libshinjuku-dev shinjukud; do
  ls "$debs/${p}"_*.deb >/dev/null || { echo "FAIL no $p package in $debs (make deb)"; exit 1; }
done
C=$(mktemp -d /tmp/shj-chroot.XXXXXX) D=$(mktemp -d /tmp/shj-deb.XXXXXX)
cleanup() {
  umount "$C/proc" "$C/var/cache/apt/archives" 2>/dev/null
  rm -rf --one-file-system "$C" "$D"
}
trap cleanup EXIT
# shellcheck source=tests/lib.sh
. tests/lib.sh
in_root() { chroot "$C" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

mirror=$(debian_mirror) || exit 1
mkdir -p "$SHJ_CACHE/debootstrap" "$SHJ_CACHE/deb-chroot-apt/partial"
t "debootstrap --variant=minbase bookworm ($mirror)" \
  debootstrap --variant=minbase --cache-dir="$SHJ_CACHE/debootstrap" bookworm "$C" "$mirror"
[[ -x $C/usr/bin/apt-get ]] || { results; exit; }
mount -t proc proc "$C/proc"
mount --bind "$SHJ_CACHE/deb-chroot-apt" "$C/var/cache/apt/archives"
printf 'deb %s bookworm main\ndeb %s bookworm-backports main\n' "$mirror" "$mirror" \
  >"$C/etc/apt/sources.list"
printf '#!/bin/sh\nexit 101\n' >"$C/usr/sbin/policy-rc.d"	# a chroot starts no service
chmod 755 "$C/usr/sbin/policy-rc.d"
mkdir -p "$C/tmp/debs"
inside=()
for f in "$debs"/libshinjuku0_*.deb "$debs"/libshinjuku-dev_*.deb "$debs"/shinjukud_*.deb; do
  cp "$f" "$C/tmp/debs/" && inside+=("/tmp/debs/${f##*/}")
done
t "apt-get update" in_root apt-get -q update
t "apt-get install the three packages (libbpf1 from bookworm-backports), gcc, pkg-config, man-db" \
  in_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
  "${inside[@]}" libbpf1/bookworm-backports gcc libc6-dev pkg-config man-db
t "the three packages are installed" in_root dpkg-query -W libshinjuku0 libshinjuku-dev shinjukud
((failed == 0)) || { results; exit; }

cat >"$C/tmp/client.c" <<'SRC'
#include <errno.h>
#include <stdio.h>
#include <shinjuku.h>

int main(void)
{
	int err = shj_register(0, 0);

	printf("shj_register: %d (%s)\n", err, shj_strerror(err));
	return err == -ECONNREFUSED ? 0 : 1;
}
SRC
t "a client builds with pkg-config --cflags --libs shinjuku" in_root sh -c \
  'cc -Wall -Werror -o /tmp/client /tmp/client.c $(pkg-config --cflags --libs shinjuku)'
t "it runs against the package's libshinjuku.so.0: no daemon, -ECONNREFUSED" in_root sh -c \
  'ldd /tmp/client; ldd /tmp/client | grep -Eq "libshinjuku.so.0 => (/usr)?/lib/x86_64-linux-gnu/" && /tmp/client'
t "shinjuku.pc: libdir /usr/lib/x86_64-linux-gnu" in_root sh -c \
  'test "$(pkg-config --variable=libdir shinjuku)" = /usr/lib/x86_64-linux-gnu'
t "the unit runs /usr/sbin/shinjukud with the options file" in_root sh -c \
  'grep -qx "ExecStart=/usr/sbin/shinjukud \$SHINJUKUD_OPTS" /lib/systemd/system/shinjukud.service &&
   grep -qx "EnvironmentFile=-/etc/default/shinjukud" /lib/systemd/system/shinjukud.service &&
   test -x /usr/sbin/shinjukud'
t "/etc/default/shinjukud is a conffile" in_root sh -c \
  'dpkg-query -W -f="\${Conffiles}" shinjukud | grep -q "/etc/default/shinjukud"'
t "the unit is neither enabled nor started" \
  test ! -e "$C/etc/systemd/system/multi-user.target.wants/shinjukud.service"
for page in shinjukud.8 shjctl.8 libshinjuku.3 shj_register.3 shj_runnable.3 shj_sync.3; do
  t "man ${page##*.} ${page%.*}: found, renders without warnings" in_root sh -c \
    "man -w ${page##*.} ${page%.*} && test -z \"\$(man --warnings ${page##*.} ${page%.*} 2>&1 >/dev/null)\""
done
t "shjctl --help" in_root sh -c 'shjctl --help | grep -q "^Usage: shjctl"'
t "shinjukud --help (links and loads libbpf)" in_root sh -c 'shinjukud --help | grep -q "^Usage: shinjukud"'

results
