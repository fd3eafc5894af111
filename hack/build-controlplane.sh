#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kubectl from the pinned Go modules under
# hack/controlplane into a per-user cache folder keyed by the pins, and prints
# that folder. A second run with the same pins builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/controlplane"
# shellcheck source-path=SCRIPTDIR source=lib/kube-version.sh
. "$here/lib/kube-version.sh"
version=$kube_version
key=$(cat "$src"/kube/go.mod "$src"/kube/go.sum "$src"/etcd/go.mod "$src"/etcd/go.sum \
      "$src"/kube/cmd/kube-apiserver/main.go "$src"/kube/cmd/kubectl/main.go "$src"/etcd/main.go \
      "$here/lib/kube-version.sh" "$0" | sha256sum | cut -c1-12)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/scaivault-federation/controlplane-${version}-${key}"
built() { [ -x "$cache/kube-apiserver" ] && [ -x "$cache/etcd" ] && [ -x "$cache/kubectl" ]; }
built && { echo "$cache"; exit 0; }
# One build at a time per cache folder: a second caller waits, then finds it built.
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
built && { echo "$cache"; exit 0; }
command -v go >/dev/null || { echo "go is required to build the local control plane" >&2; exit 1; }
rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
echo "building kube-apiserver, kubectl ${version} and etcd into $cache (first time only; several minutes)" >&2
(cd "$src/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$kube_ldflags" -o "$cache.tmp/" \
  ./cmd/kube-apiserver ./cmd/kubectl) >&2
(cd "$src/etcd" && CGO_ENABLED=0 go build -trimpath -o "$cache.tmp/etcd" .) >&2
rm -rf "$cache" && mv "$cache.tmp" "$cache"
echo "$cache"
