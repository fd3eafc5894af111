#!/usr/bin/env bash
# Builds promtool (Prometheus' rule checker and rule unit-test runner) from the
# Go module proxy into a per-user cache folder keyed by the pinned version, and
# prints that folder. A second run with the same pin builds nothing. Service
# discovery is left out (remove_all_sd): rule checks and tests do not use it,
# and it is most of the build.
set -euo pipefail
# Prometheus v3.16.0's Go module version (v0.<major><minor>.<patch>)
PROMETHEUS_VERSION=v0.316.0
RELEASE=3.16.0

cache="${XDG_CACHE_HOME:-$HOME/.cache}/scaivault-federation/promtool-${PROMETHEUS_VERSION}"
if [ -x "$cache/promtool" ]; then
  echo "$cache"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build promtool" >&2; exit 1; }
echo "building promtool ${PROMETHEUS_VERSION} into $cache (first time only; a few minutes)" >&2
rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
ldflags="-s -w -X github.com/prometheus/common/version.Version=${RELEASE}"
GOBIN="$cache.tmp" CGO_ENABLED=0 go install -trimpath -tags remove_all_sd -ldflags "$ldflags" \
  "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_VERSION}" >&2
rm -rf "$cache" && mv "$cache.tmp" "$cache"
echo "$cache"
