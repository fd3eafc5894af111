#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kubectl from the pinned Go modules under
# hack/controlplane into a per-user cache folder keyed by the pins, and prints
# that folder. A second run with the same pins builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/controlplane"
key=$(cat "$src"/kube/go.mod "$src"/kube/go.sum "$src"/etcd/go.mod "$src"/etcd/go.sum \
      "$src"/kube/cmd/*/main.go "$src"/etcd/main.go "$0" | sha256sum | cut -c1-12)
version=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}; $2=="k8s.io/kubernetes" && $3 ~ /^v/ {print $3; exit}' "$src/kube/go.mod")
cache="${XDG_CACHE_HOME:-$HOME/.cache}/scaivault-federation/controlplane-${version}-${key}"
if [ -x "$cache/kube-apiserver" ] && [ -x "$cache/etcd" ] && [ -x "$cache/kubectl" ]; then
  echo "$cache"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build the local control plane" >&2; exit 1; }
mkdir -p "$cache.tmp"
echo "building kube-apiserver, kubectl ${version} and etcd into $cache (first time only; several minutes)" >&2
minor=$(echo "$version" | cut -d. -f2)
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags="$ldflags -X $pkg.gitTreeState=clean"
done
(cd "$src/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$cache.tmp/" \
  ./cmd/kube-apiserver ./cmd/kubectl) >&2
(cd "$src/etcd" && CGO_ENABLED=0 go build -trimpath -o "$cache.tmp/etcd" .) >&2
rm -rf "$cache" && mv "$cache.tmp" "$cache"
echo "$cache"
