"""promtool, Prometheus' rule checker and rule unit-test runner: from
``$SCAIVAULT_PROMTOOL`` (the binary, or the folder holding it) or built by the
checkout's ``hack/build-promtool.sh``."""

from __future__ import annotations

from pathlib import Path

from .built_tools import find_built
from .checkout import ROOT

PROMTOOL_ENV = "SCAIVAULT_PROMTOOL"
BUILD_SCRIPT = ROOT / "hack" / "build-promtool.sh"


def find_promtool() -> Path:
    return find_built("promtool", PROMTOOL_ENV, BUILD_SCRIPT)
