# shellcheck shell=bash
# apt with a private configuration: its own sources and package lists under
# $SHJ_CACHE/apt/<name>, so extra suites (bookworm-backports, sid) never enter
# the system's apt configuration. The mirror is the one the system already uses
# for Debian's main archive (override: SHJ_DEBIAN_MIRROR).

SHJ_CACHE=${SHJ_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache}

debian_mirror() {
  if [[ -n "${SHJ_DEBIAN_MIRROR:-}" ]]; then
    echo "$SHJ_DEBIAN_MIRROR"; return
  fi
  local rel uri
  while read -r rel uri; do
    case "$rel" in bookworm|trixie|forky|sid|unstable|testing|stable)
      echo "$uri"; return ;;
    esac
  done < <(apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 2>/dev/null | sort -u)
  echo "apt-private: cannot tell which Debian mirror this system uses; set SHJ_DEBIAN_MIRROR" >&2
  return 1
}

# apt_private NAME "SUITE..." apt-get-args...
apt_private() {
  local name=$1 suites=$2; shift 2
  local dir=$SHJ_CACHE/apt/$name mirror
  mirror=$(debian_mirror)
  mkdir -p "$dir/sources.list.d" "$dir/lists/partial" "$dir/archives/partial"
  cat >"$dir/sources.list.d/shinjuku.sources" <<SRC
Types: deb
URIs: $mirror
Suites: $suites
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get -q \
    -o Dir::Etc::SourceList=/dev/null \
    -o Dir::Etc::SourceParts="$dir/sources.list.d" \
    -o Dir::State::Lists="$dir/lists" \
    -o Dir::Cache::Archives="$dir/archives" \
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
    -o APT::Get::List-Cleanup=false \
    "$@"
}

# apt_cache_private NAME apt-cache-args... (after apt_private NAME ... update)
apt_cache_private() {
  local name=$1; shift
  local dir=$SHJ_CACHE/apt/$name
  apt-cache \
    -o Dir::Etc::SourceList=/dev/null \
    -o Dir::Etc::SourceParts="$dir/sources.list.d" \
    -o Dir::State::Lists="$dir/lists" \
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
    "$@"
}
