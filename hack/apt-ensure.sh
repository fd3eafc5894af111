#!/usr/bin/env bash
# Installs the named Debian packages that are not installed yet (apt-get, as
# root; `apt-get update` first only when apt does not know one of them), and
# fails naming the ones it could not install. Silent when all are there.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
fail() {
  echo "missing Debian packages: ${missing[*]} ($*)" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || fail "install them as root"
command -v apt-get >/dev/null || fail "and no apt-get"
apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
for pkg in "${missing[@]}"; do
  if ! apt-cache show "$pkg" >/dev/null 2>&1; then
    "${apt[@]}" update -qq >&2 || fail "apt-get update failed"
    break
  fi
done
echo "installing Debian packages: ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends \
  "${missing[@]}" >&2 || fail "apt-get install failed"
