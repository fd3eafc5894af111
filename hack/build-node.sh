#!/usr/bin/env bash
# Builds what a local node runs beside the control plane of build-controlplane.sh,
# from the same pins: kubelet, kube-controller-manager, kube-scheduler and
# kube-proxy (hack/controlplane/kube), a cluster DNS without upstream forwarding
# (hack/node/coredns) and the pod sandbox's pause program (hack/node/pause).
# Installs the Debian packages the node needs when they are missing (containerd,
# runc, the CNI plugins, umoci, iptables, nftables). Prints the cache folder;
# a second run with the same inputs builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/apt-ensure.sh" containerd runc containernetworking-plugins umoci iptables nftables conntrack
# shellcheck source-path=SCRIPTDIR source=lib/kube-version.sh
. "$here/lib/kube-version.sh"
node="$here/node"
commands=(kubelet kube-controller-manager kube-scheduler kube-proxy)
mains=()
for c in "${commands[@]}"; do mains+=("$kube_src/cmd/$c/main.go"); done
key=$(cat "$kube_src"/go.mod "$kube_src"/go.sum "${mains[@]}" \
      "$node"/coredns/go.mod "$node"/coredns/go.sum "$node"/coredns/main.go \
      "$node"/pause/go.mod "$node"/pause/main.go "$here/lib/kube-version.sh" "$0" | sha256sum | cut -c1-12)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/scaivault-federation/node-${kube_version}-${key}"
built() { [ -x "$cache/kubelet" ] && [ -x "$cache/kube-proxy" ] && [ -x "$cache/coredns" ] && [ -x "$cache/pause" ]; }
built && { echo "$cache"; exit 0; }
# One build at a time per cache folder: a second caller waits, then finds it built.
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
built && { echo "$cache"; exit 0; }
command -v go >/dev/null || { echo "go is required to build the local node" >&2; exit 1; }
rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
echo "building ${commands[*]} ${kube_version}, coredns and pause into $cache (first time only; a few minutes)" >&2
(cd "$kube_src" && CGO_ENABLED=0 go build -trimpath -ldflags "$kube_ldflags" -o "$cache.tmp/" \
  "${commands[@]/#/./cmd/}") >&2
(cd "$node/coredns" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache.tmp/coredns" .) >&2
(cd "$node/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache.tmp/pause" .) >&2
rm -rf "$cache" && mv "$cache.tmp" "$cache"
echo "$cache"
