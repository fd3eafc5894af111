#!/usr/bin/env bash
# Builds the operator image from this checkout without Docker or a registry,
# from the list in hack/image-spec (the Dockerfile describes the same image):
#
#   1. a Debian root filesystem with Python (mmdebstrap);
#   2. the wheels of requirements.lock and the setuptools pin, downloaded here
#      for the image's Python and glibc;
#   3. the Dockerfile's builder steps replayed inside that root filesystem, in
#      a private mount and network namespace (nothing stays mounted, nothing
#      is fetched): a virtualenv in /opt/venv with exactly the locked
#      versions, the product without its dependencies, `pip check`, pip and
#      setuptools removed, then `scaivault-federation --help`;
#   4. packed as an OCI image (umoci) with the user, entry point, command,
#      working directory, environment, ports and labels of the list.
#
# Prints, on stdout, KEY=VALUE lines (progress goes to stderr):
#
#   IMAGE=<repository>:<tag>     the reference the archive holds
#   REPOSITORY=<repository>      the chart's image.repository
#   TAG=<tag>                    <the chart's appVersion>-local
#   ARCHIVE=<path>               an OCI archive (oci-layout at its top)
#
# Load it with `ctr -n k8s.io images import --base-name <repository> <archive>`.
#
# Each step is cached per user (~/.cache/scaivault-federation): the root
# filesystem by its package list, the wheels by the lock, the image by all of
# its inputs; a second run with the same inputs builds nothing. Missing Debian
# tools (mmdebstrap, umoci) are installed with apt-get.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin" # chroot, for a user whose search path lacks it
root=$(cd "$(dirname "$0")/.." && pwd)
self="$root/hack/build-image.sh"
spec="$root/hack/image-spec"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/scaivault-federation"
mirror="${SCAIVAULT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Image outputs kept in the cache (each about 120 MB); older ones are removed.
keep_images=4

say() { echo "build-image: $*" >&2; }
fail() {
  echo "build-image: error: $*" >&2
  exit 1
}
hash_of() { sha256sum | cut -c1-12; }
since() { echo "$(($(date +%s) - $1)) s"; }

# --- the list --------------------------------------------------------------
declare -A one=()
build_env=() env=() ports=() labels=()
while read -r key value; do
  case "$key" in
    "" | "#"*) continue ;;
    build-env) build_env+=("$value") ;;
    env) env+=("$value") ;;
    port) ports+=("$value") ;;
    label) labels+=("$value") ;;
    base-path | debian | python | glibc | setuptools | user | workdir | entrypoint | cmd)
      one[$key]=$value ;;
    *) fail "$spec: unknown key '$key'" ;;
  esac
done <"$spec"
for key in base-path debian python glibc setuptools user workdir entrypoint cmd; do
  [ -n "${one[$key]:-}" ] || fail "$spec: no '$key' line"
done
debian=${one[debian]} python_version=${one[python]} glibc=${one[glibc]}
setuptools=${one[setuptools]}
env=("${env[@]//\$PATH/${one[base-path]}}")

