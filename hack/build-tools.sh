#!/usr/bin/env bash
# Builds helm from the Go module proxy into a per-user cache folder keyed by
# the pinned version, and prints that folder. A second run with the same pin
# builds nothing. kubectl comes from hack/build-controlplane.sh.
set -euo pipefail
HELM_VERSION=v3.22.0
# The Kubernetes version helm assumes (.Capabilities.KubeVersion) when it does
# not talk to a cluster, as helm's own release build sets it: the minor version
# of the client-go it is built with (v0.37 -> 1.37).
KUBE_MAJOR=1
KUBE_MINOR=37

cache="${XDG_CACHE_HOME:-$HOME/.cache}/scaivault-federation/tools-${HELM_VERSION}"
if [ -x "$cache/helm" ]; then
  echo "$cache"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build helm" >&2; exit 1; }
echo "building helm ${HELM_VERSION} into $cache (first time only; a few minutes)" >&2
ldflags="-s -w"
ldflags="$ldflags -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
ldflags="$ldflags -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags="$ldflags -X $pkg.k8sVersionMajor=${KUBE_MAJOR} -X $pkg.k8sVersionMinor=${KUBE_MINOR}"
done
rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
GOBIN="$cache.tmp" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" \
  "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
rm -rf "$cache" && mv "$cache.tmp" "$cache"
echo "$cache"
