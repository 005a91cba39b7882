#!/usr/bin/env bash
# Install into a scratch DESTDIR and use the result as a user would: only the
# public API is exported, the header compiles as C89 and C++, pkg-config
# finds the library, and the echo server builds out of tree against it.
# Output ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
D=$(mktemp -d /tmp/shj-install.XXXXXX)
trap 'rm -rf "$D"' EXIT
# shellcheck source=tests/lib.sh
. tests/lib.sh

root=$D/root
prefix=/usr/local
t "make install DESTDIR PREFIX" make -s install DESTDIR="$root" PREFIX=$prefix
lib=$root$prefix/lib
t "library, soname link and dev link installed" \
  test -f "$lib/libshinjuku.so.0.1.0" -a -L "$lib/libshinjuku.so.0" -a -L "$lib/libshinjuku.so"
t "header, pkg-config file, shinjukud and shjctl installed" \
  test -f "$root$prefix/include/shinjuku.h" -a -f "$lib/pkgconfig/shinjuku.pc" -a -x "$root$prefix/sbin/shinjukud" -a -x "$root$prefix/bin/shjctl"

unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
unitdir=${unitdir:-$prefix/lib/systemd/system}
t "unit ($unitdir), its options file and the man pages installed" \
  test -f "$root$unitdir/shinjukud.service" -a -f "$root/etc/default/shinjukud" \
  -a -f "$root$prefix/share/man/man8/shinjukud.8" -a -f "$root$prefix/share/man/man3/shj_register.3"
t "the unit runs the installed shinjukud with the options file's SHINJUKUD_OPTS" \
  grep -qx "ExecStart=$prefix/sbin/shinjukud \$SHINJUKUD_OPTS" "$root$unitdir/shinjukud.service"
# systemd-analyze verify checks the paths too: an install where they exist
verify_unit() {
  local p=$D/verify
  make -s install PREFIX="$p/usr" SYSTEMDUNITDIR="$p/unit" SYSCONFDIR="$p/etc" &&
    MANPATH=$p/usr/share/man systemd-analyze verify "$p/unit/shinjukud.service" 2>&1 | tee "$D/verify.out" &&
    test ! -s "$D/verify.out"
}
if command -v systemd-analyze >/dev/null; then
  t "systemd-analyze verify shinjukud.service: no complaint" verify_unit
else
  echo "SKIP systemd-analyze verify: no systemd-analyze (scripts/deps installs systemd)"
fi

exported() { nm -D --defined-only "$lib/libshinjuku.so" | awk '$2 == "T" || $2 == "D" || $2 == "B" { print $3 }'; }
only_shj() { exported | tee "$D/syms" | grep -qv '^shj_' && return 1; test -s "$D/syms"; }
t "exports only shj_* symbols ($(exported | tr '\n' ' '))" only_shj

export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
t "pkg-config --cflags --libs shinjuku ($(pkg-config --cflags --libs shinjuku 2>&1))" \
  pkg-config --exists shinjuku
build_echo() {
  # shellcheck disable=SC2046
  cc -Wall -Wextra -o "$D/echo-server" examples/echo-server.c examples/workers.c \
    $(pkg-config --cflags --libs shinjuku) -pthread &&
  LD_LIBRARY_PATH=$lib "$D/echo-server" --help | grep -q '^Usage:'
}
t "echo-server builds out of tree with pkg-config and runs" build_echo

printf '#include <shinjuku.h>\nint main(void) { return shj_register(0, 0) == 0; }\n' > "$D/c89.c"
t "shinjuku.h compiles as C89 (-std=c89 -pedantic)" \
  cc -std=c89 -pedantic -Werror -Wall -I"$root$prefix/include" -c "$D/c89.c" -o "$D/c89.o"
cp "$D/c89.c" "$D/cxx.cc"
t "shinjuku.h compiles and links as C++" \
  c++ -Wall -Werror -I"$root$prefix/include" "$D/cxx.cc" -L"$lib" -lshinjuku -o "$D/cxx"

# The installed shinjuku.pc describes that install, whatever the build used
# (`make` ran with the default PREFIX before this).
pc_says() { # pc_says ROOT PREFIX LIBDIR: the .pc's variables, and the files there
  local r=$1 pc=$1$3/pkgconfig/shinjuku.pc var want got
  while read -r var want; do
    got=$(env -u PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH="${pc%/*}" pkg-config --variable="$var" shinjuku)
    [[ $got == "$want" ]] || { echo "$var=$got, want $want"; return 1; }
  done <<<"prefix $2
libdir $3
includedir $2/include"
  ! grep -n /usr/local "$pc" && test -f "$r$3/libshinjuku.so.0.1.0" -a -f "$r$2/include/shinjuku.h"
}
t "make install PREFIX=/usr after make" make -s install DESTDIR="$D/usr" PREFIX=/usr
t "shinjuku.pc says /usr" pc_says "$D/usr" /usr /usr/lib
t "make install PREFIX=/opt/shj LIBDIR=/opt/shj/lib64" \
  make -s install DESTDIR="$D/opt" PREFIX=/opt/shj LIBDIR=/opt/shj/lib64
t "shinjuku.pc says /opt/shj, /opt/shj/lib64" pc_says "$D/opt" /opt/shj /opt/shj/lib64

results
