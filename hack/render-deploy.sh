#!/usr/bin/env bash
# Rewrites deploy/ (plain manifests) from the chart's default render; the chart
# tests fail while deploy/ and the chart disagree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
exec "${PYTHON:-.venv/bin/python}" -m tests.chart.render
