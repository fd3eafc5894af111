#!/usr/bin/env bash
# Regenerates the backend types' part of the canonical CRD (crds/) from their
# models and the ClusterFederationBackend CRD from it, copies both into the chart
# and rewrites deploy/ (plain manifests) from the chart's default render; the
# unit and chart tests fail while they disagree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
exec "${PYTHON:-.venv/bin/python}" -m scaivault_devenv.manifests