# The Dockerfile's builder steps, run inside the root filesystem with the
# wheels in /wheels and the product in /src (`--steps` prints them).
build_steps() {
  echo "set -eu"
  for assignment in "${build_env[@]}"; do echo "export $assignment"; done
  cat <<EOF
python3 -m venv /opt/venv
export PATH=/opt/venv/bin:\$PATH
cd /src
pip install --quiet --no-index --find-links /wheels --no-deps -r requirements.lock
pip install --quiet --no-index --find-links /wheels setuptools==$setuptools
pip install --quiet --no-index --no-deps --no-build-isolation .
pip check
pip uninstall --quiet --yes setuptools pip
python -m compileall -q /opt/venv/lib
scaivault-federation --help >/dev/null
# nothing of the build stays: no pip anywhere, no package lists, nothing of this machine
dpkg --purge python3-venv python$python_version-venv python3-pip-whl python3-setuptools-whl >/dev/null
rm -rf /src /wheels /build.sh /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old \\
  /var/lib/dpkg/*-old /var/log/* /etc/resolv.conf /etc/hostname
EOF
}
case "${1:-}" in
  "") ;;
  --steps)
    build_steps
    exit 0
    ;;
  *) fail "usage: $0 [--steps]" ;;
esac

repository=$(awk '/^image:/ {inside=1; next} inside && /^[^ #]/ {exit}
  inside && $1 == "repository:" {print $2; exit}' "$root/charts/scaivault-federation/values.yaml")
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^" ]*\)"\{0,1\} *$/\1/p' \
  "$root/charts/scaivault-federation/Chart.yaml")
[ -n "$repository" ] || fail "charts/scaivault-federation/values.yaml: no image.repository"
[ -n "$app_version" ] || fail "charts/scaivault-federation/Chart.yaml: no appVersion"
tag="${app_version}-local"

# --- the inputs and their keys ---------------------------------------------
# What the image is built from: the files the Dockerfile copies.
product_files() {
  (cd "$root" && {
    printf '%s\0' pyproject.toml requirements.lock
    find operator -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' -print0 |
      LC_ALL=C sort -z
  })
}

debian_arch=$(dpkg --print-architecture 2>/dev/null || true)
machine=$(uname -m)
case "$machine" in
  x86_64) debian_arch=${debian_arch:-amd64} ;;
  aarch64) debian_arch=${debian_arch:-arm64} ;;
  *) fail "no image build for this machine ($machine): only x86_64 and aarch64" ;;
esac

# shellcheck disable=SC2054 # the commas belong to --include
mmdebstrap_args=(
  --variant=minbase --architectures="$debian_arch"
  --include=python3,python3-venv,ca-certificates
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --aptopt='Acquire::Retries "3"'
  "$debian"
)
base_key=$(printf '%s\n' "${mmdebstrap_args[@]}" | hash_of)
base="$cache_root/image-base-$debian-$base_key"

# Wheels for the image's glibc and every older manylinux tag.
glibc_minor=${glibc#2.}
platforms=()
for minor in $(seq "$glibc_minor" -1 5); do
  platforms+=(--platform "manylinux_2_${minor}_${machine}")
done
platforms+=(--platform manylinux2014_"$machine")
[ "$machine" = x86_64 ] && platforms+=(--platform manylinux2010_x86_64 --platform manylinux1_x86_64)
wheels_key=$({
  cat "$root/requirements.lock"
  printf '%s\n' "setuptools==$setuptools" "$python_version" "${platforms[@]}"
} | hash_of)
wheels="$cache_root/image-wheels-$wheels_key"

image_key=$({
  echo "$base_key $wheels_key $repository $tag"
  product_files | (cd "$root" && xargs -0 sha256sum)
  cat "$root/Dockerfile" "$spec" "$self"
} | hash_of)
out="$cache_root/image-$tag-$image_key"
archive="$out/scaivault-federation-$tag.oci.tar"

report() {
  touch "$out"
  echo "IMAGE=$repository:$tag"
  echo "REPOSITORY=$repository"
  echo "TAG=$tag"
  echo "ARCHIVE=$archive"
}

if [ -f "$archive" ]; then
  report
  exit 0
fi

# --- the tools ---------------------------------------------------------------
# Debian packages for the commands this build runs (mmdebstrap, umoci,
# unshare and flock, chroot, tar).
"$root/hack/apt-ensure.sh" mmdebstrap umoci util-linux coreutils tar ||
  fail "the image build needs those Debian packages"
[ "$(id -u)" = 0 ] || fail "the image build needs root (chroot, namespaces, file owners)"

mkdir -p "$cache_root"
exec 9>"$cache_root/image.lock"
flock -n 9 || { say "waiting for another image build to finish" && flock 9; }
if [ -f "$archive" ]; then # built meanwhile
  report
  exit 0
fi
work=$(mktemp -d "$cache_root/image-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date +%s)

# --- 1. the root filesystem ----------------------------------------------------
if [ ! -f "$base/rootfs.tar" ]; then
  step=$(date +%s)
  say "debootstrapping Debian $debian with Python (first time only; about a minute)"
  mkdir -p "$work/base"
  mmdebstrap --quiet "${mmdebstrap_args[@]}" "$work/base/rootfs.tar" \
    "deb $mirror $debian main" >&2 || fail "mmdebstrap could not make the Debian root filesystem"
  rm -rf "$base" && mv -T "$work/base" "$base"
  say "root filesystem in $(since "$step"): $base"
fi

# --- 2. the wheels ---------------------------------------------------------------
if [ ! -d "$wheels" ]; then
  step=$(date +%s)
  say "downloading the wheels of requirements.lock for Python $python_version, glibc $glibc"
  "${PYTHON:-python3}" -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --python-version "$python_version" --implementation cp \
    "${platforms[@]}" -r "$root/requirements.lock" "setuptools==$setuptools" \
    -d "$work/wheels" >&2 || fail "pip could not download the locked wheels"
  rm -rf "$wheels" && mv -T "$work/wheels" "$wheels"
  say "wheels in $(since "$step"): $wheels"
fi

# --- 3. the virtualenv, built offline inside the root filesystem -----------------
step=$(date +%s)
layout="$work/layout" bundle="$work/bundle"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci unpack --image "$layout:$tag" "$bundle" >&2
rootfs="$bundle/rootfs"
tar -xpf "$base/rootfs.tar" -C "$rootfs" --numeric-owner --exclude='./dev/*'
mkdir -p "$rootfs/src" "$rootfs/wheels"
cp "$wheels"/*.whl "$rootfs/wheels/"
product_files | (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$rootfs/src"
build_steps >"$rootfs/build.sh"
# /proc and /dev exist only in the namespace, which ends with the build.
# shellcheck disable=SC2016 # $1 is expanded by the inner shell
unshare --mount --propagation private --net --fork -- sh -c '
  mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
  exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    /bin/sh /build.sh' sh "$rootfs" >&2 || fail "the offline install inside the image failed"
say "virtualenv in $(since "$step")"

# --- 4. the OCI image ----------------------------------------------------------
step=$(date +%s)
umoci repack --image "$layout:$tag" "$bundle" >&2
config=(
  --clear=config.env --clear=config.exposedports --clear=config.labels
  --config.user="${one[user]}" --config.workingdir="${one[workdir]}"
)
for word in ${one[entrypoint]}; do config+=(--config.entrypoint="$word"); done
for word in ${one[cmd]}; do config+=(--config.cmd="$word"); done
for assignment in "${env[@]}"; do config+=(--config.env="$assignment"); done
for port in "${ports[@]}"; do config+=(--config.exposedports="$port/tcp"); done
for label in "${labels[@]}"; do config+=(--config.label="$label"); done
umoci config --image "$layout:$tag" --history.created_by="hack/build-image.sh" "${config[@]}"
umoci gc --layout "$layout"
mkdir -p "$work/out"
tar -C "$layout" -cf "$work/out/$(basename "$archive")" .
rm -rf "$out" && mv -T "$work/out" "$out"
say "OCI archive in $(since "$step"); $(du -h "$archive" | cut -f1) in all, built in $(since "$started")"

# Older image outputs go (the root filesystem and the wheels stay).
# shellcheck disable=SC2012 # names of our own making, sorted by time
mapfile -t stale < <(ls -1dt "$cache_root"/image-*-local-* 2>/dev/null | tail -n +$((keep_images + 1)))
[ ${#stale[@]} -eq 0 ] || rm -rf "${stale[@]}"
report
