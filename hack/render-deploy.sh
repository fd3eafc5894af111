#!/usr/bin/env bash
# Copies the canonical CRD (crds/) into the chart and rewrites deploy/ (plain
# manifests) from the chart's default render; the chart tests fail while the
# three disagree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
exec "${PYTHON:-.venv/bin/python}" -m scaivault_devenv.manifests
